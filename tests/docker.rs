//! The Docker adapter against the real engine (no mocks). These tests FAIL when
//! the daemon is unreachable. They run in parallel: every container, volume,
//! network and image tag is named `lbtest-<pid>-<n>-…` and removed by a guard,
//! even when the test fails. Images: `scripts/build-test-images.sh`.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use lifeboat::docker::{Docker, DockerError, ExecSpec, WaitFor};
use sha2::{Digest, Sha256};

const STACK: &str = "lifeboat-test/stack:local";
const BROKEN: &str = "lifeboat-test/stack:broken";

// ---------------------------------------------------------------- fixtures

fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "lbtest-{}-{}-{what}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs the docker CLI; panics with its stderr on failure.
fn cli(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run the docker CLI");
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn cli_ok(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Removes what a test made, whatever happens to the test.
#[derive(Default)]
struct Cleanup {
    containers: Vec<String>,
    volumes: Vec<String>,
    networks: Vec<String>,
    images: Vec<String>,
}

impl Cleanup {
    fn container(&mut self, name: &str) -> String {
        self.containers.push(name.to_string());
        self.containers.push(format!("{name}-lifeboat-old"));
        name.to_string()
    }
    fn volume(&mut self, name: &str) -> String {
        self.volumes.push(name.to_string());
        name.to_string()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new("docker").args(args).output();
        };
        for c in &self.containers {
            quiet(&["rm", "-f", c]);
        }
        for v in &self.volumes {
            // Helpers are removed in the background; give them a moment.
            for _ in 0..20 {
                let out = Command::new("docker")
                    .args(["volume", "rm", "-f", v])
                    .output();
                if out.map(|o| o.status.success()).unwrap_or(true) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        for n in &self.networks {
            quiet(&["network", "rm", n]);
        }
        for i in &self.images {
            quiet(&["image", "rm", "-f", i]);
        }
    }
}

async fn docker() -> Docker {
    Docker::connect()
        .await
        .expect("the Docker daemon must be reachable for these tests")
}

/// `docker run -d --name NAME ARGS... IMAGE CMD...`
fn run(name: &str, args: &[&str], image: &str, cmd: &[&str]) {
    let mut all = vec!["run", "-d", "--name", name];
    all.extend_from_slice(args);
    all.push(image);
    all.extend_from_slice(cmd);
    cli(&all);
}

fn sh(argv: &[&str]) -> ExecSpec {
    ExecSpec::new(argv.iter().copied())
}

/// `find` listing of a volume (path, uid, gid, mode, type, link target, links).
fn listing(volume: &str) -> String {
    cli(&[
        "run",
        "--rm",
        "-v",
        &format!("{volume}:/data"),
        STACK,
        "bash",
        "-c",
        "cd /data && find . -printf '%p %U %G %m %y %l %n %s\\n' | sort",
    ])
}

fn helpers_of(volume: &str) -> String {
    cli(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=lifeboat.helper.volume={volume}"),
        "--format",
        "{{.Names}}",
    ])
}

async fn no_helpers_left(volume: &str) {
    for _ in 0..40 {
        if helpers_of(volume).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("helpers left behind for {volume}: {}", helpers_of(volume));
}

// ---------------------------------------------------------------- connect

#[tokio::test(flavor = "multi_thread")]
async fn connect_reports_the_endpoint_and_negotiates_the_api() {
    let d = docker().await;
    assert!(!d.endpoint().is_empty());
    let v = d.api_version();
    assert!(v.starts_with("1."), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_docker_host_is_unreachable_quickly() {
    for host in [
        "tcp://127.0.0.1:1",
        "unix:///nonexistent/docker.sock",
        // Unroutable: only the 5 s ping limit ends it.
        "tcp://10.255.255.1:2375",
    ] {
        let t = Instant::now();
        let e = Docker::connect_to(host).await.expect_err(host);
        assert!(
            t.elapsed() < Duration::from_secs(7),
            "{host}: {:?}",
            t.elapsed()
        );
        match &e {
            DockerError::Unreachable { endpoint, .. } => assert_eq!(endpoint, host),
            other => panic!("{host}: {other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("cannot reach the Docker daemon at {host}: ")),
            "{text}"
        );
    }
    let e = Docker::connect_to("ssh://somewhere").await.unwrap_err();
    assert!(e.to_string().contains("unsupported"), "{e}");
}

// ---------------------------------------------------------------- containers

#[tokio::test(flavor = "multi_thread")]
async fn stop_start_restart_and_wait_running() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let name = clean.container(&unique("ssr"));
    cli(&[
        "create", "--name", &name, "--init", STACK, "sleep", "infinity",
    ]);

    let c = d.container(&name).await.unwrap().expect("exists");
    assert_eq!((c.state.as_str(), c.running), ("created", false));
    assert_eq!(c.image, STACK);
    assert!(c.image_id.starts_with("sha256:"));
    assert_eq!(c.name, name);

    assert!(!d.start(&name).await.unwrap(), "was not running");
    assert!(d.start(&name).await.unwrap(), "already running");
    d.wait(&name, WaitFor::Running, Duration::from_secs(10))
        .await
        .unwrap();
    // No healthcheck: running counts as healthy.
    d.wait(&name, WaitFor::Healthy, Duration::from_secs(10))
        .await
        .unwrap();

    assert!(d.stop(&name, Duration::from_secs(5)).await.unwrap());
    assert!(
        !d.stop(&name, Duration::from_secs(5)).await.unwrap(),
        "stopping a stopped one"
    );
    assert_eq!(d.container(&name).await.unwrap().unwrap().state, "exited");

    d.restart(&name, Duration::from_secs(5)).await.unwrap();
    d.wait(&name, WaitFor::Running, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(d.container(&name).await.unwrap().unwrap().running);

    let missing = unique("missing");
    assert!(d.container(&missing).await.unwrap().is_none());
    for e in [
        d.stop(&missing, Duration::from_secs(1)).await.unwrap_err(),
        d.start(&missing).await.unwrap_err(),
        d.restart(&missing, Duration::from_secs(1))
            .await
            .unwrap_err(),
        d.wait(&missing, WaitFor::Running, Duration::from_secs(1))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(e.to_string(), format!("container `{missing}` not found"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_healthy_follows_the_healthcheck() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let name = clean.container(&unique("healthy"));
    run(
        &name,
        &[
            "--init",
            "--health-cmd",
            "test -f /tmp/ready",
            "--health-interval",
            "1s",
            "--health-retries",
            "100",
        ],
        STACK,
        &["sleep", "infinity"],
    );
    // Not ready yet: times out with the last healthcheck state.
    let e = d
        .wait(&name, WaitFor::Healthy, Duration::from_millis(1500))
        .await
        .unwrap_err();
    assert!(matches!(e, DockerError::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains("gave up after 1.5s"), "{e}");
    assert!(e.to_string().contains("state running"), "{e}");

    let out = d
        .exec(&name, sh(&["touch", "/tmp/ready"]), None)
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0);
    d.wait(&name, WaitFor::Healthy, Duration::from_secs(20))
        .await
        .unwrap();
    let c = d.container(&name).await.unwrap().unwrap();
    assert_eq!(c.health.as_deref(), Some("healthy"));
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_fails_fast_when_unhealthy_with_the_healthcheck_output() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let name = clean.container(&unique("unhealthy"));
    run(
        &name,
        &[
            "--init",
            "--health-cmd",
            "echo database-says-no; exit 1",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
        ],
        STACK,
        &["sleep", "infinity"],
    );
    let t = Instant::now();
    let e = d
        .wait(&name, WaitFor::Healthy, Duration::from_secs(120))
        .await
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let text = e.to_string();
    assert!(text.contains("turned unhealthy"), "{text}");
    assert!(text.contains("database-says-no"), "{text}");
    assert!(
        text.starts_with(&format!("waiting for container `{name}` to be healthy")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_fails_fast_when_the_container_exits() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let name = clean.container(&unique("exits"));
    run(&name, &[], STACK, &["bash", "-c", "exit 3"]);
    assert_eq!(cli(&["wait", &name]), "3");
    let t = Instant::now();
    let e = d
        .wait(&name, WaitFor::Healthy, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(
        e.to_string()
            .contains("it stopped: state exited (exit code 3)"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn observe_and_service_container() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let project = unique("proj");
    let vol = clean.volume(&unique("obsvol"));
    cli(&["volume", "create", &vol]);
    let web = clean.container(&unique("web"));
    let labels = [
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        "com.docker.compose.service=web",
    ];
    let mut args: Vec<&str> = labels.to_vec();
    let mount = format!("{vol}:/data");
    args.extend([
        "-v",
        &mount,
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
    ]);
    run(&web, &args, STACK, &["sleep", "infinity"]);
    cli(&[
        "run",
        "--rm",
        "-v",
        &mount,
        STACK,
        "bash",
        "-c",
        "head -c 100000 /dev/zero > /data/f",
    ]);

    assert_eq!(
        d.service_container(&project, "web").await.unwrap(),
        Some(web.clone())
    );
    assert_eq!(d.service_container(&project, "db").await.unwrap(), None);
    // A one-off `compose run` container does not count.
    let oneoff = clean.container(&unique("oneoff"));
    let mut one_args = labels.to_vec();
    one_args.extend(["--label", "com.docker.compose.oneoff=True"]);
    run(&oneoff, &one_args, STACK, &["sleep", "infinity"]);
    assert_eq!(
        d.service_container(&project, "web").await.unwrap(),
        Some(web.clone())
    );
    // Two: ambiguous.
    let web2 = clean.container(&unique("web2"));
    run(&web2, &labels, STACK, &["sleep", "infinity"]);
    let e = d.service_container(&project, "web").await.unwrap_err();
    assert!(e.to_string().contains("has 2 containers"), "{e}");
    assert!(e.to_string().contains(&web2), "{e}");

    d.wait(&web, WaitFor::Healthy, Duration::from_secs(20))
        .await
        .unwrap();
    let (containers, volumes) = d.observe().await.unwrap();
    let c = containers.iter().find(|c| c.name == web).expect("observed");
    assert_eq!(c.image, STACK);
    assert_eq!(c.state, "running");
    assert_eq!(c.health.as_deref(), Some("healthy"));
    assert_eq!(
        c.labels
            .get("com.docker.compose.service")
            .map(String::as_str),
        Some("web")
    );
    assert_eq!(c.mounts.len(), 1);
    assert_eq!(
        (
            c.mounts[0].volume.as_str(),
            c.mounts[0].destination.as_str()
        ),
        (vol.as_str(), "/data")
    );
    let v = volumes
        .iter()
        .find(|v| v.name == vol)
        .expect("volume observed");
    // Sizes are best effort: observe() gives up on df after 3 s, and an
    // engine busy with another df (a parallel test, a plan) refuses a second
    // one. When a size is reported it must be right; parsing both reply
    // shapes is unit-tested in src/docker/raw.rs.
    if let Some(size) = v.size_bytes {
        assert!(size >= 100_000, "{size}");
    }
    assert!(containers.iter().all(|c| !c.name.starts_with('/')));

    // A run asks only for the sizes of its plan's volumes (no df), each
    // measured at its directory: when this user can read it, it has one.
    let (_, volumes) = d
        .observe_with(lifeboat::docker::Sizes::Of(std::slice::from_ref(&vol)))
        .await
        .unwrap();
    let sized: Vec<&str> = volumes
        .iter()
        .filter(|v| v.size_bytes.is_some())
        .map(|v| v.name.as_str())
        .collect();
    let readable = std::fs::read_dir("/var/lib/docker/volumes").is_ok();
    assert_eq!(sized, if readable { vec![vol.as_str()] } else { vec![] });
    if readable {
        let size = volumes.iter().find(|v| v.name == vol).unwrap().size_bytes;
        assert!(size >= Some(100_000), "{size:?}");
    }
}

// ---------------------------------------------------------------- exec

#[tokio::test(flavor = "multi_thread")]
async fn exec_with_env_user_workdir_and_exit_code() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let name = clean.container(&unique("exec"));
    run(&name, &["--init"], STACK, &["sleep", "infinity"]);

    let spec = ExecSpec {
        argv: vec![
            "bash".into(),
            "-c".into(),
            "echo \"$FOO|$(id -u)|$(pwd)\"; echo oops >&2; exit 7".into(),
        ],
        env: vec![("FOO".into(), "bar baz".into())],
        user: Some("nobody".into()),
        workdir: Some("/tmp".into()),
    };
    let out = d.exec(&name, spec, None).await.unwrap();
    assert_eq!(out.exit_code, 7);
    assert_eq!(out.stdout, "bar baz|65534|/tmp\n");
    assert_eq!(out.stderr, "oops\n");
    assert!(!out.truncated);

    // argv, not a shell line.
    let out = d
        .exec(&name, sh(&["echo", "$HOME; rm -rf /"]), None)
        .await
        .unwrap();
    assert_eq!(out.stdout, "$HOME; rm -rf /\n");

    // Over the cap: cut at 4 MiB and flagged.
    let out = d
        .exec(
            &name,
            sh(&["bash", "-c", "yes abc | head -c 5000000"]),
            None,
        )
        .await
        .unwrap();
    assert!(out.truncated);
    assert_eq!(out.stdout.len(), 4 << 20);

    let e = d.exec(&name, sh(&["/no/such/binary"]), None).await;
    // The engine reports a missing binary as exit code 126/127 or as an error.
    match e {
        Ok(out) => assert!(out.exit_code == 126 || out.exit_code == 127, "{out:?}"),
        Err(e) => assert!(e.to_string().contains("no/such/binary"), "{e}"),
    }

    let missing = unique("nope");
    let e = d.exec(&missing, sh(&["true"]), None).await.unwrap_err();
    assert_eq!(e.to_string(), format!("container `{missing}` not found"));
    cli(&["stop", "-t", "1", &name]);
    let e = d.exec(&name, sh(&["true"]), None).await.unwrap_err();
    assert!(e.to_string().contains("is not running"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_streams_stdin_and_closes_it_at_eof() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let name = clean.container(&unique("stdin"));
    run(&name, &["--init"], STACK, &["sleep", "infinity"]);

    let input = "line one\nline two\n".repeat(1000);
    let out = d
        .exec(
            &name,
            sh(&["cat"]),
            Some(Box::new(std::io::Cursor::new(input.clone().into_bytes()))),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0);
    assert_eq!(out.stdout, input);

    // 20 MiB of binary input, checked by its digest inside the container.
    let data: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let want = hex::encode(Sha256::digest(&data));
    let out = d
        .exec(
            &name,
            sh(&["sha256sum"]),
            Some(Box::new(std::io::Cursor::new(data))),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout.split_whitespace().next(), Some(want.as_str()));

    // A failing source fails the exec.
    struct Failing(usize);
    impl tokio::io::AsyncRead for Failing {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if self.0 == 0 {
                return std::task::Poll::Ready(Err(std::io::Error::other("disk on fire")));
            }
            self.0 -= 1;
            buf.put_slice(b"some bytes\n");
            std::task::Poll::Ready(Ok(()))
        }
    }
    let e = d
        .exec(&name, sh(&["cat"]), Some(Box::new(Failing(3))))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("reading its input failed: disk on fire"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_to_sink_streams_stdout() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let name = clean.container(&unique("sink"));
    run(&name, &["--init"], STACK, &["sleep", "infinity"]);

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let collect = tokio::spawn(async move {
        let mut hasher = Sha256::new();
        let (mut total, mut chunks) = (0usize, 0usize);
        while let Some(b) = rx.recv().await {
            total += b.len();
            chunks += 1;
            hasher.update(&b);
        }
        (total, chunks, hex::encode(hasher.finalize()))
    });
    let size = 12 << 20;
    let script = format!(
        "head -c {size} /dev/urandom > /tmp/blob && sha256sum /tmp/blob >&2 && cat /tmp/blob"
    );
    let out = d
        .exec_to_sink(&name, sh(&["bash", "-c", &script]), tx)
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0);
    assert!(out.stdout.is_empty());
    let (total, chunks, digest) = collect.await.unwrap();
    assert_eq!(total, size);
    assert!(chunks > 1);
    assert_eq!(out.stderr.split_whitespace().next(), Some(digest.as_str()));

    // The receiver going away is an error, not a silent truncation.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    drop(rx);
    let e = d
        .exec_to_sink(&name, sh(&["cat", "/tmp/blob"]), tx)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("went away"), "{e}");
}

// ---------------------------------------------------------------- volumes

#[tokio::test(flavor = "multi_thread")]
async fn volume_create_exists_remove() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let vol = clean.volume(&unique("vol"));
    assert!(!d.volume_exists(&vol).await.unwrap());
    let labels = BTreeMap::from([("lifeboat.test".to_string(), "yes".to_string())]);
    assert!(d.create_volume(&vol, &labels).await.unwrap());
    assert!(!d.create_volume(&vol, &labels).await.unwrap(), "existed");
    assert!(d.volume_exists(&vol).await.unwrap());
    assert_eq!(
        cli(&[
            "volume",
            "inspect",
            "-f",
            "{{index .Labels \"lifeboat.test\"}}",
            &vol
        ]),
        "yes"
    );
    assert!(d.volume_is_empty(&vol).await.unwrap());

    // In use: refused, naming the containers.
    let user = clean.container(&unique("user"));
    cli(&[
        "create",
        "--name",
        &user,
        "-v",
        &format!("{vol}:/data"),
        STACK,
        "true",
    ]);
    let runner = clean.container(&unique("runner"));
    run(
        &runner,
        &["--init", "-v", &format!("{vol}:/other")],
        STACK,
        &["sleep", "infinity"],
    );
    let mut users = vec![(user.clone(), false), (runner.clone(), true)];
    users.sort();
    assert_eq!(d.volume_users(&vol).await.unwrap(), users);
    let e = d.remove_volume(&vol).await.unwrap_err();
    assert!(matches!(e, DockerError::InUse { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(&format!("`{user}` (stopped)")), "{text}");
    assert!(text.contains(&format!("`{runner}` (running)")), "{text}");
    assert!(d.volume_exists(&vol).await.unwrap());

    cli(&["rm", "-f", &user, &runner]);
    assert!(d.volume_users(&vol).await.unwrap().is_empty());
    d.remove_volume(&vol).await.unwrap();
    assert!(!d.volume_exists(&vol).await.unwrap());
    let e = d.remove_volume(&vol).await.unwrap_err();
    assert_eq!(e.to_string(), format!("volume `{vol}` not found"));
    assert!(d.read_volume(&vol).await.unwrap_err().is_not_found());
    assert!(d.volume_is_empty(&vol).await.unwrap_err().is_not_found());
    // Reading must not have created it.
    assert!(!d.volume_exists(&vol).await.unwrap());
}

const FIXTURE: &str = r#"
set -e
cd /data
mkdir -p dir/sub emptydir
echo secret > dir/secret
chown 100:101 dir/secret
chmod 0600 dir/secret
chmod 0755 dir dir/sub
chmod 0700 emptydir
chown 7:8 emptydir
echo hello > hello
ln -s hello link
ln -s /nonexistent/target dangling
ln hello hardlink
long=$(printf 'n%.0s' $(seq 1 150))
echo long > "dir/sub/$long"
head -c 3000000 /dev/urandom > dir/big
printf 'x' > 'name with spaces and ünïcödé'
chown 5:6 /data
chmod 0750 /data
"#;

#[tokio::test(flavor = "multi_thread")]
async fn read_volume_write_volume_round_trip_preserves_everything() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let src = clean.volume(&unique("src"));
    let dst = clean.volume(&unique("dst"));
    cli(&["volume", "create", &src]);
    cli(&["volume", "create", &dst]);
    cli(&[
        "run",
        "--rm",
        "-v",
        &format!("{src}:/data"),
        STACK,
        "bash",
        "-c",
        FIXTURE,
    ]);
    cli(&[
        "run",
        "--rm",
        "-v",
        &format!("{dst}:/data"),
        STACK,
        "bash",
        "-c",
        "mkdir /data/old && echo stale > /data/old/only-in-target && echo x > /data/hello",
    ]);
    assert!(!d.volume_is_empty(&dst).await.unwrap());

    let stream = d.read_volume(&src).await.unwrap();
    assert_eq!(
        helpers_of(&src).lines().count(),
        1,
        "one helper while reading"
    );
    // Entries are data/..., checked on the way through (without buffering it all).
    let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(16);
    let names = std::thread::spawn(move || {
        struct R(std::sync::mpsc::Receiver<Bytes>, Bytes);
        impl std::io::Read for R {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                while self.1.is_empty() {
                    match self.0.recv() {
                        Ok(b) => self.1 = b,
                        Err(_) => return Ok(0),
                    }
                }
                let n = buf.len().min(self.1.len());
                buf[..n].copy_from_slice(&self.1.split_to(n));
                Ok(n)
            }
        }
        let mut a = tar::Archive::new(R(rx, Bytes::new()));
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    });
    let teed = stream.map(move |r| {
        let b = r.map_err(std::io::Error::other)?;
        let _ = tx.send(b.clone());
        Ok::<_, std::io::Error>(b)
    });
    d.write_volume(&dst, teed).await.unwrap();
    let names = names.join().unwrap();
    assert!(
        names.iter().all(|n| n == "data/" || n.starts_with("data/")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.len() > 150),
        "long name archived: {names:?}"
    );

    let (a, b) = (listing(&src), listing(&dst));
    assert_eq!(a, b);
    for expect in [
        ". 5 6 750 d",
        "./dir/secret 100 101 600 f",
        "./dir 0 0 755 d",
        "./emptydir 7 8 700 d",
        "./link 0 0 777 l hello",
        "./dangling 0 0 777 l /nonexistent/target",
        "./hello 0 0 644 f  2 6",
        "./hardlink 0 0 644 f  2 6",
    ] {
        assert!(
            b.lines().any(|l| l.starts_with(expect)),
            "{expect:?} in\n{b}"
        );
    }
    assert!(
        !b.contains("only-in-target"),
        "the target was emptied first:\n{b}"
    );
    let digest = |v: &str| {
        cli(&[
            "run",
            "--rm",
            "-v",
            &format!("{v}:/data"),
            STACK,
            "bash",
            "-c",
            "cd /data && find . -type f -print0 | sort -z | xargs -0 sha256sum",
        ])
    };
    assert_eq!(digest(&src), digest(&dst));
    no_helpers_left(&src).await;
    no_helpers_left(&dst).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn write_volume_empties_the_target_and_reports_a_failing_source() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let dst = clean.volume(&unique("wdst"));
    cli(&["volume", "create", &dst]);
    cli(&[
        "run",
        "--rm",
        "-v",
        &format!("{dst}:/data"),
        STACK,
        "bash",
        "-c",
        "mkdir -p /data/a/b && echo 1 > /data/a/b/c && echo 2 > /data/top",
    ]);

    // An archive with just the root: the volume ends up empty.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o711);
    h.set_uid(3);
    h.set_gid(4);
    h.set_size(0);
    b.append_data(&mut h, "data/", std::io::empty()).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o640);
    h.set_size(3);
    b.append_data(&mut h, "data/new", &b"new"[..]).unwrap();
    let tar = Bytes::from(b.into_inner().unwrap());
    d.write_volume(&dst, futures_util::stream::iter([Ok(tar)]))
        .await
        .unwrap();
    let l = listing(&dst);
    assert_eq!(l, ". 3 4 711 d  2 4096\n./new 0 0 640 f  1 3", "{l}");

    // A source that fails midway fails the call with its cause.
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(vec![0u8; 0])),
        Err(std::io::Error::other("repository went away")),
    ];
    let e = d
        .write_volume(&dst, futures_util::stream::iter(chunks))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("repository went away"), "{e}");
    no_helpers_left(&dst).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn read_volume_stream_dropped_early_removes_its_helper() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let vol = clean.volume(&unique("drop"));
    cli(&["volume", "create", &vol]);
    cli(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/data"),
        STACK,
        "bash",
        "-c",
        "head -c 20000000 /dev/urandom > /data/big",
    ]);
    let mut stream = d.read_volume(&vol).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    assert_eq!(helpers_of(&vol).lines().count(), 1);
    drop(stream);
    no_helpers_left(&vol).await;

    // Read to the end: removed as well, and the size adds up.
    let total: usize = d
        .read_volume(&vol)
        .await
        .unwrap()
        .map_ok(|b| b.len())
        .try_fold(0, |a, n| async move { Ok(a + n) })
        .await
        .unwrap();
    assert!(total > 20_000_000);
    no_helpers_left(&vol).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn helper_image_is_created_when_missing() {
    let mut clean = Cleanup::default();
    let image = format!(
        "lbtest/helper-{}:t{}",
        std::process::id(),
        unique("img").len()
    );
    clean.images.push(image.clone());
    let _ = Command::new("docker")
        .args(["image", "rm", "-f", &image])
        .output();
    assert!(!cli_ok(&["image", "inspect", &image]));
    let d = docker().await.with_helper_image(image.clone());
    assert_eq!(d.helper_image(), image);
    let vol = clean.volume(&unique("himg"));
    cli(&["volume", "create", &vol]);
    assert!(d.volume_is_empty(&vol).await.unwrap());
    assert_eq!(
        cli(&[
            "image",
            "inspect",
            "-f",
            "{{index .Config.Labels \"lifeboat.helper\"}} {{json .Config.Cmd}}",
            &image
        ]),
        "1 [\"/lifeboat-helper\"]"
    );
    // And it works for a round trip.
    cli(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/data"),
        STACK,
        "bash",
        "-c",
        "echo hi > /data/f",
    ]);
    let s = d.read_volume(&vol).await.unwrap();
    d.write_volume(&vol, s.map_err(std::io::Error::other))
        .await
        .unwrap();
    assert_eq!(
        cli(&[
            "run",
            "--rm",
            "-v",
            &format!("{vol}:/data"),
            STACK,
            "cat",
            "/data/f"
        ]),
        "hi"
    );
    no_helpers_left(&vol).await;
}

// ---------------------------------------------------------------- recreate

#[tokio::test(flavor = "multi_thread")]
async fn recreate_keeps_the_configuration_and_reports_the_previous_image() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let other = format!("lbtest/stack:other-{}", std::process::id());
    // Tag per test process; removed at the end (untag only).
    cli(&["tag", STACK, &other]);
    clean.images.push(other.clone());
    let net = unique("net");
    cli(&["network", "create", &net]);
    clean.networks.push(net.clone());
    let vol = clean.volume(&unique("rvol"));
    let name = clean.container(&unique("rec"));
    run(
        &name,
        &[
            "--init",
            "--network",
            &net,
            "--network-alias",
            "db-alias",
            "-e",
            "FOO=bar",
            "--label",
            "team=dr",
            "-v",
            &format!("{vol}:/data"),
            "-v",
            "/anon",
            "-p",
            "127.0.0.1::6379",
            "--restart",
            "unless-stopped",
            "-w",
            "/data",
            "--health-cmd",
            "test -d /data",
            "--health-interval",
            "1s",
        ],
        STACK,
        &["sleep", "infinity"],
    );
    cli(&[
        "exec",
        &name,
        "bash",
        "-c",
        "echo keep > /data/f && echo anon > /anon/f",
    ]);
    let before = d.container(&name).await.unwrap().unwrap();
    d.wait(&name, WaitFor::Healthy, Duration::from_secs(20))
        .await
        .unwrap();

    let r = d
        .recreate(&name, &other, WaitFor::Healthy, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(r.previous_image, STACK);
    assert_eq!(r.previous_image_id, before.image_id);
    assert_ne!(r.container_id, before.id);

    let after = d.container(&name).await.unwrap().unwrap();
    assert_eq!(after.id, r.container_id);
    assert_eq!(after.image, other);
    assert!(after.running);
    assert_eq!(after.health.as_deref(), Some("healthy"));
    assert_eq!(after.labels.get("team").map(String::as_str), Some("dr"));
    assert!(
        d.container(&format!("{name}-lifeboat-old"))
            .await
            .unwrap()
            .is_none()
    );
    let inspect = |f: &str| cli(&["inspect", "-f", f, &name]);
    assert!(inspect("{{json .Config.Env}}").contains("FOO=bar"));
    assert_eq!(inspect("{{json .Config.Cmd}}"), "[\"sleep\",\"infinity\"]");
    assert_eq!(inspect("{{.Config.WorkingDir}}"), "/data");
    assert_eq!(
        inspect("{{.HostConfig.RestartPolicy.Name}}"),
        "unless-stopped"
    );
    assert!(inspect("{{json .HostConfig.PortBindings}}").contains("6379/tcp"));
    assert!(inspect("{{json .NetworkSettings.Networks}}").contains("db-alias"));
    assert!(
        inspect(&format!(
            "{{{{json (index .NetworkSettings.Networks \"{net}\").Aliases}}}}"
        ))
        .contains("db-alias")
    );
    // Same data: named and anonymous volumes.
    let out = d
        .exec(&name, sh(&["cat", "/data/f", "/anon/f"]), None)
        .await
        .unwrap();
    assert_eq!(out.stdout, "keep\nanon\n");
    assert_eq!(
        before
            .mounts
            .iter()
            .map(|m| (&m.source, &m.destination))
            .collect::<Vec<_>>()
            .len(),
        after.mounts.len()
    );
    for m in &before.mounts {
        assert!(
            after
                .mounts
                .iter()
                .any(|n| n.source == m.source && n.destination == m.destination),
            "{m:?} kept"
        );
    }
    // Other containers on the network reach it by its alias.
    let probe = clean.container(&unique("probe"));
    cli(&[
        "run",
        "--name",
        &probe,
        "--network",
        &net,
        STACK,
        "getent",
        "hosts",
        "db-alias",
    ]);

    // And back to the first image.
    let back = d
        .recreate(&name, STACK, WaitFor::Running, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(back.previous_image, other);

    let e = d
        .recreate(
            &name,
            "lbtest/no-such-image:1",
            WaitFor::Running,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert!(d.container(&name).await.unwrap().unwrap().running);
}

#[tokio::test(flavor = "multi_thread")]
async fn recreate_to_a_broken_image_puts_the_old_container_back() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let vol = clean.volume(&unique("bvol"));
    let name = clean.container(&unique("broken"));
    run(
        &name,
        &[
            "-v",
            &format!("{vol}:/data"),
            "--health-cmd",
            "redis-cli ping | grep -q PONG",
            "--health-interval",
            "1s",
            "-e",
            "KEEP=1",
        ],
        STACK,
        &["stack-redis"],
    );
    d.wait(&name, WaitFor::Healthy, Duration::from_secs(30))
        .await
        .unwrap();
    let before = d.container(&name).await.unwrap().unwrap();

    let t = Instant::now();
    let e = d
        .recreate(&name, BROKEN, WaitFor::Healthy, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(40),
        "fails fast: {:?}",
        t.elapsed()
    );
    let text = e.to_string();
    assert!(text.contains("exit code 1"), "{text}");
    assert!(
        text.contains("simulated bad upgrade"),
        "the new container's last output: {text}"
    );
    assert!(!text.contains("ALSO FAILED"), "{text}");
    assert!(text.starts_with(&format!("recreating container `{name}` from `{BROKEN}`: waiting for container `{name}` to be healthy: it stopped")), "{text}");
    assert!(text.ends_with("; the old container was put back"), "{text}");

    let now = d.container(&name).await.unwrap().unwrap();
    assert_eq!(now.id, before.id, "the old container is back");
    assert_eq!(now.image, STACK);
    assert!(now.running);
    d.wait(&name, WaitFor::Healthy, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        d.container(&format!("{name}-lifeboat-old"))
            .await
            .unwrap()
            .is_none()
    );
    // The failed new container is gone: only one container carries the name.
    let named = cli(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(named, name);

    // A stopped container is put back stopped.
    cli(&["stop", "-t", "5", &name]);
    d.recreate(&name, BROKEN, WaitFor::Healthy, Duration::from_secs(60))
        .await
        .unwrap_err();
    let now = d.container(&name).await.unwrap().unwrap();
    assert_eq!((now.id.as_str(), now.running), (before.id.as_str(), false));
}

// ---------------------------------------------------------------- restores of crafted archives

/// One ustar entry with `name`, `typeflag` and `link` verbatim.
fn raw_entry(name: &str, typeflag: u8, data: &[u8], link: &str) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
    h.as_mut_bytes()[156] = typeflag;
    h.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    let mut v = h.as_bytes().to_vec();
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

fn raw_tar(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut v = entries.concat();
    v.extend_from_slice(&[0; 1024]);
    v
}

/// A repository holding `raw` as a volume backup of `source`, stored without
/// the writer's scan (as a crafted repository would hold it); its id.
fn crafted_backup(dir: &std::path::Path, source: &str, raw: &[u8]) -> String {
    use lifeboat::repo::{BackupKind, LocalRepo, Manifest, NewBackup};
    use std::io::Write;
    let repo = LocalRepo::open(dir).unwrap();
    let mut w = repo
        .create(NewBackup {
            source: source.into(),
            kind: BackupKind::Exec,
            origin: Default::default(),
            tags: vec![],
            run_id: None,
            facts: Default::default(),
        })
        .unwrap();
    w.write_all(raw).unwrap();
    let m = w.finish().unwrap();
    let sub = dir.join("backups").join(source);
    let object = format!("{}.tar.zst", m.id);
    std::fs::rename(sub.join(&m.object), sub.join(&object)).unwrap();
    let relabelled = Manifest {
        kind: BackupKind::Volume,
        object,
        ..m
    };
    std::fs::write(
        sub.join(format!("{}.json", relabelled.id)),
        serde_json::to_vec_pretty(&relabelled).unwrap(),
    )
    .unwrap();
    relabelled.id
}

/// Issue 9, items 3 and 4: a backup that would write through a symlink or
/// that Docker cannot extract is refused before the volume is emptied.
#[tokio::test(flavor = "multi_thread")]
async fn a_crafted_backup_is_refused_before_the_volume_is_touched() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let vol = clean.volume(&unique("crafted"));
    cli(&["volume", "create", &vol]);
    cli(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/data"),
        STACK,
        "bash",
        "-c",
        "mkdir -p /data/keep && echo precious > /data/keep/me",
    ]);
    let before = listing(&vol);
    let root = || raw_entry("data/", b'5', b"", "");
    let cases = [
        (
            raw_tar(&[
                root(),
                raw_entry("data/link", b'2', b"", "/etc"),
                raw_entry("data/link/evil", b'0', b"x", ""),
            ]),
            "under `data/link`, a symlink",
        ),
        (
            raw_tar(&[raw_entry("data", b'0', b"x", "")]),
            "must be a directory",
        ),
        (
            raw_tar(&[root(), raw_entry("data/c", b'7', b"abc", "")]),
            "contiguous file",
        ),
        (
            raw_tar(&[root(), raw_entry("data/h", b'1', b"", "data/missing")]),
            "not a file earlier in the archive",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (raw, reason) in cases {
        let id = crafted_backup(dir.path(), &vol, &raw);
        let repo = std::sync::Arc::new(lifeboat::repo::LocalRepo::open(dir.path()).unwrap());
        let e = lifeboat::steps::transfer::restore_volume(&d, repo, &vol, id, |_, _| {})
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(reason), "{reason}: {e}");
        assert_eq!(listing(&vol), before, "{reason}: the volume was touched");
    }
    no_helpers_left(&vol).await;
}

/// When the engine fails part-way, the error says the volume is partly
/// written and what repairs it.
#[tokio::test(flavor = "multi_thread")]
async fn an_extraction_failing_part_way_says_the_volume_is_partly_written() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let vol = clean.volume(&unique("partial"));
    cli(&["volume", "create", &vol]);
    // Unchecked here (write_volume takes any stream): the engine refuses the link.
    let tar = raw_tar(&[
        raw_entry("data/", b'5', b"", ""),
        raw_entry("data/first", b'0', b"1", ""),
        raw_entry("data/h", b'1', b"", "data/missing"),
    ]);
    let e = d
        .write_volume(&vol, futures_util::stream::iter([Ok(Bytes::from(tar))]))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("partly written"), "{e}");
    assert!(e.contains("rollback") && e.contains("resume"), "{e}");
    no_helpers_left(&vol).await;
}

/// Issue 9, item 30: the helper containers of a restore are removed without
/// a word. (A helper released in the background used to be removed a second
/// time as "stale", and the engine's 409 "removal already in progress" was
/// printed as a warning on every restore.)
#[test]
fn a_restore_says_nothing_about_removing_its_helpers() {
    use lifeboat::repo::{BackupKind, LocalRepo, NewBackup};
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let repo = LocalRepo::open(dir.path().join("repo")).unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut w = repo
            .create(NewBackup {
                source: unique("quiet"),
                kind: BackupKind::Volume,
                origin: Default::default(),
                tags: vec![],
                run_id: None,
                facts: Default::default(),
            })
            .unwrap();
        let body = format!("backup {i}");
        w.write_all(&raw_tar(&[
            raw_entry("data/", b'5', b"", ""),
            raw_entry("data/f", b'0', body.as_bytes(), ""),
        ]))
        .unwrap();
        ids.push(w.finish().unwrap().id);
    }
    for id in &ids {
        let out = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .arg("--repo")
            .arg(dir.path().join("repo"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(["backups", "verify", id, "--restore-test"])
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
        assert!(stdout.contains("restore test ok"), "{stdout}");
        assert_eq!(stderr, "", "a restore prints nothing on stderr");
    }
}

/// Issue 9, item 8: a backup that unpacks to more than the volume's
/// filesystem can hold (free space plus what the volume holds now) is
/// refused before anything is read or emptied, with the numbers.
#[tokio::test(flavor = "multi_thread")]
async fn a_restore_larger_than_the_free_space_is_refused_before_it_starts() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let vol = clean.volume(&unique("room"));
    cli(&["volume", "create", &vol]);
    cli(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/data"),
        STACK,
        "bash",
        "-c",
        "echo precious > /data/keep",
    ]);
    let before = listing(&vol);
    let dir = tempfile::tempdir().unwrap();
    let tar = raw_tar(&[
        raw_entry("data/", b'5', b"", ""),
        raw_entry("data/f", b'0', b"new", ""),
    ]);
    let id = crafted_backup(dir.path(), &vol, &tar);
    // The manifest says it unpacks to 1 PiB: more than any test disk has.
    let manifest = dir
        .path()
        .join("backups")
        .join(&vol)
        .join(format!("{id}.json"));
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    json["raw_bytes"] = serde_json::json!(1u64 << 50);
    std::fs::write(&manifest, serde_json::to_vec_pretty(&json).unwrap()).unwrap();

    let repo = std::sync::Arc::new(lifeboat::repo::LocalRepo::open(dir.path()).unwrap());
    let started = Instant::now();
    let e = lifeboat::steps::transfer::restore_volume(&d, repo, &vol, id.clone(), |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "backup {id} cannot be restored into volume `{vol}`"
        )),
        "{e}"
    );
    assert!(
        e.contains("1.0 PiB") || e.contains("1125899906842624 bytes"),
        "{e}"
    );
    assert!(
        e.contains("free") && e.contains("Nothing was changed"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(listing(&vol), before, "the volume was touched");
    no_helpers_left(&vol).await;
}

/// The other side of items 3 and 4: what the scanner accepts at its limits
/// (the deepest and longest paths, hard links to files, symlinks and FIFOs
/// made earlier, a file replaced by a directory, absolute and inside-relative
/// symlinks) passes the backup check and the engine extracts it.
#[tokio::test(flavor = "multi_thread")]
async fn what_the_scanner_accepts_the_engine_extracts() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let vol = clean.volume(&unique("limits"));
    cli(&["volume", "create", &vol]);
    let long = |name: &str| {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, name, &b"x"[..]).unwrap();
        let mut v = b.into_inner().unwrap();
        v.truncate(v.len() - 1024);
        v
    };
    let deep = format!("data/{}f", "a/".repeat(995));
    let wide = format!("data/{}", "w".repeat(255));
    let lengthy = format!("data/{}end", "abcdefgh/".repeat(443));
    assert!(lengthy.len() <= 4000 && lengthy.len() > 3990);
    let tar = raw_tar(&[
        raw_entry("data/", b'5', b"", ""),
        raw_entry("data/f", b'0', b"x", ""),
        raw_entry("data/s", b'2', b"", "f"),
        raw_entry("data/abs", b'2', b"", "/etc/passwd"),
        raw_entry("data/sub/up", b'2', b"", "../f"),
        raw_entry("data/p", b'6', b"", ""),
        raw_entry("data/h1", b'1', b"", "data/f"),
        raw_entry("data/h2", b'1', b"", "data/s"),
        raw_entry("data/h3", b'1', b"", "data/p"),
        raw_entry("data/h4", b'1', b"", "data/h1"),
        raw_entry("data/f2", b'0', b"y", ""),
        raw_entry("data/f2/", b'5', b"", ""),
        raw_entry("data/f2/g", b'0', b"z", ""),
        long(&deep),
        long(&wide),
        long(&lengthy),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let id = crafted_backup(dir.path(), &vol, &tar);
    let repo = std::sync::Arc::new(lifeboat::repo::LocalRepo::open(dir.path()).unwrap());
    assert!(repo.verify(&id, true).unwrap().ok);
    lifeboat::steps::transfer::restore_volume(&d, repo, &vol, id, |_, _| {})
        .await
        .unwrap();
    let l = listing(&vol);
    for expect in [
        "./f 0 0 644 f  3 1",
        "./h1 0 0 644 f  3 1",
        "./h2 0 0 777 l f 2",
        "./p 0 0 644 p  2 0",
        "./f2/g 0 0 644 f",
        "./abs 0 0 777 l /etc/passwd",
        "./sub/up 0 0 777 l ../f",
    ] {
        assert!(
            l.lines().any(|x| x.starts_with(expect)),
            "{expect:?} in\n{l}"
        );
    }
    assert!(l.contains(&format!("./{}", "w".repeat(255))), "{l}");
    assert!(l.lines().any(|x| x.ends_with("end 0 0 644 f  1 1")), "{l}");
    no_helpers_left(&vol).await;
}

/// Unmounts a test's tmpfs, whatever happens to the test.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

/// Issue 9, item 8, on a real small filesystem: a volume bound to a 1 MiB
/// tmpfs, a backup that unpacks to 3 MiB. The restore is refused with the
/// numbers before the volume is emptied (it used to empty the volume, then
/// fail with "no space left on device", the volume partly written).
#[tokio::test(flavor = "multi_thread")]
async fn a_restore_into_a_too_small_filesystem_is_refused_before_the_volume_is_emptied() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let mnt = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(mnt.path())
        .output()
        .unwrap();
    assert!(
        mounted.status.success(),
        "mounting a 1 MiB tmpfs (these tests run as root, as Docker's): {}",
        String::from_utf8_lossy(&mounted.stderr)
    );
    let _umount = Mounted(mnt.path().to_path_buf());
    let vol = clean.volume(&unique("small"));
    let device = format!("device={}", mnt.path().display());
    cli(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &device,
        &vol,
    ]);
    cli(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/data"),
        STACK,
        "bash",
        "-c",
        "echo precious > /data/keep",
    ]);
    let before = listing(&vol);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..3 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    b.append_data(&mut h, "data/", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(noise.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "data/noise", noise.as_slice())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let id = crafted_backup(dir.path(), &vol, &b.into_inner().unwrap());
    let repo = std::sync::Arc::new(lifeboat::repo::LocalRepo::open(dir.path()).unwrap());
    let e = lifeboat::steps::transfer::restore_volume(&d, repo, &vol, id.clone(), |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "backup {id} cannot be restored into volume `{vol}`"
        )),
        "{e}"
    );
    assert!(e.contains(&mnt.path().display().to_string()), "{e}");
    assert!(e.contains("3.0 MiB"), "{e}");
    assert_eq!(listing(&vol), before, "the volume was touched");
    no_helpers_left(&vol).await;
}

// ------------------------------------------- recreate cut off by a kill (SIGKILL)
//
// The states a kill -9 can leave inside `recreate`, made by hand with the CLI:
// the original renamed `<name>-lifeboat-old` (running or stopped), with or
// without the new container (created, started, healthy, or exited). Running
// the recreate again (or its undo: a recreate to the previous image) must
// converge to one container on the right image, with the data kept.

/// A compose-like service container: labels, a volume with a file, a healthcheck.
fn service_args(project: &str, mount: &str) -> Vec<String> {
    [
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        "com.docker.compose.service=kv",
        "--label",
        "team=dr",
        "-e",
        "KEEP=1",
        "-v",
        mount,
        "--health-cmd",
        "test -f /data/f",
        "--health-interval",
        "1s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `docker create|run -d --name NAME <service args> IMAGE stack-redis`; its id
/// (on BROKEN, the server exits at once).
fn service(verb: &str, name: &str, project: &str, mount: &str, image: &str) -> String {
    let args = service_args(project, mount);
    let mut all: Vec<&str> = vec![verb];
    if verb == "run" {
        all.push("-d");
    }
    all.extend(["--name", name]);
    all.extend(args.iter().map(String::as_str));
    all.extend([image, "stack-redis"]);
    cli(&all)
}

/// Names of the containers of the test service, sorted.
fn service_names(project: &str) -> Vec<String> {
    let out = cli(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--format",
        "{{.Names}}",
    ]);
    let mut names: Vec<String> = out.lines().map(str::to_string).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn recreate_killed_after_the_rename_is_finished_by_running_it_again() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let other = format!("lbtest/stack:killrename-{}", std::process::id());
    cli(&["tag", STACK, &other]);
    clean.images.push(other.clone());
    let project = unique("kproj");
    let vol = clean.volume(&unique("kvol"));
    let mount = format!("{vol}:/data");
    let name = clean.container(&unique("kren"));
    let old = format!("{name}-lifeboat-old");
    let first = service("run", &name, &project, &mount, STACK);
    cli(&["exec", &name, "sh", "-c", "echo keep > /data/f"]);

    // Killed right after the rename, before the stop: the original runs as
    // `-lifeboat-old` and there is no container called `name`.
    cli(&["rename", &name, &old]);
    // The service lookup finds the original under its leftover name.
    assert_eq!(
        d.service_container(&project, "kv").await.unwrap(),
        Some(old.clone())
    );
    let r = d
        .recreate(&name, &other, WaitFor::Healthy, Duration::from_secs(30))
        .await
        .expect("a recreate run again after a kill finishes the job");
    assert_eq!(r.previous_image, STACK);
    let now = d.container(&name).await.unwrap().unwrap();
    assert_eq!((now.image.as_str(), now.running), (other.as_str(), true));
    assert_eq!(now.id, r.container_id);
    assert_ne!(now.id, first);
    assert_eq!(now.labels.get("team").map(String::as_str), Some("dr"));
    assert_eq!(service_names(&project), vec![name.clone()]);
    assert_eq!(cli(&["exec", &name, "cat", "/data/f"]), "keep");

    // Killed after the stop: the original is stopped, and a service lookup
    // hands the recreate its leftover name.
    cli(&["rename", &name, &old]);
    cli(&["stop", "-t", "1", &old]);
    let r = d
        .recreate(&old, STACK, WaitFor::Healthy, Duration::from_secs(30))
        .await
        .expect("given the leftover's name, the recreate finishes the job");
    assert_eq!(r.previous_image, other);
    let now = d.container(&name).await.unwrap().unwrap();
    assert_eq!((now.image.as_str(), now.running), (STACK, true));
    assert_eq!(now.health.as_deref(), Some("healthy"));
    assert_eq!(service_names(&project), vec![name.clone()]);
    assert_eq!(cli(&["exec", &name, "cat", "/data/f"]), "keep");
}

#[tokio::test(flavor = "multi_thread")]
async fn recreate_killed_with_both_containers_converges_forward_and_back() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let other = format!("lbtest/stack:killboth-{}", std::process::id());
    cli(&["tag", STACK, &other]);
    clean.images.push(other.clone());
    let project = unique("kproj");
    let vol = clean.volume(&unique("kvol"));
    let mount = format!("{vol}:/data");
    let name = clean.container(&unique("kboth"));
    let old = format!("{name}-lifeboat-old");
    let original = service("run", &name, &project, &mount, STACK);
    cli(&["exec", &name, "sh", "-c", "echo keep > /data/f"]);

    // Killed after the new container passed its wait, before the old one was
    // removed: the recreate run again keeps the new one and removes the old.
    cli(&["rename", &name, &old]);
    cli(&["stop", "-t", "1", &old]);
    let new = service("run", &name, &project, &mount, &other);
    d.wait(&name, WaitFor::Healthy, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        d.service_container(&project, "kv").await.unwrap(),
        Some(name.clone()),
        "lifeboat's own leftover does not make the service ambiguous"
    );
    let r = d
        .recreate(&name, &other, WaitFor::Healthy, Duration::from_secs(30))
        .await
        .expect("finishes");
    assert_eq!(r.container_id, new, "the healthy new container is kept");
    assert_eq!(r.previous_image, STACK);
    assert_eq!(service_names(&project), vec![name.clone()]);

    // Killed inside the undo (a recreate back to STACK), after the create and
    // before the start: the undo run again puts the service on STACK.
    cli(&["rename", &name, &old]);
    cli(&["stop", "-t", "1", &old]);
    service("create", &name, &project, &mount, STACK);
    let r = d
        .recreate(&name, STACK, WaitFor::Healthy, Duration::from_secs(30))
        .await
        .expect("the undo run again finishes");
    let now = d.container(&name).await.unwrap().unwrap();
    assert_eq!(now.id, r.container_id);
    assert_eq!((now.image.as_str(), now.running), (STACK, true));
    assert_eq!(now.health.as_deref(), Some("healthy"));
    assert_eq!(service_names(&project), vec![name.clone()]);
    assert_eq!(cli(&["exec", &name, "cat", "/data/f"]), "keep");
    assert_ne!(now.id, original);

    // Killed while waiting for a broken new container (it exited): run again,
    // the upgrade fails once more and the old container is put back, once.
    let before = now.id.clone();
    cli(&["rename", &name, &old]);
    cli(&["stop", "-t", "1", &old]);
    service("run", &name, &project, &mount, BROKEN);
    let e = d
        .recreate(&name, BROKEN, WaitFor::Healthy, Duration::from_secs(30))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.ends_with("the old container was put back"), "{text}");
    let now = d.container(&name).await.unwrap().unwrap();
    assert_eq!(now.id, before, "the old container is back");
    assert_eq!(now.image, STACK);
    assert_eq!(service_names(&project), vec![name.clone()]);
    // And its undo brings it up on the previous image.
    d.recreate(&name, STACK, WaitFor::Healthy, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(service_names(&project), vec![name.clone()]);
    assert_eq!(cli(&["exec", &name, "cat", "/data/f"]), "keep");
}

#[tokio::test(flavor = "multi_thread")]
async fn recreate_refuses_a_leftover_beside_a_container_it_did_not_make() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let project = unique("kproj");
    let vol = clean.volume(&unique("kvol"));
    let mount = format!("{vol}:/data");
    let name = clean.container(&unique("kother"));
    let old = format!("{name}-lifeboat-old");
    let original = service("run", &name, &project, &mount, STACK);
    cli(&["rename", &name, &old]);
    // Someone else made a container of that name, with another configuration.
    let stranger = cli(&["run", "-d", "--name", &name, STACK, "sleep", "infinity"]);

    let e = d
        .recreate(&name, STACK, WaitFor::Running, Duration::from_secs(10))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains(&format!("`{old}`")), "{text}");
    assert!(text.contains("was not made from it"), "{text}");
    // Nothing changed.
    assert_eq!(d.container(&name).await.unwrap().unwrap().id, stranger);
    assert_eq!(d.container(&old).await.unwrap().unwrap().id, original);
    assert!(d.container(&old).await.unwrap().unwrap().running);
}

