//! `http.request`: an HTTP request with expectations; GET and HEAD, or `readonly: true`, make it a check.

use super::prelude::*;
use crate::runtime::http::{excerpt, send};

pub struct HttpRequest;

pub static SPEC: KindSpec = KindSpec {
    name: "http.request",
    summary: "an HTTP request with expectations; GET and HEAD, or `readonly: true`, make it a check",
    effect: None,
    category: Category::Change,
    args: &[
        req("url", ArgType::Url, "the URL"),
        def("method", METHOD, "GET", "the method"),
        opt("headers", ArgType::StrMap, "request headers"),
        opt("body", ArgType::Any, "a JSON body"),
        opt(
            "expect",
            HTTP_EXPECT,
            "conditions on status and body (default: a 2xx status)",
        ),
        def(
            "timeout",
            ArgType::Duration,
            "30s",
            "time limit of the request",
        ),
    ],
    outputs: &["status", "body"],
    subject: None,
    one_of: &[],
};

impl Kind for HttpRequest {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }

    /// A GET or HEAD only reads unless the step says otherwise.
    fn effect(&self, args: &ArgMap, readonly: Option<bool>) -> (Effect, Category) {
        let safe_method = matches!(
            args.get("method").and_then(Json::as_str),
            Some("GET" | "HEAD")
        );
        if readonly.is_none() && safe_method {
            return (Effect::Read, Category::Check);
        }
        super::declared_effect(&SPEC, readonly)
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let url = ctx.args.str("url")?;
    let method = ctx.args.str("method")?;
    let timeout = ctx.args.duration("timeout")?;
    let (status, body) = send(ctx, &method, &url, ctx.args.get("body"), timeout).await?;
    // A dry run's answer is made up: there is nothing to check.
    if ctx.ports.is_dry() {
        return Ok(outputs([("status", json!(status)), ("body", json!(body))]));
    }
    let expect = ctx.args.get("expect");
    let field = |k: &str| expect.and_then(|e| e.get(k));
    // `status: 200` or `status: [200, 404]`; without it, any 2xx.
    let wanted: Option<Vec<u64>> = field("status").map(|v| match v {
        Json::Array(list) => list.iter().filter_map(Json::as_u64).collect(),
        one => one.as_u64().into_iter().collect(),
    });
    let ok = match &wanted {
        Some(list) => list.contains(&u64::from(status)),
        None => (200..300).contains(&status),
    };
    if !ok {
        let expected = match &wanted {
            Some(list) => format!(
                ", expected {}",
                list.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            None => String::new(),
        };
        return Err(StepError::new(format!(
            "{method} {url}: status {status}{expected}; body: {}",
            excerpt(&body)
        )));
    }
    if let Some(pattern) = field("body_matches").and_then(Json::as_str) {
        matches(pattern, &body, "the body")?;
    }
    if let Some(needle) = field("body_contains").and_then(Json::as_str)
        && !body.contains(needle)
    {
        return Err(StepError::new(format!(
            "the body does not contain `{needle}`: {}",
            excerpt(&body)
        )));
    }
    Ok(outputs([("status", json!(status)), ("body", json!(body))]))
}
