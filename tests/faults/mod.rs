//! A fault-injecting HTTP proxy on loopback, between lifeboat and `s3s-fs`:
//! it passes requests through, except those a [`Rule`] picks, whose answer
//! it drops, cuts short, or never gives. One request per connection (it
//! asks both sides for `Connection: close`), so each request is seen whole.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What the proxy does to a request a rule picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The server gets the request and answers; the client gets nothing
    /// (its connection is closed): a lost answer.
    DropResponse,
    /// The request never reaches the server; the client's connection is closed.
    Refuse,
    /// The connection stays open and nothing ever comes back.
    Stall,
    /// The answer is cut (connection closed) after this many body bytes.
    CutBodyAfter(usize),
    /// After this many body bytes, nothing more comes; the connection stays open.
    StallBodyAfter(usize),
}

/// The request line of one request: `GET`, `/bucket/key?query`.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
}

struct Rule {
    picks: Box<dyn Fn(&Request) -> bool + Send>,
    fault: Fault,
    /// How many more requests it applies to.
    left: usize,
}

struct Shared {
    upstream: u16,
    rules: Mutex<Vec<Rule>>,
    /// Every request seen, and the fault applied (if any).
    log: Mutex<Vec<(Request, Option<Fault>)>>,
    /// Stalled connections, held open until the proxy is dropped.
    held: Mutex<Vec<TcpStream>>,
    stop: AtomicBool,
}

pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy on a free loopback port forwarding to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            held: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve(&s, conn);
                });
            }
        });
        Self { port, shared }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Applies `fault` to the next `times` requests that `picks` chooses.
    pub fn add(
        &self,
        picks: impl Fn(&Request) -> bool + Send + 'static,
        fault: Fault,
        times: usize,
    ) {
        self.shared.rules.lock().unwrap().push(Rule {
            picks: Box::new(picks),
            fault,
            left: times,
        });
    }

    /// Removes every rule: from now on requests pass.
    pub fn clear(&self) {
        self.shared.rules.lock().unwrap().clear();
    }

    /// Every request seen so far and the fault it got.
    pub fn log(&self) -> Vec<(Request, Option<Fault>)> {
        self.shared.log.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for c in self.shared.held.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        // Wakes the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads up to the end of the head (`\r\n\r\n`); returns the head and what
/// came after it.
fn read_head(conn: &mut TcpStream) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `head` with any `Connection` header replaced by `Connection: close`.
fn closing(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.trim_end_matches("\r\n").split("\r\n") {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

fn serve(shared: &Shared, mut client: TcpStream) -> io::Result<()> {
    let (head, rest) = read_head(&mut client)?;
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let mut words = line.split(' ');
    let request = Request {
        method: words.next().unwrap_or_default().to_string(),
        target: words.next().unwrap_or_default().to_string(),
    };
    let fault = {
        let mut rules = shared.rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|r| r.left > 0 && (r.picks)(&request))
            .map(|r| {
                r.left -= 1;
                r.fault
            })
    };
    shared.log.lock().unwrap().push((request, fault));
    match fault {
        Some(Fault::Refuse) => {
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
        Some(Fault::Stall) => {
            shared.held.lock().unwrap().push(client);
            return Ok(());
        }
        _ => {}
    }
    let mut server = TcpStream::connect(("127.0.0.1", shared.upstream))?;
    server.write_all(&closing(&head))?;
    server.write_all(&rest)?;
    // The rest of the request body, as it comes.
    {
        let mut from = client.try_clone()?;
        let mut to = server.try_clone()?;
        std::thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
        });
    }
    match fault {
        Some(Fault::DropResponse) => {
            // Wait for the whole answer (the server closes after it), then
            // close the client's connection without a byte of it.
            let mut sink = Vec::new();
            let _ = server.read_to_end(&mut sink);
            let _ = client.shutdown(Shutdown::Both);
        }
        Some(Fault::CutBodyAfter(n) | Fault::StallBodyAfter(n)) => {
            // (The server answers `Connection: close` to our request.)
            let (head, body) = read_head(&mut server)?;
            client.write_all(&head)?;
            let mut sent = body.len().min(n);
            client.write_all(&body[..sent])?;
            let mut chunk = [0u8; 8192];
            while sent < n {
                let got = server.read(&mut chunk)?;
                if got == 0 {
                    break;
                }
                let take = got.min(n - sent);
                client.write_all(&chunk[..take])?;
                sent += take;
            }
            client.flush()?;
            let _ = server.shutdown(Shutdown::Both);
            if matches!(fault, Some(Fault::StallBodyAfter(_))) {
                shared.held.lock().unwrap().push(client);
                return Ok(());
            }
            // A FIN after the bytes sent: the client reads them all, then
            // the end of the stream in the middle of the body.
            let _ = client.shutdown(Shutdown::Write);
        }
        _ => {
            io::copy(&mut server, &mut client)?;
            let _ = client.shutdown(Shutdown::Both);
        }
    }
    Ok(())
}
