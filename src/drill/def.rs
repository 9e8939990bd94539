//! Drill definitions (`drills/*.yaml`): what a scheduled restore test
//! restores, into what, how it checks the data and what it is held to
//! (docs/architecture.md §8). Parsed like runbooks, with file:line:col errors.

use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::duration::parse_duration;
use crate::runbook::diagnostic::{Diagnostic, suggestion};
use crate::runbook::parse::{Kind, parse_document};
use crate::runbook::position_index::PositionIndex;
use crate::runbook::raw::{RawObjectives, Text};
use crate::runbook::source::Source;

pub const DRILL: Kind = Kind {
    noun: "drill",
    keys: "`drill:`, `stack:` and `restore:`",
};

/// The compose file a drill's throwaway stack comes from, unless it says.
pub const DEFAULT_COMPOSE: &str = "docker-compose.test.yml";

/// A restore test: restore a production stack's backups into a throwaway
/// copy of it, check the data, measure recovery time and point.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "lifeboat drill")]
pub struct RawDrill {
    /// The drill's name, e.g. `shop-restore`; `lifeboat drill NAME` finds it by this.
    pub drill: String,
    /// One or two sentences: what this drill proves.
    #[serde(default)]
    pub description: Option<String>,
    /// The stack to copy and whose backups to test.
    pub stack: RawStack,
    /// The restore to exercise: the same runbook an incident would use.
    pub restore: RawRestore,
    /// What the restored stack must answer. Every check is read-only.
    #[serde(default)]
    pub checks: Vec<RawCheck>,
    /// A command in the restored stack that prints the time of the newest
    /// write it holds (unix seconds or RFC 3339): the RPO is measured from it.
    #[serde(default)]
    pub sentinel: Option<RawExec>,
    /// Objectives to hold the drill to; default: the runbook's.
    #[serde(default)]
    pub objectives: Option<RawObjectives>,
    /// How often backups are taken (`24h`): the report adds it to the
    /// backup's age for the worst-case RPO.
    #[serde(default)]
    pub backup_interval: Option<Text>,
    /// Also require every container with a compose healthcheck to be healthy (default true).
    #[serde(default)]
    pub healthchecks: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStack {
    /// The compose file of the stack (default `docker-compose.test.yml`).
    #[serde(default)]
    pub compose: Option<String>,
    /// The compose project in production whose backups are restored.
    pub production: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRestore {
    /// The restore runbook, by name (from the runbooks directory).
    pub runbook: String,
    /// Params for the runbook; `project` is always the drill's own project.
    #[serde(default)]
    pub set: IndexMap<String, String>,
    /// Which backups: `latest` (default), `latest-verified`, `run:<run id>`,
    /// a backup id, or `random:<window>` (a random backup run within the
    /// window, e.g. `random:7d`).
    #[serde(default)]
    pub point: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    /// A short name, shown in reports (unique in the drill).
    pub name: String,
    /// Run a command in a service's container.
    #[serde(default)]
    pub exec: Option<RawExec>,
    /// What the command must answer.
    #[serde(default)]
    pub expect: Option<RawExpect>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExec {
    /// The compose service whose container runs the command.
    pub service: String,
    /// The command, as a list (argv).
    pub command: Vec<String>,
    /// The user to run it as.
    #[serde(default)]
    pub user: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// The exit code (default 0).
    #[serde(default)]
    pub exit_code: Option<i64>,
    /// The whole output, spaces at either end trimmed.
    #[serde(default)]
    pub stdout: Option<String>,
    /// A regular expression the output must match.
    #[serde(default)]
    pub stdout_matches: Option<String>,
    /// The output must equal this fact, recorded when the restored backup was taken.
    #[serde(default)]
    pub fact: Option<String>,
}

/// A drill, checked: every value typed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drill {
    pub name: String,
    pub description: Option<String>,
    pub compose: String,
    pub production: String,
    pub runbook: String,
    pub set: Vec<(String, String)>,
    pub point: RestorePoint,
    pub checks: Vec<Check>,
    pub sentinel: Option<Exec>,
    pub rto: Option<Duration>,
    pub rpo: Option<Duration>,
    pub backup_interval: Option<Duration>,
    pub healthchecks: bool,
}

/// Which backups a drill restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestorePoint {
    /// `latest`, `latest-verified`, `run:<id>` or an id: as a runbook's `backup:` param takes it.
    Reference(String),
    /// A random backup run (one that backed up every volume) within the window.
    RandomWithin(Duration),
}

impl std::fmt::Display for RestorePoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestorePoint::Reference(r) => f.write_str(r),
            RestorePoint::RandomWithin(d) => {
                write!(f, "random within {}", crate::model::duration::Human(*d))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub exec: Exec,
    pub expect: Expect,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exec {
    pub service: String,
    pub command: Vec<String>,
    pub user: Option<String>,
}

/// Where `restore.runbook` is written, for errors about the runbook it names.
pub fn runbook_span(source: &Source) -> Option<crate::runbook::source::Span> {
    PositionIndex::build(&source.text).value("restore.runbook")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expect {
    pub exit_code: i64,
    pub stdout: Option<String>,
    pub stdout_matches: Option<String>,
    pub fact: Option<String>,
}

/// Parses and checks a drill definition; every problem with its place.
pub fn parse(source: &Source) -> Result<Drill, Vec<Diagnostic>> {
    let (raw, index): (RawDrill, PositionIndex) = parse_document(source, DRILL)?;
    Checker {
        index: &index,
        errors: Vec::new(),
    }
    .check(raw)
}

/// The JSON Schema of drill files, for editors (`lifeboat schema --drill`).
pub fn schema_text() -> String {
    let schema = schemars::schema_for!(RawDrill);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// True when the YAML text is a drill (its first key is `drill:`), not a runbook.
pub fn is_drill(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("---"))
        .is_some_and(|l| l.starts_with("drill:"))
}

struct Checker<'a> {
    index: &'a PositionIndex,
    errors: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn check(mut self, raw: RawDrill) -> Result<Drill, Vec<Diagnostic>> {
        self.name(&raw.drill, "drill");
        self.name(&raw.stack.production, "stack.production");
        let point = self.point(raw.restore.point.as_deref());
        if let Some((name, _)) = raw.restore.set.iter().find(|(n, _)| *n == "project") {
            self.error(
                &format!("restore.set.{name}"),
                "`project` is the drill's own throwaway project; it cannot be set",
                "the production project is `stack.production`",
            );
        }
        let mut checks = Vec::new();
        for (i, c) in raw.checks.iter().enumerate() {
            if let Some(check) = self.check_one(i, c, &raw.checks[..i]) {
                checks.push(check);
            }
        }
        let duration = |me: &mut Self, text: Option<&Text>, path: &str| {
            text.and_then(|t| match parse_duration(&t.0) {
                Ok(d) => Some(d),
                Err(e) => {
                    me.error(
                        path,
                        &format!("`{}` is not a duration", t.0),
                        &e.to_string(),
                    );
                    None
                }
            })
        };
        let objectives = raw.objectives.as_ref();
        let rto = duration(
            &mut self,
            objectives.and_then(|o| o.rto.as_ref()),
            "objectives.rto",
        );
        let rpo = duration(
            &mut self,
            objectives.and_then(|o| o.rpo.as_ref()),
            "objectives.rpo",
        );
        let interval = duration(&mut self, raw.backup_interval.as_ref(), "backup_interval");
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        Ok(Drill {
            name: raw.drill,
            description: raw.description,
            compose: raw.stack.compose.unwrap_or_else(|| DEFAULT_COMPOSE.into()),
            production: raw.stack.production,
            runbook: raw.restore.runbook,
            set: raw.restore.set.into_iter().collect(),
            point: point.unwrap_or(RestorePoint::Reference("latest".into())),
            checks,
            sentinel: raw.sentinel.map(exec),
            rto,
            rpo,
            backup_interval: interval,
            healthchecks: raw.healthchecks.unwrap_or(true),
        })
    }

    fn error(&mut self, path: &str, message: &str, hint: &str) {
        self.errors.push(
            Diagnostic::new(message)
                .at(self.index.value(path))
                .hint(hint),
        );
    }

    /// Names end up in compose project, container and volume names.
    fn name(&mut self, name: &str, path: &str) {
        let ok = !name.is_empty()
            && name.len() <= 40
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            self.error(
                path,
                &format!("`{name}` cannot be part of a compose project name"),
                "use 1-40 lowercase letters, digits, `-` and `_`, starting with a letter or digit",
            );
        }
    }

    fn point(&mut self, text: Option<&str>) -> Option<RestorePoint> {
        let text = text?;
        if let Some(window) = text.strip_prefix("random:") {
            return match parse_duration(window) {
                Ok(d) => Some(RestorePoint::RandomWithin(d)),
                Err(e) => {
                    self.error(
                        "restore.point",
                        &format!("`{window}` is not a window such as `7d`"),
                        &e.to_string(),
                    );
                    None
                }
            };
        }
        if text.is_empty() || text.contains(char::is_whitespace) {
            self.error(
                "restore.point",
                &format!("`{text}` is not a restore point"),
                "use `latest`, `latest-verified`, `run:<run id>`, a backup id or `random:<window>`",
            );
            return None;
        }
        Some(RestorePoint::Reference(text.into()))
    }

    fn check_one(&mut self, i: usize, raw: &RawCheck, before: &[RawCheck]) -> Option<Check> {
        let path = format!("checks[{i}]");
        if before.iter().any(|b| b.name == raw.name) {
            self.error(
                &format!("{path}.name"),
                &format!("a check named `{}` is defined twice", raw.name),
                "give every check its own name",
            );
        }
        let Some(exec_raw) = &raw.exec else {
            self.errors.push(
                Diagnostic::new(format!("check `{}` says nothing to run", raw.name))
                    .at(self.index.key(&path))
                    .hint("add `exec: { service: ..., command: [...] }`"),
            );
            return None;
        };
        let e = raw.expect.as_ref();
        let expect = Expect {
            exit_code: e.and_then(|e| e.exit_code).unwrap_or(0),
            stdout: e.and_then(|e| e.stdout.clone()),
            stdout_matches: e.and_then(|e| e.stdout_matches.clone()),
            fact: e.and_then(|e| e.fact.clone()),
        };
        if let Some(re) = &expect.stdout_matches
            && let Err(err) = regex::Regex::new(re)
        {
            self.error(
                &format!("{path}.expect.stdout_matches"),
                "not a regular expression",
                &err.to_string(),
            );
        }
        if exec_raw.command.is_empty() {
            self.error(
                &format!("{path}.exec.command"),
                "the command is empty",
                "e.g. `command: [redis-cli, DBSIZE]`",
            );
        }
        Some(Check {
            name: raw.name.clone(),
            exec: exec(exec_raw.clone()),
            expect,
        })
    }
}

fn exec(raw: RawExec) -> Exec {
    Exec {
        service: raw.service,
        command: raw.command,
        user: raw.user,
    }
}

/// The drill's name close to `name`, for "did you mean".
pub fn closest<'a>(name: &str, names: impl IntoIterator<Item = &'a str>) -> Option<String> {
    suggestion(name, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse(&Source::new("d.yaml", text))
            .unwrap_err()
            .iter()
            .map(|d| {
                let at = d
                    .span
                    .map_or(String::new(), |s| format!("{}:{}: ", s.line, s.col + 1));
                format!("{at}{} ({})", d.message, d.hint.clone().unwrap_or_default())
            })
            .collect()
    }

    const GOOD: &str = "drill: shop\nstack: { production: demo }\nrestore: { runbook: full-data-loss, point: random:7d }\nchecks:\n  - name: rows\n    exec: { service: postgres, command: [psql, -c, 'select 1'] }\n    expect: { fact: customers }\nobjectives: { rto: 10m }\n";

    #[test]
    fn a_drill_parses_into_typed_values() {
        let d = parse(&Source::new("d.yaml", GOOD)).unwrap();
        assert_eq!(d.compose, DEFAULT_COMPOSE);
        assert_eq!(
            d.point,
            RestorePoint::RandomWithin(Duration::from_secs(7 * 86400))
        );
        assert_eq!(d.rto, Some(Duration::from_secs(600)));
        assert_eq!(d.rpo, None);
        assert_eq!(d.checks[0].expect.fact.as_deref(), Some("customers"));
        assert_eq!(d.checks[0].expect.exit_code, 0);
        assert!(d.healthchecks);
        assert!(is_drill(GOOD));
        assert!(!is_drill("# c\nrunbook: x\n"));
    }

    #[test]
    fn mistakes_are_placed_and_explained() {
        assert_eq!(
            errors("drill: shop\nstack: { production: demo }\nrestore: { runbok: x }\n"),
            ["3:12: unknown field `runbok` in `restore` (did you mean `runbook`?)"]
        );
        assert_eq!(
            errors(
                "drill: Shop!\nstack: { production: demo }\nrestore: { runbook: x, point: 'random:7x', set: { project: a } }\nchecks:\n  - name: a\n  - name: a\n    exec: { service: s, command: [] }\n    expect: { stdout_matches: '(' }\nobjectives: { rto: 10 }\n"
            ),
            [
                "1:8: `Shop!` cannot be part of a compose project name (use 1-40 lowercase letters, digits, `-` and `_`, starting with a letter or digit)",
                "3:31: `7x` is not a window such as `7d` (use a number followed by a unit: ms, s, m, h or d (e.g. `30s`, `1h30m`))",
                "3:60: `project` is the drill's own throwaway project; it cannot be set (the production project is `stack.production`)",
                "5:5: check `a` says nothing to run (add `exec: { service: ..., command: [...] }`)",
                "6:11: a check named `a` is defined twice (give every check its own name)",
                "8:31: not a regular expression (regex parse error:\n    (\n    ^\nerror: unclosed group)",
                "7:34: the command is empty (e.g. `command: [redis-cli, DBSIZE]`)",
                "9:20: `10` is not a duration (a duration needs a unit: write `10s` for seconds or `10m` for minutes)",
            ]
        );
    }
}
