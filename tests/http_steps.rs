//! http.request, notify.webhook and gate.confirm through the real binary,
//! against a real HTTP server on loopback (std only: one thread, one
//! connection at a time). `lifeboat run` also needs a reachable Docker
//! engine, as every run does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
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
    run_in(dir.path(), runbook, extra)
}

/// Runs with its state (and so its repository, `<dir>/state/repo`) in `dir`.
fn run_in(dir: &Path, runbook: &str, extra: &[&str]) -> (i32, String) {
    let file = dir.join("http.yaml");
    std::fs::write(&file, runbook).unwrap();
    let out = Command::new(BIN)
        .env("LIFEBOAT_STATE", dir.join("state"))
        .env("LIFEBOAT_LOCK_DIR", dir.join("locks"))
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

// ---------------------------------------------------------------------------
// http.backup / http.restore against a snapshot API.

/// One request as the snapshot server saw it, body decoded (chunked or not).
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    /// Names lowercased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Requests = Arc<Mutex<Vec<Request>>>;

/// A snapshot API: GET /snapshot answers `snapshot_status` with `snapshot`
/// (content-length set), anything else answers 200 `{"status":"ok"}`. Every
/// request is recorded whole. One thread per connection, one request per
/// connection (`connection: close`).
fn snapshot_server(snapshot_status: u16, snapshot: Arc<Vec<u8>>) -> (String, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Requests = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (log, snapshot) = (log.clone(), snapshot.clone());
            std::thread::spawn(move || serve_one(stream, snapshot_status, &snapshot, &log));
        }
    });
    (url, seen)
}

fn serve_one(mut stream: TcpStream, snapshot_status: u16, snapshot: &[u8], log: &Requests) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v): &(String, String)| v.clone())
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap(), 16).unwrap();
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk).unwrap();
            body.extend_from_slice(&chunk);
            let mut crlf = String::new();
            reader.read_line(&mut crlf).unwrap();
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = header("content-length") {
        body = vec![0; length.parse().unwrap()];
        reader.read_exact(&mut body).unwrap();
    }
    log.lock().unwrap().push(Request {
        method: method.clone(),
        path: path.clone(),
        headers,
        body,
    });
    let (status, content): (u16, &[u8]) = match (&method[..], &path[..]) {
        ("GET", "/snapshot") => (snapshot_status, snapshot),
        _ => (200, br#"{"status":"ok"}"#),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        content.len()
    );
    let _ = stream.write_all(content);
}

