//! The scheduler: starts every step whose `needs` are done (up to
//! `parallel` at once), retries and times them out, skips what `when` rules
//! out and what depends on a skipped or failed step, and on failure undoes
//! what was done, in reverse completion order, attempting every undo.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use indexmap::IndexMap;
use serde_json::Value as Json;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::event::{Event, Outcome, Stamped};
use super::render::RunScope;
use super::subscriber::Subscribers;
use crate::model::duration::Written;
use crate::model::effect::Effect;
use crate::plan::Plan;
use crate::plan::plan::Step;
use crate::runbook::raw::OnFailure;

pub type Outputs = serde_json::Map<String, Json>;

/// One attempt of a step (or of an undo), with its arguments rendered.
#[derive(Debug, Clone)]
pub struct Call {
    pub run_id: String,
    /// The step's id (for an undo: the id of the step being undone).
    pub step: String,
    pub kind: String,
    pub args: IndexMap<String, Json>,
    /// The backup the plan chose for a step that reads one (`latest` pinned
    /// at plan time), unless the reference is only known at run time.
    pub backup: Option<String>,
    pub undo: bool,
    pub attempt: u32,
    /// The step says `unsafe: <reason>`: it may destroy what no backup of
    /// this run holds (the compiler checked what it could see).
    pub unsafe_ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub message: String,
    /// Worth another attempt (`retry:`); a refused precondition is not.
    pub retryable: bool,
    /// The step refused before it changed anything (a backup that does not
    /// verify, a volume in use): a rollback has nothing of it to undo.
    pub untouched: bool,
}

impl StepError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            untouched: false,
        }
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            ..Self::new(message)
        }
    }

    /// A refusal before anything was changed: not retried, not undone.
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            untouched: true,
            ..Self::new(message)
        }
    }

    /// The same error, known to have changed nothing.
    pub fn untouched(mut self) -> Self {
        self.untouched = true;
        self
    }
}

/// What steps act on the world through.
pub trait Executor: Send + Sync + 'static {
    fn execute(
        &self,
        call: Call,
        events: UnboundedSender<Event>,
    ) -> BoxFuture<'static, Result<Outputs, StepError>>;

    /// Whether a finished step's built-in undo has anything to undo, by
    /// the step kind's outputs (a stop of a container that was not running).
    fn builtin_undo_needed(&self, kind: &str, outputs: &Outputs) -> bool {
        let _ = (kind, outputs);
        true
    }

    /// After a rollback: put back what the plan saw running. Returns errors.
    fn after_rollback(&self) -> BoxFuture<'static, Vec<String>> {
        Box::pin(async { Vec::new() })
    }
}

pub struct Options {
    pub run_id: String,
    pub parallel: usize,
    /// Ctrl-C: stop starting steps, cut off checks, wait for the steps in
    /// flight that change the world, roll back.
    pub cancel: CancellationToken,
    /// A second Ctrl-C: cut off the steps still in flight too; what they did
    /// part-way is rolled back.
    pub abort: CancellationToken,
    /// Real values never written to the journal or events.
    pub secrets: Vec<String>,
}

/// Steps already finished (resume), in completion order.
#[derive(Debug, Default, Clone)]
pub struct Seed {
    pub done: Vec<(String, Outputs)>,
    pub skipped: Vec<String>,
    /// Steps that failed before (a rollback undoes the destructive ones).
    pub failed: Vec<String>,
    /// Steps that failed before changing anything: failed, nothing to undo.
    pub refused: Vec<String>,
    /// The run was rolling back: finish the rollback, run nothing forward.
    pub rollback: Option<String>,
    /// Undos that already succeeded: a resumed rollback does not repeat them.
    pub undone: Vec<String>,
}

