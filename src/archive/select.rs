//! Picking the entries of a tar stream that lie under some paths (a restore
//! of part of a volume). Like the [`Scanner`](super::Scanner) it is pure and
//! streams: it is fed the archive in any chunks and appends the bytes of the
//! entries it keeps (their extended headers included) to an output buffer;
//! only an extended header waiting for its entry is held (at most 1 MiB).
//! It expects an archive the scanner accepted.

use super::ArchiveError;
use super::header::{self, BLOCK};
use super::pax;
use super::tree::normalize;

/// Largest PAX or GNU long-name record accepted (the scanner's limit).
const MAX_META: u64 = 1 << 20;

/// Keeps the entries `<root>/<path>` and `<root>/<path>/...` of each path.
pub struct Select {
    root: Vec<u8>,
    /// Normalised, relative to `root`.
    paths: Vec<Vec<u8>>,
    /// Entries kept per path.
    matched: Vec<u64>,
    /// Data bytes of the files kept.
    kept_bytes: u64,
    offset: u64,
    state: State,
    block: [u8; BLOCK],
    filled: usize,
    /// The raw blocks of the extended headers waiting for their entry.
    meta_raw: Vec<u8>,
    pending: Pending,
}

#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
}

enum State {
    Header,
    /// An extended header's record and padding: `need` more bytes.
    Meta {
        kind: u8,
        size: usize,
        need: usize,
        start: usize,
    },
    /// Entry data and padding still to pass (or drop).
    Data {
        remaining: u64,
        keep: bool,
    },
    End,
}

impl Select {
    /// `root`: the directory every entry is under (`data`); `paths`:
    /// relative to it, checked by [`crate::model::volume_path`].
    pub fn new(root: &str, paths: &[String]) -> Self {
        let paths: Vec<Vec<u8>> = paths
            .iter()
            .map(|p| normalize(b"", p.as_bytes()).unwrap_or_else(|_| p.as_bytes().to_vec()))
            .collect();
        Self {
            root: root.as_bytes().to_vec(),
            matched: vec![0; paths.len()],
            paths,
            kept_bytes: 0,
            offset: 0,
            state: State::Header,
            block: [0; BLOCK],
            filled: 0,
            meta_raw: Vec::new(),
            pending: Pending::default(),
        }
    }

    /// Entries kept so far, per path (in the order given).
    pub fn matched(&self) -> &[u64] {
        &self.matched
    }

    /// Data bytes of the files kept so far.
    pub fn kept_bytes(&self) -> u64 {
        self.kept_bytes
    }

    /// Feeds the next bytes; what is kept is appended to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) -> Result<(), ArchiveError> {
        while !bytes.is_empty() {
            let n = self.step(bytes, out)?;
            self.offset += n as u64;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// End of stream: appends the end-of-archive marker (two zero blocks).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), ArchiveError> {
        if !matches!(self.state, State::End) {
            return Err(ArchiveError::Truncated {
                offset: self.offset,
                reason: "no end-of-archive marker".into(),
            });
        }
        out.extend_from_slice(&[0; 2 * BLOCK]);
        Ok(())
    }

