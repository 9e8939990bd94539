//! Writing to stdout and stderr without ever failing: a closed pipe (`| head`,
//! a quit pager) or a terminal that went away (a dropped SSH session) must
//! neither panic nor stop a command. A run goes on and its journal is the
//! record; a printing command finishes quietly. Use the `outln!`, `out!`,
//! `errln!` and `err!` macros (cli/mod.rs) instead of `println!` and friends.

use std::fmt::Arguments;
use std::io::Write;

pub fn stdout(args: Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(args);
}

pub fn stderr(args: Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args);
}
