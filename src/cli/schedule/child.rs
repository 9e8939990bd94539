//! A job's run: a child process of this same binary (`lifeboat run NAME
//! --yes --set …` or `lifeboat drill NAME --set …`), its output passed on
//! with the job's name in front, its exit code and run id collected.

use std::ffi::OsString;
use std::process::Stdio;

use jiff::Timestamp;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

use crate::schedule::{Finished, Job};

/// What every child gets besides its arguments: the scheduler's places
/// (state directory, repository, keys, runbooks) as environment variables.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    pub env: Vec<(&'static str, OsString)>,
}

/// A started child: its process id, and the task that waits for it.
pub struct Started {
    pub pid: Option<u32>,
    pub done: tokio::task::JoinHandle<Finished>,
}

/// Starts `job` now. The child is put in its own process group, so a Ctrl-C
/// at the terminal reaches the scheduler only, which passes on exactly one
/// SIGINT ([`interrupt`]); and on Linux it gets SIGINT if the scheduler dies
/// (`PR_SET_PDEATHSIG`), so a killed scheduler leaves no run behind that
/// nothing waits for: the run rolls back as after a Ctrl-C.
pub fn spawn(job: &Job, setup: &Setup) -> std::io::Result<Started> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.args(job.child_args())
        .envs(setup.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: between fork and exec the closure calls only prctl, which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started_at = Timestamp::now();
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (name, timeout) = (job.name.clone(), job.timeout);
    let done = tokio::spawn(async move {
        let out = tokio::spawn(pass_on(stdout, name.clone(), false));
        let err = tokio::spawn(pass_on(stderr, name.clone(), true));
        let status = match timeout {
            None => child.wait().await,
            Some(limit) => tokio::select! {
                status = child.wait() => status,
                _ = tokio::time::sleep(limit) => {
                    errln!("{} {name}: timed out after {limit:?}: sent SIGINT, the run rolls back", now());
                    if let Some(pid) = pid {
                        interrupt(pid);
                    }
                    child.wait().await
                }
            },
        };
        let run_id = out.await.ok().flatten();
        let _ = err.await;
        let code = match status {
            Ok(s) => s.code(),
            Err(e) => {
                errln!("{} {name}: waiting for the run failed: {e}", now());
                None
            }
        };
        Finished::new(&name, code, started_at, Timestamp::now(), run_id)
    });
    Ok(Started { pid, done })
}

/// Sends SIGINT to a child: `lifeboat run` stops starting steps, lets the
/// steps in flight that change something finish, and rolls back.
pub fn interrupt(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill reads no memory of this process; the pid is a child that
    // this process has not yet waited for, so it cannot have been reused.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
}

/// Copies the child's lines to ours as `[job] line`; returns the run id from
/// the `Journal: <state>/runs/<run id>.jsonl` line `lifeboat run` ends with.
async fn pass_on(
    stream: Option<impl AsyncRead + Unpin>,
    job: String,
    stderr: bool,
) -> Option<String> {
    let mut reader = BufReader::new(stream?);
    let mut run_id = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        // Bytes, not `lines()`: a line that is not UTF-8 must not stop the
        // copying (the child would block on a full pipe).
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if let Some(id) = run_id_of(text) {
            run_id = Some(id);
        }
        if stderr {
            errln!("[{job}] {text}");
        } else {
            outln!("[{job}] {text}");
        }
    }
    run_id
}

fn run_id_of(line: &str) -> Option<String> {
    let path = line.strip_prefix("Journal: ")?;
    let name = std::path::Path::new(path.trim()).file_name()?.to_str()?;
    name.strip_suffix(".jsonl").map(str::to_string)
}

/// The time in front of the scheduler's own lines.
pub fn now() -> String {
    Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_id_comes_from_the_journal_line() {
        assert_eq!(
            run_id_of("Journal: .lifeboat/runs/20261130T020000Z-ab12cd.jsonl").as_deref(),
            Some("20261130T020000Z-ab12cd")
        );
        assert_eq!(run_id_of("[ok] step done"), None);
    }
}
