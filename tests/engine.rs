//! The scheduler against an in-memory executor: order, parallelism, retries,
//! `when`, skips, rollback and cancellation. The real executor is proven
//! against Docker in tests/e2e.rs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use lifeboat::compile::compiler::{Options as CompileOptions, compile};
use lifeboat::engine::journal::{self, Journal, Record};
use lifeboat::engine::render::RunScope;
use lifeboat::engine::replay::seed_from;
use lifeboat::engine::{
    Call, Event, Executor, Options, Outcome, Outputs, Seed, StepError, Subscribers, run,
};
use lifeboat::plan::Plan;
use lifeboat::runbook::source::Source;
use serde_json::json;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Fake {
    log: Mutex<Vec<String>>,
    /// step id → how many attempts fail before one succeeds (u32::MAX: all).
    failures: HashMap<String, u32>,
    undo_failures: Vec<String>,
    /// Undos that never end (the process dies during them).
    undo_hangs: Vec<String>,
    /// Steps that refuse before changing anything (`StepError::refused`).
    refusals: Vec<String>,
    /// Steps whose first attempt fails part-way and whose later attempts refuse.
    refuse_on_retry: Vec<String>,
    /// step id → how long the world takes to carry out its request. The
    /// request lands even if the caller stops waiting, as Docker's do.
    lands_after: HashMap<String, Duration>,
    delay: Duration,
    /// (in flight now, most in flight at once)
    counts: Arc<Mutex<(usize, usize)>>,
    /// What the world did, in order (shared with `log` through `timeline`).
    landed: Arc<Mutex<Vec<String>>>,
}

impl Executor for Fake {
    fn execute(
        &self,
        call: Call,
        _: UnboundedSender<Event>,
    ) -> BoxFuture<'static, Result<Outputs, StepError>> {
        let tag = if call.undo { "undo" } else { "do" };
        let line = format!("{tag} {} {} #{}", call.step, call.kind, call.attempt);
        self.landed.lock().unwrap().push(line.clone());
        self.log.lock().unwrap().push(line);
        let fail = if call.undo {
            self.undo_failures.contains(&call.step)
        } else {
            self.failures
                .get(&call.step)
                .is_some_and(|n| call.attempt <= *n)
        };
        let delay = self.delay;
        let refuse = !call.undo
            && (self.refusals.contains(&call.step)
                || (call.attempt > 1 && self.refuse_on_retry.contains(&call.step)));
        let fail =
            fail || (!call.undo && call.attempt == 1 && self.refuse_on_retry.contains(&call.step));
        let lands = (!call.undo)
            .then(|| self.lands_after.get(&call.step).copied())
            .flatten();
        let hang = call.undo && self.undo_hangs.contains(&call.step);
        let landed = Arc::clone(&self.landed);
        let step = call.step.clone();
        let args = serde_json::Value::Object(call.args.into_iter().collect());
        let counts = self.counts.clone();
        Box::pin(async move {
            {
                let mut c = counts.lock().unwrap();
                c.0 += 1;
                c.1 = c.1.max(c.0);
            }
            tokio::time::sleep(delay).await;
            if hang {
                std::future::pending::<()>().await;
            }
            if let Some(after) = lands {
                let landed = landed.clone();
                let what = step.clone();
                // Detached: dropping this future does not take the request back.
                let request = tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    landed.lock().unwrap().push(format!("landed {what}"));
                });
                let _ = request.await;
            }
            counts.lock().unwrap().0 -= 1;
            if refuse {
                return Err(StepError::refused(format!("{step} refused")));
            }
            if fail {
                return Err(StepError::new(format!("{step} broke")));
            }
            let mut out = Outputs::new();
            out.insert("backup_id".into(), json!(format!("B-{step}")));
            out.insert("was_running".into(), json!(true));
            out.insert("stdout".into(), json!(format!("out-{step}")));
            out.insert("args".into(), args);
            Ok(out)
        })
    }
}

