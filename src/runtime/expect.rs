//! Expectations on a command's or a response's output, and step outputs.

use serde_json::Value as Json;

use crate::engine::{Outputs, StepError};

/// A command's result as the step's outputs (`stdout`, `stderr`,
/// `exit_code`), once the step's `expect` holds. A dry run's output is made
/// up: there is nothing to check.
pub fn command_outputs(
    ctx: &super::Ctx,
    out: &crate::docker::ExecOutput,
) -> Result<Outputs, StepError> {
    if !ctx.ports.is_dry() {
        check_expect(
            ctx.args.get("expect"),
            out.exit_code,
            &out.stdout,
            &out.stderr,
        )?;
    }
    Ok(outputs([
        ("stdout", Json::from(out.stdout.clone())),
        ("stderr", Json::from(out.stderr.clone())),
        ("exit_code", Json::from(out.exit_code)),
    ]))
}

/// `expect: {exit_code, stdout_matches, stdout_contains, stderr_matches}`;
/// without it the exit code must be 0.
pub fn check_expect(
    expect: Option<&Json>,
    code: i64,
    stdout: &str,
    stderr: &str,
) -> Result<(), StepError> {
    let field = |k: &str| expect.and_then(|e| e.get(k));
    let want_code = field("exit_code").and_then(Json::as_i64).unwrap_or(0);
    let tail = |s: &str| {
        let t = s.trim();
        let start = t.len().saturating_sub(400);
        let start = (start..t.len())
            .find(|&i| t.is_char_boundary(i))
            .unwrap_or(t.len());
        t[start..].to_string()
    };
    if code != want_code {
        return Err(StepError::new(format!(
            "exit code {code}, expected {want_code}; stderr: {}; stdout: {}",
            or_empty(&tail(stderr)),
            or_empty(&tail(stdout))
        )));
    }
    if let Some(pattern) = field("stdout_matches").and_then(Json::as_str) {
        matches(pattern, stdout, "stdout")?;
    }
    if let Some(needle) = field("stdout_contains").and_then(Json::as_str)
        && !stdout.contains(needle)
    {
        return Err(StepError::new(format!(
            "stdout does not contain `{needle}`: {}",
            or_empty(&tail(stdout))
        )));
    }
    if let Some(pattern) = field("stderr_matches").and_then(Json::as_str) {
        matches(pattern, stderr, "stderr")?;
    }
    Ok(())
}

pub fn matches(pattern: &str, text: &str, what: &str) -> Result<(), StepError> {
    let re = regex::Regex::new(pattern)
        .map_err(|e| StepError::fatal(format!("bad pattern `{pattern}`: {e}")))?;
    if re.is_match(text) {
        Ok(())
    } else {
        let shown: String = text.trim().chars().take(300).collect();
        Err(StepError::new(format!(
            "{what} does not match `{pattern}`: {}",
            or_empty(&shown)
        )))
    }
}

fn or_empty(s: &str) -> String {
    if s.is_empty() {
        "(empty)".into()
    } else {
        format!("`{s}`")
    }
}

pub fn outputs<const N: usize>(pairs: [(&str, Json); N]) -> Outputs {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn expectations() {
        let e = json!({"stdout_matches": "^[1-9]"});
        assert!(check_expect(Some(&e), 0, "10000\n", "").is_ok());
        assert_eq!(
            check_expect(Some(&e), 0, "0\n", "").unwrap_err().message,
            "stdout does not match `^[1-9]`: `0`"
        );
        assert_eq!(
            check_expect(None, 2, "", "boom").unwrap_err().message,
            "exit code 2, expected 0; stderr: `boom`; stdout: (empty)"
        );
        assert!(check_expect(Some(&json!({"exit_code": 3})), 3, "", "").is_ok());
    }
}