#[derive(Debug)]
pub struct Report {
    pub outcome: Outcome,
    pub errors: Vec<String>,
    /// Every finished step's outputs (real values: secrets not masked).
    pub outputs: HashMap<String, Json>,
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

struct Run<'a> {
    plan: &'a Plan,
    scope: &'a RunScope,
    executor: Arc<dyn Executor>,
    subscribers: Subscribers,
    /// What steps report while they run (progress, retries): published in
    /// order with the engine's own events.
    from_steps: UnboundedReceiver<Event>,
    to_engine: UnboundedSender<Event>,
    options: &'a Options,
    status: Vec<Status>,
    outputs: HashMap<String, Json>,
    /// Finished steps, in completion order.
    completed: Vec<usize>,
    /// Destructive steps that failed or were aborted part-way: undone too.
    interrupted: Vec<usize>,
    errors: Vec<String>,
    started: Instant,
    undone: Vec<String>,
}

/// Runs `plan`; every subscriber sees each event as it happens.
pub async fn run(
    plan: &Plan,
    scope: &RunScope,
    executor: Arc<dyn Executor>,
    subscribers: Subscribers,
    options: &Options,
    seed: Seed,
) -> Report {
    let (to_engine, from_steps) = unbounded_channel();
    let mut run = Run {
        plan,
        scope,
        executor,
        subscribers,
        from_steps,
        to_engine,
        options,
        status: vec![Status::Pending; plan.steps.len()],
        outputs: HashMap::new(),
        completed: Vec::new(),
        interrupted: Vec::new(),
        errors: Vec::new(),
        started: Instant::now(),
        undone: Vec::new(),
    };
    let rollback = run.seed(seed);
    run.emit(Event::RunStarted {
        run_id: options.run_id.clone(),
        runbook: plan.runbook.clone(),
        steps: plan.steps.len(),
    });
    let outcome = match rollback {
        Some(reason) => match run.rollback(&reason).await {
            true => Outcome::RolledBack,
            false => Outcome::RollbackFailed,
        },
        None => run.forward().await,
    };
    let duration = run.started.elapsed();
    let errors = run.errors.clone();
    run.emit(Event::RunFinished {
        run_id: options.run_id.clone(),
        outcome,
        duration_ms: ms(duration),
        errors: errors.clone(),
    });
    Report {
        outcome,
        errors: run.errors,
        outputs: run.outputs,
        duration,
    }
}

type Finished = (usize, Result<Outputs, StepError>, Duration);
type Running = HashMap<tokio::task::Id, (usize, AbortHandle)>;

