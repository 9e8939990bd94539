//! `lifeboat drills history [NAME]`: past drills from `<state>/drills/`,
//! newest first, with RTO and RPO against their objectives and the RTO trend.

use super::Format;
use super::live::Places;
use crate::drill::history::{self, Entry};
use crate::drill::report::{printable, seconds};
use crate::ops::OpError;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Past drills, newest first: verdict, RTO and RPO against their
    /// objectives, and RTO against the median of the drill's previous 5 runs.
    History(HistoryArgs),
    /// Remove what killed drills left (containers, volumes, networks labelled
    /// lifeboat.drill.id whose drill is not running). Drills also do this
    /// when they start.
    Gc,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Only the drills of this name.
    pub name: Option<String>,
    /// Show at most this many drills, newest first.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(places: &Places, args: Args) -> Result<(), OpError> {
    match args.command {
        Command::History(args) => history(places, args),
        Command::Gc => super::drill::gc(),
    }
}

fn history(places: &Places, args: HistoryArgs) -> Result<(), OpError> {
    let loaded = history::load(&places.state_dir).map_err(|e| OpError::usage(e.to_string()))?;
    for (path, why) in &loaded.skipped {
        errln!("warning: skipped {}: {why}", path.display());
    }
    let all = history::entries(&loaded.reports);
    if let Some(name) = &args.name
        && !all.is_empty()
        && !all.iter().any(|e| &e.drill == name)
    {
        return Err(unknown_drill(name, &all));
    }
    let shown: Vec<&Entry> = all
        .iter()
        .filter(|e| args.name.as_ref().is_none_or(|n| &e.drill == n))
        .take(args.limit as usize)
        .collect();
    match args.format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&shown).unwrap_or_default()
        ),
        Format::Text if shown.is_empty() => outln!(
            "No drills yet in {}.",
            history::dir(&places.state_dir).display()
        ),
        Format::Text => out!("{}", table(&shown)),
    }
    Ok(())
}

/// A name no recorded drill has: a usage error naming the ones there are.
fn unknown_drill(name: &str, all: &[Entry]) -> OpError {
    let mut names: Vec<&str> = all.iter().map(|e| e.drill.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let close = names
        .iter()
        .filter(|n| strsim::levenshtein(n, name) <= 2.max(name.len() / 3))
        .min_by_key(|n| strsim::levenshtein(n, name));
    let hint = close
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default();
    OpError::usage(format!(
        "no drill named `{name}` has run (drills with a history: {}){hint}",
        names.join(", ")
    ))
}

/// `2m14s/10m00s ✓`, `2m14s/1.0s ✗`, or the measurement alone.
fn against(measured: f64, objective: Option<f64>, met: Option<bool>) -> String {
    match (objective, met) {
        (Some(o), Some(met)) => {
            format!(
                "{}/{} {}",
                seconds(measured),
                seconds(o),
                if met { '✓' } else { '✗' }
            )
        }
        _ => seconds(measured),
    }
}

/// `+12.5%` or `-3.0%` against the median of the previous runs; `-` without.
fn trend(e: &Entry) -> String {
    e.rto_change_percent
        .map_or("-".into(), |p| format!("{p:+.1}%"))
}

fn table(entries: &[&Entry]) -> String {
    let rows: Vec<[String; 7]> = entries
        .iter()
        .map(|e| {
            let ran = e.verdict != crate::drill::report::Verdict::CouldNotRun;
            let measured = |text: String| if ran { text } else { "-".into() };
            [
                e.started_at.strftime("%Y-%m-%d %H:%M").to_string(),
                e.drill.clone(),
                e.id.clone(),
                e.verdict.key().to_string(),
                measured(against(e.rto_seconds, e.rto_objective_seconds, e.rto_met)),
                measured(trend(e)),
                measured(against(e.rpo_seconds, e.rpo_objective_seconds, e.rpo_met)),
            ]
        })
        .collect();
    let header = [
        "STARTED (UTC)",
        "DRILL",
        "ID",
        "VERDICT",
        "RTO/OBJECTIVE",
        "RTO TREND",
        "RPO/OBJECTIVE",
    ]
    .map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |row: &[String; 7]| {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        format!("{}\n", cells.join("  ").trim_end())
    };
    let mut out = line(&header);
    for (row, e) in rows.iter().zip(entries) {
        out.push_str(&line(row));
        if let Some(reason) = &e.reason {
            out.push_str(&format!("  └ {}\n", printable(reason)));
        }
    }
    out
}
