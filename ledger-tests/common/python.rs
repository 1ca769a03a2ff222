//! A Python with the example client's packages, prepared by the tests themselves:
//! a virtual environment under the target folder (`target/tmp/python-venv/KEY`),
//! made with `python3 -m venv` and filled from `examples/python/requirements.txt`
//! the first time, then reused. `KEY` is a digest of the requirements and of the
//! `python3` found, so changing either makes a new one.
//!
//! Two test processes may start at once: each builds in a folder of its own
//! (`KEY.building-PID`) and moves it into place with one `rename`, which only
//! one of them can win; the other removes its copy and uses the winner's. A
//! folder in place is therefore always complete. A build interrupted half-way
//! leaves only its `.building-` folder behind, which nothing reads.
//!
//! What cannot be had here (no `python3`, no `venv` module, no route to the
//! package index) fails the test with a message that says what to install.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The example's requirements, relative to the repository.
const REQUIREMENTS: &str = "examples/python/requirements.txt";

/// Every module the example imports from outside the standard library.
const IMPORTS: &str = "import grpc, grpc_tools, grpc_reflection, cryptography, google.protobuf";

/// Marks a finished environment (written last, before the move into place).
const READY: &str = "dbond-ready";

/// The virtual environment's `python`, made on first use in this process.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(prepare)
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim()
    .to_string()
}

fn run(what: &str, command: &mut Command) -> Result<Output, String> {
    match command.output() {
        Err(e) => Err(format!("{what}: cannot run it: {e}")),
        Ok(out) if !out.status.success() => {
            Err(format!("{what} failed ({}):\n{}", out.status, text(&out)))
        }
        Ok(out) => Ok(out),
    }
}

fn prepare() -> PathBuf {
    let requirements = repo().join(REQUIREMENTS);
    let wanted = std::fs::read(&requirements)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", requirements.display()));
    let base = run(
        "python3",
        Command::new("python3").args(["-c", "import sys; print(sys.executable, sys.version)"]),
    )
    .unwrap_or_else(|e| {
        panic!(
            "the example Python client's test needs python3 (CPython 3.11 with its venv module): {e}"
        )
    });

    let mut digest = Sha256::new();
    digest.update(&wanted);
    digest.update(&base.stdout);
    let key = hex::encode(&digest.finalize()[..8]);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-venv");
    let venv = root.join(&key);
    let python = venv.join("bin/python");
    if venv.join(READY).exists() {
        return python;
    }

    std::fs::create_dir_all(&root)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
    let building = root.join(format!("{key}.building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    if let Err(e) = build(&building, &requirements) {
        let _ = std::fs::remove_dir_all(&building);
        panic!(
            "cannot prepare a Python environment for the example client in {}: {e}",
            venv.display()
        );
    }
    match std::fs::rename(&building, &venv) {
        Ok(()) => {}
        // Another test process put its environment in place first.
        Err(_) if venv.join(READY).exists() => {
            let _ = std::fs::remove_dir_all(&building);
        }
        Err(e) => panic!(
            "cannot move {} to {}: {e}",
            building.display(),
            venv.display()
        ),
    }
    python
}

/// Makes a complete environment in `dir`: venv, packages, an import check, and
/// the ready mark last.
fn build(dir: &Path, requirements: &Path) -> Result<(), String> {
    run(
        "python3 -m venv",
        Command::new("python3").args(["-m", "venv"]).arg(dir),
    )
    .map_err(|e| {
        format!("{e}\n(on Debian and Ubuntu the venv module is the package python3-venv)")
    })?;
    let python = dir.join("bin/python");
    run(
        "pip install -r examples/python/requirements.txt",
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
            ])
            .arg(requirements),
    )
    .map_err(|e| format!("{e}\n(pip needs to reach the Python package index once)"))?;
    run(
        "importing the example's packages",
        Command::new(&python).args(["-c", IMPORTS]),
    )?;
    std::fs::write(dir.join(READY), b"")
        .map_err(|e| format!("cannot write {}: {e}", dir.join(READY).display()))
}