impl Run<'_> {
    fn index(&self, id: &str) -> Option<usize> {
        self.plan.steps.iter().position(|s| s.id == id)
    }

    /// What an earlier process of this run did (resume). Returns the reason
    /// of a rollback that was under way.
    fn seed(&mut self, seed: Seed) -> Option<String> {
        for (id, out) in seed.done {
            if let Some(i) = self.index(&id) {
                self.status[i] = Status::Done;
                self.completed.push(i);
                self.outputs.insert(id, Json::Object(out));
            }
        }
        for id in seed.skipped {
            if let Some(i) = self.index(&id) {
                self.status[i] = Status::Skipped;
            }
        }
        for id in seed.failed {
            if let Some(i) = self.index(&id) {
                self.status[i] = Status::Failed;
                let step = &self.plan.steps[i];
                if step.effect == Effect::Destroy && step.undo.is_some() {
                    self.interrupted.push(i);
                }
            }
        }
        for id in seed.refused {
            if let Some(i) = self.index(&id) {
                self.status[i] = Status::Failed;
            }
        }
        self.undone = seed.undone;
        seed.rollback
    }

    /// Publishes what the steps reported so far, then `event`.
    fn emit(&mut self, event: Event) {
        self.pump();
        self.publish(Event::clone(&event));
    }

    /// Publishes what the steps reported so far.
    fn pump(&mut self) {
        while let Ok(event) = self.from_steps.try_recv() {
            self.publish(event);
        }
    }

    fn publish(&mut self, event: Event) {
        for e in self.subscribers.publish(&Stamped::now(event)) {
            // A journal that cannot be written must not go unnoticed.
            tracing::error!("{e}");
            self.errors.push(e);
        }
    }

    /// Awaits `work`, publishing what the steps report meanwhile.
    async fn pumping<T>(&mut self, work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                Some(event) = self.from_steps.recv() => self.publish(event),
            }
        }
    }

    fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for s in self.options.secrets.iter().filter(|s| !s.is_empty()) {
            text = text.replace(s.as_str(), "(secret)");
        }
        text
    }

    fn redact_json(&self, value: &Json) -> Json {
        match value {
            Json::String(s) => Json::String(self.redact(s)),
            Json::Array(items) => Json::Array(items.iter().map(|v| self.redact_json(v)).collect()),
            Json::Object(m) => Json::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.redact_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Runs the steps; on failure rolls back as `on_failure` says.
    async fn forward(&mut self) -> Outcome {
        let mut tasks: JoinSet<Finished> = JoinSet::new();
        let mut running = Running::new();
        let mut failure: Option<String> = None;
        let (mut cancelled, mut aborted) = (false, false);
        let continue_on_failure = self.plan.on_failure == OnFailure::Continue;
        loop {
            if failure.is_none() || (continue_on_failure && !cancelled) {
                self.start_ready(&mut tasks, &mut running, &mut failure);
            }
            if tasks.is_empty() {
                break;
            }
            tokio::select! {
                joined = tasks.join_next_with_id() => {
                    let Some(joined) = joined else { break };
                    if let Err(e) = self.joined(joined, &mut running) {
                        failure.get_or_insert(e);
                    }
                }
                Some(event) = self.from_steps.recv() => self.publish(event),
                _ = self.options.cancel.cancelled(), if !cancelled => {
                    cancelled = true;
                    failure = Some("interrupted (Ctrl-C)".into());
                    self.settle(&running);
                }
                _ = self.options.abort.cancelled(), if cancelled && !aborted => {
                    aborted = true;
                    for (_, handle) in running.values() {
                        handle.abort();
                    }
                }
            }
        }
        self.skip_unstarted(failure.is_some());
        let Some(reason) = failure else {
            return Outcome::Succeeded;
        };
        if self.plan.on_failure != OnFailure::Rollback && !cancelled {
            return Outcome::Failed;
        }
        let clean = self.rollback(&reason).await;
        match (clean, cancelled) {
            (false, _) => Outcome::RollbackFailed,
            (true, true) => Outcome::Cancelled,
            (true, false) => Outcome::RolledBack,
        }
    }

    /// A step task ended (or was cut off): records it; Err: it failed.
    fn joined(
        &mut self,
        joined: Result<(tokio::task::Id, Finished), tokio::task::JoinError>,
        running: &mut Running,
    ) -> Result<(), String> {
        match joined {
            Ok((id, (i, result, took))) => {
                running.remove(&id);
                self.finish(i, result, took)
            }
            Err(e) => {
                let Some((i, _)) = running.remove(&e.id()) else {
                    return Ok(());
                };
                let why = if e.is_cancelled() {
                    "cancelled (interrupted)".to_string()
                } else {
                    format!("crashed: {e}")
                };
                self.finish(i, Err(StepError::fatal(why)), Duration::ZERO)
            }
        }
    }

    /// Steps never reached are reported, so the journal accounts for every step.
    fn skip_unstarted(&mut self, failed: bool) {
        for i in 0..self.plan.steps.len() {
            if self.status[i] == Status::Pending && failed {
                self.status[i] = Status::Skipped;
                self.skip(i, "not started: the run failed".into());
            }
        }
    }

    /// Ctrl-C: steps that only look are cut off; steps that change the world
    /// are waited for, since Docker may already be carrying out a request
    /// that dropping it would not take back (a start landing in the middle
    /// of the rollback's restore). The rollback then starts from a settled
    /// world and undoes what they did.
    fn settle(&mut self, running: &Running) {
        let mut waiting = Vec::new();
        for (i, handle) in running.values() {
            let step = &self.plan.steps[*i];
            if step.effect == Effect::Read {
                handle.abort();
            } else {
                waiting.push(step.id.clone());
            }
        }
        waiting.sort();
        self.emit(Event::Interrupted {
            waiting_for: waiting,
        });
    }

    fn skip(&mut self, i: usize, reason: String) {
        let id = self.plan.steps[i].id.clone();
        self.emit(Event::StepSkipped { id, reason });
    }

    /// Starts what is ready; marks skipped what can never run. Loops until
    /// nothing changes, since a skip can make dependants skippable.
    fn start_ready(
        &mut self,
        tasks: &mut JoinSet<Finished>,
        running: &mut Running,
        failure: &mut Option<String>,
    ) {
        let limit = self.options.parallel.max(1);
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..self.plan.steps.len() {
                if self.status[i] != Status::Pending {
                    continue;
                }
                match self.readiness(i, running.len() >= limit) {
                    Ready::Wait => continue,
                    Ready::Skip(reason) => {
                        self.status[i] = Status::Skipped;
                        self.skip(i, reason);
                    }
                    Ready::Fail(e) => self.fail_to_start(i, e, failure),
                    Ready::Go(call) => {
                        self.start(i, call, tasks, running);
                        if failure.is_some() && self.plan.on_failure != OnFailure::Continue {
                            return;
                        }
                    }
                }
                changed = true;
            }
        }
    }

    /// Whether step `i` can start now, and with which arguments.
    fn readiness(&self, i: usize, full: bool) -> Ready {
        let step = &self.plan.steps[i];
        let needs: Vec<(&String, Status)> = step
            .needs
            .iter()
            .filter_map(|n| self.index(n).map(|j| (n, self.status[j])))
            .collect();
        if let Some((need, st)) = needs
            .iter()
            .find(|(_, s)| matches!(s, Status::Failed | Status::Skipped))
        {
            let word = if *st == Status::Failed {
                "failed"
            } else {
                "was skipped"
            };
            return Ready::Skip(format!("needs {need}, which {word}"));
        }
        if needs.iter().any(|(_, s)| *s != Status::Done) || full {
            return Ready::Wait;
        }
        match self.when(step) {
            Ok(true) => {}
            Ok(false) => {
                let expr = step.when.as_ref().map(|w| w.expr.as_str()).unwrap_or("");
                return Ready::Skip(format!("`when: {expr}` is false"));
            }
            Err(e) => return Ready::Fail(e),
        }
        let mut args = step.args.clone();
        if let Err(e) = self.scope.fill(&mut args, &step.templates, &self.outputs) {
            return Ready::Fail(e);
        }
        Ready::Go(Call {
            run_id: self.options.run_id.clone(),
            step: step.id.clone(),
            kind: step.kind.clone(),
            backup: pinned_backup(step),
            args,
            undo: false,
            attempt: 1,
            unsafe_ok: step.unsafe_reason.is_some(),
        })
    }

    /// Starts step `i`: the journal has it before it can change anything.
    fn start(
        &mut self,
        i: usize,
        call: Call,
        tasks: &mut JoinSet<Finished>,
        running: &mut Running,
    ) {
        let step = &self.plan.steps[i];
        self.emit(Event::StepStarted {
            id: step.id.clone(),
            kind: step.kind.clone(),
            attempt: 1,
            args: self.redact_json(&Json::Object(call.args.clone().into_iter().collect())),
        });
        self.status[i] = Status::Running;
        let policy = Policy::of(step);
        let executor = self.executor.clone();
        let events = self.to_engine.clone();
        let cancel = self.options.cancel.clone();
        let handle = tasks.spawn(async move {
            let t0 = Instant::now();
            let result = attempts(executor, call, policy, events, cancel).await;
            (i, result, t0.elapsed())
        });
        running.insert(handle.id(), (i, handle));
    }

    fn when(&self, step: &Step) -> Result<bool, String> {
        match &step.when {
            None => Ok(true),
            Some(w) => match w.value {
                Some(v) => Ok(v),
                None => self.scope.condition(&w.expr, &self.outputs),
            },
        }
    }

    fn fail_to_start(&mut self, i: usize, error: String, failure: &mut Option<String>) {
        if let Err(e) = self.finish(i, Err(StepError::fatal(error)), Duration::ZERO) {
            failure.get_or_insert(e);
        }
    }

    /// Records a step's end; returns the failure message if it failed.
    fn finish(
        &mut self,
        i: usize,
        result: Result<Outputs, StepError>,
        took: Duration,
    ) -> Result<(), String> {
        let step = &self.plan.steps[i];
        let (id, kind) = (step.id.clone(), step.kind.clone());
        let e = match result {
            Ok(outputs) => {
                let outputs = Json::Object(outputs);
                self.status[i] = Status::Done;
                self.completed.push(i);
                self.emit(Event::StepFinished {
                    id: id.clone(),
                    kind,
                    duration_ms: ms(took),
                    outputs: self.redact_json(&outputs),
                });
                self.outputs.insert(id, outputs);
                return Ok(());
            }
            Err(e) => e,
        };
        self.status[i] = Status::Failed;
        if step.effect == Effect::Destroy && step.undo.is_some() && !e.untouched {
            self.interrupted.push(i);
        }
        let mut error = self.redact(&e.message);
        if e.untouched && step.effect == Effect::Destroy {
            error.push_str("; nothing was changed");
        }
        self.emit(Event::StepFailed {
            id: id.clone(),
            kind,
            duration_ms: ms(took),
            error: error.clone(),
            untouched: e.untouched,
        });
        let message = format!("{id}: {error}");
        self.errors.push(message.clone());
        Err(message)
    }

    /// Undoes what was done; true when every undo succeeded.
    async fn rollback(&mut self, reason: &str) -> bool {
        let mut order: Vec<usize> = self.interrupted.iter().rev().copied().collect();
        order.extend(self.completed.iter().rev().copied());
        let mut undos: Vec<usize> = Vec::new();
        for i in order {
            // Once each, and never again after a resumed run recorded it finished.
            if self.needs_undo(i)
                && !self.undone.contains(&self.plan.steps[i].id)
                && !undos.contains(&i)
            {
                undos.push(i);
            }
        }
        self.emit(Event::RollbackStarted {
            reason: reason.to_string(),
            undos: undos.len(),
        });
        let mut clean = true;
        for i in undos {
            clean &= self.undo(i).await;
        }
        for error in self.executor.after_rollback().await {
            clean = false;
            self.errors.push(format!("after rollback: {error}"));
        }
        clean
    }

    /// Runs the undo of step `i` (three tries); true when it succeeded.
    async fn undo(&mut self, i: usize) -> bool {
        let step = &self.plan.steps[i];
        let Some(undo) = &step.undo else { return true };
        let (id, kind) = (step.id.clone(), undo.kind.clone());
        let t0 = Instant::now();
        let mut args = undo.args.clone();
        let result = match self.scope.fill(&mut args, &undo.templates, &self.outputs) {
            Err(e) => Err(StepError::fatal(e)),
            Ok(()) => {
                self.emit(Event::UndoStarted {
                    id: id.clone(),
                    kind: kind.clone(),
                    args: self.redact_json(&Json::Object(args.clone().into_iter().collect())),
                });
                let call = Call {
                    run_id: self.options.run_id.clone(),
                    step: id.clone(),
                    kind: kind.clone(),
                    args,
                    backup: None,
                    undo: true,
                    attempt: 1,
                    unsafe_ok: false,
                };
                // An undo gets a few attempts of its own: giving up leaves a
                // mess. It runs to its end: an interrupted rollback is worse
                // than a slow one.
                let work = attempts(
                    self.executor.clone(),
                    call,
                    Policy::UNDO,
                    self.to_engine.clone(),
                    CancellationToken::new(),
                );
                self.pumping(work).await
            }
        };
        let duration_ms = ms(t0.elapsed());
        let Err(e) = result else {
            self.emit(Event::UndoFinished {
                id,
                kind,
                duration_ms,
            });
            return true;
        };
        let error = self.redact(&e.message);
        self.errors.push(format!("undo of {id}: {error}"));
        self.emit(Event::UndoFailed {
            id,
            kind,
            duration_ms,
            error,
        });
        false
    }

    /// A step is undone when it has an undo and changed something: a step
    /// that reports `changed: false` (a volume that already existed) is not,
    /// nor is the built-in undo of stopping a container that was not running.
    fn needs_undo(&self, i: usize) -> bool {
        let step = &self.plan.steps[i];
        let Some(undo) = &step.undo else { return false };
        let output = |name: &str| self.outputs.get(&step.id).and_then(|o| o.get(name));
        if output("changed") == Some(&Json::Bool(false)) {
            return false;
        }
        let outputs = match self.outputs.get(&step.id) {
            Some(Json::Object(o)) => o.clone(),
            _ => Outputs::new(),
        };
        !undo.builtin || self.executor.builtin_undo_needed(&step.kind, &outputs)
    }
}

