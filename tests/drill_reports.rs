//! Drill reports: the JSON format programs parse, the text a person reads at
//! the end of a drill, the HTML page (also opened in headless Chromium) and
//! the JUnit XML CI systems read. docs/drills.md, "Report format".

use std::path::{Path, PathBuf};
use std::process::Command;

use lifeboat::drill::render::{html, json, junit, text, write_reports};
use lifeboat::drill::report::{DrillReport, Objective, Verdict};

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/drills")
        .join(name)
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).unwrap()
}

/// A drill whose `pg-rows` check failed (its output holds a `<script>`),
/// three other checks passed, and the stack was kept.
fn check_failed() -> DrillReport {
    json::parse(&fixture_text("check-failed.json")).unwrap()
}

/// The same drill, passing, with an RTO objective only.
fn passed() -> DrillReport {
    let mut r = check_failed();
    r.verdict = Verdict::Passed;
    r.reason = None;
    r.kept = None;
    for c in &mut r.checks {
        c.passed = true;
        c.actual = c.expected.clone();
        c.output = c.output.replace("24999", "25000");
    }
    for p in &mut r.phases {
        p.ok = true;
    }
    r.rpo.objective_seconds = None;
    r.rpo.met = None;
    r.rpo.worst_case_seconds = None;
    r.rpo.basis = lifeboat::drill::report::RpoBasis::BackupTime;
    r
}

/// The same drill, which could not restore.
fn could_not_run() -> DrillReport {
    let mut r = check_failed();
    r.verdict = Verdict::CouldNotRun;
    r.reason = Some("no backup of shop_pg-data in the repository".into());
    r.phases.truncate(1);
    r.phases[0].ok = false;
    r.checks.clear();
    r.backups.clear();
    r.kept = None;
    r.rto = Objective::judged(0.0, Some(600.0));
    r.rto.met = None;
    r.rpo.met = None;
    r
}

#[test]
fn json_is_the_documented_format_and_round_trips_byte_for_byte() {
    let text = fixture_text("check-failed.json");
    let report = json::parse(&text).unwrap();
    assert_eq!(json::render(&report), text);

    let v: serde_json::Value = serde_json::from_str(&json::render(&report)).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["verdict"], "check_failed");
    assert_eq!(v["rto"]["measured_seconds"], 134.0);
    assert_eq!(v["rto"]["met"], true);
    assert_eq!(v["rpo"]["basis"], "sentinel");
    assert_eq!(v["checks"][1]["kind"], "fact");
    assert_eq!(v["checks"][1]["passed"], false);
    assert_eq!(v["phases"][1]["started_at"], "2026-11-30T10:15:03.2Z");
    assert_eq!(v["backups"][0]["facts"]["pg.rows.orders"], "25000");
}

#[test]
fn json_of_another_schema_version_is_refused_by_name() {
    let text = fixture_text("check-failed.json")
        .replace("\"schema_version\": 1,", "\"schema_version\": 2,");
    let err = json::parse(&text).unwrap_err().to_string();
    assert_eq!(
        err,
        "a drill report of schema_version 2; this lifeboat reads version 1"
    );
    let err = json::parse("{\"drill\": 3}").unwrap_err().to_string();
    assert!(err.starts_with("not a drill report: "), "{err}");
}

#[test]
fn text_report_of_a_failed_check() {
    insta::assert_snapshot!(text::render(&check_failed()));
}

#[test]
fn text_report_of_a_passing_drill() {
    insta::assert_snapshot!(text::render(&passed()));
}

#[test]
fn text_report_of_a_drill_that_could_not_run() {
    insta::assert_snapshot!(text::render(&could_not_run()));
}

