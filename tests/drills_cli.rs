//! `lifeboat drills history`: past drills from `<state>/drills/`, run through
//! the real binary. The text is snapshotted; the JSON is checked value by value.

use std::path::Path;
use std::process::{Command, Output};

use lifeboat::drill::history;
use lifeboat::drill::render::json;
use lifeboat::drill::report::{DrillReport, Objective, Verdict};

fn lifeboat(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .current_dir(state.parent().unwrap())
        .env_remove("LIFEBOAT_CONFIG")
        .env_remove("LIFEBOAT_STATE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run lifeboat")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fixture() -> DrillReport {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/drills/check-failed.json");
    json::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A drill of `name` on 2026-11-`day` at 03:00 UTC that took `rto` seconds.
fn drill(name: &str, day: u32, rto: f64, verdict: Verdict) -> DrillReport {
    let mut r = fixture();
    r.drill = name.into();
    r.id = format!("202611{day:02}T030000Z-{name}");
    r.started_at = format!("2026-11-{day:02}T03:00:00Z").parse().unwrap();
    r.finished_at = format!("2026-11-{day:02}T03:05:00Z").parse().unwrap();
    r.verdict = verdict;
    r.reason = None;
    r.rto = Objective::judged(rto, Some(600.0));
    r.rpo.measured_seconds = 3600.0 * 3.0;
    r.rpo.met = Some(true);
    if verdict == Verdict::CouldNotRun {
        r.reason = Some("Docker is not available".into());
        r.rto.met = None;
        r.rpo.met = None;
    }
    r
}

/// nightly, oldest first: 1000s (beyond the 5-run window), 120, 110, 100,
/// a run that could not run (5s, not a restore time), 210, 200, then 150:
/// the median of the 5 previous restores (200 210 100 110 120) is 120, so
/// 150 is +25%. weekly: 60s, then 45s (-25%), then an RPO miss.
fn state_with_history() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let nightly = [
        (10, 1000.0, Verdict::ObjectiveMissed),
        (11, 120.0, Verdict::Passed),
        (12, 110.0, Verdict::Passed),
        (13, 100.0, Verdict::Passed),
        (14, 5.0, Verdict::CouldNotRun),
        (15, 210.0, Verdict::Passed),
        (16, 200.0, Verdict::CheckFailed),
        (17, 150.0, Verdict::Passed),
    ];
    for (day, rto, verdict) in nightly {
        let mut r = drill("nightly", day, rto, verdict);
        if verdict == Verdict::CheckFailed {
            r.reason = Some("check pg-rows: expected 25000, got 24999".into());
        }
        history::store(&state, &r).unwrap();
    }
    history::store(&state, &drill("weekly", 3, 60.0, Verdict::Passed)).unwrap();
    history::store(&state, &drill("weekly", 10, 45.0, Verdict::Passed)).unwrap();
    let mut missed = drill("weekly", 17, 50.0, Verdict::ObjectiveMissed);
    missed.rpo.objective_seconds = Some(3600.0);
    missed.rpo.met = Some(false);
    missed.reason = Some("RPO 3h over the objective 1h".into());
    history::store(&state, &missed).unwrap();
    dir
}

#[test]
fn store_keeps_one_json_per_drill_id_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let r = fixture();
    let path = history::store(dir.path(), &r).unwrap();
    assert_eq!(path, dir.path().join("drills/20261130T101500Z-3fa2c1.json"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), json::render(&r));
    let files: Vec<_> = std::fs::read_dir(dir.path().join("drills"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 1, "no partial file left: {files:?}");

    let mut bad = r.clone();
    bad.id = "../../etc/x".into();
    assert!(history::store(dir.path(), &bad).is_err());
}

#[test]
fn history_text_lists_newest_first_with_objectives_and_trend() {
    let dir = state_with_history();
    let o = lifeboat(&dir.path().join("state"), &["drills", "history"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn history_json_has_exact_values_and_the_trend_against_the_median_of_5() {
    let dir = state_with_history();
    let state = dir.path().join("state");
    let o = lifeboat(
        &state,
        &["drills", "history", "nightly", "--format", "json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 8);
    let newest = &rows[0];
    assert_eq!(newest["drill"], "nightly");
    assert_eq!(newest["id"], "20261117T030000Z-nightly");
    assert_eq!(newest["started_at"], "2026-11-17T03:00:00Z");
    assert_eq!(newest["verdict"], "passed");
    assert_eq!(newest["reason"], serde_json::Value::Null);
    assert_eq!(newest["rto_seconds"], 150.0);
    assert_eq!(newest["rto_objective_seconds"], 600.0);
    assert_eq!(newest["rto_met"], true);
    assert_eq!(newest["rpo_seconds"], 10800.0);
    assert_eq!(newest["rpo_basis"], "sentinel");
    assert_eq!(newest["rpo_objective_seconds"], 86400.0);
    assert_eq!(newest["rpo_met"], true);
    assert_eq!(newest["rto_median_previous_seconds"], 120.0);
    assert_eq!(newest["rto_change_percent"], 25.0);
    assert_eq!(
        newest["report"],
        state
            .join("drills/20261117T030000Z-nightly.json")
            .to_str()
            .unwrap()
    );
    // 200 against 210, 100, 110, 120 and 1000: median 120.
    assert_eq!(rows[1]["verdict"], "check_failed");
    assert_eq!(rows[1]["rto_median_previous_seconds"], 120.0);
    assert_eq!(rows[1]["rto_change_percent"], 66.7);
    // A drill that could not run has no trend, and is no one's baseline:
    // 210 against 100, 110, 120 and 1000 (not 5).
    assert_eq!(rows[3]["verdict"], "could_not_run");
    assert_eq!(rows[3]["rto_change_percent"], serde_json::Value::Null);
    assert_eq!(rows[2]["rto_median_previous_seconds"], 115.0);
    // The first run has nothing to compare with.
    assert_eq!(
        rows[7]["rto_median_previous_seconds"],
        serde_json::Value::Null
    );
    assert_eq!(rows[7]["rto_change_percent"], serde_json::Value::Null);
}

#[test]
fn history_of_one_drill_with_a_limit() {
    let dir = state_with_history();
    let o = lifeboat(
        &dir.path().join("state"),
        &["drills", "history", "weekly", "--limit", "2"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn an_unknown_drill_name_is_a_usage_error_with_a_hint() {
    let dir = state_with_history();
    let o = lifeboat(&dir.path().join("state"), &["drills", "history", "nightyl"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "error: no drill named `nightyl` has run (drills with a history: nightly, weekly); did you mean `nightly`?\n"
    );
    let o = lifeboat(
        &dir.path().join("state"),
        &["drills", "history", "--limit", "0"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn no_history_yet_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let o = lifeboat(&state, &["drills", "history"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("No drills yet in {}.\n", state.join("drills").display())
    );
    let o = lifeboat(&state, &["drills", "history", "any", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "[]\n");
}

#[test]
fn a_file_that_is_not_a_report_is_skipped_with_a_warning() {
    let dir = state_with_history();
    let state = dir.path().join("state");
    std::fs::write(state.join("drills/broken.json"), "{ not json").unwrap();
    let future = fixture().clone();
    let text = json::render(&future).replace("\"schema_version\": 1", "\"schema_version\": 9");
    std::fs::write(state.join("drills/future.json"), text).unwrap();
    std::fs::write(state.join("drills/notes.txt"), "ignored").unwrap();
    let o = lifeboat(&state, &["drills", "history", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "warning: skipped {}: not a drill report: ",
            state.join("drills/broken.json").display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "warning: skipped {}: a drill report of schema_version 9; this lifeboat reads version 1\n",
            state.join("drills/future.json").display()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 11);
}
