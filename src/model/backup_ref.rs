//! Which backup a reference names: `latest`, `latest-verified`,
//! `run:<run id>` or a backup id, among candidates (docs/architecture.md §3).
//! The one place this is decided: the plan resolves over the world's
//! backups (`World::resolve_backup`), a running step over the repository's
//! manifests (`LocalRepo::resolve`); both ask [`pick`].

use jiff::Timestamp;

/// The prefix of a run-set reference: `run:<run id>` means the backup of
/// each source that run took (the newest, if it took several).
pub const RUN_PREFIX: &str = "run:";

/// The tag of safety backups: what a run saved right before a destructive
/// step, i.e. the data as found during an incident (an emptied volume, a
/// table with bad rows). `latest` and `latest-verified` skip them, or a second
/// attempt after a failed run would "restore" the damage the first one saved;
/// they stay restorable by id (rollbacks use ids).
pub const SAFETY_TAG: &str = "safety";

/// Whether `tags` mark a safety backup.
pub fn is_safety(tags: &[String]) -> bool {
    tags.iter().any(|t| t == SAFETY_TAG)
}

/// What [`pick`] needs to know of a backup.
pub trait BackupFacts {
    fn id(&self) -> &str;
    /// What was backed up: a volume name, or the `name` of an exec/http backup.
    fn source(&self) -> &str;
    fn created_at(&self) -> Timestamp;
    fn tags(&self) -> &[String];
    /// Whether its last verification passed.
    fn verified(&self) -> bool;
    /// The run that took it.
    fn run_id(&self) -> Option<&str>;
}

/// A backup reference as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference<'a> {
    Latest,
    LatestVerified,
    /// `run:<run id>`.
    Run(&'a str),
    /// Anything else: a backup id.
    Id(&'a str),
}

impl<'a> Reference<'a> {
    pub fn parse(reference: &'a str) -> Self {
        match reference {
            "latest" => Self::Latest,
            "latest-verified" => Self::LatestVerified,
            r => match r.strip_prefix(RUN_PREFIX) {
                Some(run) => Self::Run(run),
                None => Self::Id(r),
            },
        }
    }
}

/// Why a reference names no backup of a source.
#[derive(Debug, PartialEq)]
pub enum Unresolved<'a, B> {
    /// An id that no candidate has.
    UnknownId,
    /// An id of a backup of another source.
    OtherSource(&'a B),
    /// `run:<id>`: that run took no backup of the source.
    NotInRun,
    /// `latest*`: the source has no backups at all.
    NoBackups,
    /// `latest*`: every backup of the source was written by the excluded run
    /// or is a safety backup.
    OnlyExcluded(Skipped<'a, B>),
    /// `latest-verified`: backups remain, none of them verified.
    Unverified {
        /// How many were not verified (safety and excluded ones not counted).
        count: usize,
        skipped: Skipped<'a, B>,
    },
}

/// What `latest*` left out.
#[derive(Debug, PartialEq)]
pub struct Skipped<'a, B> {
    /// Every backup of the source.
    pub total: usize,
    /// Those written by the excluded run.
    pub own_run: usize,
    /// Safety backups (not written by the excluded run), newest first.
    pub safety: Vec<&'a B>,
}

/// The backup of `source` that `reference` names among `candidates` (of any
/// source). Newest means greatest (created_at, id); `latest*` never pick a
/// safety backup ([`SAFETY_TAG`]) nor one written by run `exclude_run`.
pub fn pick<'a, B: BackupFacts>(
    candidates: &'a [B],
    source: &str,
    reference: Reference<'_>,
    exclude_run: Option<&str>,
) -> Result<&'a B, Unresolved<'a, B>> {
    let mut of_source: Vec<&B> = candidates.iter().filter(|b| b.source() == source).collect();
    of_source.sort_by(|a, b| (b.created_at(), b.id()).cmp(&(a.created_at(), a.id())));
    match reference {
        Reference::Id(id) => match candidates.iter().find(|b| b.id() == id) {
            Some(b) if b.source() != source => Err(Unresolved::OtherSource(b)),
            Some(b) => Ok(b),
            None => Err(Unresolved::UnknownId),
        },
        Reference::Run(run) => of_source
            .into_iter()
            .find(|b| b.run_id() == Some(run))
            .ok_or(Unresolved::NotInRun),
        Reference::Latest => newest(of_source, false, exclude_run),
        Reference::LatestVerified => newest(of_source, true, exclude_run),
    }
}