const RUNBOOK: &str = r#"
runbook: two-branches
params:
  backup: { type: string, default: latest }
targets:
  a: { container: a, volumes: [a-data] }
  b: { container: b, volumes: [b-data] }
  a-data: { volume: a-data }
  b-data: { volume: b-data }
steps:
  - { id: stop-a, uses: container.stop, with: { container: a } }
  - { id: safety-a, uses: volume.backup, needs: [stop-a], with: { volume: a-data } }
  - { id: restore-a, uses: volume.restore, needs: [safety-a], with: { volume: a-data, backup: "{{ backup }}" } }
  - { id: start-a, uses: container.start, needs: [restore-a], with: { container: a } }
  - { id: stop-b, uses: container.stop, with: { container: b } }
  - { id: safety-b, uses: volume.backup, needs: [stop-b], with: { volume: b-data } }
  - { id: restore-b, uses: volume.restore, needs: [safety-b], with: { volume: b-data, backup: "{{ backup }}" } }
  - { id: start-b, uses: container.start, needs: [restore-b], with: { container: b } }
  - id: verify
    uses: container.exec
    readonly: true
    needs: [start-a, start-b]
    with: { container: a, command: [check] }
    retry: { attempts: 3, backoff: 10ms }
on_failure: rollback
"#;

fn plan_of(text: &str) -> Plan {
    let source = Source::new("test.yaml", text);
    compile(&source, &CompileOptions::default()).unwrap_or_else(|e| panic!("{e:?}"))
}

async fn go(
    plan: &Plan,
    fake: Arc<Fake>,
    parallel: usize,
    cancel: CancellationToken,
) -> (lifeboat::engine::runner::Report, Vec<Event>) {
    go_with(
        plan,
        fake,
        parallel,
        cancel,
        CancellationToken::new(),
        Seed::default(),
    )
    .await
}

/// `go` with a second Ctrl-C (`abort`) and what an earlier process of the run did.
async fn go_with(
    plan: &Plan,
    fake: Arc<Fake>,
    parallel: usize,
    cancel: CancellationToken,
    abort: CancellationToken,
    seed: Seed,
) -> (lifeboat::engine::runner::Report, Vec<Event>) {
    let scope = RunScope::new(
        vec![("backup".into(), "latest".into())],
        &plan.targets,
        "r1",
        "now",
    );
    let (tx, mut rx) = unbounded_channel();
    let options = Options {
        run_id: "r1".into(),
        parallel,
        cancel,
        abort,
        secrets: vec![],
    };
    let report = run(
        plan,
        &scope,
        fake,
        Subscribers::new().with(tx),
        &options,
        seed,
    )
    .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (report, events)
}

fn log(fake: &Fake) -> Vec<String> {
    fake.log.lock().unwrap().clone()
}

#[tokio::test]
async fn branches_run_in_parallel_and_a_flaky_check_is_retried() {
    let plan = plan_of(RUNBOOK);
    let fake = Arc::new(Fake {
        failures: [("verify".to_string(), 2)].into(),
        delay: Duration::from_millis(50),
        ..Fake::default()
    });
    let (report, events) = go(&plan, fake.clone(), 4, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.errors);
    assert_eq!(
        fake.counts.lock().unwrap().1,
        2,
        "the two branches ran side by side"
    );
    let l = log(&fake);
    assert_eq!(l.iter().filter(|c| c.starts_with("do verify")).count(), 3);
    assert!(l.last().unwrap().starts_with("do verify container.exec #3"));
    let retries = events
        .iter()
        .filter(|e| matches!(e, Event::StepRetrying { .. }))
        .count();
    assert_eq!(retries, 2);
    assert_eq!(report.outputs.len(), 9);
}

#[tokio::test]
async fn parallel_one_runs_steps_one_at_a_time_in_plan_order() {
    let plan = plan_of(RUNBOOK);
    let fake = Arc::new(Fake::default());
    let (report, _) = go(&plan, fake.clone(), 1, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::Succeeded);
    let order: Vec<String> = log(&fake)
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap().to_string())
        .collect();
    let planned: Vec<String> = plan.steps.iter().map(|s| s.id.clone()).collect();
    assert_eq!(order, planned);
}

