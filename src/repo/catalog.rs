//! Finding backups: list, get by id, resolve `latest` / `latest-verified` / id.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::id::{check_source, is_id};
use super::{LocalRepo, Manifest, RepoError};
use crate::model::backup_ref::{RUN_PREFIX, Reference, SAFETY_TAG, Skipped, Unresolved, pick};

impl LocalRepo {
    /// Every readable manifest, newest first; unreadable ones are logged and skipped.
    pub fn list(&self) -> Result<Vec<Manifest>, RepoError> {
        let mut all = Vec::new();
        for source in self.sources()? {
            all.extend(self.list_source(&source)?);
        }
        sort_newest_first(&mut all);
        Ok(all)
    }

    /// The manifest of backup `id`.
    pub fn get(&self, id: &str) -> Result<Manifest, RepoError> {
        self.locate(id).map(|(m, _)| m)
    }

    /// `latest`, `latest-verified`, `run:<run id>` or an id of a backup of
    /// `source`, picked by [`pick`] (the plan's rule); `latest*` skip backups
    /// written by run `exclude_run`.
    pub fn resolve(
        &self,
        source: &str,
        reference: &str,
        exclude_run: Option<&str>,
    ) -> Result<Manifest, RepoError> {
        check_source(source)?;
        let parsed = Reference::parse(reference);
        let candidates = match parsed {
            Reference::Id(id) if is_id(id) => vec![self.get(id)?],
            Reference::Id(other) => {
                return Err(self.no_backup(
                    source,
                    other,
                    format!(
                        "`{other}` is neither `latest`, `latest-verified`, `run:<run id>` \
                         nor a backup id (like `20261121T020000Z-a1b2c3`)"
                    ),
                ));
            }
            _ => self.list_source(source)?,
        };
        match pick(&candidates, source, parsed, exclude_run) {
            Ok(m) => Ok(m.clone()),
            Err(why) => Err(self.unresolved(source, reference, exclude_run, why)),
        }
    }

    /// The error that says why `reference` names no backup of `source`.
    fn unresolved(
        &self,
        source: &str,
        reference: &str,
        exclude_run: Option<&str>,
        why: Unresolved<'_, Manifest>,
    ) -> RepoError {
        let hint = match why {
            Unresolved::OtherSource(m) => {
                return RepoError::WrongSource {
                    id: m.id.clone(),
                    expected: source.into(),
                    actual: m.source.clone(),
                };
            }
            Unresolved::UnknownId => {
                return RepoError::NotFound {
                    id: reference.into(),
                    root: self.root.clone(),
                    suggestions: self.suggestions(reference),
                };
            }
            Unresolved::NotInRun => {
                let run = reference.strip_prefix(RUN_PREFIX).unwrap_or(reference);
                format!("run {run} took no backup of `{source}`")
            }
            Unresolved::NoBackups => match self.sources() {
                Err(e) => return e,
                Ok(known) if known.is_empty() => {
                    format!("the repository at {} has no backups", self.root.display())
                }
                Ok(known) => format!(
                    "the repository at {} has none; it has backups of `{}`",
                    self.root.display(),
                    known.join("`, `")
                ),
            },
            Unresolved::OnlyExcluded(skipped) => only_excluded(&skipped, reference, exclude_run),
            Unresolved::Unverified { count, skipped } => {
                let not_considered = if skipped.safety.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({} safety backup(s), tag `{SAFETY_TAG}`, were not considered)",
                        skipped.safety.len()
                    )
                };
                format!(
                    "none of its {count} backup(s) has passed verification{not_considered}; \
                     verify one, or use `latest`"
                )
            }
        };
        self.no_backup(source, reference, hint)
    }

    /// The manifest of `id` and the path it was read from.
    pub(super) fn locate(&self, id: &str) -> Result<(Manifest, PathBuf), RepoError> {
        if is_id(id) {
            for source in self.sources()? {
                let path = self.source_dir(&source).join(format!("{id}.json"));
                if path.is_file() {
                    return Manifest::load(&path, &source, id).map(|m| (m, path));
                }
            }
        }
        Err(RepoError::NotFound {
            id: id.into(),
            root: self.root.clone(),
            suggestions: self.suggestions(id),
        })
    }

    /// The source directory names (valid ones only), sorted.
    fn sources(&self) -> Result<Vec<String>, RepoError> {
        let dir = self.backups_dir();
        let mut names: Vec<String> = read_dir(&dir)?
            .into_iter()
            .filter(|(_, is_dir)| *is_dir)
            .filter_map(|(name, _)| check_source(&name).is_ok().then_some(name))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The manifests of one source, unsorted.
    pub fn list_source(&self, source: &str) -> Result<Vec<Manifest>, RepoError> {
        let dir = self.source_dir(source);
        let mut out = Vec::new();
        for (name, is_dir) in read_dir(&dir)? {
            let Some(id) = name.strip_suffix(".json").filter(|id| is_id(id)) else {
                continue;
            };
            if is_dir {
                continue;
            }
            let path = dir.join(&name);
            match Manifest::load(&path, source, id) {
                Ok(m) => out.push(m),
                Err(e) => tracing::warn!(path = %path.display(), "skipping manifest: {e}"),
            }
        }
        Ok(out)
    }

    fn suggestions(&self, id: &str) -> Vec<String> {
        let Ok(all) = self.list() else {
            return Vec::new();
        };
        suggestions(id, all.iter().map(|m| m.id.as_str()))
    }

    fn no_backup(&self, source: &str, reference: &str, hint: String) -> RepoError {
        RepoError::NoBackup {
            name: source.into(),
            reference: reference.into(),
            hint,
        }
    }
}

/// Up to 3 of `ids` close to `id` (a typo, or a part of it), closest first.
pub fn suggestions<'a>(id: &str, ids: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut close: Vec<(usize, &str)> = ids
        .filter_map(|known| {
            let d = strsim::levenshtein(id, known);
            let partial = id.len() >= 4 && known.contains(id);
            (d <= 3 || partial).then_some((if partial { 0 } else { d }, known))
        })
        .collect();
    close.sort();
    close
        .into_iter()
        .take(3)
        .map(|(_, id)| id.to_string())
        .collect()
}

/// Why `latest*` found nothing among backups that all were skipped.
fn only_excluded(
    skipped: &Skipped<'_, Manifest>,
    reference: &str,
    exclude_run: Option<&str>,
) -> String {
    let mut why = Vec::new();
    if skipped.own_run > 0 {
        why.push(format!(
            "{} were written by this run ({}), which must not restore its own",
            skipped.own_run,
            exclude_run.unwrap_or_default()
        ));
    }
    if let Some(newest) = skipped.safety.first() {
        why.push(format!(
            "{} are safety backups (tag `{SAFETY_TAG}`: the data as a run found it, \
             before a destructive step), which `{reference}` never means; restore \
             one by id if that is what you want (newest: {})",
            skipped.safety.len(),
            newest.id
        ));
    }
    format!("of its {} backup(s), {}", skipped.total, why.join("; "))
}

fn sort_newest_first(all: &mut [Manifest]) {
    all.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
}

/// (name, is_dir) of each UTF-8-named entry; a missing directory is empty.
fn read_dir(dir: &Path) -> Result<Vec<(String, bool)>, RepoError> {
    let entries = match fs::read_dir(dir) {
        Ok(it) => it,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RepoError::io(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(RepoError::io(dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        out.push((name, is_dir));
    }
    Ok(out)
}
