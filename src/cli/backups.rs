//! `lifeboat backups …`: the catalog of the backup repository — list, show,
//! verify, delete, pin, unpin and prune (restic `forget` retention).

use std::time::Duration;

use clap::Subcommand;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::json;

use super::Format;
use super::live::Places;
use crate::model::duration::parse_duration;
use crate::model::size::{age, bytes};
use crate::ops::OpError;
use crate::ops::backups::{self, BackupCheck, Selection};
use crate::ops::catalog::{Catalog, Held};
use crate::repo::retention::{
    RetentionDuration, RetentionDurationError, SAFETY_TAG, TagList, parse_time_zone,
};
use crate::repo::{Manifest, Policy, Pruned};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// The backups in the repository, newest first.
    #[command(after_help = "Examples:
  lifeboat backups list
  lifeboat backups list --source shop_pg-data --since 7d
  lifeboat backups list --since 2026-11-01T00:00:00Z --tag pre-upgrade --format json

--since takes an RFC 3339 time, a date (midnight UTC) or a duration meaning
\"within the last …\" (`36h`, `7d`). VERIFIED is the last verification's result.")]
    List(ListArgs),
    /// One backup's manifest.
    #[command(after_help = "Examples:
  lifeboat backups show 20261121T020000Z-a1b2c3
  lifeboat backups show 20261121T020000Z-a1b2c3 --format json")]
    Show(ShowArgs),
    /// Check backups against their manifest and record the result.
    #[command(after_help = "Examples:
  lifeboat backups verify 20261121T020000Z-a1b2c3          sha256 of the stored object
  lifeboat backups verify 20261121T020000Z-a1b2c3 --deep   also decompress and scan the tar
  lifeboat backups verify --all --deep
  lifeboat backups verify --source shop_pg-data
  lifeboat backups verify 20261121T020000Z-a1b2c3 --restore-test   through Docker, into a scratch volume

Exit status: 0 all passed, 3 any failed, 2 unknown backup, 5 some could not be
checked: the store could not be read, or (--deep) no age key given decrypts a
backup. A check that could not be made records nothing.")]
    Verify(VerifyArgs),
    /// Delete one backup (its object and manifest).
    #[command(after_help = "Examples:
  lifeboat backups delete 20261121T020000Z-a1b2c3
  lifeboat backups delete 20261121T020000Z-a1b2c3 --force   even if pinned or the last one

A pinned backup, or the only backup of its source, is refused without --force.")]
    Delete(DeleteArgs),
    /// Pin a backup: retention and `delete` keep it.
    #[command(after_help = "Example:
  lifeboat backups pin 20261121T020000Z-a1b2c3")]
    Pin(PinArgs),
    /// Unpin a backup: retention may forget it again.
    #[command(after_help = "Example:
  lifeboat backups unpin 20261121T020000Z-a1b2c3")]
    Unpin(PinArgs),
    /// Delete the backups a retention policy forgets (restic `forget` rules), per source.
    #[command(after_help = "Examples:
  lifeboat backups prune --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --dry-run
  lifeboat backups prune --keep-last 3 --source shop_pg-data
  lifeboat backups prune --keep-within 6m --keep-monthly 12 --format json
  lifeboat backups prune --keep-within-daily 1m --keep-within-weekly 1y --keep-tag pre-upgrade
  lifeboat backups prune --keep-daily 7 --tag nightly --time-zone Europe/Berlin

Rules (restic `forget`): each --keep-hourly/daily/weekly/monthly/yearly N keeps the newest backup
of each of the N most recent hours/days/ISO weeks/months/years that have a backup; if fewer than
N have one, the oldest backup is kept too. --keep-within D keeps everything up to D older than the
newest backup; --keep-within-daily D (hourly, weekly, monthly, yearly) keeps the newest backup of
each day within D of the newest backup. --keep-tag TAGS keeps every backup with those tags
(`a,b`: both). Pinned backups are always kept, and so is the newest backup of a source when the
policy would forget all of them. At least one --keep-* option is required (or a `retention:`
section in the config file; flags win).