#[tokio::test]
async fn a_failed_check_undoes_completed_steps_in_reverse_completion_order() {
    let plan = plan_of(RUNBOOK);
    let fake = Arc::new(Fake {
        failures: [("verify".to_string(), u32::MAX)].into(),
        ..Fake::default()
    });
    let (report, _) = go(&plan, fake.clone(), 1, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::RolledBack, "{:?}", report.errors);
    assert_eq!(
        report.errors,
        vec!["verify: verify broke (after 3 attempts)".to_string()]
    );
    let undos: Vec<String> = log(&fake)
        .into_iter()
        .filter(|l| l.starts_with("undo"))
        .collect();
    assert_eq!(
        undos,
        vec![
            "undo restore-b volume.restore #1",
            "undo restore-a volume.restore #1",
            "undo stop-b container.start #1",
            "undo stop-a container.start #1",
        ]
    );
}

#[tokio::test]
async fn the_undo_of_a_restore_restores_the_safety_backup_of_this_run() {
    let plan = plan_of(RUNBOOK);
    let fake = Arc::new(Fake {
        failures: [("verify".to_string(), u32::MAX)].into(),
        ..Fake::default()
    });
    let (_, events) = go(&plan, fake.clone(), 1, CancellationToken::new()).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::UndoFinished { id, .. } if id == "restore-a"))
    );
    // The undo's backup argument is the safety step's output, rendered at run time.
    let restore_undo = plan
        .steps
        .iter()
        .find(|s| s.id == "restore-a")
        .unwrap()
        .undo
        .clone()
        .unwrap();
    assert_eq!(
        restore_undo.templates["backup"],
        "{{ steps['safety-a'].backup_id }}"
    );
}

#[tokio::test]
async fn every_undo_is_attempted_even_when_one_fails() {
    let plan = plan_of(RUNBOOK);
    let fake = Arc::new(Fake {
        failures: [("restore-b".to_string(), u32::MAX)].into(),
        undo_failures: vec!["stop-a".to_string()],
        ..Fake::default()
    });
    let (report, events) = go(&plan, fake.clone(), 1, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::RollbackFailed);
    // restore-b failed part-way: it is undone too (its volume may be half-written).
    let undone: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::UndoFinished { id, .. } | Event::UndoFailed { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    // Plan order with --parallel 1 is wave by wave, so restore-a finished after stop-b.
    assert_eq!(undone, vec!["restore-b", "restore-a", "stop-b", "stop-a"]);
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.starts_with("undo of stop-a: stop-a broke")),
        "{:?}",
        report.errors
    );
    // Steps after the failure never started; they are reported as skipped.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::StepSkipped { id, .. } if id == "verify"))
    );
}

#[tokio::test]
async fn on_failure_continue_runs_independent_branches_and_skips_dependants() {
    let text = RUNBOOK.replace("on_failure: rollback", "on_failure: continue");
    let plan = plan_of(&text);
    let fake = Arc::new(Fake {
        failures: [("safety-a".to_string(), u32::MAX)].into(),
        ..Fake::default()
    });
    let (report, events) = go(&plan, fake.clone(), 1, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::Failed);
    let skipped: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::StepSkipped { id, reason } => Some(format!("{id}: {reason}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        skipped,
        vec![
            "restore-a: needs safety-a, which failed",
            "start-a: needs restore-a, which was skipped",
            "verify: needs start-a, which was skipped",
        ]
    );
    assert!(report.outputs.contains_key("start-b"));
    assert!(!log(&fake).iter().any(|l| l.starts_with("undo")));
}

#[tokio::test]
async fn when_false_skips_the_step_and_its_dependants() {
    let text = r#"
runbook: when-test
params:
  go: { type: bool, default: false }
targets:
  a: { container: a }
steps:
  - { id: first, uses: container.exec, readonly: true, with: { container: a, command: [x] } }
  - { id: maybe, uses: container.exec, needs: [first], when: "steps.first.stdout == 'nope'", readonly: true, with: { container: a, command: [x] } }
  - { id: after, uses: container.exec, needs: [maybe], readonly: true, with: { container: a, command: [x] } }
  - { id: other, uses: container.exec, needs: [first], when: "steps.first.stdout == 'out-first'", readonly: true, with: { container: a, command: [x] } }
"#;
    let plan = plan_of(text);
    let fake = Arc::new(Fake::default());
    let (report, events) = go(&plan, fake.clone(), 2, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::Succeeded);
    let ran: Vec<String> = log(&fake)
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(ran, vec!["first", "other"]);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::StepSkipped { .. }))
            .count(),
        2
    );
}