// ------------------------------------------- volume.restore with `paths:`

/// Every file of a volume: path, mtime, contents.
fn files_of(volume: &str) -> String {
    cli(&[
        "run",
        "--rm",
        "-v",
        &format!("{volume}:/data:ro"),
        STACK,
        "bash",
        "-c",
        "cd /data && find . -type f -printf '%p %T@ ' -exec cat {} \\; | sort",
    ])
}

fn in_volume(volume: &str, script: &str) {
    cli(&[
        "run",
        "--rm",
        "-v",
        &format!("{volume}:/data"),
        STACK,
        "bash",
        "-c",
        script,
    ]);
}

/// A volume with a/x, a/y, b/z, backed up into a fresh repository.
async fn backed_up_volume(
    d: &Docker,
    clean: &mut Cleanup,
    dir: &std::path::Path,
) -> (String, std::sync::Arc<lifeboat::repo::LocalRepo>, String) {
    let vol = clean.volume(&unique("paths"));
    cli(&["volume", "create", &vol]);
    in_volume(
        &vol,
        "mkdir -p /data/a /data/b && echo x-backed-up > /data/a/x && echo y > /data/a/y \
         && echo z-backed-up > /data/b/z && touch -d '2020-01-02 03:04:05' /data/a/x /data/b/z \
         && n=$(printf 'n%.0s' $(seq 150)) && echo long-a > /data/a/$n && echo long-b > /data/b/$n",
    );
    let repo = std::sync::Arc::new(lifeboat::repo::LocalRepo::open(dir).unwrap());
    let new = lifeboat::repo::NewBackup {
        source: vol.clone(),
        kind: lifeboat::repo::BackupKind::Volume,
        origin: Default::default(),
        tags: vec![],
        run_id: None,
        facts: Default::default(),
    };
    let m = lifeboat::steps::transfer::store_volume(d, repo.clone(), &vol, new, |_| {})
        .await
        .unwrap();
    (vol, repo, m.id)
}

