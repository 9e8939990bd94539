//! One 512-byte tar header block, read the way Go's `archive/tar` reads it.

pub(super) const BLOCK: usize = 512;

/// The fields of a header block that the scanner needs.
pub(super) struct Header<'a> {
    pub typeflag: u8,
    pub size: u64,
    pub name: &'a [u8],
    /// ustar/star prefix; joined as `prefix/name` when not empty.
    pub prefix: &'a [u8],
    pub linkname: &'a [u8],
}

pub(super) fn is_zero(block: &[u8; BLOCK]) -> bool {
    block.iter().all(|&b| b == 0)
}

/// Bytes of padding after `size` bytes of entry data.
pub(super) fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// Verifies the checksum and numeric fields; `Err` is the reason.
pub(super) fn parse(block: &[u8; BLOCK]) -> Result<Header<'_>, String> {
    check_checksum(block)?;
    let field = |name: &str, range: std::ops::Range<usize>| {
        numeric(&block[range]).map_err(|e| format!("{name} field: {e}"))
    };
    field("mode", 100..108)?;
    field("uid", 108..116)?;
    field("gid", 116..124)?;
    field("mtime", 136..148)?;
    let size = field("size", 124..136)?;
    let size = u64::try_from(size).map_err(|_| format!("negative size {size}"))?;
    let magic = &block[257..263];
    let mut prefix: &[u8] = b"";
    if magic == b"ustar\0" || magic == b"ustar " {
        field("devmajor", 329..337)?;
        field("devminor", 337..345)?;
    }
    if magic == b"ustar\0" {
        // star keeps atime/ctime after a shorter prefix.
        let end = if &block[508..512] == b"tar\0" {
            476
        } else {
            500
        };
        prefix = cstr(&block[345..end]);
    } else if magic == b"ustar " && &block[263..265] == b" \0" {
        // GNU: bytes 345.. are atime/ctime; Go reads them as a prefix
        // when they do not parse (archives of old buggy writers).
        let bad = |r: std::ops::Range<usize>| block[r.start] != 0 && numeric(&block[r]).is_err();
        if bad(345..357) || bad(357..369) {
            let p = cstr(&block[345..500]);
            if p.is_ascii() {
                prefix = p;
            }
        }
    }
    Ok(Header {
        typeflag: block[156],
        size,
        name: cstr(&block[..100]),
        prefix,
        linkname: cstr(&block[157..257]),
    })
}

/// The bytes up to the first NUL.
pub(super) fn cstr(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

fn check_checksum(block: &[u8; BLOCK]) -> Result<(), String> {
    let stored = octal(&block[148..156]).map_err(|e| format!("checksum field: {e}"))?;
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &c) in block.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { c };
        unsigned += i64::from(c);
        signed += i64::from(c as i8);
    }
    if stored == unsigned || stored == signed {
        Ok(())
    } else {
        Err(format!(
            "checksum mismatch (header says {stored}, computed {unsigned})"
        ))
    }
}

/// An octal or base-256 number field.
pub(super) fn numeric(b: &[u8]) -> Result<i64, String> {
    match b.first() {
        Some(&first) if first & 0x80 != 0 => base256(b),
        _ => octal(b),
    }
}

fn base256(b: &[u8]) -> Result<i64, String> {
    let inv = if b[0] & 0x40 != 0 { 0xff } else { 0 };
    let mut x: u64 = 0;
    for (i, &c) in b.iter().enumerate() {
        let mut c = c ^ inv;
        if i == 0 {
            c &= 0x7f;
        }
        if x >> 56 != 0 {
            return Err("base-256 number overflows".into());
        }
        x = (x << 8) | u64::from(c);
    }
    let x = i64::try_from(x).map_err(|_| "base-256 number overflows".to_string())?;
    Ok(if inv == 0xff { !x } else { x })
}

fn octal(b: &[u8]) -> Result<i64, String> {
    let trim = |c: &u8| *c == b' ' || *c == 0;
    let start = b.iter().position(|c| !trim(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !trim(c)).map_or(start, |i| i + 1);
    let digits = cstr(&b[start..end]);
    let mut x: i64 = 0;
    for &c in digits {
        if !(b'0'..=b'7').contains(&c) {
            return Err(format!(
                "`{}` is not an octal number",
                String::from_utf8_lossy(digits).escape_debug()
            ));
        }
        x = x
            .checked_mul(8)
            .and_then(|x| x.checked_add(i64::from(c - b'0')))
            .ok_or("octal number overflows")?;
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(numeric(b"0000644\0"), Ok(0o644));
        assert_eq!(numeric(b"  17 \0\0\0"), Ok(0o17));
        assert_eq!(numeric(b"\0\0\0\0"), Ok(0));
        assert!(numeric(b"0009\0").is_err());
        assert!(numeric(b"12 3\0").is_err());
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[11] = 0x01;
        big[10] = 0x02;
        assert_eq!(numeric(&big), Ok(0x0201));
        assert_eq!(numeric(&[0xff; 12]), Ok(-1));
        let mut over = [0xffu8; 12];
        over[0] = 0x80;
        assert!(numeric(&over).is_err());
        assert!(numeric(b"77777777777777777777777").is_err());
    }

    #[test]
    fn paddings() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
        assert_eq!(padding(1000), 24);
    }
}
