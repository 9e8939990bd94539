//! The backup catalog's operations (docs/architecture.md §7): verify (with
//! an optional restore test), delete (with its rules: not a pinned backup,
//! not the last one of a source) and prune (restic's `forget` rules).

use jiff::Timestamp;

use super::catalog::Catalog;
use super::error::OpError;
use crate::docker::Docker;
use crate::repo::{Manifest, Policy, Pruned, RepoError, Verification};

/// Which backups to verify.
pub enum Selection {
    Ids(Vec<String>),
    /// Every backup, or every backup of one source.
    All {
        source: Option<String>,
    },
}

/// The ids `selection` names; unknown ids are refused before anything is checked.
pub fn select(cat: &Catalog, selection: &Selection) -> Result<Vec<String>, OpError> {
    match selection {
        Selection::All { source } => Ok(cat
            .list()
            .into_iter()
            .map(|h| h.manifest)
            .filter(|m| source.as_ref().is_none_or(|s| &m.source == s))
            .map(|m| m.id)
            .collect()),
        Selection::Ids(ids) => {
            for id in ids {
                cat.get(id).map_err(OpError::from_repo)?;
            }
            Ok(ids.clone())
        }
    }
}

/// What verifying one backup found.
pub enum BackupCheck {
    /// No key for it: nothing checked, nothing recorded.
    NotChecked(String),
    Checked {
        verification: Verification,
        /// The checksum (and deep scan) and the restore test, if any, passed.
        ok: bool,
        /// The verification's detail and what the restore test said.
        detail: String,
        /// The restore test: passed, and what it said.
        restore_test: Option<(bool, String)>,
    },
}

/// Verifies backup `id`; with `docker`, a backup that verifies is also
/// restored into a scratch volume and read back.
pub fn verify(
    cat: &Catalog,
    id: &str,
    deep: bool,
    docker: Option<&Docker>,
) -> Result<BackupCheck, OpError> {
    let v = match cat.verify(id, deep) {
        Ok(v) => v,
        Err(e @ RepoError::NoKey { .. }) => return Ok(BackupCheck::NotChecked(e.to_string())),
        Err(e) => return Err(OpError::from_repo(e)),
    };
    let mut detail = v.detail.clone();
    let mut ok = v.ok;
    let mut restore_test = None;
    if let (Some(docker), true) = (docker, v.ok) {
        let tested = cat.fetch(id).map_err(|e| e.to_string()).map(|m| {
            cat.block_on(super::restore_test::restore_test(
                docker,
                cat.local.clone(),
                &m,
            ))
        });
        let (passed, said) = match tested {
            Ok(Ok(said)) => (true, said),
            Ok(Err(e)) | Err(e) => (false, format!("restore test FAILED: {e}")),
        };
        ok &= passed;
        detail = format!("{detail}; {said}");
        restore_test = Some((passed, said));
    }
    Ok(BackupCheck::Checked {
        verification: v,
        ok,
        detail,
        restore_test,
    })
}

/// Deletes backup `id` from every store; without `force`, refuses a pinned
/// backup and the only backup of its source. Ok: it and the bytes freed.
pub fn delete(cat: &Catalog, id: &str, force: bool) -> Result<(Manifest, u64), OpError> {
    let m = cat.get(id).map_err(OpError::from_repo)?.manifest;
    if !force {
        if m.pinned {
            return Err(OpError::usage(format!(
                "backup {} of `{}` is pinned; unpin it first (lifeboat backups unpin {}) \
                 or add --force",
                m.id, m.source, m.id
            )));
        }
        if cat.backups_of(&m.source).len() <= 1 {
            return Err(OpError::usage(format!(
                "backup {} is the only backup of `{}`; add --force to delete it anyway",
                m.id, m.source
            )));
        }
    }
    let freed = cat.delete(&m.id).map_err(OpError::from_repo)?;
    Ok((m, freed))
}

/// Applies `policy` to the backups of `sources` (every source when empty):
/// what is kept and why, what was (or, `dry_run`, would be) deleted.
/// Sources none of whose backups the policy's tags select are left out.
pub fn prune(
    cat: &Catalog,
    policy: &Policy,
    sources: &[String],
    dry_run: bool,
    now: Timestamp,
) -> Result<Vec<Pruned>, OpError> {
    if policy.is_empty() {
        return Err(OpError::usage(
            "no retention policy given: an empty policy keeps every backup, so nothing was \
             deleted; add at least one of --keep-last, --keep-hourly, --keep-daily, \
             --keep-weekly, --keep-monthly, --keep-yearly, --keep-within(-hourly/daily/weekly/\
             monthly/yearly), --keep-tag, --keep-safety (non-zero), or a `retention:` section \
             to the config file",
        ));
    }
    let known = cat.sources();
    if let Some(s) = sources.iter().find(|s| !known.contains(s)) {
        return Err(OpError::usage(format!(
            "no backups of `{s}` in {}{}",
            cat.describe(),
            if known.is_empty() {
                String::new()
            } else {
                format!("; it has backups of `{}`", known.join("`, `"))
            }
        )));
    }
    let sources = if sources.is_empty() { &known } else { sources };
    let mut results = Vec::new();
    for source in sources {
        let p = cat
            .prune(source, policy, now, dry_run)
            .map_err(OpError::from_repo)?;
        if !p.decisions.is_empty() {
            results.push(p);
        }
    }
    Ok(results)
}

/// Deletions that failed in a prune, as errors (the rest went through).
pub fn prune_failures(results: &[Pruned]) -> Result<(), OpError> {
    let failed: Vec<String> = results
        .iter()
        .flat_map(|p| &p.failed)
        .map(|(id, e)| format!("could not delete backup {id}: {e}"))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(OpError::PartlyDone(failed))
    }
}