Durations (D) use restic's units, largest first: y (years), m = months, d (days), h (hours), e.g.
`30d`, `6m`, `1y6m`, `36h`; there are no minutes or seconds. Hours, days, weeks, months and years
are calendar periods in UTC, or in the zone of --time-zone (an IANA name such as Europe/Berlin):
there, one day back across a DST change is the same time on the day before (23 or 25 hours).

Safety backups (tag `safety`: what a run saved right before a destructive step, e.g. an emptied
volume) do not count in these rules, as `latest` skips them: they never take the slot of a real
backup. They are kept for --keep-safety D from now (default 7d; `0d`: not kept), unless pinned or
kept by --keep-tag. --tag TAGS limits the whole prune to backups with those tags (repeatable:
any of the lists); the others are not touched.")]
    Prune(PruneArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only backups of this source (a volume or an exec backup's name).
    #[arg(long, value_name = "SOURCE")]
    pub source: Option<String>,
    /// Only backups taken since: an RFC 3339 time, a date, or a duration such as `7d`.
    #[arg(long, value_name = "TIME|DURATION", value_parser = parse_since)]
    pub since: Option<Since>,
    /// Only backups with this tag (repeatable: all of them).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The backup id, e.g. `20261121T020000Z-a1b2c3`.
    pub id: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Backup ids to verify.
    #[arg(value_name = "ID", required_unless_present_any = ["all", "source"], conflicts_with_all = ["all", "source"])]
    pub ids: Vec<String>,
    /// Verify every backup in the repository.
    #[arg(long, conflicts_with = "source")]
    pub all: bool,
    /// Verify every backup of this source.
    #[arg(long, value_name = "SOURCE")]
    pub source: Option<String>,
    /// Also decompress and (volumes) scan every tar header, not only the sha256.
    #[arg(long)]
    pub deep: bool,
    /// Also restore each volume backup into a scratch Docker volume, read it
    /// back, compare the file count with the manifest, and remove the volume.
    #[arg(long)]
    pub restore_test: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    pub id: String,
    /// Delete even a pinned backup or the only backup of its source.
    #[arg(long)]
    pub force: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct PinArgs {
    pub id: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Keep the N newest backups.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the last N hours that have one.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// … of each of the last N days.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// … of each of the last N ISO weeks.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// … of each of the last N months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// … of each of the last N years.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Keep every backup taken within D of the newest one: y, m = months, d, h (`30d`, `6m`, `1y6m`).
    #[arg(long, value_name = "D", value_parser = parse_retention, allow_hyphen_values = true)]
    pub keep_within: Option<RetentionDuration>,
    /// Keep the newest backup of each hour within D of the newest backup.
    #[arg(long, value_name = "D", value_parser = parse_retention, allow_hyphen_values = true)]
    pub keep_within_hourly: Option<RetentionDuration>,
    /// … of each day within D.
    #[arg(long, value_name = "D", value_parser = parse_retention, allow_hyphen_values = true)]
    pub keep_within_daily: Option<RetentionDuration>,
    /// … of each ISO week within D.
    #[arg(long, value_name = "D", value_parser = parse_retention, allow_hyphen_values = true)]
    pub keep_within_weekly: Option<RetentionDuration>,
    /// … of each month within D.
    #[arg(long, value_name = "D", value_parser = parse_retention, allow_hyphen_values = true)]
    pub keep_within_monthly: Option<RetentionDuration>,
    /// … of each year within D.
    #[arg(long, value_name = "D", value_parser = parse_retention, allow_hyphen_values = true)]
    pub keep_within_yearly: Option<RetentionDuration>,
    /// Keep every backup with these tags (`a,b`: both; repeatable: any of the lists).
    #[arg(long = "keep-tag", value_name = "TAGS", value_parser = parse_tags)]
    pub keep_tags: Vec<TagList>,
    /// Keep safety backups (tag `safety`) taken within D of now [default: 7d; `0d`: none].
    #[arg(long, value_name = "D", value_parser = parse_retention, allow_hyphen_values = true)]
    pub keep_safety: Option<RetentionDuration>,
    /// Only prune backups with these tags (`a,b`: both; repeatable: any); others are not touched.
    #[arg(long = "tag", value_name = "TAGS", value_parser = parse_tags)]
    pub tags: Vec<TagList>,
    /// Time zone of the calendar (hours, days, weeks, …) [default: UTC], e.g. `Europe/Berlin`.
    #[arg(long, value_name = "TZ", value_parser = parse_time_zone)]
    pub time_zone: Option<jiff::tz::TimeZone>,
    /// Only this source (repeatable); default: every source.
    #[arg(long = "source", value_name = "SOURCE")]
    pub sources: Vec<String>,
    /// Show what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `--since`: a point in time, or "within the last …".
#[derive(Debug, Clone, Copy)]
pub enum Since {
    At(Timestamp),
    Within(Duration),
}

impl Since {
    fn cutoff(self, now: Timestamp) -> Timestamp {
        match self {
            Self::At(t) => t,
            Self::Within(d) => jiff::SignedDuration::try_from(d)
                .ok()
                .and_then(|d| now.checked_sub(d).ok())
                .unwrap_or(Timestamp::MIN),
        }
    }
}

fn parse_since(text: &str) -> Result<Since, String> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(Since::At(t));
    }
    if let Ok(d) = text.parse::<jiff::civil::Date>()
        && let Ok(z) = d.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(Since::At(z.timestamp()));
    }
    parse_duration(text).map(Since::Within).map_err(|e| {
        format!(
            "`{text}` is neither an RFC 3339 time (2026-11-20T02:00:00Z), a date (2026-11-20) \
             nor a duration ({e})"
        )
    })
}

