//! Reporters: render engine events for people (a line per step with its
//! duration, a progress bar for long transfers on a terminal) or for
//! scripts (`--format json`: one JSON event per line on stdout).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

use super::Format;
use crate::engine::{Event, Outcome};
use crate::model::duration::Human;
use crate::plan::Plan;

pub async fn report(plan: Plan, format: Format, mut events: UnboundedReceiver<Event>) {
    let mut human = Human_::new(plan);
    while let Some(event) = events.recv().await {
        match format {
            Format::Json => {
                let line = serde_json::to_string(&event).unwrap_or_default();
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            Format::Text => human.event(&event),
        }
    }
}

struct Human_ {
    plan: Plan,
    bars: MultiProgress,
    progress: HashMap<String, ProgressBar>,
    color: bool,
}

impl Human_ {
    fn new(plan: Plan) -> Self {
        let tty = std::io::stderr().is_terminal();
        let target = if tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            plan,
            bars: MultiProgress::with_draw_target(target),
            progress: HashMap::new(),
            color: tty && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn say(&self, line: String) {
        // Through the bars, so a live bar does not garble the line.
        if self.bars.is_hidden() {
            outln!("{line}");
        } else {
            let _ = self.bars.println(line);
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn symbol(&self, id: &str) -> &'static str {
        self.plan
            .steps
            .iter()
            .find(|s| s.id == id)
            .map_or(" ", |s| s.category.symbol())
    }

    fn done_bar(&mut self, id: &str) {
        if let Some(bar) = self.progress.remove(id) {
            bar.finish_and_clear();
        }
    }

    fn event(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                run_id,
                runbook,
                steps,
            } => {
                self.say(format!("Run {run_id}: {runbook}, {steps} steps"));
            }
            Event::StepStarted { id, kind, .. } => {
                tracing::info!(step = %id, %kind, "step started");
            }
            Event::Progress { id, bytes, total } => {
                let bar = self.progress.entry(id.clone()).or_insert_with(|| {
                    let bar = self.bars.add(ProgressBar::new(total.unwrap_or(0)));
                    let style = if total.is_some() {
                        "  {prefix:<22} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}"
                    } else {
                        "  {prefix:<22} {spinner} {bytes} {bytes_per_sec}"
                    };
                    bar.set_style(
                        ProgressStyle::with_template(style)
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.set_prefix(id.clone());
                    bar.enable_steady_tick(Duration::from_millis(200));
                    bar
                });
                bar.set_position(*bytes);
            }
            Event::StepRetrying {
                id,
                attempt,
                error,
                delay_ms,
            } => {
                self.say(format!(
                    "  {} {id:<22} attempt {attempt} in {}: {error}",
                    self.paint("33", "↻"),
                    Human(Duration::from_millis(*delay_ms))
                ));
            }
            Event::StepFinished {
                id,
                kind,
                duration_ms,
                outputs,
            } => {
                self.done_bar(id);
                let mut note = String::new();
                if let Some(b) = outputs.get("backup_id").and_then(|v| v.as_str()) {
                    note = format!("backup {b}");
                    if let Some(n) = outputs.get("bytes").and_then(|v| v.as_u64()) {
                        note.push_str(&format!(" ({})", crate::model::size::bytes(n)));
                    }
                } else if let Some(out) = outputs.get("stdout").and_then(|v| v.as_str()) {
                    let first = out.lines().next().unwrap_or("").trim();
                    if !first.is_empty() {
                        note = format!("→ {}", first.chars().take(60).collect::<String>());
                    }
                }
                self.say(format!(
                    "  {} {id:<22} {kind:<18} {:>7}  {note}",
                    self.symbol(id),
                    Human(Duration::from_millis(*duration_ms)).to_string()
                ));
            }
            Event::StepFailed {
                id,
                kind,
                duration_ms,
                error,
                ..
            } => {
                self.done_bar(id);
                self.say(format!(
                    "  {} {id:<22} {kind:<18} {:>7}  {error}",
                    self.paint("31;1", "✗"),
                    Human(Duration::from_millis(*duration_ms)).to_string()
                ));
            }
            Event::StepSkipped { id, reason } => {
                self.say(format!("  - {id:<22} skipped: {reason}"));
            }
            Event::Interrupted { waiting_for } if !waiting_for.is_empty() => {
                self.say(format!(
                    "Interrupted: waiting for {} to finish before rolling back (they change the \
                     world; cutting them off could leave Docker half-way). Ctrl-C again cuts \
                     them off.",
                    waiting_for.join(", ")
                ));
            }
            Event::Interrupted { .. } => {}
            Event::RollbackStarted { reason, undos } => {
                self.say(format!(
                    "{} ({undos} undo{}): {reason}",
                    self.paint("33;1", "Rolling back"),
                    if *undos == 1 { "" } else { "s" }
                ));
            }
            Event::UndoStarted { .. } => {}
            Event::UndoFinished {
                id,
                kind,
                duration_ms,
            } => {
                self.say(format!(
                    "  ↶ {id:<22} {kind:<18} {:>7}",
                    Human(Duration::from_millis(*duration_ms)).to_string()
                ));
            }
            Event::UndoFailed {
                id,
                kind,
                duration_ms,
                error,
            } => {
                self.say(format!(
                    "  {} {id:<22} {kind:<18} {:>7}  UNDO FAILED: {error}",
                    self.paint("31;1", "✗"),
                    Human(Duration::from_millis(*duration_ms)).to_string()
                ));
            }
            Event::RunFinished {
                run_id,
                outcome,
                duration_ms,
                errors,
            } => {
                let took = Human(Duration::from_millis(*duration_ms));
                let word = match outcome {
                    Outcome::Succeeded => self.paint("32;1", outcome.word()),
                    _ => self.paint("31;1", outcome.word()),
                };
                self.say(format!("Run {run_id} {word} in {took}"));
                for e in errors {
                    self.say(format!("  error: {e}"));
                }
            }
        }
    }
}
