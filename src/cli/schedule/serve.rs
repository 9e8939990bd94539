//! `--listen ADDR`: a minimal HTTP/1.1 responder for `GET /metrics`
//! (Prometheus scrapes it); one request per connection, then close.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The exposition, replaced after every change.
pub type Shared = Arc<Mutex<String>>;

/// `9464` → `127.0.0.1:9464` (loopback unless an address is given);
/// `0.0.0.0:9464`, `[::1]:9464` as written.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        format!("`{text}` is not a port or an address with a port (9464, 0.0.0.0:9464, [::1]:9464)")
    })
}

/// Answers until the process ends.
pub async fn serve(listener: TcpListener, metrics: Shared) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(10), answer(stream, metrics))
                        .await;
                });
            }
            // Out of file descriptors and the like: wait instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn answer(mut stream: TcpStream, metrics: Shared) -> std::io::Result<()> {
    let mut head = vec![0u8; 8192];
    let mut n = 0;
    while n < head.len() {
        let read = stream.read(&mut head[n..]).await?;
        if read == 0 {
            break;
        }
        n += read;
        if head[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let body = metrics.lock().map(|m| m.clone()).unwrap_or_default();
    let reply = respond(&String::from_utf8_lossy(&head[..n]), &body);
    stream.write_all(&reply).await?;
    stream.shutdown().await
}

/// The response to a request whose head is `head`.
pub fn respond(head: &str, metrics: &str) -> Vec<u8> {
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, kind, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.to_string(),
        ),
        ("GET" | "HEAD", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "lifeboat schedule: the metrics are at /metrics\n".to_string(),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: the metrics are at /metrics\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET and HEAD\n".to_string(),
        ),
    };
    let mut reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        reply.extend_from_slice(body.as_bytes());
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_served_and_nothing_else() {
        let ok = String::from_utf8(respond("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "a 1\n"))
            .unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(ok.contains("Content-Length: 4\r\n"));
        assert!(ok.ends_with("\r\n\r\na 1\n"));
        let head =
            String::from_utf8(respond("HEAD /metrics?x=1 HTTP/1.1\r\n\r\n", "a 1\n")).unwrap();
        assert!(head.ends_with("\r\n\r\n"), "no body for HEAD");
        let missing = String::from_utf8(respond("GET /other HTTP/1.1\r\n\r\n", "")).unwrap();
        assert!(missing.starts_with("HTTP/1.1 404"));
        let post = String::from_utf8(respond("POST /metrics HTTP/1.1\r\n\r\n", "")).unwrap();
        assert!(post.starts_with("HTTP/1.1 405"));
        assert!(
            String::from_utf8(respond("", ""))
                .unwrap()
                .starts_with("HTTP/1.1 405")
        );
    }

    #[test]
    fn a_bare_port_listens_on_loopback_only() {
        assert_eq!(parse_listen("9464").unwrap().to_string(), "127.0.0.1:9464");
        assert_eq!(
            parse_listen("0.0.0.0:80").unwrap().to_string(),
            "0.0.0.0:80"
        );
        assert!(parse_listen("localhost").is_err());
    }
}
