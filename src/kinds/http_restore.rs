//! `http.restore`: upload a backup as a request body (e.g. a Qdrant snapshot upload).

use std::time::Instant;

use futures_util::StreamExt;
use reqwest::Body;
use reqwest::header::CONTENT_LENGTH;
use reqwest::multipart::{Form, Part};

use super::prelude::*;
use crate::engine::Event;
use crate::runtime::http_backup::{PROGRESS_EVERY, method, recorded_url, request, send_checked};

pub struct HttpRestore;

pub static SPEC: KindSpec = KindSpec {
    name: "http.restore",
    summary: "upload a backup as a request body (e.g. a Qdrant snapshot upload)",
    effect: Some(Effect::Destroy),
    category: Category::Destructive,
    args: &[
        req("url", ArgType::Url, "where to upload"),
        req("name", ArgType::Str, "the backup source name"),
        req("backup", ArgType::BackupRef, "which backup"),
        def("method", METHOD, "POST", "the method"),
        opt(
            "multipart_field",
            ArgType::Str,
            "send as multipart/form-data under this field",
        ),
        opt("headers", ArgType::StrMap, "request headers"),
    ],
    outputs: &["backup_id", "status"],
    subject: Some(Subject::Source("name")),
    one_of: &[],
};

impl Kind for HttpRestore {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }

    /// Uploads the safety backup that guards it.
    fn undo(&self, step: &Step, guards: &[Guard]) -> Result<Option<Undo>, UndoError> {
        Ok(restore_from_guard(step, guards, &["backup"]))
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let url = ctx.args.str("url")?;
    let method = method(ctx)?;
    let field = ctx.args.opt_str("multipart_field")?;
    let mut request = request(ctx, method.clone(), &url)?;
    let source = ctx.args.str("name")?;
    let id = restorable_backup(ctx, &source, false)
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
    let response = send_checked(ctx, request, &method, &recorded_url(&url)).await?;
    let status = response.status().as_u16();
    Ok(outputs([
        ("backup_id", json!(manifest.id)),
        ("status", json!(status)),
    ]))
}
