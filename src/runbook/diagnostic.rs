//! Errors about a runbook, with the place they point at and how to fix them.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use super::source::{Source, Span};

/// One problem found in a runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            span: None,
            hint: None,
        }
    }

    pub fn at(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn maybe_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A "did you mean" hint for `word`, if one of `candidates` is close.
pub fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    did_you_mean(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Renders diagnostics the way compilers do: message, `path:line:col`, the
/// source line with a caret under the problem, and a hint.
pub fn render(diagnostics: &[Diagnostic], source: &Source, color: bool) -> String {
    let paint = |style: Style, text: &str| {
        if color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    };
    let error = Style::new().bold().fg_color(Some(AnsiColor::Red.into()));
    let bold = Style::new().bold();
    let blue = Style::new().bold().fg_color(Some(AnsiColor::Blue.into()));
    let caret = Style::new().bold().fg_color(Some(AnsiColor::Red.into()));
    let hint = Style::new().bold().fg_color(Some(AnsiColor::Cyan.into()));

    let mut out = String::new();
    for (i, d) in diagnostics.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{}{}",
            paint(error, "error"),
            paint(bold, &format!(": {}", d.message))
        );
        match d.span.and_then(|s| source.line(s.line).map(|l| (s, l))) {
            Some((span, line)) => {
                let number = span.line.to_string();
                let gutter = " ".repeat(number.len());
                let (line, col) = window(&line.replace('\t', " "), span.col);
                let width = line.chars().count();
                let col = col.min(width);
                let len = span.len.min(width.saturating_sub(col)).max(1);
                let _ = writeln!(
                    out,
                    "{gutter}{} {}:{}:{}",
                    paint(blue, "-->"),
                    source.name,
                    span.line,
                    span.col + 1
                );
                let _ = writeln!(out, "{gutter} {}", paint(blue, "|"));
                let _ = writeln!(out, "{} {} {line}", paint(blue, &number), paint(blue, "|"));
                let _ = writeln!(
                    out,
                    "{gutter} {} {}{}",
                    paint(blue, "|"),
                    " ".repeat(col),
                    paint(caret, &"^".repeat(len))
                );
                if let Some(h) = &d.hint {
                    let _ = writeln!(
                        out,
                        "{gutter} {} {}: {h}",
                        paint(blue, "="),
                        paint(hint, "hint")
                    );
                }
            }
            None => {
                let _ = writeln!(out, " {} {}", paint(blue, "-->"), source.name);
                if let Some(h) = &d.hint {
                    let _ = writeln!(out, "  {} {}: {h}", paint(blue, "="), paint(hint, "hint"));
                }
            }
        }
    }
    out
}

/// Long lines are cut to a window around the column, marked with `…`.
fn window(line: &str, col: usize) -> (String, usize) {
    const WIDTH: usize = 100;
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= WIDTH {
        return (line.to_string(), col);
    }
    let start = col
        .saturating_sub(WIDTH / 2)
        .min(chars.len().saturating_sub(WIDTH));
    let end = (start + WIDTH).min(chars.len());
    let mut text: String = chars[start..end].iter().collect();
    let mut col = col - start;
    if start > 0 {
        text.insert(0, '…');
        col += 1;
    }
    if end < chars.len() {
        text.push('…');
    }
    (text, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_the_span() {
        let source = Source::new("rb.yaml", "runbook: x\nsteps:\n  - uses: volume.restor\n");
        let d = Diagnostic::new("unknown step kind `volume.restor`")
            .at(Some(Span::new(3, 10, 13)))
            .hint("did you mean `volume.restore`?");
        assert_eq!(
            render(&[d], &source, false),
            "error: unknown step kind `volume.restor`\n \
             --> rb.yaml:3:11\n  |\n3 |   - uses: volume.restor\n  |           ^^^^^^^^^^^^^\n  \
             = hint: did you mean `volume.restore`?\n"
        );
    }

    #[test]
    fn suggests_only_close_words() {
        assert_eq!(
            did_you_mean("volume.restor", ["volume.restore", "container.stop"]),
            Some("volume.restore")
        );
        assert_eq!(did_you_mean("zzz", ["volume.restore"]), None);
    }
}
