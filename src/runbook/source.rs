//! A runbook's text, the name it is reported under, and positions in it.

use serde::Serialize;

/// A loaded runbook file. The only file I/O before a run happens when one is built.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as the user gave it, used in every error message.
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    /// The text of a 1-based line, without its line break.
    pub fn line(&self, line: usize) -> Option<&str> {
        self.text
            .split('\n')
            .nth(line.checked_sub(1)?)
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
    }
}

/// A position in a source: 1-based line, 0-based column and length in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub line: usize,
    pub col: usize,
    pub len: usize,
}

impl Span {
    pub fn new(line: usize, col: usize, len: usize) -> Self {
        Self {
            line: line.max(1),
            col,
            len: len.max(1),
        }
    }
}

/// Programs read `line` and a 1-based `column`, as editors show them.
impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Span", 3)?;
        st.serialize_field("line", &self.line)?;
        st.serialize_field("column", &(self.col + 1))?;
        st.serialize_field("length", &self.len)?;
        st.end()
    }
}
