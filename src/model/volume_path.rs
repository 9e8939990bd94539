//! Paths inside a volume: what `volume.restore` takes as `paths:` (relative
//! to the volume's root) and where `volume.run` mounts a volume (absolute,
//! in its container). Checked by the compiler, with the place, and again by
//! the step (a path rendered at run time).

/// `text` as a path relative to a volume's root, normalised (`./a//b/` →
/// `a/b`); `Err` says why it is not one.
pub fn relative(text: &str) -> Result<String, String> {
    if text.starts_with('/') {
        let parts: Vec<&str> = text.split('/').filter(|c| !c.is_empty()).collect();
        return Err(match parts.as_slice() {
            [mount, rest @ ..] if !rest.is_empty() => format!(
                "`{text}` is absolute; paths are relative to the volume's root: `{}` for a \
                 volume mounted at `/{mount}`",
                rest.join("/")
            ),
            _ => format!("`{text}` is absolute; paths are relative to the volume's root"),
        });
    }
    if text.contains('\0') {
        return Err("a path cannot hold a NUL byte".into());
    }
    let parts: Vec<&str> = text
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(format!(
            "`{text}` contains `..`; a path must stay inside the volume"
        ));
    }
    if parts.is_empty() {
        return Err(format!(
            "`{text}` names the whole volume; leave `paths` out to restore all of it"
        ));
    }
    Ok(parts.join("/"))
}

/// A pair (inner, outer) of indexes where one normalised path lies inside
/// (or is) another.
pub fn overlap(paths: &[String]) -> Option<(usize, usize)> {
    for (i, a) in paths.iter().enumerate() {
        for (j, b) in paths.iter().enumerate() {
            let inside = a
                .strip_prefix(b.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
            if i != j && inside && (a != b || i > j) {
                return Some((i, j));
            }
        }
    }
    None
}

/// `text` as a mount point in a container: absolute, not `/`, no `..`.
pub fn mount_point(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err(format!(
            "`{text}` is not absolute; a volume is mounted at an absolute path, e.g. `/{text}`"
        ));
    }
    let parts: Vec<&str> = text
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") || text.contains('\0') || text.contains(':') {
        return Err(format!("`{text}` is not a plain absolute path"));
    }
    if parts.is_empty() {
        return Err("a volume cannot be mounted over `/`".into());
    }
    Ok(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(relative("./a//b/").unwrap(), "a/b");
        assert_eq!(relative("appendonlydir").unwrap(), "appendonlydir");
        assert!(relative("/etc").unwrap_err().contains("absolute"));
        assert!(relative("a/../../b").unwrap_err().contains(".."));
        assert!(relative("./").unwrap_err().contains("whole volume"));
        assert!(relative("").is_err());
    }

    #[test]
    fn overlaps() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(overlap(&p(&["a", "ab", "b/c"])), None);
        assert_eq!(overlap(&p(&["a", "a/b"])), Some((1, 0)));
        assert_eq!(overlap(&p(&["a/b", "a"])), Some((0, 1)));
        assert_eq!(overlap(&p(&["a", "a"])), Some((1, 0)));
    }

    #[test]
    fn mount_points() {
        assert_eq!(mount_point("/data/").unwrap(), "/data");
        assert!(mount_point("data").is_err());
        assert!(mount_point("/").is_err());
        assert!(mount_point("/a/../b").is_err());
    }
}
