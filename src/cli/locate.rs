//! Finds runbooks: by path, or by name in the runbooks directory.

use std::path::{Path, PathBuf};

use crate::runbook::diagnostic::suggestion;

/// Every `.yaml`/`.yml` file directly in `dir`, sorted.
pub fn runbook_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// `full-data-loss` → `runbooks/full-data-loss.yaml`; a path is taken as is.
pub fn find(dir: &Path, name: &str) -> Result<PathBuf, String> {
    find_named(dir, name, RUNBOOKS)
}

/// `shop-restore` → `drills/shop-restore.yaml`; a path is taken as is.
pub fn find_drill(dir: &Path, name: &str) -> Result<PathBuf, String> {
    find_named(dir, name, DRILLS)
}

/// What is looked for: the key that names it, and how to say so.
struct Wanted {
    key: &'static str,
    noun: &'static str,
    plural: &'static str,
    setting: &'static str,
}

const RUNBOOKS: Wanted = Wanted {
    key: "runbook:",
    noun: "runbook",
    plural: "runbooks",
    setting: "--runbooks DIR or LIFEBOAT_RUNBOOKS",
};

const DRILLS: Wanted = Wanted {
    key: "drill:",
    noun: "drill",
    plural: "drills",
    setting: "--drills DIR or LIFEBOAT_DRILLS",
};

fn find_named(dir: &Path, name: &str, wanted: Wanted) -> Result<PathBuf, String> {
    let as_path = Path::new(name);
    if as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    for ext in ["yaml", "yml"] {
        let candidate = dir.join(format!("{name}.{ext}"));
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    // A file may be named differently from its `runbook:` name.
    for file in runbook_files(dir).unwrap_or_default() {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let declared = text
            .lines()
            .find_map(|l| l.strip_prefix(wanted.key))
            .map(|n| n.trim().trim_matches(['"', '\'']));
        if declared == Some(name) {
            return Ok(file);
        }
    }
    let names: Vec<String> = runbook_files(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_string))
        .collect();
    if names.is_empty() {
        return Err(format!(
            "no {} `{name}`: `{}` has no {} (set {})",
            wanted.noun,
            dir.display(),
            wanted.plural,
            wanted.setting
        ));
    }
    let hint = suggestion(name, names.iter().map(String::as_str))
        .unwrap_or_else(|| format!("{}: {}", wanted.plural, names.join(", ")));
    Err(format!(
        "no {} `{name}` in {}; {hint}",
        wanted.noun,
        dir.display()
    ))
}
