//! http.request (checks and snapshot APIs) and notify.webhook, through reqwest.

use std::time::Duration;

use serde_json::{Value as Json, json};

use super::Ctx;
use super::container::{matches, outputs};
use crate::engine::{Outputs, StepError};

/// Bodies kept for outputs and messages; the rest is read and dropped.
const BODY_CAP: usize = 1 << 20;

pub async fn request(ctx: &Ctx) -> Result<Outputs, StepError> {
    let url = ctx.args.str("url")?;
    let method = ctx.args.opt_str("method")?.unwrap_or_else(|| "GET".into());
    let timeout = ctx.args.duration_or("timeout", Duration::from_secs(30))?;
    let (status, body) = send(ctx, &method, &url, ctx.args.get("body"), timeout).await?;
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

pub async fn webhook(ctx: &Ctx) -> Result<Outputs, StepError> {
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

async fn send(
    ctx: &Ctx,
    method: &str,
    url: &str,
    body: Option<&Json>,
    timeout: Duration,
) -> Result<(u16, String), StepError> {
    let method: reqwest::Method = method
        .parse()
        .map_err(|_| StepError::fatal(format!("bad HTTP method `{method}`")))?;
    let mut request = ctx.ports.http.request(method.clone(), url).timeout(timeout);
    for (k, v) in ctx.args.map("headers")? {
        request = request.header(k, v);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| StepError::new(format!("{method} {url}: {}", chain(&e))))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| StepError::new(format!("{method} {url}: reading the body: {}", chain(&e))))?
    {
        let room = BODY_CAP.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// An error and its sources, `: `-joined.
pub(super) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The start of a body for an error message.
pub(super) fn excerpt(body: &str) -> String {
    let t: String = body.trim().chars().take(300).collect();
    if t.is_empty() {
        "(empty)".into()
    } else {
        format!("`{t}`")
    }
}
