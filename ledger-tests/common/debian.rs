//! Debian packages a test needs (a browser, a database, a toolchain): a test
//! checks for what it runs, installs the packages once when it runs as root with
//! `apt-get` (under a file lock, so two test processes never run apt at once),
//! and otherwise fails saying what to install. A test never skips.

use std::path::Path;
use std::process::Command;

#[cfg(unix)]
unsafe extern "C" {
    fn geteuid() -> u32;
    fn flock(fd: i32, operation: i32) -> i32;
}
const LOCK_EX: i32 = 2;

/// Makes sure `present()` holds, installing `packages` if it does not. `what`
/// says what the test needs them for, in the error.
pub fn require(what: &str, packages: &[&str], present: impl Fn() -> bool) -> Result<(), String> {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_thread = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if present() {
        return Ok(());
    }
    let need = format!(
        "{what}: install Debian's {} (apt-get install -y {})",
        packages.join(", "),
        packages.join(" ")
    );
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { geteuid() } == 0;
    if !root || !Path::new("/usr/bin/apt-get").exists() {
        return Err(format!(
            "{need}; they are missing and this test is not root with apt-get"
        ));
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("dbond-test-apt.lock"))
        .map_err(|e| format!("{need}; cannot open the install lock: {e}"))?;
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor; the lock ends when `lock` is closed.
    if unsafe { flock(lock.as_raw_fd(), LOCK_EX) } != 0 {
        return Err(format!("{need}; cannot take the install lock"));
    }
    if present() {
        return Ok(());
    }
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend_from_slice(packages);
    for args in [&["update"][..], &install[..]] {
        let out = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .map_err(|e| format!("{need}; apt-get failed to start: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{need}; apt-get {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    if present() {
        Ok(())
    } else {
        Err(format!(
            "{need}; apt-get installed them but they are still missing"
        ))
    }
}
