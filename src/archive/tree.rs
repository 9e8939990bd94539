//! What the entries so far have put where, so that each new entry can be
//! checked the way extracting it would go: nothing written through a symlink
//! or under a file, hard links only to files the archive already made, and
//! symlinks that stay inside the tree when resolved inside it.
//!
//! Every name is kept as a 128-bit keyed hash of (its directory, its name),
//! with a small value: about 40 bytes per entry whatever the path's length
//! (a million files: some 40 MiB), plus the targets of symlinks. A directory
//! gets a fresh id each time it is made, so what was under a directory that
//! an entry replaced is gone, as it is on disk.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

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
/// The id of the directory the archive is extracted into.
const TOP: u64 = 0;

/// A non-directory an entry makes.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Node {
    File,
    Fifo,
    Symlink(Vec<u8>),
}

/// What a name holds, as stored.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot {
    Dir(u64),
    File,
    Fifo,
    /// An index into `Tree::targets`.
    Symlink(usize),
}

impl Slot {
    fn what(self) -> &'static str {
        match self {
            Slot::Dir(_) => "a directory",
            Slot::File => "a file",
            Slot::Fifo => "a FIFO",
            Slot::Symlink(_) => "a symlink",
        }
    }
}

/// The names extracted so far.
pub(super) struct Tree {
    /// Number of leading components no symlink may climb above (1 with a
    /// root directory such as `data`: the volume itself).
    floor: usize,
    /// (directory id, name) → what it holds.
    slots: HashMap<u128, Slot>,
    targets: Vec<Vec<u8>>,
    next_dir: u64,
    /// The directory of the last entry recorded (its path and id): archives
    /// list a directory's entries together, so most lookups stop here.
    last_dir: (Vec<u8>, u64),
    /// Two keyed hashers make the 128-bit key: collisions cannot be crafted.
    keys: (RandomState, RandomState),
}

impl Tree {
    pub fn new(rooted: bool) -> Self {
        Self {
            floor: usize::from(rooted),
            slots: HashMap::new(),
            targets: Vec::new(),
            next_dir: TOP + 1,
            last_dir: (Vec::new(), TOP),
            keys: (RandomState::new(), RandomState::new()),
        }
    }

    fn key(&self, dir: u64, name: &[u8]) -> u128 {
        let (a, b) = (
            self.keys.0.hash_one((dir, name)),
            self.keys.1.hash_one((dir, name)),
        );
        (u128::from(a) << 64) | u128::from(b)
    }

    fn get(&self, dir: u64, name: &[u8]) -> Option<Slot> {
        self.slots.get(&self.key(dir, name)).copied()
    }

    /// The directory holding normalized `path`: `Some(id)`, or `None` when
    /// it does not exist yet (extraction makes it). `Err` if an ancestor is
    /// a symlink or a non-directory.
    fn parent(&self, path: &[u8]) -> Result<Option<u64>, String> {
        if let Some(id) = self.cached_parent(path) {
            return Ok(Some(id));
        }
        let mut dir = Some(TOP);
        let mut end = 0;
        let mut names = path.split(|&c| c == b'/').peekable();
        while let Some(name) = names.next() {
            if names.peek().is_none() {
                break;
            }
            end += name.len() + usize::from(end > 0);
            let Some(d) = dir else {
                break; // under a directory not made yet: nothing there
            };
            dir = match self.get(d, name) {
                None => None,
                Some(Slot::Dir(id)) => Some(id),
                Some(Slot::Symlink(t)) => {
                    return Err(format!(
                        "it is under `{}`, a symlink (to `{}`) earlier in the archive: \
                         extracting it would write through the link, possibly outside the volume",
                        show(&path[..end]),
                        show(&self.targets[t])
                    ));
                }
                Some(slot) => {
                    return Err(format!(
                        "it is under `{}`, which is {} earlier in the archive, not a directory",
                        show(&path[..end]),
                        slot.what()
                    ));
                }
            };
        }
        Ok(dir)
    }

    /// `Err` if writing at normalized `path` would go through a symlink or
    /// under a non-directory an earlier entry made.
    pub fn check_parents(&self, path: &[u8]) -> Result<(), String> {
        self.parent(path).map(|_| ())
    }

