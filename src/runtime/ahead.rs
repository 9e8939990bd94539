//! Verifying ahead (docs/architecture.md §6). The backups a run's `volume.restore` steps will read
//! (pinned by the plan) are fetched — from the off-site store, when they are
//! not local — and verified (pass 1: sha256, zstd, every tar header) as soon
//! as the run's first step starts, while its containers stop and its safety
//! backups are taken: those touch other data. A restore step then takes its
//! verified backup instead of reading it once more; it still awaits the
//! verification before the volume is touched (docs/architecture.md §6), and
//! still reads every byte a second time on the way to Docker (pass 2 hashes
//! and scans again). A backup that failed to verify ahead is verified again
//! by the step itself, which reports why it fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::Ports;
use crate::repo::VerifiedBackup;

/// Backup ids of the restore steps not started yet, then their verifications.
#[derive(Default)]
pub struct Ahead {
    /// Step id → backup id, until [`Ahead::start`].
    planned: Mutex<Vec<(String, String)>>,
    /// Step id → (backup id, the verification's answer).
    started: Mutex<HashMap<String, (String, oneshot::Receiver<Verified>)>>,
}

type Verified = Result<VerifiedBackup, String>;

impl Ahead {
    /// `planned`: (step id, backup id) of the restores whose backup the plan
    /// pinned (not one known only at run time, such as a safety backup of
    /// this run); the executor picks them with the kinds' `restores_into`.
    pub fn new(planned: Vec<(String, String)>) -> Self {
        Self {
            planned: Mutex::new(planned),
            started: Mutex::default(),
        }
    }

    /// A resumed run: steps that already finished read nothing.
    pub fn forget(&self, step: &str) {
        lock(&self.planned).retain(|(s, _)| s != step);
    }

    /// Starts every planned verification (the first call does; later ones
    /// find nothing left to start).
    pub fn start(&self, ports: &Arc<Ports>) {
        let planned = std::mem::take(&mut *lock(&self.planned));
        let mut started = lock(&self.started);
        for (step, id) in planned {
            let (tx, rx) = oneshot::channel();
            tokio::spawn(verify(ports.clone(), id.clone(), tx));
            started.insert(step, (id, rx));
        }
    }

    /// The backup `id` for `step`, verified ahead: waits for the verification
    /// when it is still going. `None` when there was none for this step and
    /// backup, or it failed (the step verifies it again itself, and says why).
    pub async fn take(&self, step: &str, id: &str) -> Option<VerifiedBackup> {
        let (planned, rx) = lock(&self.started).remove(step)?;
        if planned != id {
            return None;
        }
        match rx.await {
            Ok(Ok(verified)) => Some(verified),
            Ok(Err(e)) => {
                tracing::debug!(step, id, "verifying ahead failed: {e}");
                None
            }
            Err(_) => None,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Fetches backup `id` when it is only off-site (or damaged here), then runs
/// pass 1 on a thread of its own: not tokio's blocking pool, which a run
/// that ends before the restore would have to wait for at exit.
async fn verify(ports: Arc<Ports>, id: String, answer: oneshot::Sender<Verified>) {
    if let Some(store) = &ports.remote {
        match store.fetch(&id).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = answer.send(Err(format!("backup {id} is not in {}", store.url())));
                return;
            }
            Err(e) => {
                let _ = answer.send(Err(format!("fetching backup {id}: {e}")));
                return;
            }
        }
    }
    let repo = ports.repo.clone();
    let spawned = std::thread::Builder::new()
        .name("lifeboat-verify-ahead".into())
        .spawn(move || {
            let _ = answer.send(repo.open_verified(&id).map_err(|e| e.to_string()));
        });
    if let Err(e) = spawned {
        tracing::debug!("cannot start verifying ahead: {e}");
    }
}