fn parse_retention(text: &str) -> Result<RetentionDuration, String> {
    text.parse()
        .map_err(|e: RetentionDurationError| e.to_string())
}

fn parse_tags(text: &str) -> Result<TagList, String> {
    text.parse()
}

/// Repository errors become `OpError::from_repo`: unknown ids and names are
/// usage errors (2), the rest make the repository unavailable (5).
pub fn run(places: &Places, args: Args) -> Result<(), OpError> {
    let repo = places.open_repo()?;
    let rt = super::live::runtime();
    let remote = rt.block_on(places.remote())?;
    let cat = Catalog::open(repo, remote, rt).map_err(OpError::from_repo)?;
    match args.command {
        Sub::List(a) => list(&cat, a),
        Sub::Show(a) => show(&cat, a),
        Sub::Verify(a) => verify(&cat, a),
        Sub::Delete(a) => delete(&cat, a),
        Sub::Pin(a) => pin(&cat, a, true),
        Sub::Unpin(a) => pin(&cat, a, false),
        Sub::Prune(a) => prune(&cat, a, &places.retention),
    }
}

fn print_json<T: Serialize>(value: &T) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// A manifest as `list` and `show` print it in JSON.
#[derive(Serialize)]
struct Entry<'a> {
    #[serde(flatten)]
    manifest: &'a Manifest,
    /// The last verification passed.
    verified: bool,
    /// The local object, or the S3 one when there is no local copy.
    path: String,
    /// `local`, `s3`, or both.
    locations: Vec<&'static str>,
}

fn entry<'a>(cat: &Catalog, h: &'a Held) -> Entry<'a> {
    Entry {
        manifest: &h.manifest,
        verified: h.manifest.verified(),
        path: cat.object_location(h),
        locations: cat.locations(h),
    }
}

