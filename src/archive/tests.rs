//! Scanner tests: archives built with the `tar` crate, fed in random chunks, and hand-made bad ones.

use super::{ArchiveError, Rules, Scanner, Stats};

fn data_rules() -> Rules {
    Rules {
        root: Some("data".into()),
    }
}

/// Feeds `bytes` in pseudo-random chunk sizes (1 byte to 1 MiB) and finishes.
fn scan_chunked(bytes: &[u8], seed: u64) -> Result<Stats, ArchiveError> {
    let mut s = Scanner::new(data_rules());
    let mut x = seed | 1;
    let mut rest = bytes;
    while !rest.is_empty() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = match x % 4 {
            0 => 1 + (x >> 8) % 7,
            1 => 1 + (x >> 8) % 600,
            2 => 1 + (x >> 8) % 70_000,
            _ => 1 << 20,
        } as usize;
        let n = n.min(rest.len());
        s.feed(&rest[..n])?;
        rest = &rest[n..];
    }
    s.finish()
}

fn scan(bytes: &[u8]) -> Result<Stats, ArchiveError> {
    let whole = {
        let mut s = Scanner::new(data_rules());
        s.feed(bytes).and_then(|()| s.finish())
    };
    for seed in [1, 7, 42, 1234567] {
        assert_eq!(
            format!("{whole:?}"),
            format!("{:?}", scan_chunked(bytes, seed))
        );
    }
    whole
}

fn header(kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h
}