#[tokio::test]
async fn ctrl_c_aborts_in_flight_steps_and_still_rolls_back() {
    let plan = plan_of(RUNBOOK);
    let fake = Arc::new(Fake {
        delay: Duration::from_millis(200),
        ..Fake::default()
    });
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        // After the stops (wave 1) finished, during the safety backups.
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger.cancel();
    });
    let (report, _) = go(&plan, fake.clone(), 4, cancel).await;
    assert_eq!(report.outcome, Outcome::Cancelled, "{:?}", report.errors);
    let undos: Vec<String> = log(&fake)
        .into_iter()
        .filter(|l| l.starts_with("undo"))
        .collect();
    assert_eq!(
        undos.len(),
        2,
        "both stopped containers are started again: {undos:?}"
    );
    assert!(!log(&fake).iter().any(|l| l.starts_with("do restore")));
}

#[tokio::test]
async fn a_timeout_fails_the_attempt() {
    let text = RUNBOOK.replace("retry: { attempts: 3, backoff: 10ms }", "timeout: 20ms");
    let plan = plan_of(&text);
    let fake = Arc::new(Fake {
        delay: Duration::from_millis(100),
        ..Fake::default()
    });
    let (report, _) = go(&plan, fake, 4, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(
        report.errors,
        vec!["verify: timed out after 20ms".to_string()]
    );
}

#[tokio::test]
async fn ctrl_c_waits_for_a_change_docker_already_received_before_rolling_back() {
    // Ctrl-C while `start-a` is in flight: Docker has the request and starts
    // the container whatever the client does. The rollback's restore of its
    // volume must not begin before that start has landed.
    let plan = plan_of(RUNBOOK);
    let fake = Arc::new(Fake {
        lands_after: [("start-a".to_string(), Duration::from_millis(400))].into(),
        ..Fake::default()
    });
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let (report, events) = go(&plan, fake.clone(), 1, cancel).await;
    assert_eq!(report.outcome, Outcome::Cancelled, "{:?}", report.errors);
    let timeline = fake.landed.lock().unwrap().clone();
    let landed = timeline.iter().position(|l| l == "landed start-a");
    let first_undo = timeline.iter().position(|l| l.starts_with("undo"));
    assert!(
        landed.is_some() && landed < first_undo,
        "the start landed before any undo ran: {timeline:?}"
    );
    assert!(
        events.iter().any(|e| matches!(e, Event::Interrupted { waiting_for } if waiting_for == &["start-a".to_string()])),
        "{events:?}"
    );
    // It finished, so the rollback knows it happened; the restore is undone.
    assert!(timeline.contains(&"undo restore-a volume.restore #1".to_string()));
}

#[tokio::test]
async fn ctrl_c_cuts_off_a_check_in_flight() {
    let text = RUNBOOK.replace("retry: { attempts: 3, backoff: 10ms }", "timeout: 60s");
    let plan = plan_of(&text);
    let fake = Arc::new(Fake {
        lands_after: [("verify".to_string(), Duration::from_secs(30))].into(),
        ..Fake::default()
    });
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let t0 = std::time::Instant::now();
    let (report, events) = go(&plan, fake.clone(), 4, cancel).await;
    assert_eq!(report.outcome, Outcome::Cancelled, "{:?}", report.errors);
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "a read-only check is not waited for: {:?}",
        t0.elapsed()
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Interrupted { waiting_for } if waiting_for.is_empty())),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::StepFailed { id, error, .. }
            if id == "verify" && error.contains("cancelled"))),
        "the check was in flight and was cut off: {events:?}"
    );
}

