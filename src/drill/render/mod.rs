//! Renderings of a drill report: `text` for the terminal, `json` (the
//! documented format), `html` (one self-contained page), `junit` (for CI).

pub mod html;
pub mod json;
pub mod junit;
pub mod text;

use std::path::{Path, PathBuf};

use super::files::{WriteError, check_name, make_dir, write_atomic};
use super::report::DrillReport;

/// Writes `<dir>/<drill>-<id>.json`, `.html` and `.xml` (JUnit), creating
/// `dir`; returns the paths in that order.
pub fn write_reports(dir: &Path, report: &DrillReport) -> Result<Vec<PathBuf>, WriteError> {
    check_name(&report.drill)?;
    check_name(&report.id)?;
    make_dir(dir)?;
    let stem = report.file_stem();
    let files = [
        ("json", json::render(report)),
        ("html", html::render(report)?),
        ("xml", junit::render(report)),
    ];
    let mut paths = Vec::with_capacity(files.len());
    for (ext, body) in files {
        let path = dir.join(format!("{stem}.{ext}"));
        write_atomic(&path, body.as_bytes())?;
        paths.push(path);
    }
    Ok(paths)
}
