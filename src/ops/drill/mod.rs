//! `lifeboat drill`: restore production's backups into a throwaway,
//! isolated copy of the stack through the same restore runbook an incident
//! uses, check the data against the facts recorded at backup time, measure
//! RTO per phase and RPO, and always tear down (docs/architecture.md §8).
//!
//! A drill never returns an error: whatever happens becomes its report's
//! verdict (`could_not_run` with the reason when it could not restore).

pub mod checks;
pub mod phases;
pub mod plan;
pub mod stack;

use std::collections::BTreeMap;
use std::time::Instant;

use jiff::Timestamp;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::run::{Env, RunOptions, RunRequest};
use crate::compile::Document;
use crate::drill::def::Drill;
use crate::drill::report::{
    CheckResult, DrillReport, Objective, Phase, Rpo, RpoBasis, SCHEMA_VERSION, Verdict, Versions,
};
use crate::engine::{Event, Outcome, Subscribers, lock};
use crate::model::world::World;
use crate::plan::Plan;
use crate::s3::S3Store;
use stack::{Stack, drill_lock};

/// What to drill.
pub struct DrillRequest {
    pub drill: Drill,
    /// The restore runbook, parsed (once, by the caller).
    pub runbook: Document,
    /// `--set` pairs for the runbook (the drill's own `set:` first).
    pub sets: Vec<(String, String)>,
    pub keep_on_failure: bool,
    pub parallel: usize,
    /// Ctrl-C: stop, roll back what the run did, tear down.
    pub cancel: CancellationToken,
    pub abort: CancellationToken,
}

/// What a drill tells its caller while it goes, for progress lines.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A phase of the drill itself started (setup, fetch, checks, teardown).
    Phase(String),
    /// An event of the restore runbook's run.
    Run(Event),
    /// Something worth saying (leftovers collected, ports not copied).
    Note(String),
}

/// Runs one drill; see the module documentation.
pub async fn drill(
    env: &Env,
    remote: Option<S3Store>,
    request: DrillRequest,
    progress: UnboundedSender<Progress>,
) -> DrillReport {
    let mut d = Drilling::new(env, remote, &request, progress);
    let result = d.go(&request).await;
    d.finish(&request, result).await
}

/// The state of one drill as it goes.
struct Drilling<'a> {
    env: &'a Env,
    remote: Option<S3Store>,
    progress: UnboundedSender<Progress>,
    report: DrillReport,
    stack: Option<Stack>,
    /// Seconds that count towards the RTO.
    rto_seconds: f64,
    /// RTO and RPO objectives: the drill's, else its runbook's.
    objectives: (Option<std::time::Duration>, Option<std::time::Duration>),
}

/// Why a drill stopped before its verdict: the verdict and the reason.
type Stop = (Verdict, String);

impl<'a> Drilling<'a> {
    fn new(
        env: &'a Env,
        remote: Option<S3Store>,
        request: &DrillRequest,
        progress: UnboundedSender<Progress>,
    ) -> Self {
        let id = new_drill_id();
        let drill = &request.drill;
        let now = Timestamp::now();
        let report = DrillReport {
            schema_version: SCHEMA_VERSION,
            drill: drill.name.clone(),
            project: stack::project_name(&drill.name, &id),
            id,
            production_project: drill.production.clone(),
            runbook: drill.runbook.clone(),
            run_id: None,
            started_at: now,
            finished_at: now,
            verdict: Verdict::CouldNotRun,
            reason: None,
            versions: Versions {
                lifeboat: env!("CARGO_PKG_VERSION").into(),
                docker: None,
                compose: None,
            },
            restore_point: drill.point.to_string(),
            backups: Vec::new(),
            phases: Vec::new(),
            rto: Objective::judged(0.0, None),
            rpo: Rpo {
                measured_seconds: 0.0,
                basis: RpoBasis::BackupTime,
                worst_case_seconds: None,
                objective_seconds: None,
                met: None,
            },
            checks: Vec::new(),
            kept: None,
        };
        Drilling {
            env,
            remote,
            progress,
            report,
            stack: None,
            rto_seconds: 0.0,
            objectives: (request.drill.rto, request.drill.rpo),
        }
    }

    fn say(&self, p: Progress) {
        let _ = self.progress.send(p);
    }

