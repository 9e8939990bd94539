//! Upload / download one file with `lifeboat::s3::S3Store`, for
//! `scripts/bench-s3.sh` (docs/benchmarks.md, "S3 upload and download").
//!
//! ```text
//! s3_io upload   FILE s3://bucket/key    # prints: bytes=… parts=… part_size=… peak_parts=… seconds=…
//! s3_io download s3://bucket/key FILE    # prints: bytes=… seconds=…
//! ```
//!
//! Endpoint, credentials and region come from the environment as for lifeboat
//! itself (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, …). `LIFEBOAT_S3_PART_MIB`,
//! `LIFEBOAT_S3_PARALLEL` and `LIFEBOAT_S3_PARALLEL_DOWNLOADS` override the part
//! size, the parts in flight and the ranged GETs in flight;
//! `RUST_LOG=lifeboat=debug` shows the multipart phases.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use lifeboat::s3::{S3Options, S3Store};

const USAGE: &str = "usage: s3_io upload FILE s3://bucket/key
       s3_io download s3://bucket/key FILE";

/// `s3://bucket/a/b/key` → (`s3://bucket/a/b`, `key`).
fn split(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    match key.rsplit_once('/') {
        Some((dir, name)) => Some((&url[..5 + bucket.len() + 1 + dir.len()], name)),
        None => Some((&url[..5 + bucket.len()], key)),
    }
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok()
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut options = S3Options::default();
    if let Some(mib) = env_usize("LIFEBOAT_S3_PART_MIB") {
        options.part_size = mib << 20;
    }
    if let Some(n) = env_usize("LIFEBOAT_S3_PARALLEL") {
        options.parallel_parts = n;
    }
    if let Some(n) = env_usize("LIFEBOAT_S3_PARALLEL_DOWNLOADS") {
        options.parallel_downloads = n;
    }
    let (url, file, up) = match args.as_slice() {
        ["upload", file, url] => (*url, *file, true),
        ["download", url, file] => (*url, *file, false),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let Some((store_url, key)) = split(url) else {
        eprintln!("not an s3://bucket/key URL: {url}\n{USAGE}");
        return ExitCode::from(2);
    };
    let result = async {
        let store = S3Store::open(store_url, options).await?;
        let started = Instant::now();
        let line = if up {
            let s = store.upload_file_stats(key, Path::new(file)).await?;
            format!(
                "bytes={} parts={} part_size={} peak_parts={}",
                s.bytes, s.parts, s.part_size, s.peak_buffered_parts
            )
        } else {
            let n = store.download_to_file(key, Path::new(file)).await?;
            format!("bytes={n}")
        };
        Ok::<_, lifeboat::s3::S3Error>(format!(
            "{line} seconds={:.3}",
            started.elapsed().as_secs_f64()
        ))
    }
    .await;
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("s3_io: {e}");
            ExitCode::FAILURE
        }
    }
}
