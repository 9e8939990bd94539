//! What the entries so far have put where, so that each new entry can be
//! checked the way extracting it would go: nothing written through a symlink
//! or under a file, hard links only to files the archive already made, and
//! symlinks that stay inside the tree when resolved inside it.
//!
//! Only non-directories are kept (a path not kept is a directory or nothing,
//! and both are fine as a parent): memory grows with the number of files,
//! by about their path length each.

use std::collections::BTreeMap;
use std::ops::Bound;

/// Longest accepted entry path (after `.` and `//` are dropped), in bytes:
/// extraction opens `/<path>`, and Linux refuses paths of 4096 bytes or more.
pub(super) const MAX_PATH: usize = 4000;
/// Most components in a path.
pub(super) const MAX_DEPTH: usize = 1000;
/// Longest component: Linux's `NAME_MAX`.
pub(super) const MAX_NAME: usize = 255;
/// Longest symlink target Linux stores.
pub(super) const MAX_TARGET: usize = 4095;
/// Symlinks followed while resolving one target (Linux's limit too).
const MAX_HOPS: usize = 40;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Node {
    File,
    Fifo,
    Symlink(Vec<u8>),
}

impl Node {
    fn what(&self) -> &'static str {
        match self {
            Node::File => "a file",
            Node::Fifo => "a FIFO",
            Node::Symlink(_) => "a symlink",
        }
    }
}

/// The non-directories extracted so far, by normalized path (`data/a/b`).
#[derive(Default)]
pub(super) struct Tree {
    /// Number of leading components no symlink may climb above (1 with a
    /// root directory such as `data`: the volume itself).
    floor: usize,
    nodes: BTreeMap<Vec<u8>, Node>,
}

impl Tree {
    pub fn new(rooted: bool) -> Self {
        Self {
            floor: usize::from(rooted),
            nodes: BTreeMap::new(),
        }
    }

