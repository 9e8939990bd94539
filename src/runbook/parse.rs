//! Text → raw runbook, with every structural error placed at its line and column.

use std::path::Path;

use super::diagnostic::{Diagnostic, suggestion};
use super::position_index::{PositionIndex, child_path};
use super::raw::{Lenient, RawRunbook};
use super::source::{Source, Span};

/// Runbooks are small; anything larger is a mistake, not a runbook.
pub const MAX_RUNBOOK_BYTES: u64 = 16 * 1024 * 1024;

/// A runbook that parsed, with the index that places its nodes.
#[derive(Debug)]
pub struct Parsed {
    pub raw: RawRunbook,
    pub index: PositionIndex,
}

const UTF16_HINT: &str = "is the file UTF-16 (as some Windows editors save)? save it as UTF-8";

/// Why a file could not even be read as text.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is {size} bytes; a runbook may be at most {MAX_RUNBOOK_BYTES} bytes")]
    TooLarge { path: String, size: u64 },
    #[error(
        "{path}:{line}:{column}: not UTF-8 text (byte 0x{byte:02X} at offset {offset}); \
         a runbook is YAML text in UTF-8"
    )]
    NotText {
        path: String,
        offset: usize,
        /// Where the first bad byte is: line and column (in characters), from 1.
        line: usize,
        column: usize,
        byte: u8,
        /// The file with bad bytes replaced (U+FFFD), to show the line.
        lossy: String,
    },
}

impl ReadError {
    /// The file was read, but what it holds cannot be a runbook: an invalid
    /// runbook (exit 1), not an unreadable path (exit 2).
    pub fn is_invalid(&self) -> bool {
        !matches!(self, Self::Io { .. })
    }

    /// The problem as a diagnostic on the file's text, for invalid files.
    pub fn diagnostic(&self) -> Option<(Source, Diagnostic)> {
        match self {
            Self::Io { .. } => None,
            Self::TooLarge { path, .. } => Some((
                Source::new(path.clone(), String::new()),
                Diagnostic::new(self.to_string())
                    .hint("a runbook is a small YAML file; is this the right file?"),
            )),
            Self::NotText {
                path,
                offset,
                line,
                column,
                byte,
                lossy,
            } => Some((
                Source::new(path.clone(), lossy.clone()),
                Diagnostic::new(format!(
                    "not UTF-8 text: byte 0x{byte:02X} at line {line}, column {column} \
                     is not valid UTF-8"
                ))
                .at(Some(Span::new(*line, column - 1, 1)))
                .hint(if *offset == 0 && (*byte == 0xFF || *byte == 0xFE) {
                    UTF16_HINT
                } else {
                    "a runbook is YAML text in UTF-8; if this file is in another encoding, \
                     convert it (e.g. `iconv -f latin1 -t utf-8 FILE > NEW.yaml`)"
                }),
            )),
        }
    }
}

