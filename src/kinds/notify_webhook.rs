//! `notify.webhook`: POST a JSON summary of the run so far.

use super::prelude::*;
use crate::runtime::http::{excerpt, send};

pub struct NotifyWebhook;

pub static SPEC: KindSpec = KindSpec {
    name: "notify.webhook",
    summary: "POST a JSON summary of the run so far",
    effect: Some(Effect::Read),
    category: Category::Notify,
    args: &[
        req("url", ArgType::Url, "the webhook URL"),
        opt("message", ArgType::Str, "a message included in the payload"),
        opt("headers", ArgType::StrMap, "request headers"),
    ],
    outputs: &["status"],
    subject: None,
    one_of: &[],
};

impl Kind for NotifyWebhook {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let url = ctx.args.str("url")?;
    let payload = json!({
        "run_id": ctx.call.run_id,
        "step": ctx.call.step,
        "message": ctx.args.opt_str("message")?,
    });
    let (status, body) = send(ctx, "POST", &url, Some(&payload), Duration::from_secs(30)).await?;
    if !(200..300).contains(&status) {
        return Err(StepError::new(format!(
            "webhook {url}: status {status}; body: {}",
            excerpt(&body)
        )));
    }
    Ok(outputs([("status", json!(status))]))
}
