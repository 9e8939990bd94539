//! Every step kind the compiler knows: its arguments, outputs and effect.
//!
//! This table is the single source for argument checking, the plan's
//! symbols and summary, the safety rule and the JSON schema. Executors
//! (`src/steps/`) implement the same names.

pub use crate::model::effect::{Category, Effect};

/// The type of one argument under `with:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    /// The name of a container target.
    Container,
    /// The name of a volume target.
    Volume,
    /// A list of volume targets.
    Volumes,
    Str,
    Url,
    Int,
    /// A whole number of 0 or more (fits in 32 bits).
    Count,
    Bool,
    Duration,
    /// A retention duration in restic's units: `30d`, `6m` (months), `1y6m`, `36h`.
    RetentionDuration,
    /// A list of tag lists (`a,b`: both tags).
    TagLists,
    /// An IANA time zone name (`UTC`, `Europe/Berlin`).
    TimeZone,
    /// A command: a list of strings (argv), or one string when `shell: true`.
    Command,
    StrList,
    StrMap,
    OneOf(&'static [&'static str]),
    /// `latest`, `latest-verified`, a backup id, or a template giving one.
    BackupRef,
    /// An `expect:` mapping with these keys.
    Expect(&'static [&'static str]),
    /// Any JSON-like value (a request body).
    Any,
}

impl ArgType {
    pub fn describe(self) -> String {
        match self {
            ArgType::Container => "the name of a container target".into(),
            ArgType::Volume => "the name of a volume target".into(),
            ArgType::Volumes => "a list of volume targets".into(),
            ArgType::Str => "a string".into(),
            ArgType::Url => "a URL".into(),
            ArgType::Int => "an integer".into(),
            ArgType::Count => "a count (a whole number, 0 or more)".into(),
            ArgType::Bool => "true or false".into(),
            ArgType::Duration => "a duration such as `30s`".into(),
            ArgType::RetentionDuration => {
                "a retention duration such as `30d` or `6m` (y, m = months, d, h)".into()
            }
            ArgType::TagLists => "a list of tags or tag lists (`a,b`: both)".into(),
            ArgType::TimeZone => "a time zone such as `UTC` or `Europe/Berlin`".into(),
            ArgType::Command => "a command as a list, e.g. [redis-cli, PING]".into(),
            ArgType::StrList => "a list of strings".into(),
            ArgType::StrMap => "a mapping of strings".into(),
            ArgType::OneOf(values) => format!("one of {}", values.join(", ")),
            ArgType::BackupRef => {
                "`latest`, `latest-verified`, `run:<run id>` or a backup id".into()
            }
            ArgType::Expect(keys) => format!("a mapping with any of {}", keys.join(", ")),
            ArgType::Any => "any value".into(),
        }
    }
}

/// One argument of a step kind.
#[derive(Debug)]
pub struct ArgSpec {
    pub name: &'static str,
    pub ty: ArgType,
    pub required: bool,
    pub default: Option<&'static str>,
    pub help: &'static str,
}

/// What a step destroys, or what a backup step protects: the argument naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The target named by this argument (a volume or a container).
    Target(&'static str),
    /// A backup source named by this string argument (`http.*`).
    Source(&'static str),
    /// Every volume of the compose project named by this argument
    /// (`compose.down` with `volumes: true`).
    ComposeVolumes(&'static str),
}

/// A step kind.
#[derive(Debug)]
pub struct KindSpec {
    pub name: &'static str,
    pub summary: &'static str,
    /// `None`: the step declares it (`readonly: true` makes it a read).
    pub effect: Option<Effect>,
    pub category: Category,
    pub args: &'static [ArgSpec],
    pub outputs: &'static [&'static str],
    /// For destructive kinds: what they destroy. For backup kinds: what they protect.
    pub subject: Option<Subject>,
    /// Arguments of which exactly one must be given (none of them is required alone).
    pub one_of: &'static [&'static str],
    /// A boolean argument that, when true, makes the step destroy its
    /// subject (`compose.down` with `volumes: true`); when it is decided at
    /// run time, the step counts as destructive.
    pub destroys_when: Option<&'static str>,
}

impl KindSpec {
    pub fn arg(&self, name: &str) -> Option<&ArgSpec> {
        self.args.iter().find(|a| a.name == name)
    }

