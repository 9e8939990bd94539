//! The layering stays: each folder of `src/` imports only folders below it
//! (docs/architecture.md §1). `model` is the shared vocabulary at the bottom;
//! `cli` is the top. A `crate::x` path to a folder above fails this test.

use std::path::{Path, PathBuf};

/// Bottom first. A folder may use itself and any folder before it.
const LAYERS: &[&str] = &[
    "model", "schedule", "archive", "runbook", "template", "plan", "drill", "repo", "s3", "engine",
    "docker", "runtime", "kinds", "compile", "steps", "ops", "cli",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::name` in `text`, with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push((n + 1, name));
        }
    }
    found
}

#[test]
fn no_folder_imports_a_folder_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut folders: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            path.is_dir()
                .then(|| path.file_name().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    folders.sort();
    let mut layered: Vec<String> = LAYERS.iter().map(|l| l.to_string()).collect();
    layered.sort();
    assert_eq!(
        folders, layered,
        "every folder of src/ has a place in LAYERS"
    );

    let rank = |name: &str| LAYERS.iter().position(|l| *l == name);
    let mut upward = Vec::new();
    for (i, layer) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, used) in crate_paths(&text) {
                if rank(&used).is_some_and(|r| r > i) {
                    upward.push(format!(
                        "{}:{line}: `{layer}` uses `crate::{used}`, which is above it",
                        file.strip_prefix(&src).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn the_checker_sees_an_upward_import() {
    let paths =
        crate_paths("use crate::cli::Format; // crate::engine in a comment\nx(crate::steps::y)");
    assert_eq!(paths, [(1, "cli".to_string()), (2, "steps".to_string())]);
}
