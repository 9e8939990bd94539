//! `http.backup`: download a response body into the repository (e.g. a Qdrant snapshot).

use std::time::Instant;

use futures_util::StreamExt;

use super::prelude::*;
use crate::repo::{BackupKind, NewBackup, Origin};
use crate::runtime::http::chain;
use crate::runtime::http_backup::{PROGRESS_EVERY, method, recorded_url, request, send_checked};

pub struct HttpBackup;

pub static SPEC: KindSpec = KindSpec {
    name: "http.backup",
    summary: "download a response body into the repository (e.g. a Qdrant snapshot)",
    effect: Some(Effect::Mutate),
    category: Category::Backup,
    args: &[
        req("url", ArgType::Url, "where to download the body from"),
        req(
            "name",
            ArgType::Str,
            "the backup source name, e.g. qdrant-products",
        ),
        def("method", METHOD, "GET", "the method"),
        opt("headers", ArgType::StrMap, "request headers"),
        opt("tags", ArgType::StrList, "tags recorded in the manifest"),
        FACTS,
    ],
    outputs: BACKUP_OUTPUTS,
    subject: Some(Subject::Source("name")),
    one_of: &[],
};

impl Kind for HttpBackup {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let url = ctx.args.str("url")?;
    let method = method(ctx)?;
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
    let response = match send_checked(ctx, request, &method, &url).await {
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
    verify_written(ctx, &manifest).await?;
    push_offsite(ctx, &manifest.id).await?;
    Ok(backup_outputs(&manifest))
}
