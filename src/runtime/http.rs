//! HTTP calls of http.request and notify.webhook, through the run's reqwest
//! client, and the error texts every HTTP kind shares.

use std::time::Duration;

use serde_json::Value as Json;

use super::Ctx;
use crate::engine::StepError;

/// Bodies kept for outputs and messages; the rest is read and dropped.
const BODY_CAP: usize = 1 << 20;

pub async fn send(
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
    let failed = |e: reqwest::Error| StepError::new(format!("{method} {url}: {}", chain(&e)));
    let request = request.build().map_err(failed)?;
    let mut response = ctx.ports.http.execute(request).await.map_err(failed)?;
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
pub fn chain(e: &dyn std::error::Error) -> String {
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
pub fn excerpt(body: &str) -> String {
    let t: String = body.trim().chars().take(300).collect();
    if t.is_empty() {
        "(empty)".into()
    } else {
        format!("`{t}`")
    }
}