#[tokio::test]
async fn a_retry_that_refuses_does_not_hide_what_the_first_attempt_changed() {
    let text = RUNBOOK.replace(
        "with: { volume: a-data, backup: \"{{ backup }}\" } }",
        "with: { volume: a-data, backup: \"{{ backup }}\" }, retry: { attempts: 2, backoff: 10ms } }",
    );
    let plan = plan_of(&text);
    assert!(
        plan.steps
            .iter()
            .any(|s| s.id == "restore-a" && s.retry.is_some())
    );
    let fake = Arc::new(Fake {
        refuse_on_retry: vec!["restore-a".to_string()],
        ..Fake::default()
    });
    let (report, _) = go(&plan, fake.clone(), 1, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::RolledBack, "{:?}", report.errors);
    assert!(
        !report.errors[0].contains("nothing was changed"),
        "{:?}",
        report.errors
    );
    assert!(
        log(&fake).contains(&"undo restore-a volume.restore #1".to_string()),
        "the first attempt wrote part of the volume: it is undone: {:?}",
        log(&fake)
    );
}

#[tokio::test]
async fn a_second_ctrl_c_cuts_off_a_change_in_flight_and_rolls_it_back() {
    let plan = plan_of(RUNBOOK);
    let fake = Arc::new(Fake {
        lands_after: [("restore-a".to_string(), Duration::from_secs(30))].into(),
        ..Fake::default()
    });
    let cancel = CancellationToken::new();
    let abort = CancellationToken::new();
    let (first, second) = (cancel.clone(), abort.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        first.cancel();
        tokio::time::sleep(Duration::from_millis(100)).await;
        second.cancel();
    });
    let t0 = std::time::Instant::now();
    let (report, _) = go_with(&plan, fake.clone(), 1, cancel, abort, Seed::default()).await;
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(report.outcome, Outcome::Cancelled, "{:?}", report.errors);
    assert!(
        log(&fake).contains(&"undo restore-a volume.restore #1".to_string()),
        "the cut-off restore is rolled back: {:?}",
        log(&fake)
    );
}

#[tokio::test]
async fn a_restore_refused_before_touching_anything_is_not_undone() {
    let plan = plan_of(RUNBOOK);
    let fake = Arc::new(Fake {
        refusals: vec!["restore-a".to_string()],
        ..Fake::default()
    });
    let (report, _) = go(&plan, fake.clone(), 1, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::RolledBack, "{:?}", report.errors);
    let undos: Vec<String> = log(&fake)
        .into_iter()
        .filter(|l| l.starts_with("undo"))
        .collect();
    assert!(
        !undos.iter().any(|u| u.contains("restore-a")),
        "nothing was written to a-data, so nothing is put back: {undos:?}"
    );
    assert!(undos.contains(&"undo stop-a container.start #1".to_string()));
}

#[tokio::test]
async fn a_resumed_rollback_skips_undos_that_already_finished() {
    let plan = plan_of(RUNBOOK);
    let fake = Arc::new(Fake::default());
    let done = |id: &str| {
        let mut out = Outputs::new();
        out.insert("backup_id".into(), json!(format!("B-{id}")));
        out.insert("was_running".into(), json!(true));
        (id.to_string(), out)
    };
    let seed = Seed {
        done: [
            "stop-a",
            "safety-a",
            "restore-a",
            "stop-b",
            "safety-b",
            "restore-b",
        ]
        .into_iter()
        .map(done)
        .collect(),
        failed: vec!["start-a".into()],
        rollback: Some("start-a: broke".into()),
        // Killed during the rollback, after the undo of restore-b finished.
        undone: vec!["restore-b".into()],
        ..Seed::default()
    };
    let (report, _) = go_with(
        &plan,
        fake.clone(),
        1,
        CancellationToken::new(),
        CancellationToken::new(),
        seed,
    )
    .await;
    assert_eq!(report.outcome, Outcome::RolledBack, "{:?}", report.errors);
    let undos: Vec<String> = log(&fake);
    assert_eq!(
        undos,
        vec![
            "undo stop-b container.start #1",
            "undo restore-a volume.restore #1",
            "undo stop-a container.start #1",
        ],
        "restore-b's undo finished before the kill and is not run again"
    );
}

