//! http.backup (a response body streamed into the repository, e.g. a Qdrant
//! snapshot download) and http.restore (a verified backup streamed out as a
//! request body, plain or multipart, e.g. a Qdrant snapshot upload).
//!
//! Both use the run's shared client (`Ports::http`) and set no overall time
//! limit: a snapshot may take long to move, and these kinds have no
//! `timeout` argument.

use std::time::Instant;

use futures_util::StreamExt;
use reqwest::header::CONTENT_LENGTH;
use reqwest::multipart::{Form, Part};
use reqwest::{Body, Method, RequestBuilder, Response};
use serde_json::json;

use super::Ctx;
use super::container::outputs;
use super::http::{chain, excerpt};
use super::transfer::{Storer, verified_stream};
use super::volume::backup_outputs;
use crate::engine::{Event, Outputs, StepError};
use crate::repo::{BackupKind, NewBackup, Origin};

/// How much of an unexpected response's body goes into the error.
const EXCERPT: usize = 500;
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

pub async fn backup(ctx: &Ctx) -> Result<Outputs, StepError> {
    let url = ctx.args.str("url")?;
    let method = method(ctx, "GET")?;
    let request = request(ctx, method.clone(), &url)?;
    // Messages and the manifest show the URL without its secrets.
    let url = recorded_url(&url);
    let new = NewBackup {
        source: ctx.args.str("name")?,
        kind: BackupKind::Http,
        origin: Origin {
            url: Some(url.clone()),
            ..Origin::default()
        },
        tags: ctx.args.strings("tags")?,
        run_id: Some(ctx.call.run_id.clone()),
        facts: ctx.args.facts()?,
    };
    let storer = Storer::start(ctx.ports.repo.clone(), new)?;
    let response = match send_checked(request, &method, &url).await {
        Ok(r) => r,
        Err(e) => {
            storer.abort().await;
            return Err(e);
        }
    };
    let total = response.content_length();
    let mut stream = std::pin::pin!(response.bytes_stream());
    let (mut moved, mut last) = (0u64, Instant::now());
    let mut writer_failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                moved += chunk.len() as u64;
                if !storer.send(chunk).await {
                    // Its error comes from commit.
                    writer_failed = true;
                    break;
                }
                if last.elapsed() >= PROGRESS_EVERY {
                    ctx.progress(moved, total);
                    last = Instant::now();
                }
            }
            Err(e) => {
                storer.abort().await;
                return Err(StepError::new(format!(
                    "{method} {url}: reading the body after {moved} bytes: {}",
                    chain(&e.without_url())
                )));
            }
        }
    }
    ctx.progress(moved, total);
    // hyper already fails a body cut short of its content-length; this is
    // a second guard, since a truncated snapshot must never be a backup.
    if let Some(total) = total
        && moved != total
        && !writer_failed
    {
        storer.abort().await;
        return Err(StepError::new(format!(
            "{method} {url}: the body has {moved} bytes, content-length said {total}"
        )));
    }
    let manifest = storer.commit().await?;
    super::volume::verify_written(ctx, &manifest).await?;
    super::push_offsite(ctx, &manifest.id).await?;
    Ok(backup_outputs(&manifest))
}

pub async fn restore(ctx: &Ctx) -> Result<Outputs, StepError> {
    let url = ctx.args.str("url")?;
    let method = method(ctx, "POST")?;
    let field = ctx.args.opt_str("multipart_field")?;
    let mut request = request(ctx, method.clone(), &url)?;
    let source = ctx.args.str("name")?;
    let id = super::volume::restorable_backup(ctx, &source)
        .await
        .map_err(StepError::untouched)?;
    // The whole backup verifies before a byte is sent.
    let (manifest, stream) = verified_stream(ctx.ports.repo.clone(), id).await?;
    let total = manifest.raw_bytes;
    let events = ctx.events.clone();
    let step = ctx.call.step.clone();
    let (mut moved, mut last) = (0u64, Instant::now());
    let counted = stream.inspect(move |chunk| {
        if let Ok(c) = chunk {
            moved += c.len() as u64;
            if last.elapsed() >= PROGRESS_EVERY || moved == total {
                last = Instant::now();
                let _ = events.send(Event::Progress {
                    id: step.clone(),
                    bytes: moved,
                    total: Some(total),
                });
            }
        }
    });
    let body = Body::wrap_stream(counted);
    request = match field {
        Some(field) => {
            let part = Part::stream_with_length(body, total)
                .file_name(manifest.id.clone())
                .mime_str("application/octet-stream")
                .map_err(|e| StepError::fatal(format!("multipart part: {e}")))?;
            request.multipart(Form::new().part(field, part))
        }
        None => request.header(CONTENT_LENGTH, total).body(body),
    };
    let response = send_checked(request, &method, &recorded_url(&url)).await?;
    let status = response.status().as_u16();
    Ok(outputs([
        ("backup_id", json!(manifest.id)),
        ("status", json!(status)),
    ]))
}

fn method(ctx: &Ctx, default: &str) -> Result<Method, StepError> {
    let text = ctx
        .args
        .opt_str("method")?
        .unwrap_or_else(|| default.into());
    text.parse()
        .map_err(|_| StepError::fatal(format!("bad HTTP method `{text}`")))
}

fn request(ctx: &Ctx, method: Method, url: &str) -> Result<RequestBuilder, StepError> {
    let mut request = ctx.ports.http.request(method, url);
    for (k, v) in ctx.args.map("headers")? {
        request = request.header(k, v);
    }
    Ok(request)
}

/// Sends the request; a status other than 2xx is an error naming the status
/// and the start of the body.
async fn send_checked(
    request: RequestBuilder,
    method: &Method,
    url: &str,
) -> Result<Response, StepError> {
    let mut response = request
        .send()
        .await
        .map_err(|e| StepError::new(format!("{method} {url}: {}", chain(&e.without_url()))))?;
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
fn recorded_url(url: &str) -> String {
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
