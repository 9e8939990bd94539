//! The catalog `lifeboat backups` works on: every configured [`Store`] — the
//! local repository and, when one is configured (`--repo s3://…` or
//! `--offsite`), the S3 repository — as one list rebuilt from their
//! manifests. A backup may be in any or all of them; verifying, pinning,
//! deleting and pruning act on every copy.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use crate::repo::id::check_source;
use crate::repo::retention::{self, Policy};
use crate::repo::{LocalRepo, Manifest, Pruned, RepoError, Store, Verification, suggestions};
use crate::s3::{S3Repo, S3Store, fetch_backup};

/// One backup and the stores that hold a copy (indexes into the catalog's
/// stores, in their order).
#[derive(Debug, Clone)]
pub struct Held {
    pub manifest: Manifest,
    at: Vec<usize>,
}

pub struct Catalog {
    /// Restore tests restore from here.
    pub local: Arc<LocalRepo>,
    /// The local repository first; its copy is preferred when reading.
    stores: Vec<Box<dyn Store>>,
    /// Every backup, newest first, merged from each store's manifests as
    /// listed once when the catalog was opened.
    all: Vec<Held>,
    /// Index into `all` by id.
    by_id: HashMap<String, usize>,
    /// The S3 repository, for fetching backups held only there.
    remote: Option<S3Store>,
    rt: tokio::runtime::Runtime,
}

impl Catalog {
    /// Lists every store once, up front.
    pub fn open(
        local: Arc<LocalRepo>,
        remote: Option<S3Store>,
        rt: tokio::runtime::Runtime,
    ) -> Result<Self, RepoError> {
        let mut stores: Vec<Box<dyn Store>> = vec![Box::new((*local).clone())];
        if let Some(store) = &remote {
            let s3 = S3Repo::new(store.clone(), rt.handle().clone(), local.shared_keys());
            stores.push(Box::new(s3));
        }
        let listed = stores
            .iter()
            .map(|s| s.manifests())
            .collect::<Result<Vec<_>, _>>()?;
        let all = merge(listed);
        let by_id = all
            .iter()
            .enumerate()
            .map(|(i, h)| (h.manifest.id.clone(), i))
            .collect();
        Ok(Self {
            local,
            stores,
            all,
            by_id,
            remote,
            rt,
        })
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Whether there is more than the local repository.
    pub fn has_remote(&self) -> bool {
        self.stores.len() > 1
    }

    /// Where the repository is, for messages.
    pub fn describe(&self) -> String {
        let places: Vec<String> = self.stores.iter().map(|s| s.describe()).collect();
        places.join(" and ")
    }

    /// `local`, `s3`: the stores holding `h`.
    pub fn locations(&self, h: &Held) -> Vec<&'static str> {
        h.at.iter().map(|&i| self.stores[i].kind()).collect()
    }

    /// Where the object of `h` is read from (the first store holding it).
    pub fn object_location(&self, h: &Held) -> String {
        self.stores[h.at[0]].object_location(&h.manifest)
    }

    /// Every backup, newest first; the first store's manifest wins when
    /// several hold one.
    pub fn list(&self) -> Vec<Held> {
        self.all.clone()
    }

    pub fn get(&self, id: &str) -> Result<Held, RepoError> {
        if let Some(&i) = self.by_id.get(id) {
            return Ok(self.all[i].clone());
        }
        // A local manifest the listing skipped (unreadable) says why.
        if let Err(e @ RepoError::BadManifest { .. }) = self.local.get(id) {
            return Err(e);
        }
        Err(RepoError::NotFound {
            id: id.into(),
            root: self.describe().into(),
            suggestions: suggestions(id, self.all.iter().map(|h| h.manifest.id.as_str())),
        })
    }

    /// The manifest of backup `id` in the local repository, fetched from S3
    /// first (sha256 checked on the way) when it is only there or when the
    /// local copy is damaged (`s3::fetch_backup`).
    pub fn fetch(&self, id: &str) -> Result<Manifest, RepoError> {
        let held = self.get(id)?;
        if let (true, Some(store)) = (held.at.len() > 1 || !held.at.contains(&0), &self.remote) {
            self.rt
                .block_on(fetch_backup(store, &self.local, id))
                .map_err(|e| e.in_repo(&store.url()))?;
        }
        self.local.get(id)
    }

    pub fn backups_of(&self, source: &str) -> Vec<Held> {
        self.list()
            .into_iter()
            .filter(|h| h.manifest.source == source)
            .collect()
    }

    pub fn sources(&self) -> Vec<String> {
        let mut s: Vec<String> = self.list().into_iter().map(|h| h.manifest.source).collect();
        s.sort();
        s.dedup();
        s
    }

    /// Checks the copy of backup `id` in the first store that holds it (an
    /// off-site-only backup is streamed, not copied here) and records the
    /// result in that copy's manifest. A store that cannot be read records
    /// nothing ([`RepoError::Unavailable`]).
    pub fn verify(&self, id: &str, deep: bool) -> Result<Verification, RepoError> {
        let held = self.get(id)?;
        let store = &self.stores[held.at[0]];
        let checked = match store.check(&held.manifest, deep) {
            // Not a verdict on the backup: nothing to record.
            Err(e) if e.is_not_a_verdict() => return Err(e),
            checked => checked,
        };
        let verification = Verification::of(id, checked, deep);
        // Only the copy that was checked: another copy may differ.
        self.update_in(&held, held.at[0], |m| {
            m.verification = Some(verification.clone());
            true
        })?;
        Ok(verification)
    }

