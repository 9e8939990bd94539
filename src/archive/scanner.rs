//! The streaming state machine: headers are checked, entry data is only counted.

use std::mem;

use super::header::{self, BLOCK, Header};
use super::path;
use super::pax::{self, Pax};
use super::tree::{self, Node, Tree};
use super::{ArchiveError, Rules, Stats};

/// Largest PAX or GNU long-name record accepted (Go's limit too).
const MAX_META: u64 = 1 << 20;

/// A pass-through tar validator: [`feed`](Scanner::feed) it the stream in any chunks.
pub struct Scanner {
    root: Option<Vec<u8>>,
    stats: Stats,
    /// Bytes consumed so far.
    offset: u64,
    state: State,
    /// A header block split across `feed` calls.
    block: [u8; BLOCK],
    filled: usize,
    pending: Pending,
    /// What the entries so far extract to.
    tree: Tree,
    error: Option<ArchiveError>,
}

enum State {
    Header,
    /// Entry data and padding still to pass.
    Skip(u64),
    Meta {
        kind: u8,
        buf: Vec<u8>,
        size: usize,
        /// Offset of its header block.
        start: u64,
    },
    /// After the first zero block: only zeros may follow.
    End,
}

/// Extended headers waiting for the entry they describe.
#[derive(Default)]
struct Pending {
    pax: Option<Pax>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.pax.is_none() && self.long_name.is_none() && self.long_link.is_none()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Fifo,
}