/// Whether a pending step can start.
enum Ready {
    Wait,
    Skip(String),
    Fail(String),
    Go(Call),
}

/// The backup the plan resolved for this step, when it was not a run-time template.
/// The backup a step reads, as the plan pinned it (`latest` resolved when the
/// plan was made); `None` when its `backup:` is only known at run time.
pub fn pinned_backup(step: &Step) -> Option<String> {
    if step.templates.contains_key("backup") {
        return None;
    }
    step.backup.as_ref().and_then(|b| b.resolved.clone())
}

#[derive(Debug, Clone)]
struct Policy {
    attempts: u32,
    backoff: Duration,
    factor: f64,
    max: Option<Duration>,
    timeout: Option<Duration>,
    deadline: Option<Duration>,
}

impl Policy {
    const UNDO: Policy = Policy {
        attempts: 3,
        backoff: Duration::from_secs(1),
        factor: 2.0,
        max: None,
        timeout: None,
        deadline: None,
    };

    fn of(step: &Step) -> Self {
        let dur = |t: &Option<Written>| t.as_ref().map(Written::value);
        let retry = step.retry.as_ref();
        Policy {
            attempts: retry.map_or(1, |r| r.attempts.max(1)),
            backoff: retry.map_or(Duration::from_secs(1), |r| r.backoff.value()),
            factor: retry.map_or(1.0, |r| r.factor.max(1.0)),
            max: retry.and_then(|r| dur(&r.max)),
            timeout: dur(&step.timeout),
            deadline: dur(&step.deadline),
        }
    }

