//! Running commands in a container: argv (no shell), env, user, workdir;
//! stdout/stderr captured (capped) or stdout streamed to a sink; optional stdin.

use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::Docker;
use super::containers::container_what;
use super::error::{DockerError, status_of};
use super::types::{ExecOutput, ExecSpec};

/// Each of stdout and stderr is kept up to this many bytes.
pub const OUTPUT_CAP: usize = 4 << 20;
const STDIN_CHUNK: usize = 256 << 10;
/// Initial read buffer of the multiplexed output stream.
const OUTPUT_BUFFER: usize = 256 << 10;

enum Stdout {
    Capture,
    Sink(mpsc::Sender<Bytes>),
}

impl Docker {
    /// Runs `spec.argv` (no shell) and captures stdout and stderr (each capped at
    /// 4 MiB, `truncated` set when cut). With `stdin`, the reader is streamed to
    /// the command's stdin, which is closed at EOF. A non-zero exit is not an
    /// error (it is in `exit_code`); failing to read `stdin` or the output is.
    pub async fn exec(
        &self,
        name: &str,
        spec: ExecSpec,
        stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    ) -> Result<ExecOutput, DockerError> {
        self.run_exec(name, spec, stdin, Stdout::Capture).await
    }

    /// Like [`Docker::exec`], but every stdout chunk is sent to `sink` as it
    /// arrives (back-pressure: a slow receiver slows the command); stderr is
    /// captured. Fails if the receiver is dropped before the output ends.
    pub async fn exec_to_sink(
        &self,
        name: &str,
        spec: ExecSpec,
        sink: mpsc::Sender<Bytes>,
    ) -> Result<ExecOutput, DockerError> {
        self.run_exec(name, spec, None, Stdout::Sink(sink)).await
    }

    async fn run_exec(
        &self,
        name: &str,
        spec: ExecSpec,
        stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
        stdout_to: Stdout,
    ) -> Result<ExecOutput, DockerError> {
        let program = spec.argv.first().cloned().unwrap_or_default();
        let what = format!("running `{program}` in {}", container_what(name));
        if spec.argv.is_empty() {
            return Err(DockerError::failed(what, "the command is empty"));
        }
        let created = self
            .api
            .create_exec(
                name,
                CreateExecOptions::<String> {
                    attach_stdin: Some(stdin.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(false),
                    env: (!spec.env.is_empty())
                        .then(|| spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                    cmd: Some(spec.argv.clone()),
                    user: spec.user.clone(),
                    working_dir: spec.workdir.clone(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| {
                if status_of(&e) == Some(409) {
                    DockerError::failed(what.clone(), "the container is not running")
                } else {
                    self.err(what.clone(), Some(container_what(name)), e)
                }
            })?;
        let started = self
            .api
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: Some(OUTPUT_BUFFER),
                }),
            )
            .await
            .map_err(|e| self.err(what.clone(), Some(container_what(name)), e))?;
        let StartExecResults::Attached { mut output, input } = started else {
            return Err(DockerError::failed(
                what,
                "the engine did not attach to the command",
            ));
        };

        let read = async {
            let mut stdout = Capped::default();
            let mut stderr = Capped::default();
            while let Some(item) = output.next().await {
                let item = item.map_err(|e| {
                    DockerError::failed(what.clone(), format!("reading its output failed: {e}"))
                })?;
                match item {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        match &stdout_to {
                            Stdout::Capture => stdout.push(&message),
                            Stdout::Sink(sink) => sink.send(message).await.map_err(|_| {
                                DockerError::failed(
                                    what.clone(),
                                    "the receiver of its output went away before the output ended",
                                )
                            })?,
                        }
                    }
                    LogOutput::StdErr { message } => stderr.push(&message),
                    LogOutput::StdIn { .. } => {}
                }
            }
            Ok::<_, DockerError>((stdout, stderr))
        };
        let feed = async {
            match stdin {
                Some(source) => feed_stdin(source, input).await.map_err(|e| {
                    DockerError::failed(what.clone(), format!("reading its input failed: {e}"))
                }),
                None => std::future::pending().await,
            }
        };
        tokio::pin!(read, feed);
        let mut fed = false;
        let (stdout, stderr) = loop {
            tokio::select! {
                r = &mut feed, if !fed => { fed = true; r?; }
                r = &mut read => break r?,
            }
        };

        let exit_code = self.exec_exit_code(&created.id, &what).await?;
        Ok(ExecOutput {
            exit_code,
            truncated: stdout.truncated || stderr.truncated,
            stdout: stdout.into_string(),
            stderr: stderr.into_string(),
        })
    }

    /// The exit code, once the engine has recorded it (the output can end a
    /// moment before the process is reaped).
    async fn exec_exit_code(&self, id: &str, what: &str) -> Result<i64, DockerError> {
        let mut pause = Duration::from_millis(10);
        loop {
            let i = self
                .api
                .inspect_exec(id)
                .await
                .map_err(|e| self.err(what.to_string(), None, e))?;
            if i.running != Some(true)
                && let Some(code) = i.exit_code
            {
                return Ok(code);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }
}

/// Copies the source into the command's stdin and closes it at EOF. Read errors
/// are returned; write errors mean the command stopped reading (it exited or
/// closed stdin) and end the feed quietly: its exit code tells the story.
async fn feed_stdin(
    mut source: Box<dyn AsyncRead + Send + Unpin>,
    mut input: std::pin::Pin<Box<dyn AsyncWrite + Send>>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; STDIN_CHUNK];
    loop {
        let n = source.read(&mut buf).await?;
        if n == 0 {
            if let Err(e) = input.shutdown().await {
                tracing::debug!("closing exec stdin: {e}");
            }
            return Ok(());
        }
        if let Err(e) = input.write_all(&buf[..n]).await {
            tracing::debug!("exec stdin closed by the command: {e}");
            return Ok(());
        }
    }
}

#[derive(Default)]
pub(super) struct Capped {
    buf: Vec<u8>,
    pub(super) truncated: bool,
}

impl Capped {
    pub(super) fn push(&mut self, data: &[u8]) {
        let room = OUTPUT_CAP - self.buf.len();
        if data.len() > room {
            self.truncated = true;
        }
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
    }

    pub(super) fn into_string(mut self) -> String {
        if self.truncated {
            // Do not leave half a character at the cut.
            if let Err(e) = std::str::from_utf8(&self.buf)
                && e.error_len().is_none()
            {
                self.buf.truncate(e.valid_up_to());
            }
        }
        match String::from_utf8(self.buf) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_output_cuts_at_the_cap_and_on_a_char_boundary() {
        let mut c = Capped::default();
        c.push(&vec![b'a'; OUTPUT_CAP - 1]);
        c.push("é".as_bytes());
        assert!(c.truncated);
        let s = c.into_string();
        assert_eq!(s.len(), OUTPUT_CAP - 1);
        assert!(s.bytes().all(|b| b == b'a'));
    }
}
