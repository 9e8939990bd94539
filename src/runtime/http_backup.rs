//! What http.backup (a response body streamed into the repository, e.g. a
//! Qdrant snapshot download) and http.restore (a verified backup streamed out
//! as a request body, plain or multipart, e.g. a Qdrant snapshot upload) share.
//!
//! Both use the run's shared client (`Ports::http`) and set no overall time
//! limit: a snapshot may take long to move, and these kinds have no
//! `timeout` argument.

use reqwest::{Method, RequestBuilder, Response};

use super::Ctx;
use super::http::{chain, excerpt};
use crate::engine::StepError;

/// How much of an unexpected response's body goes into the error.
const EXCERPT: usize = 500;
/// How often a transfer reports its progress.
pub const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

pub fn method(ctx: &Ctx) -> Result<Method, StepError> {
    let text = ctx.args.str("method")?;
    text.parse()
        .map_err(|_| StepError::fatal(format!("bad HTTP method `{text}`")))
}

pub fn request(ctx: &Ctx, method: Method, url: &str) -> Result<RequestBuilder, StepError> {
    let mut request = ctx.ports.http.request(method, url);
    for (k, v) in ctx.args.map("headers")? {
        request = request.header(k, v);
    }
    Ok(request)
}

/// Sends the request; a status other than 2xx is an error naming the status
/// and the start of the body.
pub async fn send_checked(
    ctx: &Ctx,
    request: RequestBuilder,
    method: &Method,
    url: &str,
) -> Result<Response, StepError> {
    let failed =
        |e: reqwest::Error| StepError::new(format!("{method} {url}: {}", chain(&e.without_url())));
    let request = request.build().map_err(failed)?;
    let mut response = ctx.ports.http.execute(request).await.map_err(failed)?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    // Only the start of the body is read: an error page may be large.
    let mut body = Vec::new();
    while body.len() < EXCERPT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(EXCERPT);
    Err(StepError::new(format!(
        "{method} {url}: status {}; body: {}",
        status.as_u16(),
        excerpt(&String::from_utf8_lossy(&body))
    )))
}

/// Query parameters whose values are secrets when their name contains one of these.
const SECRET_PARAMS: [&str; 10] = [
    "token",
    "key",
    "secret",
    "pass",
    "pwd",
    "auth",
    "sig",
    "credential",
    "session",
    "code",
];

/// The URL as the manifest records it: no user or password, and the values of query
/// parameters that look like secrets (`?api_key=`, `?token=`,
/// `X-Amz-Signature=`, …) replaced by `REDACTED`.
pub fn recorded_url(url: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else {
        return url.to_string();
    };
    // The user may be a token too (`https://TOKEN@host/`); a fragment is
    // never sent, and may carry one.
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.set_fragment(None);
    let secret = |name: &str| {
        let name = name.to_ascii_lowercase();
        SECRET_PARAMS.iter().any(|s| name.contains(s))
    };
    if u.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "REDACTED".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::recorded_url;

    #[test]
    fn recorded_urls_keep_no_secrets() {
        assert_eq!(
            recorded_url(
                "http://admin:hunter2@db:6333/snap?wait=true&api_key=abc&X-Amz-Signature=f00"
            ),
            "http://db:6333/snap?wait=true&api_key=REDACTED&X-Amz-Signature=REDACTED"
        );
        assert_eq!(
            recorded_url("https://q.example/collections/c/snapshots?wait=true"),
            "https://q.example/collections/c/snapshots?wait=true"
        );
        assert_eq!(
            recorded_url("https://ghp_secret@git.example/snap#access_token=x"),
            "https://git.example/snap"
        );
        assert_eq!(recorded_url("not a url"), "not a url");
    }
}