#[test]
fn text_report_cuts_long_output_and_escapes_terminal_controls() {
    let mut r = check_failed();
    r.checks[1].output = (1..=25).map(|n| format!("line {n}\u{1b}[2J\n")).collect();
    let text = text::render(&r);
    assert!(text.contains("      │ line 20\\u{1b}[2J\n"), "{text}");
    assert!(!text.contains("line 21"), "{text}");
    assert!(
        text.contains("      │ … 5 more lines in the JSON and HTML reports\n"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'));
}

#[test]
fn html_escapes_everything_and_loads_nothing() {
    let page = html::render(&check_failed()).unwrap();
    assert!(
        page.contains(
            "&lt;script&gt;document.body.setAttribute(&#x27;data-injected&#x27;, &#x27;1&#x27;)&lt;&#x2f;script&gt;"
        ),
        "the check output is escaped"
    );
    assert!(!page.contains("<script"), "no script element at all");
    for external in ["src=", "href=", "url(", "@import", "http://", "https://"] {
        assert!(!page.contains(external), "the page refers to `{external}`");
    }
    let mut r = check_failed();
    r.drill = "<b>x</b>".into();
    r.reason = Some("\"quoted\" & <i>".into());
    let page = html::render(&r).unwrap();
    assert!(!page.contains("<b>x</b>") && !page.contains("<i>"));
    assert!(page.contains("&quot;quoted&quot; &amp; &lt;i&gt;"));
}

#[test]
fn junit_report() {
    insta::assert_snapshot!(junit::render(&check_failed()));
}

#[test]
fn junit_of_a_drill_that_could_not_run_is_an_error_not_a_pass() {
    let xml = junit::render(&could_not_run());
    well_formed(&xml);
    assert!(xml.contains("tests=\"3\" failures=\"0\" errors=\"1\" skipped=\"2\""));
    assert!(xml.contains(
        "<error message=\"no backup of shop_pg-data in the repository\" type=\"could_not_run\">"
    ));
}

#[test]
fn junit_is_well_formed_xml_with_a_case_per_check_and_objective() {
    let mut r = check_failed();
    r.rto = Objective::judged(134.0, Some(60.0));
    r.checks[1]
        .output
        .push_str("\u{0}\u{7}]]> & \"q\" 'a'\u{FFFF}");
    r.checks[1].name = "rows <orders> & \"lines\"".into();
    let xml = junit::render(&r);
    let names = well_formed(&xml);
    assert_eq!(
        names,
        [
            "restore through runbook full-data-loss",
            "check redis-keys",
            "check rows <orders> & \"lines\"",
            "check api-health",
            "check compose-healthchecks",
            "objective RTO",
            "objective RPO",
        ]
    );
    assert!(xml.contains(
        "<testsuites name=\"lifeboat drills\" tests=\"7\" failures=\"2\" errors=\"0\" skipped=\"0\" time=\"151.000\">"
    ));
    assert!(xml.contains(
        "<failure message=\"RTO measured 2m14s, objective 1m: missed\" type=\"objective\">"
    ));
}

/// Parses `xml` with a real XML tokenizer (xmlparser), checks that every
/// element closes in order and that there is one root; returns the
/// testcase names, unescaped.
fn well_formed(xml: &str) -> Vec<String> {
    use xmlparser::{ElementEnd, Token, Tokenizer};
    let mut open: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut names = Vec::new();
    let mut current = String::new();
    for token in Tokenizer::from(xml) {
        match token.unwrap_or_else(|e| panic!("not well-formed: {e}\n{xml}")) {
            Token::ElementStart { local, .. } => {
                if open.is_empty() {
                    roots += 1;
                }
                current = local.to_string();
                open.push(local.to_string());
            }
            Token::Attribute { local, value, .. }
                if current == "testcase" && local.as_str() == "name" =>
            {
                names.push(unescape(value.as_str()));
            }
            Token::ElementEnd { end, .. } => match end {
                ElementEnd::Open => {}
                ElementEnd::Empty => {
                    open.pop();
                }
                ElementEnd::Close(_, local) => {
                    assert_eq!(open.pop().as_deref(), Some(local.as_str()), "{xml}");
                }
            },
            _ => {}
        }
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
    assert_eq!(roots, 1);
    names
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#10;", "\n")
        .replace("&amp;", "&")
}

#[test]
fn write_reports_writes_json_html_and_junit_beside_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports/nested");
    let r = check_failed();
    let paths = write_reports(&out, &r).unwrap();
    let stem = "nightly-20261130T101500Z-3fa2c1";
    assert_eq!(
        paths,
        ["json", "html", "xml"].map(|ext| out.join(format!("{stem}.{ext}")))
    );
    assert_eq!(
        std::fs::read_to_string(&paths[0]).unwrap(),
        json::render(&r)
    );
    assert_eq!(
        std::fs::read_to_string(&paths[2]).unwrap(),
        junit::render(&r)
    );
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "no partial files left: {files:?}");

    let mut bad = r.clone();
    bad.drill = "../escape".into();
    let err = write_reports(&out, &bad).unwrap_err().to_string();
    assert_eq!(
        err,
        "`../escape` cannot be part of a file name (empty, hidden, or with a path separator)"
    );
}

/// The DOM of `page` after headless Chromium loaded it, or None when
/// Chromium is not installed (a failure when CI is set: CI installs it).
fn chromium_dom(page: &Path, profile: &Path) -> Option<String> {
    let run = Command::new("chromium")
        .args(["--headless", "--disable-gpu", "--no-sandbox"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output();
    match run {
        Ok(out) => {
            assert!(
                out.status.success(),
                "chromium failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8(out.stdout).unwrap())
        }
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "chromium cannot run ({e}), and CI is set: install the `chromium` package"
            );
            eprintln!("chromium cannot run ({e}): skipping the browser check");
            None
        }
    }
}

/// The text a reader sees: the DOM without tags, entities decoded,
/// whitespace collapsed.
fn visible_text(dom: &str) -> String {
    let body = &dom[dom.find("<body").unwrap()..];
    // A block element's edge separates words; an inline one's does not.
    const BLOCKS: &[&str] = &[
        "div", "p", "dt", "dd", "tr", "td", "th", "h1", "h2", "pre", "section", "header", "footer",
        "table", "main", "body",
    ];
    let mut text = String::new();
    let mut tag: Option<String> = None;
    for c in body.chars() {
        match (&mut tag, c) {
            (None, '<') => tag = Some(String::new()),
            (Some(t), '>') => {
                let name: String = t
                    .trim_start_matches('/')
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                if BLOCKS.contains(&name.as_str()) {
                    text.push(' ');
                }
                tag = None;
            }
            (Some(t), c) => t.push(c),
            (None, c) => text.push(c),
        }
    }
    let text = unescape(&text).replace("&#39;", "'");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_html_page_shows_the_report_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let r = check_failed();
    let paths = write_reports(dir.path(), &r).unwrap();
    let Some(dom) = chromium_dom(&paths[1], &dir.path().join("profile")) else {
        return;
    };
    assert!(
        !dom.contains("data-injected=\"1\""),
        "the check output ran as a script"
    );
    let text = visible_text(&dom);
    let expect = |s: &str| assert!(text.contains(s), "`{s}` is not on the page:\n{text}");
    expect("Drill nightly: FAILED: a check failed");
    expect("check pg-rows: expected 25000, got 24999");
    for p in &r.phases {
        let label = match &p.subject {
            Some(s) => format!(
                "{} {s} {}",
                p.name,
                lifeboat::drill::report::seconds(p.seconds)
            ),
            None => format!("{} {}", p.name, lifeboat::drill::report::seconds(p.seconds)),
        };
        expect(&label);
    }
    expect("RTO 2m14s measured, objective 10m: met");
    expect("RPO 6h12m measured, objective 24h: met");
    expect("RPO from the newest sentinel restored; worst case 30h12m.");
    expect("Checks: 3 of 4 passed");
    for c in &r.checks {
        expect(&c.name);
        for line in c.output.lines() {
            expect(line.trim());
        }
    }
    expect("✗ FAILED pg-rows fact expected 25000, got 24999");
    expect("<script>document.body.setAttribute('data-injected', '1')</script>");
    for b in &r.backups {
        expect(&format!("{} {} {}", b.volume, b.id, b.source));
    }
    expect("pg.rows.orders = 25000");
    expect("lifeboat 0.1.0 · Docker 27.3.1 · Compose 2.29.7");
    expect("docker compose -p lifeboat-drill-nightly-20261130T101500Z-3fa2c1 down --volumes");
}

/// The scheduler's drill series: the newest report of each drill, values
/// exact, and promtool accepts the exposition.
#[test]
fn drill_metrics_show_the_newest_run_of_each_drill_and_promtool_accepts_them() {
    let newest = passed();
    let older = check_failed();
    let mut other = could_not_run();
    other.drill = "pg\"only".into();
    let text = lifeboat::drill::metrics::render(&[&newest, &older, &other]);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .to_string()
    };
    assert_eq!(
        line("lifeboat_drill_passed{drill=\"nightly\"}"),
        "lifeboat_drill_passed{drill=\"nightly\"} 1"
    );
    assert_eq!(
        line("lifeboat_drill_passed{drill=\"pg\\\"only\"}"),
        "lifeboat_drill_passed{drill=\"pg\\\"only\"} 0"
    );
    assert!(
        line("lifeboat_drill_rto_seconds{drill=\"nightly\"}")
            .ends_with(&format!(" {:.3}", newest.rto.measured_seconds))
            || line("lifeboat_drill_rto_seconds{drill=\"nightly\"}")
                .ends_with(&format!(" {}", newest.rto.measured_seconds as i64)),
        "{text}"
    );
    // A drill that could not restore measured nothing: no RTO, RPO or objective series.
    assert!(
        !text.contains("lifeboat_drill_rto_seconds{drill=\"pg"),
        "{text}"
    );
    assert_eq!(
        line("lifeboat_drill_objective_met{drill=\"nightly\",objective=\"rto\"}"),
        format!(
            "lifeboat_drill_objective_met{{drill=\"nightly\",objective=\"rto\"}} {}",
            u8::from(newest.rto.met.unwrap())
        )
    );
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("promtool is missing ({e}); skipped outside CI");
            return;
        }
        Err(e) => panic!("promtool is missing ({e}): apt-get install prometheus"),
    };
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
