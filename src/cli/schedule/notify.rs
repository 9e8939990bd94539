//! The webhook told of failures and recoveries. A webhook that fails is
//! logged; it never stops the scheduler.

use std::time::Duration;

use serde::Serialize;

use super::child::now;
use crate::schedule::{Finished, Notice};

/// What is POSTed: the run, and `outcome` `failed` or `recovered` (the
/// first success after a failure).
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    pub job: &'a str,
    pub outcome: &'static str,
    pub exit_code: Option<i32>,
    pub started_at: jiff::Timestamp,
    pub finished_at: jiff::Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<&'a str>,
}

impl<'a> Payload<'a> {
    pub fn new(f: &'a Finished, notice: Notice) -> Self {
        Self {
            job: &f.job,
            outcome: match notice {
                Notice::Failure => "failed",
                Notice::Recovery => "recovered",
            },
            exit_code: f.exit_code,
            started_at: f.started_at,
            finished_at: f.finished_at,
            run_id: f.run_id.as_deref(),
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("lifeboat/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// POSTs `payload` to `url`; says on stderr when it did not arrive.
pub async fn post(client: reqwest::Client, url: String, body: serde_json::Value) {
    let job = body["job"].as_str().unwrap_or("?").to_string();
    match client.post(&url).json(&body).send().await {
        Ok(r) if r.status().is_success() => {
            outln!(
                "{} {job}: webhook {url} told ({})",
                now(),
                body["outcome"].as_str().unwrap_or("?")
            );
        }
        Ok(r) => errln!(
            "{} {job}: warning: webhook {url} answered {}; the notice is lost",
            now(),
            r.status()
        ),
        Err(e) => errln!(
            "{} {job}: warning: webhook {url} failed: {e}; the notice is lost",
            now()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_has_the_documented_fields() {
        let f = Finished::new(
            "nightly",
            Some(3),
            "2026-01-01T02:00:00Z".parse().unwrap(),
            "2026-01-01T02:01:00Z".parse().unwrap(),
            Some("20260101T020000Z-ab12cd".into()),
        );
        assert_eq!(
            serde_json::to_value(Payload::new(&f, Notice::Failure)).unwrap(),
            serde_json::json!({
                "job": "nightly",
                "outcome": "failed",
                "exit_code": 3,
                "started_at": "2026-01-01T02:00:00Z",
                "finished_at": "2026-01-01T02:01:00Z",
                "run_id": "20260101T020000Z-ab12cd"
            })
        );
        let ok = Finished::new("nightly", Some(0), f.started_at, f.finished_at, None);
        let v = serde_json::to_value(Payload::new(&ok, Notice::Recovery)).unwrap();
        assert_eq!(v["outcome"], "recovered");
        assert!(v.get("run_id").is_none());
    }
}