/// A run with a real journal; `crash_after`: the process dies then (the
/// run's future is dropped mid-way).
async fn journaled(
    plan: &Plan,
    fake: Arc<Fake>,
    journal: Journal,
    seed: Seed,
    crash_after: Option<Duration>,
) -> Option<lifeboat::engine::runner::Report> {
    let scope = RunScope::new(
        vec![("backup".into(), "latest".into())],
        &plan.targets,
        "r1",
        "now",
    );
    let options = Options {
        run_id: "r1".into(),
        parallel: 1,
        cancel: CancellationToken::new(),
        abort: CancellationToken::new(),
        secrets: vec![],
    };
    let work = run(
        plan,
        &scope,
        fake,
        Subscribers::new().with(journal),
        &options,
        seed,
    );
    match crash_after {
        Some(after) => tokio::time::timeout(after, work).await.ok(),
        None => Some(work.await),
    }
}

#[tokio::test]
async fn a_rollback_killed_after_its_first_undo_resumes_and_runs_each_undo_once() {
    let plan = plan_of(RUNBOOK);
    let dir = tempfile::tempdir().unwrap();
    let mut failures = HashMap::new();
    failures.insert("verify".to_string(), u32::MAX);
    // The rollback undoes restore-b first; the undo of restore-a, second,
    // never ends: the process is killed there.
    let dying = Arc::new(Fake {
        failures: failures.clone(),
        undo_hangs: vec!["restore-a".into()],
        ..Fake::default()
    });
    let journal = Journal::create(dir.path(), "r1").unwrap();
    let crashed = journaled(
        &plan,
        dying,
        journal,
        Seed::default(),
        Some(Duration::from_secs(2)),
    )
    .await;
    assert!(crashed.is_none(), "the run was killed during its rollback");
    let path = journal::path_of(dir.path(), "r1");
    let before = journal::read(&path).unwrap();
    assert_eq!(
        undo_records(&before),
        [
            "started restore-b",
            "finished restore-b",
            "started restore-a"
        ]
    );

    // Resume: the journal, replayed, says what is left to undo.
    let seed = seed_from(&before);
    assert_eq!(seed.undone, ["restore-b"]);
    let fake = Arc::new(Fake {
        failures,
        ..Fake::default()
    });
    let journal = Journal::reopen(dir.path(), "r1").unwrap();
    let report = journaled(&plan, fake.clone(), journal, seed, None)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::RolledBack, "{:?}", report.errors);
    assert!(
        log(&fake).iter().all(|l| l.starts_with("undo")),
        "nothing runs forward: {:?}",
        log(&fake)
    );
    let after = journal::read(&path).unwrap();
    let finished: Vec<String> = undo_records(&after)
        .into_iter()
        .filter_map(|r| r.strip_prefix("finished ").map(str::to_string))
        .collect();
    assert_eq!(
        finished,
        ["restore-b", "restore-a", "stop-b", "stop-a"],
        "each undo finished once, in the journal too"
    );
}

/// The journal's undo records, as "started ID" / "finished ID".
fn undo_records(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::UndoStarted { id, .. } => Some(format!("started {id}")),
            Record::UndoFinished { id, .. } => Some(format!("finished {id}")),
            Record::UndoFailed { id, .. } => Some(format!("failed {id}")),
            _ => None,
        })
        .collect()
}