impl Scanner {
    pub fn new(rules: Rules) -> Self {
        Self {
            tree: Tree::new(rules.root.is_some()),
            root: rules.root.map(String::into_bytes),
            stats: Stats::default(),
            offset: 0,
            state: State::Header,
            block: [0; BLOCK],
            filled: 0,
            pending: Pending::default(),
            error: None,
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Feeds the next bytes of the stream; returns the first violation (again on later calls).
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), ArchiveError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        while !bytes.is_empty() {
            match self.step(bytes) {
                Ok(n) => {
                    self.offset += n as u64;
                    bytes = &bytes[n..];
                }
                Err(e) => {
                    self.error = Some(e.clone());
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// End of stream: errors unless it ended at an end-of-archive marker.
    pub fn finish(&mut self) -> Result<Stats, ArchiveError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let reason = match &self.state {
            State::End => return Ok(self.stats.clone()),
            State::Header if self.offset == 0 => "empty stream",
            State::Header if self.filled == 0 => "no end-of-archive marker",
            State::Header => "inside a header",
            State::Skip(_) => "inside the data of an entry",
            State::Meta { .. } => "inside an extended header",
        };
        let e = ArchiveError::Truncated {
            offset: self.offset,
            reason: reason.into(),
        };
        self.error = Some(e.clone());
        Err(e)
    }

    /// Consumes a prefix of `bytes`; returns its length.
    fn step(&mut self, bytes: &[u8]) -> Result<usize, ArchiveError> {
        match &mut self.state {
            State::Skip(remaining) => {
                let n = (*remaining).min(bytes.len() as u64);
                *remaining -= n;
                if *remaining == 0 {
                    self.state = State::Header;
                }
                Ok(n as usize)
            }
            State::Header => {
                if self.filled == 0
                    && let Some(block) = bytes.first_chunk::<BLOCK>()
                {
                    self.header(block, self.offset)?;
                    return Ok(BLOCK);
                }
                let n = (BLOCK - self.filled).min(bytes.len());
                self.block[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
                self.filled += n;
                if self.filled == BLOCK {
                    let block = self.block;
                    self.filled = 0;
                    self.header(&block, self.offset + n as u64 - BLOCK as u64)?;
                }
                Ok(n)
            }
            State::Meta {
                kind,
                buf,
                size,
                start,
            } => {
                let n = (*size - buf.len()).min(bytes.len());
                buf.extend_from_slice(&bytes[..n]);
                if buf.len() == *size {
                    let (kind, start, buf) = (*kind, *start, mem::take(buf));
                    self.meta(kind, &buf, start)?;
                }
                Ok(n)
            }
            State::End => match bytes.iter().position(|&b| b != 0) {
                None => Ok(bytes.len()),
                Some(i) => Err(ArchiveError::BadHeader {
                    offset: self.offset + i as u64,
                    reason: "data after the end-of-archive marker".into(),
                }),
            },
        }
    }

    fn header(&mut self, block: &[u8; BLOCK], start: u64) -> Result<(), ArchiveError> {
        let bad = |reason: String| ArchiveError::BadHeader {
            offset: start,
            reason,
        };
        if header::is_zero(block) {
            if !self.pending.is_empty() {
                return Err(bad("extended header not followed by an entry".into()));
            }
            self.state = State::End;
            return Ok(());
        }
        let h = header::parse(block).map_err(bad)?;
        let duplicate = match h.typeflag {
            b'x' => self.pending.pax.is_some(),
            b'L' => self.pending.long_name.is_some(),
            b'K' => self.pending.long_link.is_some(),
            b'g' => !self.pending.is_empty(),
            _ => return self.entry(&h),
        };
        if duplicate {
            return Err(bad(format!(
                "unexpected extended header `{}`",
                char::from(h.typeflag)
            )));
        }
        if h.size > MAX_META {
            return Err(bad(format!(
                "extended header of {} bytes (the limit is 1 MiB)",
                h.size
            )));
        }
        let size = h.size as usize;
        self.state = State::Meta {
            kind: h.typeflag,
            buf: Vec::with_capacity(size),
            size,
            start,
        };
        if size == 0 {
            self.meta(h.typeflag, &[], start)?;
        }
        Ok(())
    }

    /// A complete extended header record.
    fn meta(&mut self, kind: u8, buf: &[u8], start: u64) -> Result<(), ArchiveError> {
        let size = buf.len() as u64;
        match kind {
            b'x' | b'g' => {
                let pax = pax::parse(buf).map_err(|reason| ArchiveError::BadHeader {
                    offset: start,
                    reason,
                })?;
                if kind == b'x' {
                    self.pending.pax = Some(pax);
                }
            }
            b'L' => self.pending.long_name = Some(header::cstr(buf).to_vec()),
            _ => self.pending.long_link = Some(header::cstr(buf).to_vec()),
        }
        self.state = skip(header::padding(size));
        Ok(())
    }

    fn entry(&mut self, h: &Header<'_>) -> Result<(), ArchiveError> {
        let pending = mem::take(&mut self.pending);
        let pax = pending.pax.unwrap_or_default();
        // Go lets a GNU long name win over a PAX path; both must be safe.
        let (prefix, name): (&[u8], &[u8]) = match (&pending.long_name, &pax.path) {
            (Some(n), _) | (None, Some(n)) => (b"", n),
            (None, None) => (h.prefix, h.name),
        };
        let root = self.root.as_deref();
        let bad = |reason: String| ArchiveError::BadEntry {
            path: path::display(prefix, name),
            reason,
        };
        path::check(prefix, name, root).map_err(bad)?;
        if let (Some(_), Some(p)) = (&pending.long_name, &pax.path) {
            path::check(b"", p, root).map_err(|reason| ArchiveError::BadEntry {
                path: path::display(b"", p),
                reason,
            })?;
        }
        let kind = match h.typeflag {
            b'0' => Kind::File,
            b'\0' if name.ends_with(b"/") || name.is_empty() => Kind::Dir,
            b'\0' => Kind::File,
            b'1' => Kind::Hardlink,
            b'2' => Kind::Symlink,
            b'5' => Kind::Dir,
            b'6' => Kind::Fifo,
            b'3' => return Err(bad("character device".into())),
            b'4' => return Err(bad("block device".into())),
            b'7' => {
                return Err(bad(
                    "contiguous file (type `7`), which Docker does not extract".into(),
                ));
            }
            t => {
                return Err(bad(format!(
                    "unsupported entry type `{}`",
                    char::from(t).escape_default()
                )));
            }
        };
        let norm = tree::normalize(prefix, name).map_err(bad)?;
        if let Some(root) = root
            && norm == root
            && kind != Kind::Dir
        {
            return Err(bad(format!(
                "`{}` itself must be a directory (the volume); extracting anything else \
                 over it fails once the volume has been emptied",
                String::from_utf8_lossy(root)
            )));
        }
        self.tree.check_parents(&norm).map_err(bad)?;
        // Go lets a GNU long link name win over a PAX linkpath.
        let target = pending
            .long_link
            .as_deref()
            .or(pax.linkpath.as_deref())
            .unwrap_or(h.linkname);
        let node = match kind {
            Kind::Dir => None,
            Kind::File => Some(Node::File),
            Kind::Fifo => Some(Node::Fifo),
            Kind::Symlink => {
                self.tree.check_symlink(&norm, target).map_err(bad)?;
                Some(Node::Symlink(target.to_vec()))
            }
            Kind::Hardlink => {
                let mut targets = [pending.long_link.as_deref(), pax.linkpath.as_deref()];
                if targets == [None, None] {
                    targets[0] = Some(h.linkname);
                }
                for target in targets.into_iter().flatten() {
                    path::check(b"", target, root).map_err(|reason| {
                        bad(format!(
                            "hard link to `{}`: {reason}",
                            String::from_utf8_lossy(target)
                        ))
                    })?;
                }
                let to = tree::normalize(b"", target).map_err(|reason| {
                    bad(format!(
                        "hard link to `{}`: {reason}",
                        String::from_utf8_lossy(target)
                    ))
                })?;
                Some(self.tree.link_target(&to, &norm).map_err(bad)?)
            }
        };
        let size = pax.size.unwrap_or(h.size);
        if kind != Kind::File && size != 0 {
            return Err(bad(format!("a non-file entry carries {size} data bytes")));
        }
        self.tree.insert(&norm, node);
        let s = &mut self.stats;
        s.entries += 1;
        match kind {
            Kind::File => {
                s.files += 1;
                s.file_bytes += size;
            }
            Kind::Dir => s.dirs += 1,
            Kind::Symlink => s.symlinks += 1,
            Kind::Hardlink => s.hardlinks += 1,
            Kind::Fifo => {}
        }
        self.state = skip(size + header::padding(size));
        Ok(())
    }
}

fn skip(n: u64) -> State {
    if n == 0 {
        State::Header
    } else {
        State::Skip(n)
    }
}
