//! `gate.confirm`: wait for a person to type yes (skipped by --yes, refused when not interactive).

use std::io::{BufRead, IsTerminal, Write};

use super::prelude::*;

pub struct GateConfirm;

pub static SPEC: KindSpec = KindSpec {
    name: "gate.confirm",
    summary: "wait for a person to type yes (skipped by --yes, refused when not interactive)",
    effect: Some(Effect::Read),
    category: Category::Gate,
    args: &[req("message", ArgType::Str, "the question")],
    outputs: &[],
    subject: None,
    one_of: &[],
};

impl Kind for GateConfirm {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let message = ctx.args.str("message")?;
    if let Some(dry) = &ctx.ports.dry {
        dry.note(format!("ask the operator to confirm: {message}"));
        return Ok(outputs([("answer", json!("yes (dry run)"))]));
    }
    if ctx.ports.yes {
        return Ok(outputs([("answer", json!("yes (--yes)"))]));
    }
    if !std::io::stdin().is_terminal() {
        return Err(StepError::fatal(format!(
            "gate `{}` needs a person to confirm, and stdin is not a terminal; \
             re-run with --yes to confirm in advance: {message}",
            ctx.call.step
        )));
    }
    let answer = tokio::task::spawn_blocking(move || {
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\n? {message}\n  type yes to go on, anything else to stop: "
        );
        let _ = err.flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| StepError::fatal(e.to_string()))?
    .map_err(|e| StepError::fatal(format!("reading the answer: {e}")))?;
    if answer.trim().eq_ignore_ascii_case("yes") {
        Ok(outputs([("answer", json!("yes"))]))
    } else {
        Err(StepError::fatal(format!(
            "not confirmed (answer: `{}`)",
            answer.trim()
        )))
    }
}
