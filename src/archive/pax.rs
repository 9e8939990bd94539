//! PAX extended header records (`"<len> <key>=<value>\n"`), as Go parses them.

/// The records that matter for validation; empty values keep the header's own.
#[derive(Debug, Default)]
pub(super) struct Pax {
    pub path: Option<Vec<u8>>,
    pub linkpath: Option<Vec<u8>>,
    pub size: Option<u64>,
}

/// Parses a whole PAX record block; `Err` is the reason.
pub(super) fn parse(mut data: &[u8]) -> Result<Pax, String> {
    let mut pax = Pax::default();
    while !data.is_empty() {
        let (key, value, rest) = record(data)?;
        data = rest;
        if key.starts_with(b"GNU.sparse.") {
            return Err("GNU sparse files are not supported".into());
        }
        if value.is_empty() {
            continue;
        }
        match key {
            b"path" => pax.path = Some(value.to_vec()),
            b"linkpath" => pax.linkpath = Some(value.to_vec()),
            b"size" => pax.size = Some(decimal(value).ok_or("bad PAX size record")?),
            _ => {}
        }
    }
    Ok(pax)
}

/// Key, value and the rest of the block.
type Record<'a> = (&'a [u8], &'a [u8], &'a [u8]);

fn record(data: &[u8]) -> Result<Record<'_>, String> {
    let bad = || "malformed PAX record".to_string();
    let space = data.iter().position(|&c| c == b' ').ok_or_else(bad)?;
    let len = decimal(&data[..space]).ok_or_else(bad)?;
    let len = usize::try_from(len).map_err(|_| bad())?;
    if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
        return Err(bad());
    }
    let rec = &data[space + 1..len - 1];
    let eq = rec.iter().position(|&c| c == b'=').ok_or_else(bad)?;
    let (key, value) = (&rec[..eq], &rec[eq + 1..]);
    if key.is_empty() || key.contains(&0) || value.contains(&0) && is_name(key) {
        return Err(bad());
    }
    Ok((key, value, &data[len..]))
}

fn is_name(key: &[u8]) -> bool {
    matches!(key, b"path" | b"linkpath" | b"uname" | b"gname")
}

fn decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = s.iter().fold(0u64, |n, &c| n * 10 + u64::from(c - b'0'));
    (n <= i64::MAX as u64).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        let p = parse(b"19 path=data/\xc3\xa9t\xc3\xa9\n11 size=42\n13 mtime=1.5\n").unwrap();
        assert_eq!(p.path.as_deref(), Some("data/été".as_bytes()));
        assert_eq!(p.size, Some(42));
        assert!(p.linkpath.is_none());
        assert!(parse(b"").unwrap().path.is_none());
        assert!(parse(b"8 path=\n").unwrap().path.is_none());
        for bad in [
            &b"20 path=data/x\n"[..],
            b"x path=a\n",
            b"8 patha\n",
            b"12 path=a\0b\n",
            b"11 size=-1\n",
            b"14 size=1\n",
            b"26 GNU.sparse.name=data/x\n",
            b"3 \n",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
