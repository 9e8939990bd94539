//! Where each node of a YAML document is, by path (`steps[2].with.volume`).
//!
//! serde_yaml's values carry no positions, so errors about meaning look the
//! position up here. Built from saphyr's event stream, which keeps markers.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

use super::source::Span;

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: Option<Span>,
    value: Span,
}

/// Path → position of the key (for mapping entries) and of the value.
#[derive(Debug, Default)]
pub struct PositionIndex {
    entries: HashMap<String, Entry>,
}

enum Frame {
    Map {
        path: String,
        key: Option<(String, Span)>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

fn span_of(s: &saphyr_parser::Span) -> Span {
    let (start, end) = (s.start, s.end);
    let len = if end.line() == start.line() {
        end.col().saturating_sub(start.col())
    } else {
        1
    };
    Span::new(start.line(), start.col(), len)
}

pub fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl PositionIndex {
    /// Indexes the first document of `text`. Stops quietly at a syntax error:
    /// the caller reports syntax errors from the real parser.
    pub fn build(text: &str) -> Self {
        let mut index = Self::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut parser = Parser::new_from_str(text);
        while let Some(Ok((event, span))) = parser.next_event() {
            let span = span_of(&span);
            match event {
                Event::DocumentEnd => break,
                Event::Scalar(value, ..) => {
                    if let Some(Frame::Map { key, .. }) = stack.last_mut()
                        && key.is_none()
                    {
                        *key = Some((value.into_owned(), span));
                        continue;
                    }
                    index.node(&mut stack, span);
                }
                Event::Alias(_) => {
                    index.node(&mut stack, span);
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let is_map = matches!(event, Event::MappingStart(..));
                    let path = match stack.last_mut() {
                        // A complex key: index its children under a path nobody asks for.
                        Some(Frame::Map {
                            key: key @ None,
                            path,
                        }) => {
                            *key = Some(("?".into(), span));
                            child_path(path, "?")
                        }
                        _ => index.node(&mut stack, span),
                    };
                    stack.push(if is_map {
                        Frame::Map { path, key: None }
                    } else {
                        Frame::Seq { path, next: 0 }
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                        *key = None;
                    }
                }
                _ => {}
            }
        }
        index
    }

    /// Records a value at the current position and returns its path.
    fn node(&mut self, stack: &mut [Frame], value: Span) -> String {
        let (path, key) = match stack.last_mut() {
            None => (String::new(), None),
            Some(Frame::Seq { path, next }) => {
                *next += 1;
                (format!("{path}[{}]", *next - 1), None)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some((k, key_span)) => (child_path(path, &k), Some(key_span)),
                None => (child_path(path, "?"), None),
            },
        };
        self.entries.insert(path.clone(), Entry { key, value });
        path
    }

    /// The position of the value at `path`, or of its nearest ancestor.
    pub fn value(&self, path: &str) -> Option<Span> {
        let mut path = path;
        loop {
            if let Some(e) = self.entries.get(path) {
                return Some(e.value);
            }
            path = parent(path)?;
        }
    }

    /// The position of the key of the mapping entry at `path`, or of the
    /// value when it has no key (a list item); falls back to ancestors.
    pub fn key(&self, path: &str) -> Option<Span> {
        match self.entries.get(path) {
            Some(e) => Some(e.key.unwrap_or(e.value)),
            None => self.key(parent(path)?),
        }
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → `` → None.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "runbook: demo\nsteps:\n  - id: stop\n    with: { container: redis, timeout: 30s }\n  - id: start\n    needs: [stop]\n";

    #[test]
    fn finds_keys_and_values_by_path() {
        let index = PositionIndex::build(DOC);
        assert_eq!(index.value("runbook"), Some(Span::new(1, 9, 4)));
        assert_eq!(index.key("runbook"), Some(Span::new(1, 0, 7)));
        assert_eq!(index.value("steps[1].id"), Some(Span::new(5, 8, 5)));
        assert_eq!(
            index.value("steps[0].with.timeout"),
            Some(Span::new(4, 39, 3))
        );
        assert_eq!(index.value("steps[1].needs[0]"), Some(Span::new(6, 12, 4)));
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        let index = PositionIndex::build(DOC);
        assert_eq!(
            index.value("steps[1].needs[7]"),
            index.value("steps[1].needs")
        );
        assert_eq!(parent("a.b[2].c"), Some("a.b[2]"));
        assert_eq!(parent("a"), Some(""));
    }
}