fn list(cat: &Catalog, args: ListArgs) -> Result<(), OpError> {
    let all = cat.list();
    let now = Timestamp::now();
    let cutoff = args.since.map(|s| s.cutoff(now));
    let total = all.len();
    let sources: Vec<String> = {
        let mut s: Vec<String> = all.iter().map(|h| h.manifest.source.clone()).collect();
        s.sort();
        s.dedup();
        s
    };
    let shown: Vec<&Held> = all
        .iter()
        .filter(|h| args.source.as_ref().is_none_or(|s| &h.manifest.source == s))
        .filter(|h| cutoff.is_none_or(|c| h.manifest.created_at >= c))
        .filter(|h| args.tags.iter().all(|t| h.manifest.tags.contains(t)))
        .collect();
    if args.format == Format::Json {
        print_json(&shown.iter().map(|h| entry(cat, h)).collect::<Vec<_>>());
        return Ok(());
    }
    if shown.is_empty() {
        if total == 0 {
            outln!("No backups in {}.", cat.describe());
        } else if let Some(s) = args.source.as_ref().filter(|s| !sources.contains(s)) {
            outln!(
                "No backups of `{s}`; the repository has backups of `{}`.",
                sources.join("`, `")
            );
        } else {
            outln!("No backups match ({total} in the repository).");
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|h| {
            let m = &h.manifest;
            let mut row = vec![
                m.id.clone(),
                m.source.clone(),
                m.created_at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                age(now, m.created_at),
                format!("{} / {}", bytes(m.stored_bytes), bytes(m.raw_bytes)),
                m.file_count.map_or("-".into(), |n| n.to_string()),
                if m.tags.is_empty() {
                    "-".into()
                } else {
                    m.tags.join(",")
                },
                match &m.verification {
                    None => "never".into(),
                    Some(v) if v.ok => format!("ok {}", age(now, v.at)),
                    Some(_) => "FAILED".into(),
                },
                if m.pinned { "pinned" } else { "-" }.into(),
            ];
            if cat.has_remote() {
                row.push(cat.locations(h).join("+"));
            }
            row
        })
        .collect();
    let mut header = vec![
        "ID",
        "SOURCE",
        "CREATED (UTC)",
        "AGE",
        "STORED / RAW",
        "FILES",
        "TAGS",
        "VERIFIED",
        "PINNED",
    ];
    if cat.has_remote() {
        header.push("WHERE");
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(&format!("{cell:<w$}", w = *w));
        }
        s.trim_end().to_string()
    };
    outln!("{}", line(&header));
    for row in &rows {
        outln!(
            "{}",
            line(&row.iter().map(String::as_str).collect::<Vec<_>>())
        );
    }
    let stored: u64 = shown.iter().map(|h| h.manifest.stored_bytes).sum();
    outln!(
        "{} backup(s), {} stored{}",
        shown.len(),
        bytes(stored),
        if shown.len() < total {
            format!(" ({total} in the repository)")
        } else {
            String::new()
        }
    );
    Ok(())
}