fn good_archive() -> (Vec<u8>, Stats) {
    use tar::EntryType as E;
    let mut b = tar::Builder::new(Vec::new());
    let add = |b: &mut tar::Builder<Vec<u8>>, kind: E, path: &str, data: &[u8]| {
        let mut h = header(kind, data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    };
    add(&mut b, E::Directory, "data/", b"");
    add(&mut b, E::Regular, "data/a.txt", b"hello\n");
    add(&mut b, E::Regular, "data/empty", b"");
    add(&mut b, E::Regular, "data/été/naïve.txt", b"x");
    let long = format!("data/{}/{}", "d".repeat(120), "f".repeat(150));
    add(&mut b, E::Regular, &long, &[7; 1000]);
    add(&mut b, E::Regular, "data/big", &vec![0xab; 10 << 20]);
    let mut ustar = tar::Header::new_ustar();
    ustar
        .set_path(format!("data/{}/file", "p".repeat(120)))
        .unwrap();
    ustar.set_size(3);
    ustar.set_cksum();
    b.append(&ustar, &b"abc"[..]).unwrap();
    let mut h = header(E::Symlink, 0);
    b.append_link(&mut h, "data/link", "/etc/passwd").unwrap();
    let mut h = header(E::Symlink, 0);
    b.append_link(&mut h, "data/longlink", "x/".repeat(200))
        .unwrap();
    let mut h = header(E::Link, 0);
    b.append_link(&mut h, "data/hard", "data/a.txt").unwrap();
    let pax_name = format!("data/{}", "q".repeat(200));
    b.append_pax_extensions([("path", pax_name.as_bytes())])
        .unwrap();
    add(&mut b, E::Regular, "data/placeholder", b"pax");
    b.append_pax_extensions([("linkpath", &b"data/a.txt"[..])])
        .unwrap();
    let mut h = header(E::Link, 0);
    b.append_link(&mut h, "data/hard2", "data/empty").unwrap();
    add(&mut b, E::Fifo, "data/fifo", b"");
    let stats = Stats {
        entries: 13,
        files: 7,
        dirs: 1,
        symlinks: 2,
        hardlinks: 2,
        file_bytes: 6 + 1 + 1000 + (10 << 20) + 3 + 3,
    };
    (b.into_inner().unwrap(), stats)
}

#[test]
fn accepts_what_tar_writes_in_any_chunking() {
    let (bytes, stats) = good_archive();
    assert_eq!(scan(&bytes).unwrap(), stats);
}

#[test]
fn one_zero_block_is_enough_but_none_is_not() {
    let (bytes, stats) = good_archive();
    let end = bytes.len() - 1024;
    assert_eq!(scan(&bytes[..end + 512]).unwrap(), stats);
    assert_eq!(scan(&bytes[..end + 700]).unwrap(), stats);
    let e = scan(&bytes[..end]).unwrap_err();
    assert!(matches!(e, ArchiveError::Truncated { .. }), "{e}");
    assert!(e.to_string().contains("no end-of-archive marker"), "{e}");
    let mut padded = bytes.clone();
    padded.extend_from_slice(&[0; 9216]);
    assert_eq!(scan(&padded).unwrap(), stats);
}

#[test]
fn truncated_archives() {
    let (bytes, _) = good_archive();
    for (cut, what) in [
        (0, "empty stream"),
        (100, "inside a header"),
        (512 + 300, "inside a header"),
        (1024 + 3, "inside the data of an entry"),
        (1024 + 100, "inside the data of an entry"),
        (bytes.len() / 2, "inside the data of an entry"),
        (bytes.len() - 1024 - 5, "inside a header"),
    ] {
        let e = scan(&bytes[..cut]).unwrap_err();
        assert!(matches!(e, ArchiveError::Truncated { .. }), "{cut}: {e}");
        assert!(e.to_string().contains(what), "{cut}: {e}");
    }
}

/// A ustar header block with a valid checksum.
fn raw(name: &[u8], typeflag: u8, size: u64, link: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[..name.len()].copy_from_slice(name);
    b[100..108].copy_from_slice(b"0000644\0");
    b[108..116].copy_from_slice(b"0000000\0");
    b[116..124].copy_from_slice(b"0000000\0");
    b[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    b[136..148].copy_from_slice(b"00000000000\0");
    b[156] = typeflag;
    b[157..157 + link.len()].copy_from_slice(link);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    checksum(&mut b);
    b
}

fn checksum(b: &mut [u8]) {
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
    b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

fn entry(name: &str, typeflag: u8, data: &[u8], link: &str) -> Vec<u8> {
    let mut v = raw(
        name.as_bytes(),
        typeflag,
        data.len() as u64,
        link.as_bytes(),
    );
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

fn pax(records: &[(&str, &str)], typeflag: u8) -> Vec<u8> {
    let mut body = String::new();
    for (k, v) in records {
        let rest = format!(" {k}={v}\n");
        let mut len = rest.len() + 1;
        while format!("{len}{rest}").len() != len {
            len += 1;
        }
        body.push_str(&format!("{len}{rest}"));
    }
    entry("PaxHeaders/x", typeflag, body.as_bytes(), "")
}

fn archive(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut v = parts.concat();
    v.extend_from_slice(&[0; 1024]);
    v
}

fn rejected(parts: &[Vec<u8>]) -> ArchiveError {
    let bytes = archive(parts);
    match scan(&bytes) {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(e) => e,
    }
}

fn assert_bad_entry(parts: &[Vec<u8>], want_path: &str, want_reason: &str) {
    match rejected(parts) {
        ArchiveError::BadEntry { path, reason } => {
            assert_eq!(path, want_path);
            assert!(reason.contains(want_reason), "{reason}");
        }
        e => panic!("{e}"),
    }
}

#[test]
fn hand_made_archives_are_accepted() {
    let stats = scan(&archive(&[
        entry("data/", b'5', b"", ""),
        entry("data/x", b'0', b"12345", ""),
        entry("data/old-style-dir/", b'\0', b"", ""),
        entry("data/old-style-file", b'\0', b"1", ""),
    ]))
    .unwrap();
    assert_eq!((stats.entries, stats.files, stats.dirs), (4, 2, 2));
    assert_eq!(stats.file_bytes, 6);
}

#[test]
fn bad_paths() {
    let d = |name: &str| vec![entry("data/", b'5', b"", ""), entry(name, b'0', b"x", "")];
    assert_bad_entry(&d("/etc/passwd"), "/etc/passwd", "absolute");
    assert_bad_entry(&d("../x"), "../x", "`..`");
    assert_bad_entry(&d("data/../../etc"), "data/../../etc", "`..`");
    assert_bad_entry(&d("etc/passwd"), "etc/passwd", "outside `data/`");
    assert_bad_entry(&d("database/x"), "database/x", "outside `data/`");
    assert_bad_entry(&d("./"), "./", "outside `data/`");
}

#[test]
fn bad_entry_types() {
    assert_bad_entry(
        &[entry("data/tty", b'3', b"", "")],
        "data/tty",
        "character device",
    );
    assert_bad_entry(
        &[entry("data/sda", b'4', b"", "")],
        "data/sda",
        "block device",
    );
    assert_bad_entry(
        &[entry("data/s", b'S', b"", "")],
        "data/s",
        "unsupported entry type",
    );
    assert_bad_entry(
        &[entry("data/d", b'5', b"abc", "")],
        "data/d",
        "carries 3 data bytes",
    );
}

#[test]
fn hard_links_obey_the_path_rules() {
    assert_bad_entry(
        &[entry("data/pw", b'1', b"", "/etc/passwd")],
        "data/pw",
        "hard link to `/etc/passwd`: absolute path",
    );
    assert_bad_entry(
        &[entry("data/pw", b'1', b"", "data/../../x")],
        "data/pw",
        "`..`",
    );
    assert_bad_entry(
        &[entry("data/pw", b'1', b"", "other/x")],
        "data/pw",
        "outside",
    );
    let stats = scan(&archive(&[
        entry("data/pw", b'2', b"", "/etc/passwd"),
        entry("data/sub/up", b'2', b"", "../x"),
        entry("data/sub/deeper/up", b'2', b"", "../../sub/./x"),
    ]))
    .unwrap();
    assert_eq!(stats.symlinks, 3);
}

/// Issue 9, item 3: an entry under an earlier symlink would be written
/// wherever the link points (`/etc/evil` in the helper container).
#[test]
fn nothing_is_written_through_a_symlink() {
    let root = || entry("data/", b'5', b"", "");
    for target in ["/etc", ".", "sub", "/data/x", "/../.."] {
        assert_bad_entry(
            &[
                root(),
                entry("data/link", b'2', b"", target),
                entry("data/link/evil", b'0', b"x", ""),
            ],
            "data/link/evil",
            "under `data/link`, a symlink",
        );
    }
    // A link that leaves the volume is refused itself.
    assert_bad_entry(
        &[
            root(),
            entry("data/link", b'2', b"", "../../etc"),
            entry("data/link/evil", b'0', b"x", ""),
        ],
        "data/link",
        "leaves the volume",
    );
    // Deeper, through `.` components, and as a PAX path.
    assert_bad_entry(
        &[
            root(),
            entry("data/a/link", b'2', b"", "/etc"),
            entry("./data/a/./link/cron.d/x", b'0', b"x", ""),
        ],
        "./data/a/./link/cron.d/x",
        "under `data/a/link`",
    );
    assert_bad_entry(
        &[
            root(),
            entry("data/link", b'2', b"", "/etc"),
            pax(&[("path", "data/link/evil")], b'x'),
            entry("data/ok", b'0', b"x", ""),
        ],
        "data/link/evil",
        "a symlink",
    );
    // A hard link made through a symlink.
    assert_bad_entry(
        &[
            root(),
            entry("data/link", b'2', b"", "/etc"),
            entry("data/pw", b'1', b"", "data/link/passwd"),
        ],
        "data/pw",
        "hard link to `data/link/passwd`: it is under `data/link`, a symlink",
    );
    // A symlink replaced by a directory is a directory again.
    let stats = scan(&archive(&[
        root(),
        entry("data/link", b'2', b"", "/etc"),
        entry("data/link/", b'5', b"", ""),
        entry("data/link/evil", b'0', b"x", ""),
    ]))
    .unwrap();
    assert_eq!(stats.files, 1);
}

#[test]
fn symlinks_must_stay_inside_the_volume() {
    let root = || entry("data/", b'5', b"", "");
    for (path, target) in [
        ("data/up", "../../etc"),
        ("data/up", ".."),
        ("data/a/b", "../../x"),
        ("data/dots", "x/../../.."),
    ] {
        assert_bad_entry(
            &[root(), entry(path, b'2', b"", target)],
            path,
            "leaves the volume",
        );
    }
    // Through an earlier symlink: data/s → sub/deep, so s/../.. is data.
    let ok = scan(&archive(&[
        root(),
        entry("data/s", b'2', b"", "sub/deep"),
        entry("data/l", b'2', b"", "s/../.."),
    ]));
    assert!(ok.is_ok(), "{ok:?}");
    assert_bad_entry(
        &[
            root(),
            entry("data/s", b'2', b"", "sub"),
            entry("data/l", b'2', b"", "s/../.."),
        ],
        "data/l",
        "leaves the volume",
    );
    // A PAX linkpath is what counts.
    assert_bad_entry(
        &[
            root(),
            pax(&[("linkpath", "../../../etc/shadow")], b'x'),
            entry("data/l", b'2', b"", "ok"),
        ],
        "data/l",
        "leaves the volume",
    );
}

/// Issue 9, item 4: what Docker refuses to extract is refused here, before
/// a restore empties the volume.
#[test]
fn what_docker_cannot_extract_is_refused() {
    let root = || entry("data/", b'5', b"", "");
    assert_bad_entry(
        &[entry("data", b'0', b"x", "")],
        "data",
        "must be a directory",
    );
    assert_bad_entry(
        &[entry("data", b'2', b"", "/tmp")],
        "data",
        "must be a directory",
    );
    assert_bad_entry(
        &[entry("./data/", b'6', b"", "")],
        "./data/",
        "must be a directory",
    );
    assert_bad_entry(
        &[root(), entry("data/c", b'7', b"abc", "")],
        "data/c",
        "contiguous file",
    );
    assert_bad_entry(
        &[root(), entry("data/h", b'1', b"", "data/missing")],
        "data/h",
        "not a file earlier in the archive",
    );
    assert_bad_entry(
        &[
            root(),
            entry("data/h", b'1', b"", "data/later"),
            entry("data/later", b'0', b"x", ""),
        ],
        "data/h",
        "not a file earlier in the archive",
    );
    assert_bad_entry(
        &[
            root(),
            entry("data/d/", b'5', b"", ""),
            entry("data/h", b'1', b"", "data/d"),
        ],
        "data/h",
        "not a file earlier in the archive",
    );
    assert_bad_entry(
        &[root(), entry("data/h", b'1', b"", "data")],
        "data/h",
        "not a file earlier in the archive",
    );
    assert_bad_entry(
        &[
            root(),
            entry("data/f", b'0', b"x", ""),
            entry("data/f/g", b'0', b"y", ""),
        ],
        "data/f/g",
        "which is a file",
    );
    // A file that replaced a directory took what was under it away.
    assert_bad_entry(
        &[
            root(),
            entry("data/d/x", b'0', b"x", ""),
            entry("data/d", b'0', b"y", ""),
            entry("data/h", b'1', b"", "data/d/x"),
        ],
        "data/h",
        "hard link to `data/d/x`: it is under `data/d`, which is a file",
    );
    let deep = format!("data/{}f", "a/".repeat(2000));
    let e = rejected(&[
        root(),
        pax(&[("path", &deep)], b'x'),
        entry("x", b'0', b"", ""),
    ]);
    assert!(e.to_string().contains("directories deep"), "{e}");
    let long = format!("data/{}f", "abcdefghi/".repeat(420));
    let e = rejected(&[
        root(),
        pax(&[("path", &long)], b'x'),
        entry("x", b'0', b"", ""),
    ]);
    assert!(e.to_string().contains("longer than 4000 bytes"), "{e}");
    let wide = format!("data/{}", "n".repeat(256));
    let e = rejected(&[
        root(),
        pax(&[("path", &wide)], b'x'),
        entry("x", b'0', b"", ""),
    ]);
    assert!(e.to_string().contains("component of 256 bytes"), "{e}");
    let e = rejected(&[
        root(),
        pax(&[("linkpath", &"t/".repeat(2100))], b'x'),
        entry("data/l", b'2', b"", ""),
    ]);
    assert!(
        e.to_string().contains("symlink target of 4200 bytes"),
        "{e}"
    );
    // What does extract: hard links to files, FIFOs and symlinks made
    // earlier, the longest paths allowed, replacing a file by a directory.
    let fine = format!("data/{}f", "a/".repeat(990));
    let stats = scan(&archive(&[
        root(),
        entry("data/f", b'0', b"x", ""),
        entry("data/s", b'2', b"", "f"),
        entry("data/p", b'6', b"", ""),
        entry("data/h1", b'1', b"", "data/f"),
        entry("data/h2", b'1', b"", "./data//s"),
        entry("data/h3", b'1', b"", "data/p"),
        entry("data/h4", b'1', b"", "data/h1"),
        entry("data/f/", b'5', b"", ""),
        entry("data/f/g", b'0', b"y", ""),
        pax(&[("path", &fine)], b'x'),
        entry("x", b'0', b"", ""),
    ]))
    .unwrap();
    assert_eq!((stats.files, stats.hardlinks, stats.symlinks), (3, 4, 1));
}
#[test]
fn extended_headers_are_checked() {
    // PAX path wins over the ustar name.
    assert_bad_entry(
        &[
            pax(&[("path", "data/../../etc/cron.d/x")], b'x'),
            entry("data/x", b'0', b"", ""),
        ],
        "data/../../etc/cron.d/x",
        "`..`",
    );
    assert_bad_entry(
        &[
            pax(&[("linkpath", "/etc/shadow")], b'x'),
            entry("data/x", b'1', b"", "data/y"),
        ],
        "data/x",
        "hard link to `/etc/shadow`",
    );
    // GNU long name.
    assert_bad_entry(
        &[
            entry("././@LongLink", b'L', b"/etc/x\0", ""),
            entry("data/x", b'0', b"", ""),
        ],
        "/etc/x",
        "absolute",
    );
    // Both GNU and PAX names must be safe.
    assert_bad_entry(
        &[
            pax(&[("path", "/etc/y")], b'x'),
            entry("././@LongLink", b'L', b"data/ok\0", ""),
            entry("data/x", b'0', b"", ""),
        ],
        "/etc/y",
        "absolute",
    );
    assert_bad_entry(
        &[
            entry("././@LongLink", b'K', b"/etc/x\0", ""),
            entry("data/x", b'1', b"", "data/y"),
        ],
        "data/x",
        "hard link to `/etc/x`",
    );
    // PAX size replaces the header size.
    let stats = scan(&archive(&[
        pax(&[("size", "3")], b'x'),
        entry("data/x", b'0', b"", ""),
        vec![b'z'; 512],
    ]))
    .unwrap();
    assert_eq!(stats.file_bytes, 3);
    // Global headers are accepted and apply to nothing.
    let stats = scan(&archive(&[
        pax(&[("path", "/etc/z")], b'g'),
        entry("data/x", b'0', b"", ""),
    ]))
    .unwrap();
    assert_eq!(stats.entries, 1);
}

#[test]
fn bad_extended_headers() {
    let is_header = |e: ArchiveError, what: &str| match e {
        ArchiveError::BadHeader { reason, .. } => assert!(reason.contains(what), "{reason}"),
        e => panic!("{e}"),
    };
    is_header(
        rejected(&[pax(&[("path", "data/x")], b'x')]),
        "not followed by an entry",
    );
    is_header(
        rejected(&[
            pax(&[("path", "data/x")], b'x'),
            pax(&[("path", "data/y")], b'x'),
            entry("data/z", b'0', b"", ""),
        ]),
        "unexpected extended header",
    );
    is_header(
        rejected(&[entry("PaxHeaders/x", b'x', b"garbage", "")]),
        "malformed PAX record",
    );
    is_header(
        rejected(&[
            pax(&[("GNU.sparse.name", "data/x")], b'x'),
            entry("data/x", b'0', b"", ""),
        ]),
        "sparse",
    );
    is_header(
        rejected(&[raw(b"././@LongLink", b'L', 2 << 20, b"")]),
        "limit is 1 MiB",
    );
}

#[test]
fn bad_headers() {
    let mut flipped = entry("data/x", b'0', b"abc", "");
    flipped[3] ^= 1;
    let e = rejected(&[entry("data/", b'5', b"", ""), flipped]);
    assert!(
        matches!(e, ArchiveError::BadHeader { offset: 512, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("checksum mismatch"), "{e}");

    let mut bad_size = raw(b"data/x", b'0', 0, b"");
    bad_size[124..136].copy_from_slice(b"0000000009x\0");
    checksum(&mut bad_size);
    assert!(rejected(&[bad_size]).to_string().contains("size field"));

    let mut after_end = archive(&[entry("data/x", b'0', b"", "")]);
    after_end.truncate(1024);
    after_end.extend(entry("data/y", b'0', b"", ""));
    after_end.extend([0; 1024]);
    let e = scan(&after_end).unwrap_err();
    assert!(
        e.to_string().contains("after the end-of-archive marker"),
        "{e}"
    );
}

#[test]
fn base256_sizes() {
    let mut h = raw(b"data/x", b'0', 0, b"");
    h[124..136].fill(0);
    h[124] = 0x80;
    h[134] = 0x03;
    h[135] = 0xe8;
    checksum(&mut h);
    h.extend_from_slice(&[1; 1024]);
    let stats = scan(&archive(&[h])).unwrap();
    assert_eq!(stats.file_bytes, 1000);
}

#[test]
fn errors_are_sticky_and_rules_are_optional() {
    let bytes = archive(&[entry("/abs", b'0', b"", "")]);
    let mut s = Scanner::new(data_rules());
    assert!(s.feed(&bytes).is_err());
    assert!(s.feed(&[0; 10]).is_err());
    assert!(s.finish().is_err());
    let mut s = Scanner::new(Rules::default());
    s.feed(&archive(&[
        entry("anything/x", b'0', b"", ""),
        entry("./", b'5', b"", ""),
    ]))
    .unwrap();
    assert_eq!(s.finish().unwrap().entries, 2);
    assert!(Scanner::new(Rules::default()).feed(&bytes).is_err());
}