    /// Pins or unpins every copy; returns the manifest and whether any copy changed.
    pub fn set_pinned(&self, id: &str, pinned: bool) -> Result<(Manifest, bool), RepoError> {
        let held = self.get(id)?;
        // Every copy must still be there (another machine may have pruned
        // it since the listing): else nothing is changed.
        for &i in &held.at {
            if self.stores[i].reload(&held.manifest)?.is_none() {
                return Err(self.stores[i].gone(&held.manifest));
            }
        }
        let changed = self.update(&held, |m| {
            let changed = m.pinned != pinned;
            m.pinned = pinned;
            changed
        })?;
        let mut manifest = held.manifest;
        manifest.pinned = pinned;
        Ok((manifest, changed))
    }

    /// Applies `change` to each copy's manifest as stored now (another
    /// machine may have pinned it since the listing) and saves those it
    /// changed. Whether any changed.
    fn update(
        &self,
        held: &Held,
        change: impl Fn(&mut Manifest) -> bool,
    ) -> Result<bool, RepoError> {
        let mut any = false;
        for &i in &held.at {
            any |= self.update_in(held, i, &change)?;
        }
        Ok(any)
    }

    /// [`update`](Self::update) of the copy in store `i` only.
    fn update_in(
        &self,
        held: &Held,
        i: usize,
        change: impl Fn(&mut Manifest) -> bool,
    ) -> Result<bool, RepoError> {
        self.stores[i].update_manifest(&held.manifest, &change)
    }

    /// Deletes every copy. Returns the bytes freed.
    pub fn delete(&self, id: &str) -> Result<u64, RepoError> {
        self.delete_held(&self.get(id)?)
    }

    fn delete_held(&self, held: &Held) -> Result<u64, RepoError> {
        held.at
            .iter()
            .map(|&i| self.stores[i].remove(&held.manifest))
            .sum()
    }

    /// Applies `policy` to the backups of `source` wherever they are, and
    /// (unless `dry_run`) deletes the forgotten ones everywhere. A backup
    /// pinned since the listing, here or by another machine, is kept.
    pub fn prune(
        &self,
        source: &str,
        policy: &Policy,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<Pruned, RepoError> {
        check_source(source)?;
        let held = self.backups_of(source);
        let backups = held.iter().map(|h| h.manifest.clone()).collect();
        let mut pruned = Pruned {
            source: source.to_string(),
            decisions: retention::apply(policy, backups, now, None),
            deleted: Vec::new(),
            failed: Vec::new(),
        };
        if dry_run {
            return Ok(pruned);
        }
        let doomed: Vec<&Held> = pruned
            .forgotten()
            .filter_map(|m| held.iter().find(|h| h.manifest.id == m.id))
            .collect();
        for h in doomed {
            let id = h.manifest.id.clone();
            match self.prune_held(h) {
                Ok(Some(bytes)) => pruned.deleted.push((id, bytes)),
                Ok(None) => pruned.keep_pinned(&id),
                Err(e) => pruned.failed.push((id, e.to_string())),
            }
        }
        Ok(pruned)
    }

    /// Deletes every copy of `h` unless one is pinned now; the bytes freed,
    /// `None` when it is kept. The last store (S3, which other machines
    /// share) goes first, each removal atomic against a pin there.
    fn prune_held(&self, h: &Held) -> Result<Option<u64>, RepoError> {
        if self.pinned_now(h)? {
            return Ok(None);
        }
        let mut freed = 0;
        for &i in h.at.iter().rev() {
            match self.stores[i].remove_unpinned(&h.manifest)? {
                Some(bytes) => freed += bytes,
                None => return Ok(None),
            }
        }
        Ok(Some(freed))
    }

    /// Whether any copy of `h` is pinned now (its manifests read again).
    fn pinned_now(&self, h: &Held) -> Result<bool, RepoError> {
        for &i in &h.at {
            if self.stores[i]
                .reload(&h.manifest)?
                .is_some_and(|m| m.pinned)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Every backup once, newest first, from each store's manifests (in store
/// order: the first store's manifest wins when several hold one).
fn merge(listed: Vec<Vec<Manifest>>) -> Vec<Held> {
    let mut all: Vec<Held> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, manifests) in listed.into_iter().enumerate() {
        for m in manifests {
            match index.get(&m.id) {
                Some(&at) => all[at].at.push(i),
                None => {
                    index.insert(m.id.clone(), all.len());
                    all.push(Held {
                        manifest: m,
                        at: vec![i],
                    });
                }
            }
        }
    }
    all.sort_by(|a, b| {
        (b.manifest.created_at, &b.manifest.id).cmp(&(a.manifest.created_at, &a.manifest.id))
    });
    all
}