fn show(cat: &Catalog, args: ShowArgs) -> Result<(), OpError> {
    let held = cat.get(&args.id).map_err(OpError::from_repo)?;
    if args.format == Format::Json {
        print_json(&entry(cat, &held));
        return Ok(());
    }
    let m = &held.manifest;
    let now = Timestamp::now();
    let o = &m.origin;
    let mut lines: Vec<(&str, String)> = vec![
        ("id", m.id.clone()),
        ("source", m.source.clone()),
        ("kind", format!("{:?}", m.kind).to_lowercase()),
        (
            "created",
            format!(
                "{} ({} ago)",
                m.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                age(now, m.created_at)
            ),
        ),
        (
            "size",
            format!(
                "{} stored ({} bytes), {} raw ({} bytes)",
                bytes(m.stored_bytes),
                m.stored_bytes,
                bytes(m.raw_bytes),
                m.raw_bytes
            ),
        ),
    ];
    if let Some(n) = m.file_count {
        lines.push(("files", n.to_string()));
    }
    lines.push(("object", cat.object_location(&held)));
    if cat.has_remote() {
        lines.push(("stored in", cat.locations(&held).join(", ")));
    }
    lines.push(("sha256", m.sha256.clone()));
    lines.push((
        "compression",
        format!(
            "{}{}",
            m.compression,
            m.encryption
                .as_ref()
                .map(|e| format!(", encrypted ({e}) to {}", m.encrypted_to.join(", ")))
                .unwrap_or_default()
        ),
    ));
    let origin: Vec<(&str, Option<String>)> = vec![
        ("volume", o.volume.clone()),
        ("container", o.container.clone()),
        ("image", o.image.clone()),
        ("image digest", o.image_digest.clone()),
        ("compose project", o.compose_project.clone()),
        ("compose service", o.compose_service.clone()),
        ("command", o.command.as_ref().map(|c| c.join(" "))),
        ("url", o.url.clone()),
    ];
    lines.extend(origin.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    lines.push((
        "tags",
        if m.tags.is_empty() {
            "-".into()
        } else {
            m.tags.join(", ")
        },
    ));
    lines.push(("pinned", if m.pinned { "yes" } else { "no" }.into()));
    lines.push(("run", m.run_id.clone().unwrap_or_else(|| "-".into())));
    lines.push((
        "verified",
        match &m.verification {
            None => "never (lifeboat backups verify ID)".into(),
            Some(v) => format!(
                "{} {} at {} ({} ago): {}",
                if v.ok { "ok" } else { "FAILED" },
                if v.deep { "deep" } else { "sha256" },
                v.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                age(now, v.at),
                v.detail
            ),
        },
    ));
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (k, v) in lines {
        outln!("{:<width$} {v}", format!("{k}:"));
    }
    Ok(())
}

fn verify(cat: &Catalog, args: VerifyArgs) -> Result<(), OpError> {
    let selection = if args.all || args.source.is_some() {
        Selection::All {
            source: args.source.clone(),
        }
    } else {
        Selection::Ids(args.ids.clone())
    };
    let ids = backups::select(cat, &selection)?;
    if ids.is_empty() {
        let whose = args
            .source
            .map(|s| format!(" of `{s}`"))
            .unwrap_or_default();
        if args.format == Format::Json {
            outln!("[]");
        } else {
            outln!("No backups{whose} to verify.");
        }
        return Ok(());
    }
    let docker = match args.restore_test {
        true => Some(cat.block_on(crate::ops::world::connect())?),
        false => None,
    };
    let mut results = Vec::new();
    let (mut failed, mut unchecked) = (0, 0);
    for id in &ids {
        let checked = backups::verify(cat, id, args.deep, docker.as_ref())?;
        match &checked {
            BackupCheck::NotChecked(_) => unchecked += 1,
            BackupCheck::Checked { ok: false, .. } => failed += 1,
            BackupCheck::Checked { .. } => {}
        }
        results.push(render_check(id, &checked, args.deep, args.format));
    }
    match args.format {
        Format::Json => print_json(&results),
        Format::Text => outln!(
            "{} of {} backup(s) passed{}{}.",
            ids.len() - failed - unchecked,
            ids.len(),
            if unchecked > 0 {
                format!(", {unchecked} could not be checked (nothing recorded)")
            } else {
                String::new()
            },
            if args.deep {
                " (deep: sha256, zstd, tar)"
            } else {
                " (sha256; --deep also decompresses and scans)"
            }
        ),
    }
    if failed > 0 {
        return Err(OpError::Unverified { failed });
    }
    if unchecked > 0 {
        if args.format == Format::Json {
            errln!(
                "{unchecked} backup(s) could not be checked without their age key; nothing was recorded for them"
            );
        }
        return Err(OpError::Unchecked(unchecked));
    }
    Ok(())
}

/// Prints a text line for one checked backup; returns its JSON.
fn render_check(id: &str, checked: &BackupCheck, deep: bool, format: Format) -> serde_json::Value {
    match checked {
        BackupCheck::NotChecked(why) => {
            if format == Format::Text {
                outln!("? not checked  {id}  {why}");
            }
            json!({
                "id": id,
                "ok": null,
                "checked": false,
                "deep": deep,
                "detail": why,
            })
        }
        BackupCheck::Checked {
            verification: v,
            ok,
            detail,
            restore_test,
        } => {
            if format == Format::Text {
                let mark = if *ok { "✓ ok    " } else { "✗ FAILED" };
                outln!("{mark}  {id}  {detail}");
            }
            let restore = match restore_test {
                Some((passed, said)) => json!({ "ok": passed, "detail": said }),
                None => serde_json::Value::Null,
            };
            json!({
                "id": id,
                "ok": ok,
                "checked": true,
                "deep": v.deep,
                "at": v.at,
                "detail": v.detail,
                "restore_test": restore,
            })
        }
    }
}

fn delete(cat: &Catalog, args: DeleteArgs) -> Result<(), OpError> {
    let (m, freed) = backups::delete(cat, &args.id, args.force)?;
    match args.format {
        Format::Json => print_json(&json!({
            "id": m.id,
            "source": m.source,
            "freed_bytes": freed,
        })),
        Format::Text => outln!(
            "Deleted backup {} of `{}`: {} freed ({freed} bytes).",
            m.id,
            m.source,
            bytes(freed)
        ),
    }
    Ok(())
}

fn pin(cat: &Catalog, args: PinArgs, pinned: bool) -> Result<(), OpError> {
    let (m, changed) = cat
        .set_pinned(&args.id, pinned)
        .map_err(OpError::from_repo)?;
    match args.format {
        Format::Json => print_json(&json!({
            "id": m.id,
            "source": m.source,
            "pinned": m.pinned,
            "changed": changed,
        })),
        Format::Text => {
            let what = match (pinned, changed) {
                (true, true) => "pinned: retention and `backups delete` keep it",
                (true, false) => "was already pinned",
                (false, true) => "unpinned: retention may forget it",
                (false, false) => "was not pinned",
            };
            outln!("Backup {} of `{}` {what}.", m.id, m.source);
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct PruneDecision<'a> {
    id: &'a str,
    created_at: Timestamp,
    stored_bytes: u64,
    keep: bool,
    reasons: &'a [crate::repo::Reason],
}

#[derive(Serialize)]
struct PruneSource<'a> {
    source: &'a str,
    kept: usize,
    forgotten: usize,
    decisions: Vec<PruneDecision<'a>>,
    deleted: Vec<&'a str>,
    freed_bytes: u64,
    failed: Vec<serde_json::Value>,
}

fn prune(cat: &Catalog, args: PruneArgs, configured: &Policy) -> Result<(), OpError> {
    let flags = Policy {
        keep_last: args.keep_last,
        keep_hourly: args.keep_hourly,
        keep_daily: args.keep_daily,
        keep_weekly: args.keep_weekly,
        keep_monthly: args.keep_monthly,
        keep_yearly: args.keep_yearly,
        keep_within: args.keep_within,
        keep_within_hourly: args.keep_within_hourly,
        keep_within_daily: args.keep_within_daily,
        keep_within_weekly: args.keep_within_weekly,
        keep_within_monthly: args.keep_within_monthly,
        keep_within_yearly: args.keep_within_yearly,
        keep_tags: args.keep_tags.clone(),
        keep_safety: args.keep_safety,
        tags: args.tags.clone(),
        time_zone: args.time_zone.clone(),
    };
    let policy = flags.or(configured);
    let now = Timestamp::now();
    let results = backups::prune(cat, &policy, &args.sources, args.dry_run, now)?;
    let forgotten: usize = results.iter().map(|p| p.forgotten().count()).sum();
    let freed: u64 = results.iter().map(Pruned::freed).sum();
    let would_free: u64 = results
        .iter()
        .flat_map(|p| p.forgotten())
        .map(|m| m.stored_bytes)
        .sum();
    match args.format {
        Format::Json => {
            let sources: Vec<PruneSource> = results
                .iter()
                .map(|p| PruneSource {
                    source: &p.source,
                    kept: p.kept(),
                    forgotten: p.forgotten().count(),
                    decisions: p
                        .decisions
                        .iter()
                        .map(|d| PruneDecision {
                            id: &d.backup.id,
                            created_at: d.backup.created_at,
                            stored_bytes: d.backup.stored_bytes,
                            keep: d.keep,
                            reasons: &d.reasons,
                        })
                        .collect(),
                    deleted: p.deleted.iter().map(|(id, _)| id.as_str()).collect(),
                    freed_bytes: p.freed(),
                    failed: p
                        .failed
                        .iter()
                        .map(|(id, e)| json!({ "id": id, "error": e }))
                        .collect(),
                })
                .collect();
            print_json(&json!({
                "policy": policy.to_string(),
                "keep_safety": policy.keep_safety().to_string(),
                "time_zone": policy.zone().iana_name().unwrap_or("UTC"),
                "dry_run": args.dry_run,
                "forgotten": forgotten,
                "deleted": results.iter().map(|p| p.deleted.len()).sum::<usize>(),
                "freed_bytes": freed,
                "sources": sources,
            }));
        }
        Format::Text => print_prune(&results, &policy, args.dry_run, now, would_free),
    }
    backups::prune_failures(&results)
}

fn print_prune(results: &[Pruned], policy: &Policy, dry_run: bool, now: Timestamp, would: u64) {
    let forgotten: usize = results.iter().map(|p| p.forgotten().count()).sum();
    let total: usize = results.iter().map(|p| p.decisions.len()).sum();
    outln!("Policy: {policy}.");
    if total == 0 {
        if policy.tags.is_empty() {
            outln!("Nothing to prune: the repository has no backups.");
        } else {
            outln!("Nothing to prune: no backup has the tags --tag asks for.");
        }
        return;
    }
    let safety = results
        .iter()
        .flat_map(|p| &p.decisions)
        .filter(|d| d.backup.tags.iter().any(|t| t == SAFETY_TAG))
        .count();
    if safety > 0 {
        outln!(
            "Safety backups (tag `{SAFETY_TAG}`, {safety} of them) do not count in these rules; \
             they are kept for {} from now (--keep-safety).",
            policy.keep_safety()
        );
    }
    for p in results {
        outln!(
            "\n{}: keep {}, forget {}",
            p.source,
            p.kept(),
            p.forgotten().count()
        );
        for d in &p.decisions {
            let m = &d.backup;
            let verdict = if d.keep {
                "keep"
            } else if p.deleted.iter().any(|(id, _)| id == &m.id) {
                "DELETED"
            } else if dry_run {
                "forget"
            } else {
                "FAILED"
            };
            let reasons: Vec<String> = d.reasons.iter().map(ToString::to_string).collect();
            let line = format!(
                "  {verdict:<7}  {}  {}  {:>6}  {:>10}  {}",
                m.id,
                m.created_at.strftime("%Y-%m-%d %H:%M"),
                age(now, m.created_at),
                bytes(m.stored_bytes),
                reasons.join(", ")
            );
            outln!("{}", line.trim_end());
        }
    }
    outln!();
    if forgotten == 0 {
        outln!("Nothing to prune: the policy keeps all {total} backup(s).");
    } else if dry_run {
        outln!(
            "Dry run: {forgotten} of {total} backup(s) would be deleted, freeing {}; nothing was deleted.",
            bytes(would)
        );
    } else {
        let deleted: usize = results.iter().map(|p| p.deleted.len()).sum();
        let freed: u64 = results.iter().map(Pruned::freed).sum();
        outln!(
            "Deleted {deleted} of {total} backup(s), freed {} ({freed} bytes).",
            bytes(freed)
        );
    }
}
