//! Why an operation did not do what it was asked (docs/architecture.md §2):
//! one variant per kind of answer the CLI turns into an exit code.

use crate::drill::report::Verdict;
use crate::engine::Outcome;
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::source::Source;

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The runbook is wrong (exit 1); rendered from its source.
    #[error("invalid runbook {}", .runbook.name)]
    Invalid {
        diagnostics: Vec<Diagnostic>,
        runbook: Box<Source>,
    },
    /// Runbooks that did not validate (exit 1), or could not be read at all
    /// (`unreadable`, exit 2); each was reported as it was found.
    #[error("{invalid} runbook(s) invalid, {unreadable} unreadable")]
    InvalidRunbooks { invalid: usize, unreadable: usize },
    /// The invocation is wrong: unknown runbook, bad `--set`, an unreadable
    /// file (exit 2). One message per problem.
    #[error("{}", .0.join("; "))]
    Usage(Vec<String>),
    /// Refused before anything was changed: a plan that predicts a failure,
    /// a destructive run that nobody confirmed (exit 2).
    #[error("{0}")]
    Refused(String),
    /// The person at the terminal did not confirm the destructive steps
    /// (exit 3); nothing was done.
    #[error("not confirmed; nothing was done")]
    NotConfirmed,
    /// What a saved plan or an interrupted run was made for changed since
    /// (exit 6); nothing was done.
    #[error("{0}")]
    Stale(String),
    /// Docker, a lock, the journal or the repository is unavailable (exit 5).
    #[error("{0}")]
    Unavailable(String),
    /// Part of the work could not be done (deletions that failed, what
    /// `drills gc` could not remove); the rest went through (exit 5). One
    /// message per problem.
    #[error("{}", .0.join("; "))]
    PartlyDone(Vec<String>),
    /// Some backups failed verification (exit 3); the report says which.
    #[error("{failed} backup(s) failed verification")]
    Unverified { failed: usize },
    /// Some backups could not be checked without their key (exit 5).
    #[error("{0} backup(s) could not be checked without their age key")]
    Unchecked(usize),
    /// There is nothing to do: a run that already finished (exit 3).
    #[error("{0}")]
    Finished(String),
    /// `lifeboat demo` did not come out as it should (exit 3): a phase of
    /// its story failed.
    #[error("{0}")]
    Demo(String),
    /// The run failed; `outcome` says whether it was rolled back (exit 3).
    #[error("run {run_id} {}", .outcome.word())]
    Failed { run_id: String, outcome: Outcome },
    /// A rollback did not complete: a person is needed (exit 4).
    #[error("run {run_id} {}", Outcome::RollbackFailed.word())]
    RollbackIncomplete { run_id: String },
    /// A drill ran and did not pass (exit 10 a check failed, 11 an
    /// objective was missed, 12 it could not run); its report says why.
    /// Never `Verdict::Passed`.
    #[error("drill {}", .verdict.headline())]
    Drill { verdict: Verdict },
    /// A scheduled job's run (a child `lifeboat run` or `lifeboat drill`,
    /// `schedule --once`) did not succeed; it has said why on its own
    /// stderr. The exit code is the child's own (its `OpError`'s code, or a
    /// drill's verdict); 3 when it had none: killed by a signal, or it could
    /// not be started.
    #[error("job {job} failed{}", .exit_code.map(|c| format!(" (exit {c})")).unwrap_or_default())]
    JobFailed { job: String, exit_code: Option<i32> },
}

impl OpError {
    pub fn usage(message: impl Into<String>) -> Self {
        OpError::Usage(vec![message.into()])
    }

    /// A compile failure of `source`.
    pub fn from_compile(failure: crate::compile::Failure, source: &Source) -> Self {
        match failure {
            crate::compile::Failure::Invalid(diagnostics) => OpError::Invalid {
                diagnostics,
                runbook: Box::new(source.clone()),
            },
            crate::compile::Failure::Usage(problems) => OpError::Usage(problems),
        }
    }

    /// A repository error: unknown ids and names are usage errors, the
    /// rest (I/O, unreadable manifests) make the repository unavailable.
    pub fn from_repo(e: crate::repo::RepoError) -> Self {
        use crate::repo::RepoError as R;
        match e {
            R::NotFound { .. }
            | R::Gone { .. }
            | R::WrongSource { .. }
            | R::NoBackup { .. }
            | R::InvalidSource(_) => OpError::usage(e.to_string()),
            _ => OpError::Unavailable(e.to_string()),
        }
    }

    /// A runbook file that could not be read: one that holds no runbook
    /// text (not UTF-8, too large) is invalid, with its position; a path
    /// that cannot be read is a usage error. `what` names it ("the plan's
    /// runbook") in the second case, when given.
    pub fn from_read(e: &crate::runbook::parse::ReadError, what: Option<&str>) -> Self {
        match e.diagnostic() {
            Some((source, diagnostic)) => OpError::Invalid {
                diagnostics: vec![diagnostic],
                runbook: Box::new(source),
            },
            None => match what {
                Some(what) => OpError::usage(format!("{what}: {e}")),
                None => OpError::usage(e.to_string()),
            },
        }
    }
}
