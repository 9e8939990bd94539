//! Every runbook in `fixtures/invalid/` must be rejected with a clear error.
//! The rendered errors are snapshots: review them as a user would read them.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use lifeboat::compile::{Failure, Options, compile};
use lifeboat::runbook::diagnostic::render;
use lifeboat::runbook::parse::read_source;

/// `fixtures/invalid/<file>`, the stable name errors are reported under.
fn relative(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// How long one file may take to compile before it counts as a hang.
const LIMIT: Duration = Duration::from_secs(20);

/// What the compiler says about the file, as a user sees it (no colour), or
/// what is wrong with how it reacted (accepted, panicked, hung).
fn rejection(path: &Path) -> Result<String, String> {
    let rel = relative(path);
    let (tx, rx) = mpsc::channel();
    let name = rel.clone();
    std::thread::spawn(move || {
        // Read through the relative path so that the source is named by it.
        let source = match read_source(Path::new(&name)) {
            Ok(source) => source,
            Err(e) => return tx.send(Ok(format!("read error: {e}\n"))).unwrap_or(()),
        };
        let outcome = match compile(&source, &Options::default()) {
            Err(Failure::Invalid(diagnostics)) => Ok((
                render(&diagnostics, &source, false),
                diagnostics,
                source.name,
            )),
            Err(Failure::Usage(usage)) => Err(format!(
                "a usage error instead of an invalid runbook: {usage:?}"
            )),
            Ok(plan) => Err(format!("accepted ({} steps)", plan.steps.len())),
        };
        let _ = tx.send(outcome.map(|(rendered, diagnostics, source_name)| {
            assert_eq!(
                source_name, name,
                "the source must be named by its relative path"
            );
            assert!(
                !diagnostics.is_empty(),
                "{name}: rejected without a diagnostic"
            );
            let positioned = diagnostics.iter().filter(|d| d.span.is_some()).count();
            let arrows = rendered.matches(&format!(" --> {name}:")).count();
            assert_eq!(
                arrows, positioned,
                "{name}: every error with a position must render ` --> {name}:LINE:COL`\n{rendered}"
            );
            rendered
        }));
    });
    match rx.recv_timeout(LIMIT) {
        Ok(result) => result.map_err(|why| format!("{rel}: {why}")),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(format!("{rel}: still compiling after {LIMIT:?} (a hang?)"))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(format!(
            "{rel}: the compiler panicked (or a check above failed; see the output)"
        )),
    }
}

#[test]
fn every_invalid_runbook_is_rejected_with_a_clear_error() {
    // The working directory of integration tests is the package root; the
    // relative names depend on it.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let mut problems = Vec::new();
    insta::glob!("../fixtures/invalid", "*.yaml", |path| {
        let bytes = std::fs::read(path).unwrap();
        let name = relative(path);
        if !(bytes.is_empty() || bytes.starts_with(b"# expect: ")) {
            problems.push(format!(
                "{name}: the first line must be `# expect: <what the error should say>`"
            ));
        }
        match rejection(path) {
            Ok(rendered) => insta::assert_snapshot!(rendered),
            Err(problem) => problems.push(problem),
        }
    });
    assert!(
        problems.is_empty(),
        "invalid runbooks not rejected properly:\n{}",
        problems.join("\n")
    );
}

#[test]
fn there_are_enough_invalid_runbooks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/invalid");
    let count = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "yaml")
        })
        .count();
    assert!(count >= 36, "only {count} invalid runbooks");
}
