//! What every step kind states about itself (docs/architecture.md §5): its
//! arguments with their types and defaults, outputs, base effect, and the
//! argument naming what it destroys or protects. The kinds (`src/kinds/`)
//! fill these in; the compiler, the schema, `lifeboat kinds` and the
//! executor read them.

pub use crate::model::effect::{Category, Effect};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    /// The name of a container target.
    Container,
    /// The name of a volume target.
    Volume,
    /// A list of volume targets.
    Volumes,
    /// A mapping of volume targets to where they are mounted (absolute paths).
    VolumeMounts,
    /// A list of paths inside a volume, relative to its root (`model::volume_path`).
    VolumePaths,
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
            ArgType::VolumeMounts => {
                "a mapping of volume targets to absolute mount paths, e.g. { redis-data: /data }"
                    .into()
            }
            ArgType::VolumePaths => {
                "a list of paths relative to the volume's root, e.g. [appendonlydir]".into()
            }
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

impl ArgSpec {
    /// The default as the plan and the executor hold it: a boolean for
    /// `Bool`, else the text as written.
    pub fn default_json(&self) -> Option<serde_json::Value> {
        let d = self.default?;
        Some(match self.ty {
            ArgType::Bool => serde_json::Value::Bool(d == "true"),
            _ => serde_json::Value::String(d.to_string()),
        })
    }
}

/// What a step destroys, or what a backup step protects: the argument naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The target named by this argument (a volume or a container).
    Target(&'static str),
    /// A backup source named by this string argument (`http.*`).
    Source(&'static str),
    /// The volume targets the container target named by this argument
    /// declares (`volumes: [..]`), or the container itself when it declares
    /// none: a recreated container loses what is not in a volume.
    ContainerData(&'static str),
    /// The volume targets this argument names: the keys of a mapping
    /// (`volume.run`'s `volumes:`).
    Volumes(&'static str),
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
}

impl KindSpec {
    pub fn arg(&self, name: &str) -> Option<&ArgSpec> {
        self.args.iter().find(|a| a.name == name)
    }

    pub fn is_backup(&self) -> bool {
        self.category == Category::Backup
    }

    /// A backup kind whose subject is a volume target (`volume.backup`).
    pub fn backs_up_volumes(&self) -> bool {
        self.is_backup()
            && matches!(self.subject, Some(Subject::Target(a)) if self.arg(a).is_some_and(|a| a.ty == ArgType::Volume))
    }

    /// The verb used in the summary for destructive steps.
    pub fn verb(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }
}

pub const fn req(name: &'static str, ty: ArgType, help: &'static str) -> ArgSpec {
    ArgSpec {
        name,
        ty,
        required: true,
        default: None,
        help,
    }
}

pub const fn opt(name: &'static str, ty: ArgType, help: &'static str) -> ArgSpec {
    ArgSpec {
        name,
        ty,
        required: false,
        default: None,
        help,
    }
}

pub const fn def(
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
