//! `lifeboat demo`: the main job end to end on a throwaway compose project.
//! Builds the test images if missing, brings the stack up, seeds known data,
//! backs it up (cold-backup), destroys every volume's contents, runs
//! full-data-loss and checks the data is identical to the seed.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::live::Places;
use super::run as run_cmd;
use super::{EXIT_OK, Format};
use crate::model::duration::Human;
use crate::ops::OpError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Compose project name of the throwaway stack.
    #[arg(long, default_value = "lifeboat-demo")]
    pub project: String,
    /// Leave the stack running at the end (it is removed by default).
    #[arg(long)]
    pub keep: bool,
}

struct Demo {
    project: String,
    timings: Vec<(String, Duration)>,
}

impl Demo {
    fn phase<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Self) -> Result<T, String>,
    ) -> Result<T, String> {
        outln!("\n== {name}");
        let t0 = Instant::now();
        let out = f(self)?;
        let took = t0.elapsed();
        outln!("   ({})", Human(took));
        self.timings.push((name.to_string(), took));
        Ok(out)
    }

    fn compose(&self, args: &[&str]) -> Result<(), String> {
        let v2 = Command::new("docker")
            .args(["compose", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
        let mut cmd = if v2 {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        } else {
            Command::new("docker-compose")
        };
        cmd.args(["-p", &self.project, "-f", "docker-compose.test.yml"])
            .args(args);
        sh(&mut cmd)
    }

    fn testdata(&self, what: &str) -> Result<(), String> {
        sh(Command::new("bash").args(["scripts/testdata.sh", what, &self.project]))
    }
}

fn sh(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}").replace('"', "");
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{shown} failed ({s})")),
        Err(e) => Err(format!("{shown}: {e}")),
    }
}

fn lifeboat(runbooks: &Path, places: &Places, runbook: &str, project: &str) -> Result<(), String> {
    let code = super::done(run_cmd::run(
        runbooks,
        places,
        run_cmd::Args {
            runbook: runbook.into(),
            sets: vec![("project".into(), project.into())],
            yes: true,
            dry_run: false,
            force: false,
            parallel: 4,
            format: Format::Text,
        },
    ));
    if code == EXIT_OK {
        Ok(())
    } else {
        Err(format!("lifeboat run {runbook} exited with {code}"))
    }
}

pub fn run(runbooks: &Path, places: &Places, args: Args) -> Result<(), OpError> {
    for needed in [
        "docker-compose.test.yml",
        "scripts/testdata.sh",
        "scripts/build-test-images.sh",
    ] {
        if !Path::new(needed).exists() {
            return Err(OpError::usage(format!(
                "{needed} not found: run the demo from the root of the lifeboat repository"
            )));
        }
    }
    let mut demo = Demo {
        project: args.project.clone(),
        timings: Vec::new(),
    };
    let result = story(&mut demo, runbooks, places);
    if !args.keep {
        let _ = demo.compose(&["down", "-v", "--remove-orphans"]);
    }
    match result {
        Ok(rto) => {
            outln!(
                "\n== Result: every Redis key and PostgreSQL row is back, identical to the seed."
            );
            for (name, took) in &demo.timings {
                outln!("   {name:<44} {:>8}", Human(*took).to_string());
            }
            outln!(
                "   recovery (full-data-loss) took {}; the runbook's objective is 10m.",
                Human(rto)
            );
            outln!(
                "   Backups: {}    Journals: {}",
                places.repo_dir().display(),
                places.state_dir.join("runs").display()
            );
            Ok(())
        }
        Err(e) if e.contains("docker") && e.contains("reach") => {
            Err(OpError::Unavailable(format!("demo failed: {e}")))
        }
        Err(e) => Err(OpError::Demo(format!("demo failed: {e}"))),
    }
}

fn story(demo: &mut Demo, runbooks: &Path, places: &Places) -> Result<Duration, String> {
    demo.phase(
        "Test images (built once, ~2 min, no registry needed)",
        |_| sh(Command::new("bash").arg("scripts/build-test-images.sh")),
    )?;
    demo.phase(
        "Stack up: Redis + PostgreSQL (docker-compose.test.yml)",
        |d| {
            d.compose(&["down", "-v", "--remove-orphans"])?;
            d.compose(&["up", "-d"])?;
            sh(Command::new("bash").args(["scripts/testdata.sh", "wait", &d.project, "120"]))
        },
    )?;
    demo.phase(
        "Seed: 10,000 Redis keys, 5,000 customers, 20,000 orders",
        |d| d.testdata("seed"),
    )?;
    let project = demo.project.clone();
    demo.phase("Back up both volumes (runbook cold-backup)", |_| {
        lifeboat(runbooks, places, "cold-backup", &project)
    })?;
    demo.phase("Disaster: every file in both volumes deleted", |d| {
        d.compose(&["stop"])?;
        sh(Command::new("docker").args([
            "run",
            "--rm",
            "-v",
            &format!("{}_redis-data:/r", d.project),
            "-v",
            &format!("{}_pg-data:/p", d.project),
            "lifeboat-test/stack:local",
            "sh",
            "-c",
            "rm -rf /r/* /r/.[!.]* /p/* /p/.[!.]* && ls -A /r /p",
        ]))?;
        d.compose(&["start"])?;
        // The servers start empty; the check must now fail.
        let _ = sh(Command::new("bash").args(["scripts/testdata.sh", "wait", &d.project, "120"]));
        match d.testdata("check") {
            Ok(()) => Err("the data survived the simulated loss; the demo proves nothing".into()),
            Err(_) => {
                outln!("   the check fails, as it should: the data is gone");
                Ok(())
            }
        }
    })?;
    let t0 = Instant::now();
    demo.phase("Recover: lifeboat run full-data-loss", |_| {
        lifeboat(runbooks, places, "full-data-loss", &project)
    })?;
    let rto = t0.elapsed();
    demo.phase("Verify: compare every key and row with the seed", |d| {
        d.testdata("check")
    })?;
    Ok(rto)
}
