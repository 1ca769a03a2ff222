//! The README's walk-through, as written: its two shell blocks are read from
//! README.md (so the document and the test cannot drift apart) and run by bash in
//! a fresh folder. The first runs against `dbond serve` on that folder's
//! `dbond-data`; the server is stopped; the second checks the ledger offline.
//!
//! Two substitutions, both for the test's sake: the alias line (`cargo run
//! --release`) becomes a function that runs this build's `dbond`, and the
//! server's port 0 address stands in for `127.0.0.1:50051` (also through
//! `DBOND_SERVER`, which the client verbs read for their default).

use crate::common;

use common::Server;
use std::path::Path;
use std::process::Command;

const ALIAS: &str = "alias dbond='cargo run --release --quiet --'";
const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// The fenced `sh` blocks of the section headed `heading`, in order.
fn sh_blocks(markdown: &str, heading: &str) -> Vec<String> {
    let start = markdown
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no section {heading:?}"));
    let section = &markdown[start + heading.len() + 2..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut blocks = Vec::new();
    let mut open: Option<String> = None;
    for line in section.lines() {
        match open.as_mut() {
            None if line == "```sh" => open = Some(String::new()),
            None => {}
            Some(block) if line == "```" => {
                blocks.push(std::mem::take(block));
                open = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(open.is_none(), "an unclosed ```sh block in {heading:?}");
    blocks
}

/// Runs `script` with bash in `dir`: `set -euo pipefail`, every command traced
/// to stderr. Panics with both outputs when a command fails.
fn run_bash(dir: &Path, server: &str, script: &str) -> String {
    let script = script.replace(DEFAULT_SERVER, server);
    let prologue = format!(
        "set -euo pipefail\ndbond() {{ {:?} \"$@\"; }}\nset -x\n",
        env!("CARGO_BIN_EXE_dbond")
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(prologue + &script)
        .current_dir(dir)
        .env("DBOND_SERVER", server)
        .env("DBOND_LOG", "warn")
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the README's walk-through failed ({}):\n--- stdout\n{stdout}\n--- stderr (the commands, traced)\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_walk_through_runs_as_written() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let blocks = sh_blocks(&readme, "## A short walk-through");
    assert_eq!(
        blocks.len(),
        2,
        "the walk-through is two sh blocks, with the server running and after it stopped"
    );
    let (online, offline) = (&blocks[0], &blocks[1]);
    let online = online
        .strip_prefix(&format!("{ALIAS}\n"))
        .unwrap_or_else(|| panic!("the walk-through starts with `{ALIAS}`"));

    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start_on(&dir.path().join("dbond-data"));
    let out = run_bash(dir.path(), &server.addr, online);
    for expected in [
        "status        issued",
        "AZ-5Y-USD: 25 units",
        "receipt valid: entry",
        "holding of 25 units of AZ-5Y-USD for inv-7f3a through bank-a",
        "first checkpoint for ledger",
        "verified ",
        "exported ",
    ] {
        assert!(out.contains(expected), "no {expected:?} in:\n{out}");
    }
    for file in ["terms.toml", "holding.json", "ledger.dbx", "dbond-witness"] {
        assert!(dir.path().join(file).exists(), "{file} was not written");
    }

    assert!(server.stop().success(), "the server stops cleanly");
    let out = run_bash(dir.path(), DEFAULT_SERVER, offline);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("verified ")).count(),
        2,
        "the store and the export verify:\n{out}"
    );
    assert!(out.contains("registry state matches"), "{out}");
    let index = std::fs::read_to_string(dir.path().join("report/index.html"))
        .expect("the report's index.html");
    assert!(index.contains("AZ-5Y-USD"), "{index}");
}

#[test]
fn the_block_reader_finds_blocks_and_only_in_its_section() {
    let md = "# t\n\n## A\n\ntext\n\n```sh\none\ntwo\n```\n\n```text\nnot sh\n```\n\n```sh\nthree\n```\n\n## B\n\n```sh\nfour\n```\n";
    assert_eq!(sh_blocks(md, "## A"), vec!["one\ntwo\n", "three\n"]);
    assert_eq!(sh_blocks(md, "## B"), vec!["four\n"]);
}