    /// `Err` if writing at normalized `path` would go through a symlink or
    /// under a non-directory an earlier entry made.
    pub fn check_parents(&self, path: &[u8]) -> Result<(), String> {
        for (i, _) in path.iter().enumerate().filter(|(_, c)| **c == b'/') {
            let parent = &path[..i];
            match self.nodes.get(parent) {
                None => {}
                Some(Node::Symlink(target)) => {
                    return Err(format!(
                        "it is under `{}`, a symlink (to `{}`) earlier in the archive: \
                         extracting it would write through the link, possibly outside the volume",
                        show(parent),
                        show(target)
                    ));
                }
                Some(node) => {
                    return Err(format!(
                        "it is under `{}`, which is {} earlier in the archive, not a directory",
                        show(parent),
                        node.what()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The node a hard link to normalized `target` gets, or why it cannot be made.
    pub fn link_target(&self, target: &[u8], path: &[u8]) -> Result<Node, String> {
        let shown = show(target);
        if target == path {
            return Err(format!("hard link to `{shown}`: itself"));
        }
        self.check_parents(target)
            .map_err(|reason| format!("hard link to `{shown}`: {reason}"))?;
        self.nodes.get(target).cloned().ok_or_else(|| {
            format!(
                "hard link to `{shown}`, which is not a file earlier in the archive \
                 (missing, or a directory)"
            )
        })
    }

    /// `Err` if symlink `path` → `target` resolves outside the tree (a
    /// relative target climbing above it), following earlier symlinks on the
    /// way. An absolute target is resolved from the top of the tree, as if
    /// the tree were the root (where `..` stays): it cannot climb out.
    pub fn check_symlink(&self, path: &[u8], target: &[u8]) -> Result<(), String> {
        if target.is_empty() {
            return Err("symlink with an empty target".into());
        }
        if target.len() > MAX_TARGET {
            return Err(format!(
                "symlink target of {} bytes (the limit is {MAX_TARGET})",
                target.len()
            ));
        }
        let escape = || {
            format!(
                "symlink to `{}` leaves the volume when resolved inside it",
                show(target)
            )
        };
        let mut at: Vec<&[u8]> = components(path).collect();
        at.pop();
        let top: Vec<&[u8]> = at.iter().take(self.floor).copied().collect();
        // Components still to resolve, last first.
        let mut todo: Vec<&[u8]> = Vec::new();
        let mut rooted = follow(&mut todo, &mut at, &top, target);
        let mut hops = 0;
        let mut joined = Vec::new();
        while let Some(c) = todo.pop() {
            if c == b".." {
                if at.len() > self.floor {
                    at.pop();
                } else if !rooted {
                    return Err(escape());
                }
                continue;
            }
            at.push(c);
            if todo.is_empty() {
                break; // the last component is not followed
            }
            joined.clear();
            for (i, c) in at.iter().enumerate() {
                if i > 0 {
                    joined.push(b'/');
                }
                joined.extend_from_slice(c);
            }
            if let Some(Node::Symlink(next)) = self.nodes.get(joined.as_slice()) {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(format!(
                        "symlink to `{}`: too many levels of symlinks",
                        show(target)
                    ));
                }
                at.pop();
                rooted |= follow(&mut todo, &mut at, &top, next);
            }
        }
        Ok(())
    }

    /// Records an entry at normalized `path`; `None` is a directory.
    pub fn insert(&mut self, path: &[u8], node: Option<Node>) {
        // Extracting replaces what was there; a non-directory replaces a
        // directory with everything under it.
        self.nodes.remove(path);
        if let Some(node) = node {
            let mut below = path.to_vec();
            below.push(b'/');
            let mut end = path.to_vec();
            end.push(b'/' + 1);
            let doomed: Vec<Vec<u8>> = self
                .nodes
                .range::<[u8], _>((Bound::Included(&below[..]), Bound::Excluded(&end[..])))
                .map(|(k, _)| k.clone())
                .collect();
            for k in doomed {
                self.nodes.remove(&k);
            }
            self.nodes.insert(path.to_vec(), node);
        }
    }
}

/// Queues the components of symlink target `t` for resolution from `at`
/// (from `top` when it is absolute: then whether it is).
fn follow<'a>(
    todo: &mut Vec<&'a [u8]>,
    at: &mut Vec<&'a [u8]>,
    top: &[&'a [u8]],
    t: &'a [u8],
) -> bool {
    let absolute = t.first() == Some(&b'/');
    if absolute {
        at.clear();
        at.extend_from_slice(top);
    }
    let start = todo.len();
    todo.extend(components(t));
    todo[start..].reverse();
    absolute
}

/// The non-empty components of `path` other than `.`.
pub(super) fn components(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&c| c == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

/// `prefix/name` as `a/b/c` without `.`, empty components or a trailing
/// slash; `Err` if it is too long or deep for extraction.
pub(super) fn normalize(prefix: &[u8], name: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(prefix.len() + name.len() + 1);
    let mut depth = 0;
    for c in components(prefix).chain(components(name)) {
        if c.len() > MAX_NAME {
            return Err(format!(
                "a path component of {} bytes (the limit is {MAX_NAME})",
                c.len()
            ));
        }
        depth += 1;
        if depth > MAX_DEPTH {
            return Err(format!("a path more than {MAX_DEPTH} directories deep"));
        }
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(c);
        if out.len() > MAX_PATH {
            return Err(format!("a path longer than {MAX_PATH} bytes"));
        }
    }
    Ok(out)
}

fn show(path: &[u8]) -> String {
    let s = String::from_utf8_lossy(path);
    if s.len() > 120 {
        let cut = s.char_indices().nth(100).map_or(s.len(), |(i, _)| i);
        format!("{}…", &s[..cut])
    } else {
        s.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entries: &[(&str, Option<Node>)]) -> Tree {
        let mut t = Tree::new(true);
        for (p, n) in entries {
            t.insert(p.as_bytes(), n.clone());
        }
        t
    }

    fn link(t: &str) -> Option<Node> {
        Some(Node::Symlink(t.as_bytes().to_vec()))
    }

    #[test]
    fn symlinks_resolve_inside_the_volume() {
        let t = tree(&[("data/sub", None), ("data/s", link("sub/x"))]);
        let ok = |p: &str, target: &str| t.check_symlink(p.as_bytes(), target.as_bytes());
        assert!(ok("data/l", "/etc").is_ok());
        assert!(
            ok("data/l", "/../../etc").is_ok(),
            "absolute: `..` stops at the top"
        );
        assert!(ok("data/l", "sub/../a").is_ok());
        assert!(ok("data/a/b/l", "../../c").is_ok());
        assert!(ok("data/l", "../../etc").is_err());
        assert!(ok("data/l", "..").is_err());
        assert!(ok("data/a/l", "../..").is_err());
        // Through the earlier symlink `s` → `sub/x`: data/sub/x/../.. is data.
        assert!(ok("data/l", "s/../..").is_ok());
        assert!(ok("data/l", "s/../../..").is_err());
        assert!(ok("data/l", "").is_err());
        let mut loops = tree(&[("data/a", link("b")), ("data/b", link("a"))]);
        assert!(loops.check_symlink(b"data/l", b"a/x").is_err());
        loops.insert(b"data/a", None);
        assert!(loops.check_symlink(b"data/l", b"a/x").is_ok());
    }

    #[test]
    fn parents_and_link_targets() {
        let t = tree(&[
            ("data/f", Some(Node::File)),
            ("data/s", link("/etc")),
            ("data/d/x", Some(Node::File)),
        ]);
        assert!(t.check_parents(b"data/d/y").is_ok());
        let e = t.check_parents(b"data/s/evil").unwrap_err();
        assert!(e.contains("under `data/s`, a symlink"), "{e}");
        let e = t.check_parents(b"data/f/x").unwrap_err();
        assert!(e.contains("which is a file"), "{e}");
        assert_eq!(t.link_target(b"data/d/x", b"data/h"), Ok(Node::File));
        assert!(t.link_target(b"data/s", b"data/h").is_ok());
        assert!(t.link_target(b"data/s/passwd", b"data/h").is_err());
        assert!(t.link_target(b"data/d", b"data/h").is_err());
        assert!(t.link_target(b"data/nope", b"data/h").is_err());
        assert!(t.link_target(b"data/f", b"data/f").is_err());
    }

    #[test]
    fn replacing_a_directory_drops_what_was_under_it() {
        let mut t = tree(&[
            ("data/d/x", Some(Node::File)),
            ("data/d0", Some(Node::File)),
        ]);
        t.insert(b"data/d", Some(Node::File));
        assert!(t.link_target(b"data/d/x", b"data/h").is_err());
        assert!(t.link_target(b"data/d0", b"data/h").is_ok());
        t.insert(b"data/d", None);
        assert!(t.check_parents(b"data/d/y").is_ok());
    }

    #[test]
    fn limits() {
        assert_eq!(normalize(b"", b"./data//a/./b/").unwrap(), b"data/a/b");
        assert_eq!(normalize(b"data/a", b"b").unwrap(), b"data/a/b");
        assert!(normalize(b"", "a/".repeat(MAX_DEPTH).as_bytes()).is_ok());
        assert!(normalize(b"", "a/".repeat(MAX_DEPTH + 1).as_bytes()).is_err());
        assert!(normalize(b"", "n".repeat(MAX_NAME + 1).as_bytes()).is_err());
        let long = format!("data/{}", "abcdefghi/".repeat(400));
        assert!(normalize(b"", long.as_bytes()).is_err());
    }
}