/// The first of `newest_first` that `latest*` may mean, or why none.
fn newest<'a, B: BackupFacts>(
    newest_first: Vec<&'a B>,
    verified_only: bool,
    exclude_run: Option<&str>,
) -> Result<&'a B, Unresolved<'a, B>> {
    if newest_first.is_empty() {
        return Err(Unresolved::NoBackups);
    }
    let total = newest_first.len();
    let own = |b: &B| exclude_run.is_some() && b.run_id() == exclude_run;
    let own_run = newest_first.iter().filter(|b| own(b)).count();
    let (safety, candidates): (Vec<&B>, Vec<&B>) = newest_first
        .into_iter()
        .filter(|b| !own(b))
        .partition(|b| is_safety(b.tags()));
    let count = candidates.len();
    if let Some(b) = candidates
        .into_iter()
        .find(|b| !verified_only || b.verified())
    {
        return Ok(b);
    }
    let skipped = Skipped {
        total,
        own_run,
        safety,
    };
    if count == 0 {
        Err(Unresolved::OnlyExcluded(skipped))
    } else {
        Err(Unresolved::Unverified { count, skipped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct B {
        id: &'static str,
        source: &'static str,
        minute: i64,
        tags: Vec<String>,
        verified: bool,
        run: Option<&'static str>,
    }

    impl BackupFacts for B {
        fn id(&self) -> &str {
            self.id
        }
        fn source(&self) -> &str {
            self.source
        }
        fn created_at(&self) -> Timestamp {
            Timestamp::from_second(1_800_000_000 + self.minute * 60).unwrap()
        }
        fn tags(&self) -> &[String] {
            &self.tags
        }
        fn verified(&self) -> bool {
            self.verified
        }
        fn run_id(&self) -> Option<&str> {
            self.run
        }
    }

    fn b(id: &'static str, minute: i64, safety: bool, verified: bool, run: &'static str) -> B {
        B {
            id,
            source: "pg",
            minute,
            tags: if safety {
                vec![SAFETY_TAG.into()]
            } else {
                vec![]
            },
            verified,
            run: Some(run),
        }
    }

    fn id<'a>(r: Result<&'a B, Unresolved<'a, B>>) -> &'static str {
        r.map(|b| b.id).unwrap_or("-")
    }

    #[test]
    fn references_parse() {
        assert_eq!(Reference::parse("latest"), Reference::Latest);
        assert_eq!(
            Reference::parse("latest-verified"),
            Reference::LatestVerified
        );
        assert_eq!(Reference::parse("run:r1"), Reference::Run("r1"));
        assert_eq!(
            Reference::parse("20261121T020000Z-a1b2c3"),
            Reference::Id("20261121T020000Z-a1b2c3")
        );
    }

    #[test]
    fn latest_is_the_newest_by_time_then_id_and_never_a_safety_backup() {
        let all = [
            b("a", 0, false, true, "r1"),
            b("c", 10, false, false, "r2"),
            b("b", 10, false, false, "r2"),
            b("s", 20, true, true, "r3"),
        ];
        assert_eq!(id(pick(&all, "pg", Reference::Latest, None)), "c");
        assert_eq!(id(pick(&all, "pg", Reference::LatestVerified, None)), "a");
        // By id a safety backup is still restorable.
        assert_eq!(id(pick(&all, "pg", Reference::Id("s"), None)), "s");
    }

    #[test]
    fn latest_skips_the_excluded_run() {
        let all = [
            b("old", 0, false, true, "r1"),
            b("mine", 5, false, true, "r2"),
        ];
        assert_eq!(id(pick(&all, "pg", Reference::Latest, Some("r2"))), "old");
        assert_eq!(id(pick(&all, "pg", Reference::Latest, None)), "mine");
        // Neither `run:` nor an id is subject to the exclusion.
        assert_eq!(
            id(pick(&all, "pg", Reference::Run("r2"), Some("r2"))),
            "mine"
        );
        assert_eq!(
            id(pick(&all, "pg", Reference::Id("mine"), Some("r2"))),
            "mine"
        );
    }

    #[test]
    fn an_id_of_another_source_is_refused_and_an_unknown_one_is_none() {
        let mut redis = b("r", 0, false, true, "r1");
        redis.source = "redis";
        let all = [redis, b("p", 1, false, true, "r1")];
        assert_eq!(
            pick(&all, "pg", Reference::Id("r"), None),
            Err(Unresolved::OtherSource(&all[0]))
        );
        assert_eq!(
            pick(&all, "pg", Reference::Id("nope"), None),
            Err(Unresolved::UnknownId)
        );
        // A run set picks per source.
        assert_eq!(id(pick(&all, "pg", Reference::Run("r1"), None)), "p");
        assert_eq!(id(pick(&all, "redis", Reference::Run("r1"), None)), "r");
        assert_eq!(
            pick(&all, "pg", Reference::Run("r9"), None),
            Err(Unresolved::NotInRun)
        );
    }

    #[test]
    fn no_backups_at_all() {
        let all = [b("p", 1, false, true, "r1")];
        assert_eq!(
            pick(&all, "other", Reference::Latest, None),
            Err(Unresolved::NoBackups)
        );
        assert_eq!(
            pick(&all[..0], "pg", Reference::LatestVerified, None),
            Err(Unresolved::NoBackups)
        );
    }

    #[test]
    fn only_safety_and_own_backups_say_so() {
        let all = [
            b("s1", 0, true, true, "r1"),
            b("s2", 3, true, true, "r1"),
            b("mine", 5, false, true, "r2"),
        ];
        for reference in [Reference::Latest, Reference::LatestVerified] {
            assert_eq!(
                pick(&all, "pg", reference, Some("r2")),
                Err(Unresolved::OnlyExcluded(Skipped {
                    total: 3,
                    own_run: 1,
                    safety: vec![&all[1], &all[0]],
                }))
            );
        }
        // Safety only, nothing excluded.
        assert_eq!(
            pick(&all[..2], "pg", Reference::Latest, None),
            Err(Unresolved::OnlyExcluded(Skipped {
                total: 2,
                own_run: 0,
                safety: vec![&all[1], &all[0]],
            }))
        );
    }

    #[test]
    fn latest_verified_with_unverified_ones_only() {
        let all = [
            b("u1", 0, false, false, "r1"),
            b("u2", 1, false, false, "r1"),
            b("s", 2, true, true, "r1"),
        ];
        assert_eq!(
            pick(&all, "pg", Reference::LatestVerified, None),
            Err(Unresolved::Unverified {
                count: 2,
                skipped: Skipped {
                    total: 3,
                    own_run: 0,
                    safety: vec![&all[2]],
                },
            })
        );
        assert_eq!(id(pick(&all, "pg", Reference::Latest, None)), "u2");
    }
}
