//! A drill's checks against the restored stack: compose healthchecks, the
//! drill's read-only commands, and the facts recorded when the restored
//! backups were taken (docs/architecture.md §8).

use std::collections::BTreeMap;
use std::time::Instant;

use jiff::Timestamp;

use crate::docker::{Docker, ExecSpec};
use crate::drill::def::{Check, Drill, Exec, Expect};
use crate::drill::report::{BackupUsed, CheckKind, CheckResult};

/// Every check of the drill, in order: healthchecks first.
pub async fn run_all(
    docker: &Docker,
    project: &str,
    services: &[String],
    drill: &Drill,
    backups: &[BackupUsed],
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    if drill.healthchecks {
        for service in services {
            if let Some(r) = healthcheck(docker, project, service).await {
                results.push(r);
            }
        }
    }
    let facts = facts(backups);
    for check in &drill.checks {
        results.push(exec_check(docker, project, check, &facts).await);
    }
    results
}

/// Facts of every restored backup by name (the first backup wins a clash).
pub fn facts(backups: &[BackupUsed]) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    for b in backups {
        for (k, v) in &b.facts {
            all.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    all
}

/// The service's container must be healthy, if it has a healthcheck.
async fn healthcheck(docker: &Docker, project: &str, service: &str) -> Option<CheckResult> {
    let started = Instant::now();
    let state = match container_of(docker, project, service).await {
        Ok(name) => docker.container(&name).await.map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let (passed, actual, output) = match state {
        Ok(Some(s)) => {
            let health = s.health.clone()?;
            (
                health == "healthy",
                health,
                format!("{} is {}", s.name, s.state),
            )
        }
        Ok(None) => (false, "absent".into(), "the container is gone".into()),
        Err(e) => (false, "unknown".into(), e),
    };
    Some(CheckResult {
        name: format!("{service} healthy"),
        kind: CheckKind::Healthcheck,
        passed,
        expected: Some("healthy".into()),
        actual: Some(actual),
        output,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn container_of(docker: &Docker, project: &str, service: &str) -> Result<String, String> {
    docker
        .service_container(project, service)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("service `{service}` has no container in {project}"))
}

/// Runs `exec` in the service's container: (exit code, stdout, stderr).
pub async fn run_exec(
    docker: &Docker,
    project: &str,
    exec: &Exec,
) -> Result<(i64, String, String), String> {
    let name = container_of(docker, project, &exec.service).await?;
    let mut spec = ExecSpec::new(exec.command.clone());
    spec.user = exec.user.clone();
    let out = docker
        .exec(&name, spec, None)
        .await
        .map_err(|e| e.to_string())?;
    Ok((out.exit_code, out.stdout, out.stderr))
}

async fn exec_check(
    docker: &Docker,
    project: &str,
    check: &Check,
    facts: &BTreeMap<String, String>,
) -> CheckResult {
    let started = Instant::now();
    let kind = if check.expect.fact.is_some() {
        CheckKind::Fact
    } else {
        CheckKind::Exec
    };
    let (passed, expected, actual, output) = match run_exec(docker, project, &check.exec).await {
        Ok((code, stdout, stderr)) => {
            let verdict = judge(&check.expect, code, &stdout, facts);
            let output = if stderr.trim().is_empty() {
                stdout.clone()
            } else {
                format!(
                    "{stdout}{}stderr: {stderr}",
                    if stdout.is_empty() { "" } else { "\n" }
                )
            };
            (
                verdict.0,
                verdict.1,
                Some(stdout.trim().to_string()),
                output,
            )
        }
        Err(e) => (false, None, None, e),
    };
    CheckResult {
        name: check.name.clone(),
        kind,
        passed,
        expected,
        actual,
        output,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Whether the answer meets `expect`, and what was expected (for the report).
pub fn judge(
    expect: &Expect,
    code: i64,
    stdout: &str,
    facts: &BTreeMap<String, String>,
) -> (bool, Option<String>) {
    let out = stdout.trim();
    let mut wanted = Vec::new();
    let mut passed = code == expect.exit_code;
    if expect.exit_code != 0 || !passed {
        wanted.push(format!("exit code {}", expect.exit_code));
    }
    if let Some(s) = &expect.stdout {
        passed &= out == s.trim();
        wanted.push(s.trim().to_string());
    }
    if let Some(re) = &expect.stdout_matches {
        passed &= regex::Regex::new(re).is_ok_and(|r| r.is_match(out));
        wanted.push(format!("matches /{re}/"));
    }
    if let Some(name) = &expect.fact {
        match facts.get(name) {
            Some(value) => {
                passed &= out == value.trim();
                wanted.push(format!("{} (fact `{name}` at backup time)", value.trim()));
            }
            None => {
                passed = false;
                wanted.push(format!("fact `{name}`, but no restored backup recorded it"));
            }
        }
    }
    let expected = (!wanted.is_empty()).then(|| wanted.join("; "));
    (passed, expected)
}

/// The time a sentinel command prints: unix seconds (fractions allowed) or RFC 3339.
pub fn parse_sentinel(text: &str) -> Result<Timestamp, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>()
        && secs.is_finite()
    {
        let nanos = (secs * 1e9) as i128;
        return Timestamp::from_nanosecond(nanos).map_err(|e| e.to_string());
    }
    t.parse::<Timestamp>().map_err(|_| {
        format!("the sentinel printed `{t}`, which is neither unix seconds nor an RFC 3339 time")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(stdout: Option<&str>, fact: Option<&str>) -> Expect {
        Expect {
            exit_code: 0,
            stdout: stdout.map(Into::into),
            stdout_matches: None,
            fact: fact.map(Into::into),
        }
    }

    #[test]
    fn a_fact_must_equal_what_the_backup_recorded() {
        let facts = BTreeMap::from([("rows".to_string(), "1000\n".to_string())]);
        assert_eq!(
            judge(&expect(None, Some("rows")), 0, " 1000 \n", &facts),
            (true, Some("1000 (fact `rows` at backup time)".into()))
        );
        assert!(!judge(&expect(None, Some("rows")), 0, "999", &facts).0);
        assert!(!judge(&expect(None, Some("rows")), 1, "1000", &facts).0);
        assert_eq!(
            judge(&expect(None, Some("other")), 0, "1", &facts),
            (
                false,
                Some("fact `other`, but no restored backup recorded it".into())
            )
        );
        assert!(judge(&expect(Some("ok"), None), 0, "ok\n", &facts).0);
    }

    #[test]
    fn sentinels_are_unix_seconds_or_rfc3339() {
        assert_eq!(
            parse_sentinel("1800000000.5\n").unwrap(),
            Timestamp::from_nanosecond(1_800_000_000_500_000_000).unwrap()
        );
        assert_eq!(
            parse_sentinel("2026-11-30T10:00:00Z").unwrap().as_second(),
            1_796_032_800
        );
        assert!(parse_sentinel("yesterday").is_err());
    }
}