    fn delay(&self, attempt: u32) -> Duration {
        let d = self
            .backoff
            .mul_f64(self.factor.powi(attempt.saturating_sub(1) as i32));
        self.max.map_or(d, |m| d.min(m))
    }
}

/// Every attempt of one call: per-attempt timeout, backoff, overall deadline.
/// After Ctrl-C (`cancel`) no new attempt starts: the step ends with its
/// last error. A step is untouched only if no attempt changed anything.
async fn attempts(
    executor: Arc<dyn Executor>,
    call: Call,
    policy: Policy,
    events: UnboundedSender<Event>,
    cancel: CancellationToken,
) -> Result<Outputs, StepError> {
    let all = async {
        let mut attempt = 1;
        let mut touched = false;
        loop {
            let mut this = call.clone();
            this.attempt = attempt;
            let fut = executor.execute(this, events.clone());
            let result = match policy.timeout {
                Some(t) => tokio::time::timeout(t, fut).await.unwrap_or_else(|_| {
                    Err(StepError::new(format!(
                        "timed out after {}",
                        crate::model::duration::Human(t)
                    )))
                }),
                None => fut.await,
            };
            let e = match result {
                Ok(outputs) => return Ok(outputs),
                Err(e) => e,
            };
            touched |= !e.untouched;
            let untouched = !touched;
            if e.retryable && attempt < policy.attempts && !cancel.is_cancelled() {
                let delay = policy.delay(attempt);
                let _ = events.send(Event::StepRetrying {
                    id: call.step.clone(),
                    attempt: attempt + 1,
                    error: e.message.clone(),
                    delay_ms: ms(delay),
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => {}
                }
                if !cancel.is_cancelled() {
                    attempt += 1;
                    continue;
                }
            }
            let message = match (attempt, cancel.is_cancelled() && e.retryable) {
                (1, false) => e.message,
                (1, true) => format!("{} (not tried again: interrupted)", e.message),
                (n, false) => format!("{} (after {n} attempts)", e.message),
                (n, true) => format!("{} (after {n} attempts; interrupted)", e.message),
            };
            return Err(StepError {
                message,
                retryable: false,
                untouched,
            });
        }
    };
    match policy.deadline {
        Some(d) => tokio::time::timeout(d, all).await.unwrap_or_else(|_| {
            Err(StepError::fatal(format!(
                "deadline of {} passed",
                crate::model::duration::Human(d)
            )))
        }),
        None => all.await,
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}