/// `len` deterministic pseudo-random bytes (xorshift64*): incompressible,
/// the same every run.
fn snapshot_bytes(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Every file under the repository's directory of backup source `name`.
fn repo_files(dir: &Path, name: &str) -> Vec<String> {
    let source = dir.join("state/repo/backups").join(name);
    let mut files: Vec<String> = match std::fs::read_dir(&source) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// The sha256 of a file as coreutils computes it.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// A runbook that downloads {api}/snapshot into backup source
/// `qdrant-products` and uploads it again to {api}/upload; `restore_extra`
/// goes into the restore's `with:`.
fn backup_restore_runbook(api: &str, restore_extra: &str) -> String {
    format!(
        r#"
runbook: http-backup-restore
steps:
  - id: download
    uses: http.backup
    with:
      url: "{api}/snapshot"
      name: qdrant-products
      headers: {{ api-key: s3cr3t }}
      tags: [safety, drill]
  - id: upload
    uses: http.restore
    needs: [download]
    with:
      url: "{api}/upload?priority=snapshot"
      name: qdrant-products
      backup: "{{{{ steps.download.backup_id }}}}"
      headers: {{ api-key: s3cr3t }}{restore_extra}
"#
    )
}

/// Checks the repository holds exactly one good `http` backup of `served`
/// from `url`, and returns its manifest.
fn assert_one_http_backup(dir: &Path, url: &str, served: &[u8]) -> serde_json::Value {
    let files = repo_files(dir, "qdrant-products");
    assert_eq!(files.len(), 2, "{files:?}");
    let object = files.iter().find(|f| f.ends_with(".raw.zst")).unwrap();
    let id = object.strip_suffix(".raw.zst").unwrap();
    assert!(files.contains(&format!("{id}.json")), "{files:?}");
    let source = dir.join("state/repo/backups/qdrant-products");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(source.join(format!("{id}.json"))).unwrap()).unwrap();
    assert_eq!(manifest["id"], id);
    assert_eq!(manifest["kind"], "http");
    assert_eq!(manifest["source"], "qdrant-products");
    assert_eq!(manifest["origin"]["url"], url);
    assert_eq!(manifest["object"], object.as_str());
    assert_eq!(manifest["tags"], serde_json::json!(["safety", "drill"]));
    assert_eq!(manifest["raw_bytes"], served.len() as u64);
    assert_eq!(
        manifest["sha256"].as_str().unwrap(),
        sha256sum(&source.join(object))
    );
    // Decompressed, the object is the snapshot.
    let stored = std::fs::read(source.join(object)).unwrap();
    assert_eq!(
        manifest["stored_bytes"].as_u64().unwrap(),
        stored.len() as u64
    );
    assert!(zstd::decode_all(&stored[..]).unwrap() == served);
    manifest
}

#[test]
fn http_backup_downloads_into_the_repository_and_http_restore_uploads_it_back() {
    // Several MiB, not a multiple of any chunk size.
    let snapshot = Arc::new(snapshot_bytes(6 * 1024 * 1024 + 12_345));
    let (api, seen) = snapshot_server(200, snapshot.clone());
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run_in(dir.path(), &backup_restore_runbook(&api, ""), &["--yes"]);
    assert_eq!(code, 0, "{out}");

    assert_one_http_backup(dir.path(), &format!("{api}/snapshot"), &snapshot);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let (get, post) = (&seen[0], &seen[1]);
    assert_eq!((&get.method[..], &get.path[..]), ("GET", "/snapshot"));
    assert_eq!(get.header("api-key"), Some("s3cr3t"));
    assert!(get.body.is_empty());
    assert_eq!(
        (&post.method[..], &post.path[..]),
        ("POST", "/upload?priority=snapshot")
    );
    assert_eq!(post.header("api-key"), Some("s3cr3t"));
    // The length is known from the manifest: a plain body, not chunked.
    assert_eq!(
        post.header("content-length"),
        Some(&*snapshot.len().to_string())
    );
    assert_eq!(post.header("transfer-encoding"), None);
    assert!(
        post.body == *snapshot,
        "the uploaded body differs from the snapshot"
    );
}

#[test]
fn http_restore_with_a_multipart_field_uploads_the_backup_as_a_form_file() {
    let snapshot = Arc::new(snapshot_bytes(3 * 1024 * 1024 + 777));
    let (api, seen) = snapshot_server(200, snapshot.clone());
    let dir = tempfile::tempdir().unwrap();
    let runbook =
        backup_restore_runbook(&api, "\n      multipart_field: snapshot\n      method: PUT");
    let (code, out) = run_in(dir.path(), &runbook, &["--yes"]);
    assert_eq!(code, 0, "{out}");

    let manifest = assert_one_http_backup(dir.path(), &format!("{api}/snapshot"), &snapshot);
    let id = manifest["id"].as_str().unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let upload = &seen[1];
    assert_eq!(
        (&upload.method[..], &upload.path[..]),
        ("PUT", "/upload?priority=snapshot")
    );
    assert_eq!(upload.header("api-key"), Some("s3cr3t"));
    let content_type = upload.header("content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("content-type {content_type}"));
    // One part, then the closing delimiter.
    let body = &upload.body;
    let opening = format!("--{boundary}\r\n");
    assert!(body.starts_with(opening.as_bytes()));
    let closing = format!("\r\n--{boundary}--\r\n");
    assert!(body.ends_with(closing.as_bytes()));
    let part = &body[opening.len()..body.len() - closing.len()];
    let split = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let part_headers = String::from_utf8_lossy(&part[..split]).to_ascii_lowercase();
    assert!(
        part_headers.contains(&format!(
            "content-disposition: form-data; name=\"snapshot\"; filename=\"{}\"",
            id.to_ascii_lowercase()
        )),
        "{part_headers}"
    );
    assert!(
        part_headers.contains("content-type: application/octet-stream"),
        "{part_headers}"
    );
    assert!(
        part[split + 4..] == snapshot[..],
        "the uploaded part differs from the snapshot"
    );
}

#[test]
fn a_failed_snapshot_download_fails_the_run_and_leaves_nothing_in_the_repository() {
    let page = Arc::new(b"snapshot store unavailable: disk full".to_vec());
    let (api, seen) = snapshot_server(500, page);
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run_in(dir.path(), &backup_restore_runbook(&api, ""), &["--yes"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "GET {api}/snapshot: status 500; body: `snapshot store unavailable: disk full`"
        )),
        "{out}"
    );
    // Neither an object nor a `.partial` nor a manifest.
    assert_eq!(
        repo_files(dir.path(), "qdrant-products"),
        Vec::<String>::new()
    );
    // And nothing was uploaded.
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|r| r.path == "/snapshot"), "{seen:?}");
}