    fn step(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<usize, ArchiveError> {
        match &mut self.state {
            State::End => Ok(bytes.len()),
            State::Data { remaining, keep } => {
                let n = (*remaining).min(bytes.len() as u64) as usize;
                if *keep {
                    out.extend_from_slice(&bytes[..n]);
                }
                *remaining -= n as u64;
                if *remaining == 0 {
                    self.state = State::Header;
                }
                Ok(n)
            }
            State::Meta {
                kind,
                size,
                need,
                start,
            } => {
                let n = (*need).min(bytes.len());
                self.meta_raw.extend_from_slice(&bytes[..n]);
                *need -= n;
                if *need == 0 {
                    let (kind, size, start) = (*kind, *size, *start);
                    self.meta(kind, start, size)?;
                    self.state = State::Header;
                }
                Ok(n)
            }
            State::Header => {
                let n = (BLOCK - self.filled).min(bytes.len());
                self.block[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
                self.filled += n;
                if self.filled == BLOCK {
                    self.filled = 0;
                    let block = self.block;
                    self.header(&block, out)?;
                }
                Ok(n)
            }
        }
    }

    fn bad(&self, reason: String) -> ArchiveError {
        ArchiveError::BadHeader {
            offset: self.offset,
            reason,
        }
    }

    fn header(&mut self, block: &[u8; BLOCK], out: &mut Vec<u8>) -> Result<(), ArchiveError> {
        if header::is_zero(block) {
            self.state = State::End;
            return Ok(());
        }
        let h = header::parse(block).map_err(|r| self.bad(r))?;
        if matches!(h.typeflag, b'x' | b'g' | b'L' | b'K') {
            if h.size > MAX_META {
                return Err(self.bad(format!("extended header of {} bytes", h.size)));
            }
            let size = h.size as usize;
            let start = self.meta_raw.len();
            self.meta_raw.extend_from_slice(block);
            let need = size + header::padding(h.size) as usize;
            self.state = State::Meta {
                kind: h.typeflag,
                size,
                need,
                start,
            };
            if need == 0 {
                self.meta(h.typeflag, start, 0)?;
                self.state = State::Header;
            }
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let meta = std::mem::take(&mut self.meta_raw);
        let (prefix, name): (&[u8], &[u8]) = match (&pending.long_name, &pending.path) {
            (Some(n), _) | (None, Some(n)) => (b"", n),
            (None, None) => (h.prefix, h.name),
        };
        let path = normalize(prefix, name).map_err(|r| self.bad(r))?;
        let size = pending.size.unwrap_or(h.size);
        let size = if matches!(h.typeflag, b'0' | b'\0' | b'7') {
            size
        } else {
            0
        };
        let keep = self.under_paths(&path);
        if let Some(i) = keep {
            if h.typeflag == b'1' {
                let target = pending
                    .long_link
                    .as_deref()
                    .or(pending.linkpath.as_deref())
                    .unwrap_or(h.linkname);
                let target = normalize(b"", target).map_err(|r| self.bad(r))?;
                if self.under_paths(&target).is_none() {
                    return Err(ArchiveError::BadEntry {
                        path: String::from_utf8_lossy(&path).into_owned(),
                        reason: format!(
                            "it is a hard link to `{}`, which is outside the paths restored; \
                             add that path to `paths`, or restore the whole volume",
                            String::from_utf8_lossy(&target)
                        ),
                    });
                }
            }
            self.matched[i] += 1;
            self.kept_bytes += size;
            out.extend_from_slice(&meta);
            out.extend_from_slice(block);
        }
        let remaining = size + header::padding(size);
        self.state = if remaining == 0 {
            State::Header
        } else {
            State::Data {
                remaining,
                keep: keep.is_some(),
            }
        };
        // Keep the buffer's allocation for the next extended header.
        self.meta_raw = meta;
        self.meta_raw.clear();
        Ok(())
    }

    /// A complete extended header, whose raw bytes start at `start` of `meta_raw`.
    fn meta(&mut self, kind: u8, start: usize, size: usize) -> Result<(), ArchiveError> {
        let record = &self.meta_raw[start + BLOCK..start + BLOCK + size];
        match kind {
            b'x' => {
                let p = pax::parse(record).map_err(|r| self.bad(r))?;
                self.pending.path = p.path;
                self.pending.linkpath = p.linkpath;
                self.pending.size = p.size;
            }
            b'L' => self.pending.long_name = Some(header::cstr(record).to_vec()),
            b'K' => self.pending.long_link = Some(header::cstr(record).to_vec()),
            // A global header describes no entry of its own: not passed on.
            _ => self.meta_raw.truncate(start),
        }
        Ok(())
    }

    /// Which path `entry` (normalised, with the root) lies under.
    fn under_paths(&self, entry: &[u8]) -> Option<usize> {
        let rel = entry.strip_prefix(self.root.as_slice())?;
        let rel = rel.strip_prefix(b"/")?;
        self.paths.iter().position(|p| {
            rel.strip_prefix(p.as_slice())
                .is_some_and(|rest| rest.is_empty() || rest.first() == Some(&b'/'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, Option<&str>, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_mtime(1);
            match (data, link) {
                (_, Some(to)) => {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, path, to).unwrap();
                }
                (Some(d), None) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(d.len() as u64);
                    b.append_data(&mut h, path, d.as_bytes()).unwrap();
                }
                (None, None) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, path, std::io::empty()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn select(
        tar: &[u8],
        paths: &[&str],
        chunk: usize,
    ) -> Result<(Vec<u8>, Vec<u64>), ArchiveError> {
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        let mut s = Select::new("data", &paths);
        let mut out = Vec::new();
        for c in tar.chunks(chunk) {
            s.feed(c, &mut out)?;
        }
        s.finish(&mut out)?;
        Ok((out, s.matched().to_vec()))
    }

    fn listing(tar: &[u8]) -> Vec<(String, String)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let mut data = String::new();
                std::io::Read::read_to_string(&mut e, &mut data).unwrap();
                (path, data)
            })
            .collect()
    }

    #[test]
    fn keeps_only_the_named_subtrees_in_any_chunks() {
        let long = format!("data/a/{}", "n".repeat(150));
        let tar = archive(&[
            ("data/", None, None),
            ("data/a/", None, None),
            ("data/a/x", Some("ax"), None),
            (&long, Some("long"), None),
            ("data/ab", Some("not a"), None),
            ("data/b/", None, None),
            ("data/b/z", Some("bz"), None),
            ("data/conf/", None, None),
            ("data/conf/redis.conf", Some("conf"), None),
            ("data/conf/other", Some("other"), None),
        ]);
        for chunk in [1, 7, 512, 100_000] {
            let (out, matched) = select(&tar, &["a", "conf/redis.conf/"], chunk).unwrap();
            assert_eq!(matched, vec![3, 1]);
            let got = listing(&out);
            let names: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
            assert_eq!(
                names,
                vec!["data/a/", "data/a/x", long.as_str(), "data/conf/redis.conf"]
            );
            assert_eq!(got[1].1, "ax");
            assert_eq!(got[2].1, "long");
        }
    }

    #[test]
    fn a_path_that_matches_nothing_counts_zero() {
        let tar = archive(&[("data/", None, None), ("data/a/x", Some("1"), None)]);
        let (out, matched) = select(&tar, &["b", "a/x/y"], 512).unwrap();
        assert_eq!(matched, vec![0, 0]);
        assert_eq!(out, vec![0; 1024]);
    }

    #[test]
    fn a_hard_link_out_of_the_paths_is_refused_one_inside_kept() {
        let tar = archive(&[
            ("data/b/z", Some("z"), None),
            ("data/a/x", None, Some("data/b/z")),
        ]);
        let e = select(&tar, &["a"], 512).unwrap_err();
        assert!(e.to_string().contains("outside the paths restored"), "{e}");
        let (out, matched) = select(&tar, &["a", "b"], 512).unwrap();
        assert_eq!(matched, vec![1, 1]);
        assert_eq!(listing(&out).len(), 2);
    }

    #[test]
    fn a_truncated_archive_fails_at_the_end() {
        let tar = archive(&[("data/a/x", Some("1"), None)]);
        assert!(select(&tar[..1024], &["a"], 512).is_err());
    }
}