    /// The node a hard link to normalized `target` gets, or why it cannot be made.
    pub fn link_target(&self, target: &[u8], path: &[u8]) -> Result<Node, String> {
        let shown = show(target);
        if target == path {
            return Err(format!("hard link to `{shown}`: itself"));
        }
        let dir = self
            .parent(target)
            .map_err(|reason| format!("hard link to `{shown}`: {reason}"))?;
        let name = target.rsplit(|&c| c == b'/').next().unwrap_or(target);
        match dir.and_then(|d| self.get(d, name)) {
            Some(Slot::File) => Ok(Node::File),
            Some(Slot::Fifo) => Ok(Node::Fifo),
            Some(Slot::Symlink(t)) => Ok(Node::Symlink(self.targets[t].clone())),
            _ => Err(format!(
                "hard link to `{shown}`, which is not a file earlier in the archive \
                 (missing, or a directory)"
            )),
        }
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
        // The directories from the top down to the link's own, by id
        // (`None`: not made yet, so empty).
        let mut at: Vec<Option<u64>> = Vec::new();
        let mut names = path.split(|&c| c == b'/').peekable();
        while let Some(name) = names.next() {
            if names.peek().is_none() {
                break;
            }
            let here = at.last().copied().unwrap_or(Some(TOP));
            at.push(match here.and_then(|d| self.get(d, name)) {
                Some(Slot::Dir(id)) => Some(id),
                _ => None,
            });
        }
        let top: Vec<Option<u64>> = at.iter().take(self.floor).copied().collect();
        // Components still to resolve, last first.
        let mut todo: Vec<&[u8]> = Vec::new();
        let mut rooted = follow(&mut todo, &mut at, &top, target);
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c == b".." {
                if at.len() > self.floor {
                    at.pop();
                } else if !rooted {
                    return Err(escape());
                }
                continue;
            }
            if todo.is_empty() {
                break; // the last component is not followed
            }
            let here = at.last().copied().unwrap_or(Some(TOP));
            match here.and_then(|d| self.get(d, c)) {
                Some(Slot::Dir(id)) => at.push(Some(id)),
                None => at.push(None),
                // Nothing resolves through a file: it cannot lead out.
                Some(Slot::File | Slot::Fifo) => return Ok(()),
                Some(Slot::Symlink(t)) => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(format!(
                            "symlink to `{}`: too many levels of symlinks",
                            show(target)
                        ));
                    }
                    rooted |= follow(&mut todo, &mut at, &top, &self.targets[t]);
                }
            }
        }
        Ok(())
    }

    /// The id of `path`'s directory when it is the last entry's.
    fn cached_parent(&self, path: &[u8]) -> Option<u64> {
        let (dir, id) = &self.last_dir;
        let cut = path.iter().rposition(|&c| c == b'/')?;
        (!dir.is_empty() && &path[..cut] == dir.as_slice()).then_some(*id)
    }

    /// Records an entry at normalized `path` (whose parents passed
    /// [`check_parents`](Self::check_parents)); `None` is a directory.
    pub fn insert(&mut self, path: &[u8], node: Option<Node>) {
        let (mut dir, start) = match self.cached_parent(path) {
            Some(id) => (
                id,
                path.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1),
            ),
            None => (TOP, 0),
        };
        let mut names = path[start..].split(|&c| c == b'/').peekable();
        while let Some(name) = names.next() {
            let last = names.peek().is_none();
            let key = self.key(dir, name);
            let existing = self.slots.get(&key).copied();
            if last {
                let slot = match (&node, existing) {
                    // An existing directory stays, with what is in it.
                    (None, Some(Slot::Dir(_))) => return,
                    (None, _) => Slot::Dir(self.new_dir()),
                    (Some(Node::File), _) => Slot::File,
                    (Some(Node::Fifo), _) => Slot::Fifo,
                    (Some(Node::Symlink(t)), _) => {
                        self.targets.push(t.clone());
                        Slot::Symlink(self.targets.len() - 1)
                    }
                };
                self.slots.insert(key, slot);
                let cut = path.iter().rposition(|&c| c == b'/').unwrap_or(0);
                self.last_dir.0.clear();
                self.last_dir.0.extend_from_slice(&path[..cut]);
                self.last_dir.1 = dir;
                return;
            }
            dir = match existing {
                Some(Slot::Dir(id)) => id,
                // Made by extraction on the way (checked: not a non-directory).
                _ => {
                    let id = self.new_dir();
                    self.slots.insert(key, Slot::Dir(id));
                    id
                }
            };
        }
    }

    fn new_dir(&mut self) -> u64 {
        self.next_dir += 1;
        self.next_dir
    }
}

/// Queues the components of symlink target `t` for resolution from `at`
/// (from `top` when it is absolute: then whether it is).
fn follow<'a>(
    todo: &mut Vec<&'a [u8]>,
    at: &mut Vec<Option<u64>>,
    top: &[Option<u64>],
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