/// Reads a runbook file, refusing huge or binary files before parsing them.
pub fn read_source(path: &Path) -> Result<Source, ReadError> {
    let name = path.display().to_string();
    let io = |source| ReadError::Io {
        path: name.clone(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_RUNBOOK_BYTES {
        return Err(ReadError::TooLarge { path: name, size });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(name, text)),
        Err(e) => Err(not_text(name, e.as_bytes(), e.utf8_error().valid_up_to())),
    }
}

/// Places the first bad byte (at `offset`; everything before it is UTF-8).
fn not_text(path: String, bytes: &[u8], offset: usize) -> ReadError {
    let before = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    ReadError::NotText {
        path,
        offset,
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
        byte: bytes[offset],
        lossy: String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// What kind of document a file holds, for the messages about its shape.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// `runbook`, `drill`.
    pub noun: &'static str,
    /// The keys every such document has, e.g. "`runbook:` and `steps:`".
    pub keys: &'static str,
}

pub const RUNBOOK: Kind = Kind {
    noun: "runbook",
    keys: "`runbook:` and `steps:`",
};

/// Parses a runbook. Syntax errors stop at the first; structural errors are
/// collected per param, target and step.
pub fn parse(source: &Source) -> Result<Parsed, Vec<Diagnostic>> {
    let (raw, index): (RawRunbook, PositionIndex) = parse_document(source, RUNBOOK)?;
    let mut errors = Vec::new();
    let mut collect = |base: String, path: &str, message: &str| {
        let path = if path == "." {
            base
        } else if path.starts_with('[') {
            format!("{base}{path}")
        } else {
            child_path(&base, path)
        };
        errors.push(structural_error(&path, message, &index));
    };
    for (name, param) in &raw.params {
        if let Lenient::Err { path, message } = param {
            collect(child_path("params", name), path, message);
        }
    }
    for (name, target) in &raw.targets {
        if let Lenient::Err { path, message } = target {
            collect(child_path("targets", name), path, message);
        }
    }
    for (i, step) in raw.steps.iter().enumerate() {
        if let Lenient::Err { path, message } = step {
            collect(format!("steps[{i}]"), path, message);
        }
    }
    if errors.is_empty() {
        Ok(Parsed { raw, index })
    } else {
        Err(errors)
    }
}

/// Parses one YAML document of a `kind` into `T`: NUL bytes, runaway nesting,
/// syntax and the first structural error are reported with their positions.
pub fn parse_document<T: serde::de::DeserializeOwned>(
    source: &Source,
    kind: Kind,
) -> Result<(T, PositionIndex), Vec<Diagnostic>> {
    if let Some(at) = source.text.find('\0') {
        let before = &source.text[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        return Err(vec![
            Diagnostic::new(format!(
                "the file contains NUL bytes; a {} is YAML text",
                kind.noun
            ))
            .at(Some(Span::new(
                before.matches('\n').count() + 1,
                before[line_start..].chars().count(),
                1,
            )))
            .hint(UTF16_HINT),
        ]);
    }
    if let Some(span) = too_deep(&source.text) {
        return Err(vec![
            Diagnostic::new(format!(
                "the document nests deeper than {MAX_FLOW_DEPTH} levels"
            ))
            .at(Some(span))
            .hint(format!(
                "a {} needs only a few levels; is a bracket left open?",
                kind.noun
            )),
        ]);
    }
    // serde_yaml guards against alias bombs and deep block nesting, so it goes first.
    let mut value: serde_yaml::Value = match serde_yaml::from_str(&source.text) {
        Ok(v) => v,
        Err(e) => return Err(vec![syntax_error(&e, source)]),
    };
    if value.is_null() {
        return Err(vec![
            Diagnostic::new(format!("the {} is empty", kind.noun)).hint(format!(
                "a {} is a mapping with at least {}",
                kind.noun, kind.keys
            )),
        ]);
    }
    if !value.is_mapping() {
        return Err(vec![
            Diagnostic::new(format!(
                "expected a mapping with {}, found {}",
                kind.keys,
                super::raw::describe(&value)
            ))
            .at(Some(first_content(&source.text))),
        ]);
    }
    if let Err(e) = value.apply_merge() {
        return Err(vec![syntax_error(&e, source)]);
    }
    let index = PositionIndex::build(&source.text);
    match serde_path_to_error::deserialize(value) {
        Ok(raw) => Ok((raw, index)),
        Err(e) => {
            let path = e.path().to_string();
            Err(vec![structural_error(
                &path,
                &e.into_inner().to_string(),
                &index,
            )])
        }
    }
}

/// Deeper flow nesting than any runbook needs; libyaml slows down
/// quadratically on thousands of unclosed `{`, so it is refused up front.
const MAX_FLOW_DEPTH: usize = 64;

/// Where flow collections (`[`, `{`) first nest too deep, skipping quoted text and comments.
fn too_deep(text: &str) -> Option<Span> {
    let mut depth = 0usize;
    for (n, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (col, c) in line.chars().enumerate() {
            match (quote, c) {
                (Some('"'), '\\') if prev != '\\' => {}
                (Some(q), c) if c == q && !(q == '"' && prev == '\\') => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') if prev.is_whitespace() || "[{,:".contains(prev) => {
                    quote = Some(c)
                }
                (None, '#') if prev.is_whitespace() => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some(Span::new(n + 1, col, 1));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
        }
    }
    None
}

fn syntax_error(e: &serde_yaml::Error, source: &Source) -> Diagnostic {
    let message = e.to_string();
    // serde_yaml appends " at line L column C"; the caret says that better.
    let message = match message.find(" at line ") {
        Some(cut) => message[..cut].to_string(),
        None => message,
    };
    // serde_yaml gives no position for a second document: point at its `---`.
    let second_document = message
        .contains("more than one document")
        .then(|| {
            source
                .text
                .lines()
                .enumerate()
                .filter(|(_, l)| l.starts_with("---"))
                .map(|(n, _)| Span::new(n + 1, 0, 3))
                .nth(usize::from(source.text.starts_with("---")))
        })
        .flatten();
    let span = second_document.or_else(|| {
        e.location().map(|l| {
            let col = l.column().saturating_sub(1);
            let len = source
                .line(l.line())
                .map(|line| token_len(line, col))
                .unwrap_or(1);
            Span::new(l.line(), col, len)
        })
    });
    let hint = if message.contains("recursion limit") {
        Some("the document nests too deeply; a runbook needs only a few levels".to_string())
    } else if message.contains("repetition limit") {
        Some("the document expands aliases too many times (an alias bomb?)".to_string())
    } else if message.contains("more than one document") {
        Some("keep one runbook per file; remove the `---` separator".to_string())
    } else if message.contains("tab") {
        Some("YAML indentation must use spaces, not tabs".to_string())
    } else {
        None
    };
    Diagnostic::new(format!("invalid YAML: {message}"))
        .at(span)
        .maybe_hint(hint)
}

/// The first line that is neither blank nor a comment.
fn first_content(text: &str) -> Span {
    let line = text
        .lines()
        .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .unwrap_or(0);
    Span::new(line + 1, 0, 1)
}

/// The length of the word starting at `col`, for the caret.
fn token_len(line: &str, col: usize) -> usize {
    line.chars()
        .skip(col)
        .take_while(|c| !c.is_whitespace() && !matches!(c, ':' | ',' | ']' | '}'))
        .count()
        .max(1)
}

/// Turns serde's message about the node at `path` into a diagnostic.
pub fn structural_error(path: &str, message: &str, index: &PositionIndex) -> Diagnostic {
    let path = if path == "." { "" } else { path };
    let where_ = |path: &str| {
        if path.is_empty() {
            "the runbook".to_string()
        } else {
            format!("`{path}`")
        }
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = split_expected(rest);
        // serde_path_to_error's path already ends with the unknown field.
        let parent = path
            .strip_suffix(field)
            .map(|p| p.strip_suffix('.').unwrap_or(p))
            .unwrap_or(path);
        let candidates = backticked(expected);
        let hint = suggestion(field, candidates.iter().copied())
            .unwrap_or_else(|| format!("expected one of: {}", candidates.join(", ")));
        return Diagnostic::new(format!("unknown field `{field}` in {}", where_(parent)))
            .at(index.key(&child_path(parent, field)))
            .hint(hint);
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (variant, expected) = split_expected(rest);
        let candidates = backticked(expected);
        let hint = suggestion(variant, candidates.iter().copied())
            .unwrap_or_else(|| format!("expected one of: {}", candidates.join(", ")));
        return Diagnostic::new(format!("unknown value `{variant}` for {}", where_(path)))
            .at(index.value(path))
            .hint(hint);
    }
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        return Diagnostic::new(format!("missing field `{field}` in {}", where_(path)))
            .at(index.key(path))
            .hint(format!("add `{field}:`"));
    }
    if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        let expected = plain_words(expected);
        let hint = if path.ends_with("needs") && found.starts_with("string") {
            let item = found.trim_start_matches("string ").trim_matches('"');
            Some(format!("`needs` is a list: `needs: [{item}]`"))
        } else if path.ends_with("unsafe") {
            Some("`unsafe` takes the reason the step is safe: `unsafe: \"<reason>\"`".to_string())
        } else {
            None
        };
        return Diagnostic::new(format!(
            "wrong type for {}: expected {expected}, found {found}",
            where_(path)
        ))
        .at(index.value(path))
        .maybe_hint(hint);
    }
    Diagnostic::new(format!("{}: {message}", where_(path))).at(index.value(path))
}

/// serde's type names in the words a runbook author uses.
fn plain_words(expected: &str) -> String {
    match expected {
        "a sequence" => "a list".into(),
        "u32" | "u64" | "usize" => "a whole number (0 or more)".into(),
        "i64" | "i32" => "a whole number".into(),
        "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        "struct RawStep"
        | "struct RawTarget"
        | "struct RawParam"
        | "struct RawRetry"
        | "struct RawUndo"
        | "struct RawObjectives" => "a mapping".into(),
        other => other.to_string(),
    }
}

/// "x`, expected one of `a`, `b`" → ("x", "expected one of `a`, `b`").
fn split_expected(rest: &str) -> (&str, &str) {
    rest.split_once('`').unwrap_or((rest, ""))
}

fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<Diagnostic> {
        parse(&Source::new("t.yaml", text)).unwrap_err()
    }

    #[test]
    fn reports_every_bad_step_with_its_position() {
        let errs = errors(
            "runbook: x\nsteps:\n  - id: a\n    usess: container.stop\n  - id: b\n    uses: container.stop\n    needs: oops\n",
        );
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert_eq!(errs[0].message, "unknown field `usess` in `steps[0]`");
        assert_eq!(errs[0].span, Some(Span::new(4, 4, 5)));
        assert_eq!(errs[0].hint.as_deref(), Some("did you mean `uses`?"));
        assert_eq!(
            errs[1].message,
            "wrong type for `steps[1].needs`: expected a list, found string \"oops\""
        );
        assert_eq!(errs[1].span, Some(Span::new(7, 11, 4)));
    }

    #[test]
    fn rejects_alias_bombs_and_deep_nesting_without_hanging() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            bomb.push_str(&format!(
                "{}: &{} [*{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}]\n",
                (b'a' + i) as char,
                (b'a' + i) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char
            ));
        }
        assert!(errors(&bomb)[0].message.starts_with("invalid YAML"));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(
            errors(&deep)[0]
                .message
                .contains("nests deeper than 64 levels")
        );
        let deep_blocks = "- ".repeat(1000);
        assert!(errors(&deep_blocks)[0].message.contains("recursion limit"));
    }

    #[test]
    fn empty_and_non_mapping_documents_are_errors() {
        assert_eq!(errors("")[0].message, "the runbook is empty");
        assert_eq!(
            errors("# only a comment\n")[0].message,
            "the runbook is empty"
        );
        assert!(
            errors("- a\n- b\n")[0]
                .message
                .starts_with("expected a mapping")
        );
    }
}
