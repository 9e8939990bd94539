//! http.request, notify.webhook and gate.confirm through the real binary,
//! against a real HTTP server on loopback (std only: one thread, one
//! connection at a time). `lifeboat run` also needs a reachable Docker
//! engine, as every run does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const BIN: &str = env!("CARGO_BIN_EXE_lifeboat");

/// Answers every request with `status` and `body`; records method, path and body.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn server(status: u16, body: &'static str) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut content = vec![0; length];
            reader.read_exact(&mut content).unwrap();
            log.lock().unwrap().push((
                request_line.trim().to_string(),
                String::from_utf8_lossy(&content).into_owned(),
            ));
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

fn run(runbook: &str, extra: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("http.yaml");
    std::fs::write(&file, runbook).unwrap();
    let out = Command::new(BIN)
        .env("LIFEBOAT_STATE", dir.path().join("state"))
        .env("LIFEBOAT_LOCK_DIR", dir.path().join("locks"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .arg("run")
        .arg(&file)
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_check_reads_the_body_and_the_webhook_gets_the_summary() {
    let (api, api_seen) = server(200, r#"{"status":"green","points":1200}"#);
    let (hook, hook_seen) = server(204, "");
    let runbook = format!(
        r#"
runbook: http-check
params:
  api: {{ type: string, default: "{api}" }}
  hook: {{ type: string, default: "{hook}" }}
steps:
  - id: health
    uses: http.request
    readonly: true
    with: {{ url: "{{{{ api }}}}/collections/products", expect: {{ status: 200, body_matches: '"status":"green"' }} }}
  - id: tell
    uses: notify.webhook
    needs: [health]
    with: {{ url: "{{{{ hook }}}}/hooks/lifeboat", message: "points: {{{{ steps.health.body | length }}}}" }}
"#
    );
    let (code, out) = run(&runbook, &["--yes"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        api_seen.lock().unwrap().clone(),
        vec![(
            "GET /collections/products HTTP/1.1".to_string(),
            String::new()
        )]
    );
    let hook_seen = hook_seen.lock().unwrap().clone();
    assert_eq!(hook_seen.len(), 1);
    assert_eq!(hook_seen[0].0, "POST /hooks/lifeboat HTTP/1.1");
    let payload: serde_json::Value = serde_json::from_str(&hook_seen[0].1).unwrap();
    assert_eq!(payload["step"], "tell");
    assert_eq!(payload["message"], "points: 32");
}

#[test]
fn an_unexpected_status_fails_the_run_with_the_body_in_the_error() {
    let (api, _) = server(503, "overloaded");
    let runbook = format!(
        r#"
runbook: http-fail
steps:
  - id: health
    uses: http.request
    readonly: true
    with: {{ url: "{api}/healthz" }}
    retry: {{ attempts: 2, backoff: 10ms }}
"#
    );
    let (code, out) = run(&runbook, &["--yes"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("GET http://127.0.0.1:"), "{out}");
    assert!(
        out.contains("/healthz: status 503; body: `overloaded` (after 2 attempts)"),
        "{out}"
    );
}

#[test]
fn a_gate_needs_a_person_or_yes() {
    let runbook = r#"
runbook: gated
steps:
  - { id: ask, uses: gate.confirm, with: { message: "Go on?" } }
"#;
    let (code, out) = run(runbook, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("gate `ask` needs a person to confirm, and stdin is not a terminal"),
        "{out}"
    );
    let (code, out) = run(runbook, &["--yes"]);
    assert_eq!(code, 0, "{out}");
}
