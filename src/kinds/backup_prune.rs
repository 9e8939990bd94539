//! `backup.prune`: delete backups outside the retention policy (restic `forget` rules; pins and the last backup are kept).

use jiff::Timestamp;

use super::prelude::*;
use crate::repo::retention::parse_time_zone;
use crate::repo::{Policy, RetentionDuration, TagList};

pub struct BackupPrune;

pub static SPEC: KindSpec = KindSpec {
    name: "backup.prune",
    summary: "delete backups outside the retention policy (restic `forget` rules; pins and the last backup are kept)",
    effect: Some(Effect::Mutate),
    category: Category::Change,
    args: &[
        opt("volume", ArgType::Volume, "prune this volume's backups"),
        opt(
            "name",
            ArgType::Str,
            "prune this backup source's backups (exec or http)",
        ),
        opt("keep_last", ArgType::Count, "keep the N newest"),
        opt(
            "keep_hourly",
            ArgType::Count,
            "keep the newest of each of the last N hours",
        ),
        opt("keep_daily", ArgType::Count, "... days"),
        opt("keep_weekly", ArgType::Count, "... weeks"),
        opt("keep_monthly", ArgType::Count, "... months"),
        opt("keep_yearly", ArgType::Count, "... years"),
        opt(
            "keep_within",
            ArgType::RetentionDuration,
            "keep everything within this of the newest backup (y, m = months, d, h)",
        ),
        opt(
            "keep_within_hourly",
            ArgType::RetentionDuration,
            "keep the newest of each hour within this of the newest backup",
        ),
        opt(
            "keep_within_daily",
            ArgType::RetentionDuration,
            "... of each day",
        ),
        opt(
            "keep_within_weekly",
            ArgType::RetentionDuration,
            "... of each week",
        ),
        opt(
            "keep_within_monthly",
            ArgType::RetentionDuration,
            "... of each month",
        ),
        opt(
            "keep_within_yearly",
            ArgType::RetentionDuration,
            "... of each year",
        ),
        opt(
            "keep_tag",
            ArgType::TagLists,
            "keep every backup with these tags (`a,b`: both; a list: any)",
        ),
        opt(
            "keep_safety",
            ArgType::RetentionDuration,
            "keep safety backups this long from now (default 7d); they do not count in the other rules",
        ),
        opt(
            "tag",
            ArgType::TagLists,
            "only prune backups with these tags; others are not touched",
        ),
        opt(
            "time_zone",
            ArgType::TimeZone,
            "time zone of the calendar buckets and durations (default UTC)",
        ),
    ],
    outputs: &["deleted", "kept"],
    subject: None,
    one_of: &["volume", "name"],
};

impl Kind for BackupPrune {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let source = match ctx.optional_volume("volume")? {
        Some(volume) => volume,
        None => ctx.args.opt_str("name")?.ok_or_else(|| {
            StepError::fatal(
                "backup.prune needs `volume` (a volume target) or `name` (a backup source)",
            )
        })?,
    };
    let policy = policy(ctx)?.or(&ctx.ports.retention);
    if policy.is_empty() {
        tracing::warn!(
            step = ctx.call.step,
            "backup.prune without keep_* arguments and no retention in the config file: \
             an empty policy keeps every backup"
        );
    }
    let repo = ctx.ports.repo.clone();
    let run_id = ctx.call.run_id.clone();
    let pruned = crate::runtime::blocking(move || {
        repo.prune(&source, &policy, Timestamp::now(), Some(&run_id))
    })
    .await
    .map_err(|e| StepError::fatal(format!("pruning crashed: {e}")))?
    .map_err(repo_error)?;
    if !pruned.failed.is_empty() {
        let failed: Vec<String> = pruned
            .failed
            .iter()
            .map(|(id, e)| format!("{id}: {e}"))
            .collect();
        return Err(StepError::new(format!(
            "could not delete {} backup(s) of `{}` ({} deleted): {}",
            failed.len(),
            pruned.source,
            pruned.deleted.len(),
            failed.join("; ")
        )));
    }
    let deleted: Vec<&str> = pruned.deleted.iter().map(|(id, _)| id.as_str()).collect();
    tracing::info!(
        source = pruned.source,
        deleted = deleted.len(),
        kept = pruned.kept(),
        freed = pruned.freed(),
        "pruned"
    );
    Ok(outputs([
        ("deleted", json!(deleted)),
        ("kept", json!(pruned.kept())),
    ]))
}

fn policy(ctx: &Ctx) -> Result<Policy, StepError> {
    let count = |name: &str| -> Result<Option<u32>, StepError> {
        match ctx.args.int(name)? {
            None => Ok(None),
            Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                StepError::fatal(format!(
                    "argument `{name}` must be a count of 0 or more, found {n}"
                ))
            }),
        }
    };
    let duration = |name: &str| -> Result<Option<RetentionDuration>, StepError> {
        ctx.args
            .opt_str(name)?
            .map(|text| {
                text.parse::<RetentionDuration>()
                    .map_err(|e| StepError::fatal(format!("argument `{name}`: {e}")))
            })
            .transpose()
    };
    let tag_lists = |name: &str| -> Result<Vec<TagList>, StepError> {
        ctx.args
            .strings(name)?
            .iter()
            .map(|t| {
                t.parse()
                    .map_err(|e| StepError::fatal(format!("argument `{name}`: {e}")))
            })
            .collect()
    };
    let time_zone = ctx
        .args
        .opt_str("time_zone")?
        .map(|z| {
            parse_time_zone(&z).map_err(|e| StepError::fatal(format!("argument `time_zone`: {e}")))
        })
        .transpose()?;
    Ok(Policy {
        keep_last: count("keep_last")?,
        keep_hourly: count("keep_hourly")?,
        keep_daily: count("keep_daily")?,
        keep_weekly: count("keep_weekly")?,
        keep_monthly: count("keep_monthly")?,
        keep_yearly: count("keep_yearly")?,
        keep_within: duration("keep_within")?,
        keep_within_hourly: duration("keep_within_hourly")?,
        keep_within_daily: duration("keep_within_daily")?,
        keep_within_weekly: duration("keep_within_weekly")?,
        keep_within_monthly: duration("keep_within_monthly")?,
        keep_within_yearly: duration("keep_within_yearly")?,
        keep_tags: tag_lists("keep_tag")?,
        keep_safety: duration("keep_safety")?,
        tags: tag_lists("tag")?,
        time_zone,
    })
}
