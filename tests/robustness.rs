//! No input may panic or hang the compiler: mutated and truncated copies of
//! the shipped runbooks, and hostile documents, all end in Ok or Invalid.

use std::path::Path;
use std::time::{Duration, Instant};

use lifeboat::compile::{Failure, Options, compile};
use lifeboat::runbook::source::Source;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "[",
    "]",
    "{",
    "}",
    ":",
    "- ",
    "\n",
    "  ",
    "&a",
    "*a",
    "!!binary",
    "'",
    "\"",
    "#",
    "needs: [",
    "{{ steps['x'].y }}",
    "\t",
    "---\n",
    "? ",
    "|",
    ">",
    "<<: *a",
    "é",
    "\u{0}",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(chars.len());
        match rng.below(4) {
            0 => {
                chars.truncate(at);
            }
            1 => {
                let end = (at + rng.below(40)).min(chars.len());
                chars.drain(at..end);
            }
            _ => {
                let piece = PIECES[rng.below(PIECES.len())];
                chars.splice(at..at, piece.chars());
            }
        }
    }
    chars.into_iter().collect()
}

fn check(name: &str, text: &str) {
    let start = Instant::now();
    match compile(&Source::new(name, text), &Options::default()) {
        Ok(_) | Err(Failure::Invalid(_)) => {}
        Err(Failure::Usage(u)) => {
            panic!("validate-mode compile gave a usage error for {text:?}: {u:?}")
        }
    }
    let head: String = text.chars().take(80).collect();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "compiling took {:?}: {head:?}...",
        start.elapsed()
    );
}

#[test]
fn mutated_runbooks_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for _ in 0..300 {
            check("mutant.yaml", &mutate(&mut rng, &text));
        }
    }
}

#[test]
fn hostile_documents_are_rejected_quickly() {
    let laughs = (1..10).fold(
        String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n"),
        |mut doc, i| {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            doc.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
            doc
        },
    );
    for doc in [
        laughs,
        "[".repeat(100_000),
        "{a: ".repeat(50_000),
        "- ".repeat(50_000),
        "a:\n".to_string() + &(1..2000).map(|i| format!("{}b:\n", " ".repeat(i))).collect::<String>(),
        format!("runbook: x\nsteps:\n{}", "  - id: a\n    uses: gate.confirm\n    with: { message: hi }\n".repeat(2)),
        "runbook: x\nsteps:\n  - id: a\n    uses: gate.confirm\n    with: { message: \"{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}\" }\n".into(),
        "\u{feff}runbook: x\nsteps: []\n".into(),
        String::from_utf8_lossy(&[0xff, 0xfe, 0x00, 0x41, 0x9f]).into_owned(),
    ] {
        check("hostile.yaml", &doc);
    }
}
