//! `ops::run` in-process against the real Docker engine, as a drill calls
//! it: no terminal, nothing printed, events to a subscriber, a typed report.
//! Every container and volume is named `lbops-<pid>-…` and removed by a guard.

use std::process::Command;
use std::sync::Arc;

use lifeboat::compile::compiler::{Options, compile, param_values};
use lifeboat::compile::params::Missing;
use lifeboat::docker::Docker;
use lifeboat::engine::journal::{self, Record};
use lifeboat::engine::{Event, Outcome, Subscribers};
use lifeboat::ops::{Env, OpError, RunOptions, RunRequest, StepStatus, run};
use lifeboat::repo::LocalRepo;
use lifeboat::runbook::source::Source;
use tokio::sync::mpsc::unbounded_channel;

fn name(what: &str) -> String {
    format!("lbops-{}-{what}", std::process::id())
}

fn docker_cli(args: &[&str]) {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes the test's containers and volumes, even when it fails.
struct Gone(Vec<&'static str>, String);
impl Drop for Gone {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(self.0.iter().copied())
            .arg(&self.1)
            .output();
    }
}

struct Setup {
    env: Env,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let docker = Docker::connect().await.expect("a Docker engine");
    let repo = Arc::new(LocalRepo::open(dir.path().join("repo")).unwrap());
    let mut env = Env::new(docker, repo, dir.path().join("state"));
    env.lock_dir = dir.path().join("locks");
    Setup { env, _dir: dir }
}

/// The plan and param values of `text`, against the live world.
async fn plan_of(env: &Env, text: &str) -> (lifeboat::plan::Plan, Vec<(String, minijinja::Value)>) {
    let world =
        lifeboat::ops::world::observe(&env.docker, &env.repo, None, lifeboat::docker::Sizes::All)
            .await
            .unwrap();
    let source = Source::new("ops-test.yaml", text);
    let options = Options {
        sets: &[],
        missing: Missing::Refuse,
        world: Some((&world, "live")),
    };
    let plan = compile(&source, &options).unwrap_or_else(|e| panic!("{e:?}"));
    (plan, param_values(&source, &[]).unwrap())
}

#[tokio::test]
async fn a_run_reports_each_step_to_the_caller_and_its_subscriber() {
    let volume = name("data");
    docker_cli(&["volume", "create", &volume]);
    let _gone = Gone(vec!["volume", "rm", "-f"], volume.clone());
    let s = setup().await;
    let text = format!(
        "runbook: ops-backup\ntargets:\n  data: {{ volume: {volume} }}\nsteps:\n  \
         - {{ id: backup, uses: volume.backup, with: {{ volume: data, tags: [ops-test] }} }}\n"
    );
    let (plan, params) = plan_of(&s.env, &text).await;
    let (tx, mut rx) = unbounded_channel::<Event>();
    let report = run(
        &s.env,
        RunRequest::new(plan, params),
        RunOptions::default(),
        Subscribers::new().with(tx),
    )
    .await
    .expect("the run starts");
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.errors);
    assert_eq!(report.steps.len(), 1);
    let step = &report.steps[0];
    assert_eq!(
        (step.id.as_str(), &step.status),
        ("backup", &StepStatus::Finished)
    );
    let (started, finished) = (step.started_at.unwrap(), step.finished_at.unwrap());
    assert!(report.started_at <= started && started <= finished && finished <= report.finished_at);
    let backup_id = step.outputs["backup_id"].as_str().unwrap().to_string();
    assert!(s.env.repo.list().unwrap().iter().any(|m| m.id == backup_id));
    assert!(report.rollback.is_none());

    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    assert!(
        matches!(events.first(), Some(Event::RunStarted { .. })),
        "{events:?}"
    );
    assert!(
        matches!(events.last(), Some(Event::RunFinished { run_id, outcome: Outcome::Succeeded, .. }) if run_id == &report.run_id)
    );
    // The journal is a subscriber of the same stream.
    let records = journal::read(&report.journal).unwrap();
    assert!(matches!(records.first(), Some(Record::RunStarted { .. })));
    assert!(records.iter().any(|r| matches!(r, Record::StepFinished { id, outputs, .. } if id == "backup" && outputs["backup_id"] == backup_id.as_str())));
    assert!(matches!(
        records.last(),
        Some(Record::RunFinished {
            outcome: Outcome::Succeeded,
            ..
        })
    ));
}

#[tokio::test]
async fn a_failed_run_is_rolled_back_and_its_report_says_so() {
    let container = name("app");
    docker_cli(&[
        "run",
        "-d",
        "--name",
        &container,
        "lifeboat-test/stack:local",
        "sleep",
        "infinity",
    ]);
    let _gone = Gone(vec!["rm", "-f"], container.clone());
    let s = setup().await;
    let text = format!(
        "runbook: ops-rollback\ntargets:\n  app: {{ container: {container} }}\nsteps:\n  \
         - {{ id: stop, uses: container.stop, with: {{ container: app, timeout: 1s }} }}\n  \
         - {{ id: check, uses: http.request, needs: [stop], readonly: true, with: {{ url: \"http://127.0.0.1:9/\", timeout: 2s }} }}\n"
    );
    let (plan, params) = plan_of(&s.env, &text).await;
    let report = run(
        &s.env,
        RunRequest::new(plan, params),
        RunOptions::default(),
        Subscribers::new(),
    )
    .await
    .expect("the run starts");
    assert_eq!(report.outcome, Outcome::RolledBack, "{:?}", report.errors);
    let check = report.steps.iter().find(|s| s.id == "check").unwrap();
    assert_eq!(check.status, StepStatus::Failed);
    assert!(check.error.is_some());
    let rollback = report.rollback.as_ref().expect("a rollback");
    assert_eq!(rollback.undos.len(), 1, "{rollback:?}");
    assert_eq!(rollback.undos[0].id, "stop");
    assert_eq!(rollback.undos[0].error, None);
    assert!(rollback.undos[0].finished_at.is_some());
    let running = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", &container])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&running.stdout).trim(), "true");
    assert!(matches!(
        report.check(),
        Err(OpError::Failed {
            outcome: Outcome::RolledBack,
            ..
        })
    ));
}

#[tokio::test]
async fn a_run_whose_target_is_locked_is_refused_as_unavailable() {
    let volume = name("locked");
    docker_cli(&["volume", "create", &volume]);
    let _gone = Gone(vec!["volume", "rm", "-f"], volume.clone());
    let s = setup().await;
    let text = format!(
        "runbook: ops-locked\ntargets:\n  data: {{ volume: {volume} }}\nsteps:\n  \
         - {{ id: backup, uses: volume.backup, with: {{ volume: data }} }}\n"
    );
    let (plan, params) = plan_of(&s.env, &text).await;
    let _held = lifeboat::engine::lock::acquire(
        &s.env.lock_dir,
        &[format!("volume {volume}")],
        "another run",
    )
    .unwrap();
    let result = run(
        &s.env,
        RunRequest::new(plan, params),
        RunOptions::default(),
        Subscribers::new(),
    )
    .await;
    assert!(matches!(result, Err(OpError::Unavailable(_))), "{result:?}");
}
