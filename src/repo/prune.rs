//! Applying a retention policy to the repository: decide (pure, in
//! [`retention`](super::retention)), then delete what is forgotten.

use jiff::Timestamp;

use super::retention::{self, Decision, Policy};
use super::{LocalRepo, Manifest, RepoError};

/// What pruning one source did (or, in a dry run, would do).
#[derive(Debug, Clone)]
pub struct Pruned {
    pub source: String,
    /// One per backup, newest first.
    pub decisions: Vec<Decision>,
    /// Ids deleted and the bytes each freed (empty in a dry run).
    pub deleted: Vec<(String, u64)>,
    /// Ids that could not be deleted, with the error.
    pub failed: Vec<(String, String)>,
}

impl Pruned {
    pub fn kept(&self) -> usize {
        self.decisions.iter().filter(|d| d.keep).count()
    }

    pub fn forgotten(&self) -> impl Iterator<Item = &Manifest> {
        self.decisions.iter().filter(|d| !d.keep).map(|d| &d.backup)
    }

    pub fn freed(&self) -> u64 {
        self.deleted.iter().map(|(_, b)| b).sum()
    }

    /// Backup `id` turned out pinned between the decision and its deletion: kept.
    pub fn keep_pinned(&mut self, id: &str) {
        if let Some(d) = self.decisions.iter_mut().find(|d| d.backup.id == id) {
            d.keep = true;
            d.backup.pinned = true;
            d.reasons.push(retention::Reason::Pinned);
        }
    }
}

impl LocalRepo {
    /// The backups of `source`, newest first (none if it has no backups).
    pub fn backups_of(&self, source: &str) -> Result<Vec<Manifest>, RepoError> {
        super::id::check_source(source)?;
        Ok(self
            .list()?
            .into_iter()
            .filter(|m| m.source == source)
            .collect())
    }

    /// The sources that have at least one backup, sorted.
    pub fn backup_sources(&self) -> Result<Vec<String>, RepoError> {
        let mut sources: Vec<String> = self.list()?.into_iter().map(|m| m.source).collect();
        sources.sort();
        sources.dedup();
        Ok(sources)
    }

    /// Applies `policy` to the backups of `source` and (unless `dry_run`)
    /// deletes the forgotten ones. Backups of `current_run` are kept; a backup
    /// pinned between the decision and its deletion is kept too.
    pub fn prune(
        &self,
        source: &str,
        policy: &Policy,
        now: Timestamp,
        current_run: Option<&str>,
        dry_run: bool,
    ) -> Result<Pruned, RepoError> {
        let backups = self.backups_of(source)?;
        let decisions = retention::apply(policy, backups, now, current_run);
        let mut pruned = Pruned {
            source: source.to_string(),
            decisions,
            deleted: Vec::new(),
            failed: Vec::new(),
        };
        if dry_run {
            return Ok(pruned);
        }
        let doomed: Vec<String> = pruned.forgotten().map(|m| m.id.clone()).collect();
        for id in doomed {
            let result = self.get(&id).and_then(|m| {
                if m.pinned {
                    Ok(None)
                } else {
                    self.delete(&id).map(Some)
                }
            });
            match result {
                Ok(Some(bytes)) => {
                    tracing::info!(id, source, bytes, "pruned backup");
                    pruned.deleted.push((id, bytes));
                }
                Ok(None) => pruned.keep_pinned(&id),
                Err(e) => pruned.failed.push((id, e.to_string())),
            }
        }
        Ok(pruned)
    }
}