    pub fn is_backup(&self) -> bool {
        self.category == Category::Backup
    }

    /// The verb used in the summary for destructive steps.
    pub fn verb(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }
}

const fn req(name: &'static str, ty: ArgType, help: &'static str) -> ArgSpec {
    ArgSpec {
        name,
        ty,
        required: true,
        default: None,
        help,
    }
}

const fn opt(name: &'static str, ty: ArgType, help: &'static str) -> ArgSpec {
    ArgSpec {
        name,
        ty,
        required: false,
        default: None,
        help,
    }
}

const fn def(
    name: &'static str,
    ty: ArgType,
    default: &'static str,
    help: &'static str,
) -> ArgSpec {
    ArgSpec {
        name,
        ty,
        required: false,
        default: Some(default),
        help,
    }
}

const WAIT: ArgType = ArgType::OneOf(&["running", "healthy"]);
const EXEC_EXPECT: ArgType = ArgType::Expect(&[
    "exit_code",
    "stdout_matches",
    "stdout_contains",
    "stderr_matches",
]);
const HTTP_EXPECT: ArgType = ArgType::Expect(&["status", "body_matches", "body_contains"]);
const METHOD: ArgType = ArgType::OneOf(&["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);

/// Every kind, in the order `lifeboat kinds` lists them.
pub static KINDS: &[KindSpec] = &[
    KindSpec {
        name: "container.stop",
        summary: "stop a container (SIGTERM, then SIGKILL after the timeout)",
        effect: Some(Effect::Mutate),
        category: Category::Stop,
        args: &[
            req("container", ArgType::Container, "the container target"),
            def(
                "timeout",
                ArgType::Duration,
                "30s",
                "grace period before SIGKILL",
            ),
        ],
        outputs: &["was_running"],
        subject: None,
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "container.start",
        summary: "start a container and wait until it is running or healthy",
        effect: Some(Effect::Mutate),
        category: Category::Start,
        args: &[
            req("container", ArgType::Container, "the container target"),
            def("wait", WAIT, "running", "what to wait for"),
            def("timeout", ArgType::Duration, "60s", "how long to wait"),
        ],
        outputs: &[],
        subject: None,
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "container.restart",
        summary: "restart a container and wait until it is running or healthy",
        effect: Some(Effect::Mutate),
        category: Category::Start,
        args: &[
            req("container", ArgType::Container, "the container target"),
            def("wait", WAIT, "running", "what to wait for"),
            def("timeout", ArgType::Duration, "60s", "how long to wait"),
        ],
        outputs: &[],
        subject: None,
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "container.exec",
        summary: "run a command in a container; `readonly: true` declares it a check",
        effect: None,
        category: Category::Change,
        args: &[
            req("container", ArgType::Container, "the container target"),
            req(
                "command",
                ArgType::Command,
                "argv, e.g. [redis-cli, DBSIZE]",
            ),
            def(
                "shell",
                ArgType::Bool,
                "false",
                "run `command` (one string) with sh -c",
            ),
            opt("env", ArgType::StrMap, "environment variables"),
            opt("user", ArgType::Str, "user[:group] to run as"),
            opt("workdir", ArgType::Str, "working directory"),
            opt(
                "expect",
                EXEC_EXPECT,
                "conditions on exit code and output (default: exit code 0)",
            ),
        ],
        outputs: &["stdout", "stderr", "exit_code"],
        subject: None,
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "container.recreate",
        summary: "recreate a container with the same config and another image; the old one is kept until the new one is healthy",
        effect: Some(Effect::Destroy),
        category: Category::Destructive,
        args: &[
            req("container", ArgType::Container, "the container target"),
            req("image", ArgType::Str, "the image of the new container"),
            def("wait", WAIT, "healthy", "what the new container must reach"),
            def(
                "timeout",
                ArgType::Duration,
                "120s",
                "how long to wait for it",
            ),
        ],
        outputs: &["previous_image", "container_id"],
        subject: Some(Subject::Target("container")),
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "volume.create",
        summary: "create a volume",
        effect: Some(Effect::Mutate),
        category: Category::Change,
        args: &[
            req("volume", ArgType::Volume, "the volume target"),
            opt("labels", ArgType::StrMap, "labels of the new volume"),
        ],
        outputs: &[],
        subject: None,
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "volume.remove",
        summary: "remove a volume and everything in it",
        effect: Some(Effect::Destroy),
        category: Category::Destructive,
        args: &[req("volume", ArgType::Volume, "the volume target")],
        outputs: &[],
        subject: Some(Subject::Target("volume")),
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "volume.backup",
        summary: "archive a volume (tar + zstd + sha256) into the repository",
        effect: Some(Effect::Mutate),
        category: Category::Backup,
        args: &[
            req("volume", ArgType::Volume, "the volume target"),
            opt(
                "tags",
                ArgType::StrList,
                "tags recorded in the manifest, e.g. [safety]",
            ),
            opt(
                "facts",
                ArgType::StrMap,
                "facts about the data, recorded in the manifest for drills to check \
                 (e.g. `rows: \"{{ steps['count'].stdout }}\"`)",
            ),
        ],
        outputs: &["backup_id", "sha256", "bytes"],
        subject: Some(Subject::Target("volume")),
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "volume.restore",
        summary: "verify a backup's sha256, empty the volume, extract the backup into it",
        effect: Some(Effect::Destroy),
        category: Category::Destructive,
        args: &[
            req("volume", ArgType::Volume, "the volume to restore into"),
            req("backup", ArgType::BackupRef, "which backup"),
            opt(
                "from",
                ArgType::Volume,
                "restore another volume's backups (default: this volume's)",
            ),
        ],
        outputs: &["backup_id"],
        subject: Some(Subject::Target("volume")),
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "exec.backup",
        summary: "stream a command's stdout into the repository (e.g. pg_dump -Fc)",
        effect: Some(Effect::Mutate),
        category: Category::Backup,
        args: &[
            req("container", ArgType::Container, "the container target"),
            req("command", ArgType::Command, "the dump command"),
            req("name", ArgType::Str, "the backup source name, e.g. shop-db"),
            opt("env", ArgType::StrMap, "environment variables"),
            opt("user", ArgType::Str, "user to run as"),
            opt("tags", ArgType::StrList, "tags recorded in the manifest"),
            opt(
                "facts",
                ArgType::StrMap,
                "facts about the data, recorded in the manifest for drills to check \
                 (e.g. `rows: \"{{ steps['count'].stdout }}\"`)",
            ),
        ],
        outputs: &["backup_id", "sha256", "bytes"],
        subject: Some(Subject::Target("container")),
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "exec.restore",
        summary: "stream a backup into a command's stdin (e.g. pg_restore)",
        effect: Some(Effect::Destroy),
        category: Category::Destructive,
        args: &[
            req("container", ArgType::Container, "the container target"),
            req("command", ArgType::Command, "the restore command"),
            req("name", ArgType::Str, "the backup source name"),
            req("backup", ArgType::BackupRef, "which backup"),
            opt("env", ArgType::StrMap, "environment variables"),
            opt("user", ArgType::Str, "user to run as"),
        ],
        outputs: &["backup_id"],
        subject: Some(Subject::Target("container")),
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "http.request",
        summary: "an HTTP request with expectations; GET and HEAD, or `readonly: true`, make it a check",
        effect: None,
        category: Category::Change,
        args: &[
            req("url", ArgType::Url, "the URL"),
            def("method", METHOD, "GET", "the method"),
            opt("headers", ArgType::StrMap, "request headers"),
            opt("body", ArgType::Any, "a JSON body"),
            opt(
                "expect",
                HTTP_EXPECT,
                "conditions on status and body (default: a 2xx status)",
            ),
            def(
                "timeout",
                ArgType::Duration,
                "30s",
                "time limit of the request",
            ),
        ],
        outputs: &["status", "body"],
        subject: None,
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "http.backup",
        summary: "download a response body into the repository (e.g. a Qdrant snapshot)",
        effect: Some(Effect::Mutate),
        category: Category::Backup,
        args: &[
            req("url", ArgType::Url, "where to download the body from"),
            req(
                "name",
                ArgType::Str,
                "the backup source name, e.g. qdrant-products",
            ),
            def("method", METHOD, "GET", "the method"),
            opt("headers", ArgType::StrMap, "request headers"),
            opt("tags", ArgType::StrList, "tags recorded in the manifest"),
            opt(
                "facts",
                ArgType::StrMap,
                "facts about the data, recorded in the manifest for drills to check \
                 (e.g. `rows: \"{{ steps['count'].stdout }}\"`)",
            ),
        ],
        outputs: &["backup_id", "sha256", "bytes"],
        subject: Some(Subject::Source("name")),
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "http.restore",
        summary: "upload a backup as a request body (e.g. a Qdrant snapshot upload)",
        effect: Some(Effect::Destroy),
        category: Category::Destructive,
        args: &[
            req("url", ArgType::Url, "where to upload"),
            req("name", ArgType::Str, "the backup source name"),
            req("backup", ArgType::BackupRef, "which backup"),
            def("method", METHOD, "POST", "the method"),
            opt(
                "multipart_field",
                ArgType::Str,
                "send as multipart/form-data under this field",
            ),
            opt("headers", ArgType::StrMap, "request headers"),
        ],
        outputs: &["backup_id", "status"],
        subject: Some(Subject::Source("name")),
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "backup.verify",
        summary: "check a backup's sha256; `deep` also decompresses it and reads every tar header",
        effect: Some(Effect::Read),
        category: Category::Check,
        args: &[
            req("backup", ArgType::BackupRef, "which backup"),
            opt("volume", ArgType::Volume, "whose backups `latest` means"),
            opt("name", ArgType::Str, "or: the backup source name"),
            def(
                "deep",
                ArgType::Bool,
                "false",
                "decompress and scan the archive too",
            ),
        ],
        outputs: &["backup_id", "sha256"],
        subject: None,
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
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
        destroys_when: None,
    },
    KindSpec {
        name: "compose.up",
        summary: "bring up a compose project from a compose file (drills)",
        effect: Some(Effect::Mutate),
        category: Category::Start,
        args: &[
            req("file", ArgType::Str, "the compose file"),
            req("project", ArgType::Str, "the compose project name"),
            opt("services", ArgType::StrList, "only these services"),
            def(
                "wait",
                ArgType::Bool,
                "true",
                "wait until every service is healthy",
            ),
        ],
        outputs: &["project", "created_volumes", "created_networks"],
        subject: None,
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "compose.down",
        summary: "take a compose project down (drills); with `volumes: true` it removes the project's volumes: DESTRUCTIVE",
        effect: Some(Effect::Mutate),
        category: Category::Stop,
        args: &[
            req("file", ArgType::Str, "the compose file"),
            req("project", ArgType::Str, "the compose project name"),
            def("volumes", ArgType::Bool, "false", "also remove its volumes"),
        ],
        outputs: &["removed_volumes", "removed_networks", "left_over"],
        subject: Some(Subject::ComposeVolumes("project")),
        one_of: &[],
        destroys_when: Some("volumes"),
    },
    KindSpec {
        name: "gate.confirm",
        summary: "wait for a person to type yes (skipped by --yes, refused when not interactive)",
        effect: Some(Effect::Read),
        category: Category::Gate,
        args: &[req("message", ArgType::Str, "the question")],
        outputs: &[],
        subject: None,
        one_of: &[],
        destroys_when: None,
    },
    KindSpec {
        name: "notify.webhook",
        summary: "POST a JSON summary of the run so far",
        effect: Some(Effect::Read),
        category: Category::Notify,
        args: &[
            req("url", ArgType::Url, "the webhook URL"),
            opt("message", ArgType::Str, "a message included in the payload"),
            opt("headers", ArgType::StrMap, "request headers"),
        ],
        outputs: &["status"],
        subject: None,
        one_of: &[],
        destroys_when: None,
    },
];

pub fn kind(name: &str) -> Option<&'static KindSpec> {
    KINDS.iter().find(|k| k.name == name)
}

pub fn kind_names() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|k| k.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_destructive_kinds_name_their_subject() {
        let mut names: Vec<_> = kind_names().collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
        for k in KINDS {
            if k.effect == Some(Effect::Destroy) || k.is_backup() || k.destroys_when.is_some() {
                let arg = match k.subject {
                    Some(Subject::Target(a) | Subject::Source(a) | Subject::ComposeVolumes(a)) => a,
                    None => panic!("{} has no subject", k.name),
                };
                assert!(
                    k.arg(arg).is_some_and(|a| a.required),
                    "{}: subject `{arg}` must be a required arg",
                    k.name
                );
            }
        }
    }
}