/// Deliverable 8: only the named subtree is replaced by the backup's; every
/// other file keeps its contents and its mtime.
#[tokio::test(flavor = "multi_thread")]
async fn a_restore_of_some_paths_replaces_them_and_leaves_everything_else() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let dir = tempfile::tempdir().unwrap();
    let (vol, repo, id) = backed_up_volume(&d, &mut clean, dir.path()).await;
    in_volume(
        &vol,
        "echo x-changed > /data/a/x && echo new > /data/a/new && echo z-changed > /data/b/z \
         && touch -d '2021-05-06 07:08:09' /data/b/z && mkdir /data/c && echo newer > /data/c/newer \
         && rm /data/a/nnn*",
    );
    let before = files_of(&vol);
    let untouched = |listing: &str| -> Vec<String> {
        listing
            .lines()
            .filter(|l| !l.starts_with("./a/"))
            .map(str::to_string)
            .collect()
    };
    lifeboat::steps::transfer::restore_paths(&d, repo, &vol, id, None, vec!["a".into()], |_, _| {})
        .await
        .unwrap();
    let after = files_of(&vol);
    // Outside `a`: byte for byte and mtime for mtime as before.
    assert_eq!(
        untouched(&after),
        untouched(&before),
        "{before}\n---\n{after}"
    );
    assert!(
        after.contains("./b/z 1620284889.0000000000 z-changed"),
        "{after}"
    );
    assert!(after.contains("./c/newer"), "{after}");
    // Inside `a`: the backup's, with its mtime; what the backup lacks is gone.
    // (Names over 100 bytes travel in PAX headers, kept with their entry.)
    let a: Vec<&str> = after.lines().filter(|l| l.starts_with("./a/")).collect();
    assert_eq!(a.len(), 3, "{after}");
    assert!(
        a[0].starts_with("./a/nnnn") && a[0].ends_with(" long-a"),
        "{after}"
    );
    assert!(
        a[1].starts_with("./a/x 1577934245.0000000000 x-backed-up"),
        "{after}"
    );
    assert!(
        a[2].starts_with("./a/y ") && a[2].ends_with(" y"),
        "{after}"
    );
    no_helpers_left(&vol).await;
}

