//! The path rules every entry (and hard-link target) must obey.

/// Checks `prefix/name` (or just `name` when `prefix` is empty); `Err` is the reason.
pub(super) fn check(prefix: &[u8], name: &[u8], root: Option<&[u8]>) -> Result<(), String> {
    let first = if prefix.is_empty() { name } else { prefix };
    if first.is_empty() {
        return Err("empty path".into());
    }
    if first[0] == b'/' {
        return Err("absolute path".into());
    }
    if prefix.contains(&0) || name.contains(&0) {
        return Err("NUL byte in path".into());
    }
    let mut components = prefix
        .split(|&c| c == b'/')
        .chain(name.split(|&c| c == b'/'))
        .filter(|c| !c.is_empty() && *c != b".");
    let mut top = true;
    for c in components.by_ref() {
        if c == b".." {
            return Err("`..` component".into());
        }
        if top {
            if let Some(root) = root
                && c != root
            {
                return Err(outside(root));
            }
            top = false;
        }
    }
    match root {
        Some(root) if top => Err(outside(root)),
        _ => Ok(()),
    }
}

/// `prefix/name` for messages.
pub(super) fn display(prefix: &[u8], name: &[u8]) -> String {
    if prefix.is_empty() {
        String::from_utf8_lossy(name).into_owned()
    } else {
        format!(
            "{}/{}",
            String::from_utf8_lossy(prefix),
            String::from_utf8_lossy(name)
        )
    }
}

fn outside(root: &[u8]) -> String {
    format!("outside `{}/`", String::from_utf8_lossy(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> bool {
        check(b"", p.as_bytes(), Some(b"data")).is_ok()
    }

    #[test]
    fn rules() {
        for good in [
            "data",
            "data/",
            "data/x",
            "./data/x/./y",
            "data//x",
            "data/..x",
        ] {
            assert!(ok(good), "{good}");
        }
        for bad in [
            "",
            "/data",
            "/etc/passwd",
            "../x",
            "data/../../etc",
            "data/..",
            "etc",
            "datax/y",
            ".",
            "./",
        ] {
            assert!(!ok(bad), "{bad}");
        }
        assert!(check(b"data/a", b"b", Some(b"data")).is_ok());
        assert!(check(b"etc", b"data", Some(b"data")).is_err());
        assert!(check(b"data", b"../..", Some(b"data")).is_err());
        assert!(check(b"/data", b"x", None).is_err());
        assert!(check(b"", b"anything/goes", None).is_ok());
        assert!(check(b"", b"a\0b", None).is_err());
    }
}
