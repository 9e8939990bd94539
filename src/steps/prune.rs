//! backup.prune: apply a retention policy (restic `forget` rules) to one
//! source's backups and delete what it forgets. Pinned backups, the newest
//! backup of the source and every backup this run wrote are kept; safety
//! backups follow `keep_safety` (default 7d), not the other rules. Arguments
//! win over the config file's `retention:` as `backups prune` flags do.

use jiff::Timestamp;
use serde_json::json;

use super::Ctx;
use super::container::outputs;
use crate::engine::{Outputs, StepError};
use crate::repo::retention::parse_time_zone;
use crate::repo::{Policy, RetentionDuration, TagList};

pub async fn prune(ctx: &Ctx) -> Result<Outputs, StepError> {
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
    let pruned = tokio::task::spawn_blocking(move || {
        repo.prune(&source, &policy, Timestamp::now(), Some(&run_id), false)
    })
    .await
    .map_err(|e| StepError::fatal(format!("pruning crashed: {e}")))?
    .map_err(super::repo)?;
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