/// A directory above a named path that is now a symbolic link in the live
/// volume (`a -> b`): extracting `a/x` would follow it and write `b/x`, a
/// file outside the named paths. Refused before anything is written.
#[tokio::test(flavor = "multi_thread")]
async fn a_symlink_above_a_named_path_in_the_volume_is_refused_with_the_volume_untouched() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let dir = tempfile::tempdir().unwrap();
    let (vol, repo, id) = backed_up_volume(&d, &mut clean, dir.path()).await;
    in_volume(&vol, "rm -rf /data/a && ln -s b /data/a");
    let before = files_of(&vol);
    let e = lifeboat::steps::transfer::restore_paths(
        &d,
        repo,
        &vol,
        id,
        None,
        vec!["a/x".into()],
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(
        e.message.contains("`a` is a symbolic link in volume"),
        "{e:?}"
    );
    assert!(e.untouched, "{e:?}");
    assert_eq!(files_of(&vol), before, "the volume changed");
    no_helpers_left(&vol).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_path_that_matches_nothing_in_the_backup_is_refused_with_the_volume_untouched() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let dir = tempfile::tempdir().unwrap();
    let (vol, repo, id) = backed_up_volume(&d, &mut clean, dir.path()).await;
    in_volume(&vol, "echo x-changed > /data/a/x && echo new > /data/a/new");
    let before = listing(&vol);
    let files = files_of(&vol);
    let e = lifeboat::steps::transfer::restore_paths(
        &d,
        repo,
        &vol,
        id,
        None,
        vec!["a".into(), "appendonlydir".into()],
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(e.untouched, "{e:?}");
    assert!(
        e.message
            .contains("`appendonlydir` match(es) nothing in backup"),
        "{}",
        e.message
    );
    assert_eq!(listing(&vol), before);
    assert_eq!(files_of(&vol), files);
    no_helpers_left(&vol).await;
}

// ------------------------------------------------------------- volume.run

fn plan_of(yaml: &str) -> lifeboat::plan::Plan {
    use lifeboat::compile::compiler::{Failure, Options, compile};
    let source = lifeboat::runbook::source::Source::new("t.yaml", yaml.to_string());
    match compile(&source, &Options::default()) {
        Ok(plan) => plan,
        Err(Failure::Invalid(d)) => panic!("{yaml}\n{d:#?}"),
        Err(Failure::Usage(u)) => panic!("{u:?}"),
    }
}

/// Runs step `s` of a runbook on `volume` (target `data`) with the real executor.
async fn run_step(
    volume: &str,
    step: &str,
) -> Result<lifeboat::engine::Outputs, lifeboat::engine::StepError> {
    let dir = tempfile::tempdir().unwrap();
    run_step_in(dir.path(), volume, step).await
}

/// [`run_step`] with the repository at `dir`.
async fn run_step_in(
    dir: &std::path::Path,
    volume: &str,
    step: &str,
) -> Result<lifeboat::engine::Outputs, lifeboat::engine::StepError> {
    use lifeboat::engine::{Call, Executor};
    use lifeboat::steps::{Ports, Real};
    let plan = plan_of(&format!(
        "runbook: t\ntargets:\n  data: {{ volume: {volume} }}\nsteps:\n  - {step}\n"
    ));
    let s = plan.steps.iter().find(|s| s.id == "s").unwrap();
    let ports = Ports {
        docker: std::sync::Arc::new(docker().await),
        repo: std::sync::Arc::new(lifeboat::repo::LocalRepo::open(dir).unwrap()),
        http: std::sync::Arc::new(lifeboat::runtime::ports::real::Reqwest::new()),
        yes: true,
        remote: None,
        workdir: dir.to_path_buf(),
        retention: Default::default(),
        restore_from: Default::default(),
        push_new: false,
        dry: None,
    };
    let call = Call {
        run_id: format!("volume-run-{}", std::process::id()),
        step: "s".into(),
        kind: s.kind.clone(),
        args: s.args.clone(),
        backup: None,
        undo: false,
        attempt: 1,
        unsafe_ok: true,
    };
    let real = Real::new(ports, &plan);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    real.execute(call, tx).await
}

/// One-off containers of lifeboat's on `volume` still there.
fn oneoffs(volume: &str) -> String {
    cli(&[
        "ps",
        "-a",
        "--filter",
        "label=lifeboat.oneoff=1",
        "--filter",
        &format!("volume={volume}"),
        "--format",
        "{{.Names}}",
    ])
}

fn volume_run(vol: &str, extra: &str, command: &str) -> String {
    let _ = vol;
    format!(
        "{{ id: s, uses: volume.run, unsafe: test, {extra}with: {{ image: '{STACK}', \
         volumes: {{ data: /vol }}, shell: true, command: \"{command}\" }} }}"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn volume_run_changes_the_volume_reports_its_output_and_leaves_no_container() {
    let mut clean = Cleanup::default();
    let vol = clean.volume(&unique("run"));
    cli(&["volume", "create", &vol]);
    let out = run_step(
        &vol,
        &volume_run(
            &vol,
            "",
            "echo marker > /vol/marker; echo out; echo err >&2; ls /sys/class/net",
        ),
    )
    .await
    .unwrap();
    // No network but the loopback.
    assert_eq!(out["stdout"], "out\nlo\n", "{out:?}");
    assert_eq!(out["stderr"], "err\n");
    assert_eq!(out["exit_code"], 0);
    assert!(files_of(&vol).contains("./marker"), "{}", files_of(&vol));
    assert!(oneoffs(&vol).is_empty(), "{}", oneoffs(&vol));

    // A failing command: the step fails, and the container is gone too.
    let e = run_step(&vol, &volume_run(&vol, "", "echo broken >&2; exit 3"))
        .await
        .unwrap_err();
    assert!(e.message.contains('3'), "{}", e.message);
    assert!(oneoffs(&vol).is_empty(), "{}", oneoffs(&vol));

    // `readonly: true` mounts the volume read-only.
    let out = run_step(
        &vol,
        &volume_run(
            &vol,
            "readonly: true, ",
            "touch /vol/x 2>/dev/null && echo wrote || echo refused",
        )
        .replace(", unsafe: test", ""),
    )
    .await
    .unwrap();
    assert_eq!(out["stdout"], "refused\n");
    assert!(oneoffs(&vol).is_empty(), "{}", oneoffs(&vol));
    no_helpers_left(&vol).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn volume_run_cut_off_by_its_timeout_still_removes_its_container() {
    let mut clean = Cleanup::default();
    let vol = clean.volume(&unique("runcut"));
    cli(&["volume", "create", &vol]);
    let step = volume_run(&vol, "", "sleep 60").replace("id: s,", "id: s, description: cut,");
    let cut = tokio::time::timeout(Duration::from_secs(5), run_step(&vol, &step)).await;
    assert!(cut.is_err(), "the command ran to its end: {cut:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !oneoffs(&vol).is_empty() {
        assert!(Instant::now() < deadline, "left behind: {}", oneoffs(&vol));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn volume_run_refuses_a_missing_image_without_pulling_and_a_volume_in_use() {
    let mut clean = Cleanup::default();
    let vol = clean.volume(&unique("runref"));
    cli(&["volume", "create", &vol]);
    let absent = "lifeboat-test/absent:never";
    let step = volume_run(&vol, "", "echo hi > /vol/x").replace(STACK, absent);
    let e = run_step(&vol, &step).await.unwrap_err();
    assert!(e.untouched, "{e:?}");
    assert!(
        e.message.contains(absent)
            && e.message.contains("never pulls")
            && e.message.contains("docker images")
            && e.message.contains("docker load"),
        "{}",
        e.message
    );
    assert!(
        !cli_ok(&["image", "inspect", absent]),
        "the image was pulled"
    );
    assert!(oneoffs(&vol).is_empty(), "{}", oneoffs(&vol));

    let user = clean.container(&unique("runuser"));
    run(
        &user,
        &["-v", &format!("{vol}:/data")],
        STACK,
        &["sleep", "infinity"],
    );
    let e = run_step(&vol, &volume_run(&vol, "", "echo hi > /vol/x"))
        .await
        .unwrap_err();
    assert!(e.untouched, "{e:?}");
    assert!(
        e.message.contains("in use") && e.message.contains(&user),
        "{}",
        e.message
    );
    assert!(!files_of(&vol).contains("./x"));
    assert!(oneoffs(&vol).is_empty(), "{}", oneoffs(&vol));
}

/// The kind itself (through the real executor): `paths:` as written in a
/// runbook, a path that is not in the backup refused untouched.
#[tokio::test(flavor = "multi_thread")]
async fn the_volume_restore_step_restores_its_paths_and_refuses_a_missing_one() {
    let d = docker().await;
    let mut clean = Cleanup::default();
    let dir = tempfile::tempdir().unwrap();
    let (vol, _repo, id) = backed_up_volume(&d, &mut clean, dir.path()).await;
    in_volume(
        &vol,
        "echo x-changed > /data/a/x && echo new > /data/a/new && echo z-changed > /data/b/z",
    );
    let step = |paths: &str| {
        format!(
            "{{ id: s, uses: volume.restore, unsafe: test, with: {{ volume: data, backup: {id}, \
             paths: {paths} }} }}"
        )
    };
    let files = files_of(&vol);
    let e = run_step_in(dir.path(), &vol, &step("[a, nowhere/else]"))
        .await
        .unwrap_err();
    assert!(
        e.untouched && e.message.contains("`nowhere/else` match(es) nothing"),
        "{e:?}"
    );
    assert_eq!(files_of(&vol), files);
    let out = run_step_in(dir.path(), &vol, &step("[./a/]"))
        .await
        .unwrap();
    assert_eq!(out["backup_id"], serde_json::json!(id));
    let after = files_of(&vol);
    assert!(
        after.contains("x-backed-up") && !after.contains("./a/new"),
        "{after}"
    );
    assert!(after.contains("z-changed"), "{after}");
    no_helpers_left(&vol).await;
}

/// A one-off left behind by a process that is gone (killed before it could
/// remove it) is removed when the next one is made.
#[tokio::test(flavor = "multi_thread")]
async fn a_one_off_left_by_a_dead_process_is_removed_by_the_next_one() {
    let mut clean = Cleanup::default();
    let vol = clean.volume(&unique("runstale"));
    cli(&["volume", "create", &vol]);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let dead = (4_000_000..4_194_304)
        .find(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        .unwrap();
    let left = clean.container(&format!("lifeboat-run-{}", unique("stale")));
    cli(&[
        "create",
        "--name",
        &left,
        "--label",
        "lifeboat.oneoff=1",
        "--label",
        &format!("lifeboat.oneoff.owner={}/{dead}/gone", host.trim()),
        "-v",
        &format!("{vol}:/data"),
        STACK,
        "true",
    ]);
    assert_eq!(oneoffs(&vol), left);
    run_step(&vol, &volume_run(&vol, "", "true")).await.unwrap();
    assert!(oneoffs(&vol).is_empty(), "{}", oneoffs(&vol));
}