    /// Times `phase`, records it, and returns its result.
    async fn phase<T, E: ToString>(
        &mut self,
        name: &str,
        subject: Option<String>,
        counts_for_rto: bool,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, Stop> {
        self.say(Progress::Phase(name.into()));
        let started_at = Timestamp::now();
        let clock = Instant::now();
        let result = work.await;
        let seconds = clock.elapsed().as_secs_f64();
        if counts_for_rto {
            self.rto_seconds += seconds;
        }
        self.report.phases.push(Phase {
            name: name.into(),
            subject,
            started_at,
            seconds,
            ok: result.is_ok(),
        });
        result.map_err(|e| (Verdict::CouldNotRun, format!("{name}: {}", e.to_string())))
    }

    fn interrupted(&self, request: &DrillRequest) -> Result<(), Stop> {
        if request.cancel.is_cancelled() {
            Err((Verdict::CouldNotRun, "interrupted".into()))
        } else {
            Ok(())
        }
    }

    async fn go(&mut self, request: &DrillRequest) -> Result<(), Stop> {
        let docker = self.env.docker.clone();
        self.report.versions.docker = docker.server_version().await;
        let _lock = lock::acquire(
            &self.env.lock_dir,
            &[drill_lock(&self.report.id)],
            &format!("drill {} ({})", self.report.drill, self.report.id),
        )
        .map_err(|e| (Verdict::CouldNotRun, e.to_string()))?;
        self.collect_leftovers().await;
        let work = self
            .env
            .state_dir
            .join("drills")
            .join("work")
            .join(&self.report.id);
        let source = self.env.workdir.join(&request.drill.compose);
        let (name, id) = (self.report.drill.clone(), self.report.id.clone());
        let stack = self
            .phase("setup", None, false, async {
                let stack = Stack::prepare(&docker, &source, &name, &id, &work).await?;
                stack.create().await.map(|()| stack)
            })
            .await;
        // Even a stack that failed to come up part-way is torn down.
        let stack = match stack {
            Ok(s) => s,
            Err(stop) => return Err(stop),
        };
        self.report.versions.compose = stack.compose_version().await;
        for p in &stack.isolated.dropped_ports {
            self.say(Progress::Note(format!("not published in the drill: {p}")));
        }
        let volumes = stack.isolated.volumes.clone();
        self.stack = Some(stack);
        self.interrupted(request)?;
        let world = self.observe(&volumes).await?;
        let point = plan::point_param(request, &world, &self.report.id)
            .map_err(|e| (Verdict::CouldNotRun, e))?;
        if let Some(p) = &point {
            self.report.restore_point = format!("{} ({p})", request.drill.point);
        }
        let plan = plan::live(request, &self.report.project, &world, point.as_deref())
            .map_err(|e| (Verdict::CouldNotRun, e))?;
        self.report.backups = plan::backups_used(&plan, &world);
        self.objectives = crate::drill::plan_text::objectives(&request.drill, &plan);
        self.fetch().await?;
        self.interrupted(request)?;
        let outcome = self.restore(request, plan, point.as_deref()).await?;
        if outcome != Outcome::Succeeded {
            return Err((
                Verdict::CouldNotRun,
                format!(
                    "the restore runbook {} did not succeed: {}",
                    self.report.runbook,
                    outcome.word()
                ),
            ));
        }
        self.interrupted(request)?;
        self.check(request).await;
        Ok(())
    }

    /// Leftovers of drills that were killed (SIGKILL, power loss).
    async fn collect_leftovers(&mut self) {
        match stack::gc(&self.env.docker, &self.env.lock_dir).await {
            Ok(c) if !c.drills.is_empty() => self.say(Progress::Note(format!(
                "removed {} object(s) left by killed drill(s) {}",
                c.removed.count(),
                c.drills.iter().cloned().collect::<Vec<_>>().join(", ")
            ))),
            Ok(_) => {}
            Err(e) => self.say(Progress::Note(format!(
                "could not look for leftovers of killed drills: {e}"
            ))),
        }
    }

    /// The world with the drill's volumes restored from production's backups.
    async fn observe(&mut self, volumes: &[String]) -> Result<World, Stop> {
        let mut world = super::world::observe(
            &self.env.docker,
            &self.env.repo,
            self.remote.as_ref(),
            crate::docker::Sizes::Of(&[]),
        )
        .await
        .map_err(|e| (Verdict::CouldNotRun, format!("observing the world: {e}")))?;
        world.restore_from = volumes
            .iter()
            .map(|v| {
                (
                    format!("{}_{v}", self.report.project),
                    format!("{}_{v}", self.report.production_project),
                )
            })
            .collect::<BTreeMap<_, _>>();
        Ok(world)
    }

    /// Brings every backup to restore into the local repository (from S3).
    async fn fetch(&mut self) -> Result<(), Stop> {
        let Some(store) = self.remote.clone() else {
            // Local only: read the facts the backups recorded.
            self.read_facts();
            return Ok(());
        };
        let ids: Vec<String> = self.report.backups.iter().map(|b| b.id.clone()).collect();
        let repo = self.env.repo.clone();
        self.phase("fetch", None, true, async move {
            for id in ids {
                let (store, repo) = (store.clone(), repo.clone());
                let owned = id.clone();
                let found =
                    tokio::spawn(
                        async move { crate::s3::fetch_backup(&store, &repo, &owned).await },
                    )
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("backup {id}: {e}"))?;
                if found.is_none() {
                    return Err(format!("backup {id} is in no repository"));
                }
            }
            Ok::<(), String>(())
        })
        .await?;
        self.read_facts();
        Ok(())
    }

    fn read_facts(&mut self) {
        for b in &mut self.report.backups {
            if let Ok(m) = self.env.repo.get(&b.id) {
                b.facts = m.facts.clone();
                b.stored_bytes = m.stored_bytes;
            }
        }
    }

    /// Runs the restore runbook; its steps become the drill's phases.
    async fn restore(
        &mut self,
        request: &DrillRequest,
        plan: Plan,
        point: Option<&str>,
    ) -> Result<Outcome, Stop> {
        let sets = plan::sets(request, &self.report.project, point);
        let categories = plan
            .steps
            .iter()
            .map(|s| (s.id.clone(), s.category))
            .collect();
        let params = request.runbook.param_values(&sets).map_err(|_| {
            (
                Verdict::CouldNotRun,
                "the restore runbook's params".to_string(),
            )
        })?;
        let restore_from = self
            .report
            .backups
            .iter()
            .map(|b| (b.volume.clone(), b.source.clone()))
            .collect();
        let options = RunOptions {
            parallel: request.parallel,
            yes: true,
            remote: self.remote.clone(),
            cancel: request.cancel.clone(),
            abort: request.abort.clone(),
            restore_from,
            push_new: false,
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let progress = self.progress.clone();
        let forward = tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                let _ = progress.send(Progress::Run(e));
            }
        });
        let mut req = RunRequest::new(plan, params);
        req.sets = sets;
        let result = super::run::run(self.env, req, options, Subscribers::new().with(tx)).await;
        let _ = forward.await;
        let report = result.map_err(|e| (Verdict::CouldNotRun, e.to_string()))?;
        self.report.run_id = Some(report.run_id.clone());
        let run_phases = phases::of_run(&report, &categories);
        self.rto_seconds += report.duration.as_secs_f64();
        self.report.phases.extend(run_phases);
        if report.outcome != Outcome::Succeeded {
            let errors = report.errors.join("; ");
            return Err((
                Verdict::CouldNotRun,
                format!("the restore failed ({}): {errors}", report.outcome.word()),
            ));
        }
        Ok(report.outcome)
    }

    /// The drill's checks and the sentinel, and the objectives judged.
    async fn check(&mut self, request: &DrillRequest) {
        let docker = self.env.docker.clone();
        let project = self.report.project.clone();
        let services = self
            .stack
            .as_ref()
            .map(|s| s.isolated.services.clone())
            .unwrap_or_default();
        let backups = self.report.backups.clone();
        let drill = request.drill.clone();
        self.say(Progress::Phase("checks".into()));
        let started_at = Timestamp::now();
        let clock = Instant::now();
        let results = checks::run_all(&docker, &project, &services, &drill, &backups).await;
        let seconds = clock.elapsed().as_secs_f64();
        self.rto_seconds += seconds;
        self.report.phases.push(Phase {
            name: "checks".into(),
            subject: None,
            started_at,
            seconds,
            ok: results.iter().all(|c| c.passed),
        });
        self.report.checks = results;
        self.rpo(request).await;
        let rto_objective = self.objectives.0.map(|d| d.as_secs_f64());
        self.report.rto = Objective::judged(self.rto_seconds, rto_objective);
    }

    async fn rpo(&mut self, request: &DrillRequest) {
        let started = self.report.started_at;
        let oldest = self.report.backups.iter().map(|b| b.created_at).min();
        let age = |t: Timestamp| started.duration_since(t).as_secs_f64().max(0.0);
        let (measured, basis) = match &request.drill.sentinel {
            Some(exec) => match checks::run_exec(&self.env.docker, &self.report.project, exec)
                .await
                .and_then(|(code, out, err)| {
                    if code == 0 {
                        checks::parse_sentinel(&out)
                    } else {
                        Err(format!(
                            "the sentinel command exited {code}: {}",
                            err.trim()
                        ))
                    }
                }) {
                Ok(t) => (age(t), RpoBasis::Sentinel),
                Err(e) => {
                    self.report.checks.push(CheckResult {
                        name: "sentinel".into(),
                        kind: crate::drill::report::CheckKind::Exec,
                        passed: false,
                        expected: Some("the time of the newest write".into()),
                        actual: None,
                        output: e,
                        seconds: 0.0,
                    });
                    (oldest.map_or(0.0, age), RpoBasis::BackupTime)
                }
            },
            None => (oldest.map_or(0.0, age), RpoBasis::BackupTime),
        };
        let objective = self.objectives.1.map(|d| d.as_secs_f64());
        self.report.rpo = Rpo {
            measured_seconds: measured,
            basis,
            worst_case_seconds: request
                .drill
                .backup_interval
                .map(|i| oldest.map_or(0.0, age) + i.as_secs_f64()),
            objective_seconds: objective,
            met: objective.map(|o| measured <= o),
        };
    }

    /// The verdict, teardown (unless kept), and the report.
    async fn finish(mut self, request: &DrillRequest, result: Result<(), Stop>) -> DrillReport {
        match result {
            Ok(()) => {
                self.report.verdict =
                    Verdict::judge(&self.report.checks, &self.report.rto, &self.report.rpo);
                self.report.reason = reason(&self.report);
            }
            Err((verdict, why)) => {
                self.report.verdict = verdict;
                self.report.reason = Some(why);
            }
        }
        let keep = request.keep_on_failure && self.report.verdict != Verdict::Passed;
        if let Some(stack) = self.stack.take() {
            if keep {
                self.report.kept = Some(stack.remove_command());
            } else {
                self.teardown(stack).await;
            }
        }
        self.report.finished_at = Timestamp::now();
        self.report
    }

    async fn teardown(&mut self, stack: Stack) {
        self.say(Progress::Phase("teardown".into()));
        let started_at = Timestamp::now();
        let clock = Instant::now();
        let mut failed = stack.teardown(&self.env.docker).await;
        failed.extend(self.forget_safety_backups(&stack.volume_names()));
        // The copy's compose file goes with the copy (kept with a kept one).
        if failed.is_empty()
            && let Some(work) = stack.file.parent()
            && let Err(e) = std::fs::remove_dir_all(work)
        {
            failed.push(format!("{}: {e}", work.display()));
        }
        if !failed.is_empty() {
            self.say(Progress::Note(format!(
                "teardown incomplete ({}); `lifeboat drills gc` removes what is left",
                failed.join("; ")
            )));
        }
        self.report.phases.push(Phase {
            name: "teardown".into(),
            subject: None,
            started_at,
            seconds: clock.elapsed().as_secs_f64(),
            ok: failed.is_empty(),
        });
    }

    /// The run's safety backups of the drill's own volumes are worthless
    /// once the drill is gone.
    fn forget_safety_backups(&self, volumes: &[String]) -> Vec<String> {
        let mut failed = Vec::new();
        for v in volumes {
            let Ok(list) = self.env.repo.list_source(v) else {
                continue;
            };
            for m in list {
                if let Err(e) = self.env.repo.delete(&m.id) {
                    failed.push(format!("backup {}: {e}", m.id));
                }
            }
        }
        failed
    }
}

/// One line on why a drill that ran did not pass.
fn reason(report: &DrillReport) -> Option<String> {
    match report.verdict {
        Verdict::Passed => None,
        Verdict::CheckFailed => {
            let failed: Vec<&str> = report.failed_checks().map(|c| c.name.as_str()).collect();
            Some(format!("check(s) failed: {}", failed.join(", ")))
        }
        Verdict::ObjectiveMissed => {
            let mut missed = Vec::new();
            if report.rto.met == Some(false) {
                missed.push("RTO");
            }
            if report.rpo.met == Some(false) {
                missed.push("RPO");
            }
            Some(format!("{} over its objective", missed.join(" and ")))
        }
        Verdict::CouldNotRun => Some("the drill could not run".into()),
    }
}

/// `20261130T101500Z-3fa2c1`: sortable, unique per drill.
pub fn new_drill_id() -> String {
    super::run::new_run_id().to_ascii_lowercase()
}
