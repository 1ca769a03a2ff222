//! Throwaway PostgreSQL 15 clusters on loopback, for the tests and benches that
//! run dbond on PostgreSQL: each cluster lives in its own folder under the system's
//! temporary folder, listens on a port picked free on 127.0.0.1 (no Unix socket),
//! trusts local connections, and is stopped and removed when its handle is dropped
//! or when the process that started it ends, however it ends.
//!
//! The binaries are Debian's (`/usr/lib/postgresql/15/bin`). On a machine without
//! them, the first use installs Debian's `postgresql` through the tests' Debian
//! package helper (`ledger-tests/common/debian.rs`: as root with `apt-get`, once,
//! under a lock), or fails with a message saying what to install. `initdb` refuses
//! to run as root, so as root every cluster command runs as the `postgres` user.
//!
//! This file and the helper use the standard library alone: the library's own unit
//! tests include this file by path (they cannot link this crate), and the
//! integration tests and benches use it through `dbond_testkit::pg`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

#[path = "../../ledger-tests/common/debian.rs"]
mod debian;

/// Where Debian puts PostgreSQL 15's server binaries.
pub const BIN: &str = "/usr/lib/postgresql/15/bin";

unsafe extern "C" {
    fn geteuid() -> u32;
    fn kill(pid: i32, sig: i32) -> i32;
}

const SIGKILL: i32 = 9;
const SIGSTOP: i32 = 19;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { geteuid() == 0 }
}

/// The folder of PostgreSQL 15's binaries, installing Debian's `postgresql` first
/// if they are missing and this process may (root, with apt-get): the tests'
/// one installer of Debian packages, `ledger-tests/common/debian.rs`, does it.
pub fn binaries() -> &'static Path {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        debian::require("PostgreSQL 15's server binaries", &["postgresql"], || {
            Path::new(BIN).join("initdb").exists()
        })
    });
    if let Err(e) = ready {
        panic!("{e}");
    }
    Path::new(BIN)
}

/// A command run as the cluster's owner: `postgres` when this process is root.
fn as_owner(program: &str) -> Command {
    let path = binaries().join(program);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn run(mut command: Command, what: &str) -> String {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A port on 127.0.0.1 that nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A fresh folder under the temporary folder, owned by the cluster's owner.
fn owned_folder(name: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dbond-pg-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a folder for the cluster");
    if is_root() {
        let mut chown = Command::new("chown");
        chown.arg("postgres:postgres").arg(&dir);
        run(chown, "chown of the cluster folder");
    }
    dir
}

/// Stops the server and removes the folder when its standard input closes: when
/// the `Cluster` is dropped, or when the test process ends in any way.
const SUPERVISOR: &str = r#"
bin=$1; data=$2; log=$3; top=$4; opts=$5
if "$bin/pg_ctl" -D "$data" -l "$log" -w -t 120 -o "$opts" start > /dev/null; then
    echo ready
else
    echo failed
fi
read _
"$bin/pg_ctl" -D "$data" -m immediate -w stop > /dev/null 2>&1
rm -rf "$top"
"#;

/// One PostgreSQL cluster (a primary, or a standby made from one).
pub struct Cluster {
    pub name: String,
    pub port: u16,
    /// The cluster's data folder.
    pub data: PathBuf,
    top: PathBuf,
    supervisor: Mutex<Option<Child>>,
}

impl Cluster {
    /// A new cluster, started with `settings` (`name=value` pairs given as
    /// `-c name=value`; values without spaces) besides the loopback ones.
    pub fn start(name: &str, settings: &[&str]) -> Cluster {
        let top = owned_folder(name);
        let data = top.join("data");
        let mut initdb = as_owner("initdb");
        initdb.arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        run(initdb, &format!("initdb of cluster {name}"));
        let cluster = Cluster {
            name: name.into(),
            port: free_port(),
            data,
            top,
            supervisor: Mutex::new(None),
        };
        cluster.run_server(settings);
        cluster
    }

    /// A standby of this cluster, made with `pg_basebackup -R` and started as
    /// `cluster_name = name` (the name `synchronous_standby_names` gives it).
    pub fn standby(&self, name: &str, settings: &[&str]) -> Cluster {
        let top = owned_folder(name);
        let data = top.join("data");
        let mut backup = as_owner("pg_basebackup");
        backup
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg("-D")
            .arg(&data)
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"]);
        run(
            backup,
            &format!("pg_basebackup of {name} from {}", self.name),
        );
        let cluster = Cluster {
            name: name.into(),
            port: free_port(),
            data,
            top,
            supervisor: Mutex::new(None),
        };
        let mut all = vec![format!("cluster_name={name}")];
        all.extend(settings.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        cluster.run_server(&all);
        cluster
    }

    fn run_server(&self, settings: &[&str]) {
        let mut opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=300",
            self.port
        );
        for s in settings {
            opts.push_str(" -c ");
            opts.push_str(s);
        }
        let mut sh = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "sh", "-c", SUPERVISOR, "sh"]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", SUPERVISOR, "sh"]);
            c
        };
        let mut child = sh
            .arg(binaries())
            .arg(&self.data)
            .arg(self.top.join("log"))
            .arg(&self.top)
            .arg(&opts)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the cluster's supervisor");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("supervisor stdout");
        let _ = BufReader::new(stdout).read_line(&mut line);
        if line.trim() != "ready" {
            let log = std::fs::read_to_string(self.top.join("log")).unwrap_or_default();
            drop(child.stdin.take());
            let _ = child.wait();
            panic!("cluster {} did not start: {log}", self.name);
        }
        *self.supervisor.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
    }

    /// A libpq URL of database `db` on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// `host:port` of this cluster, for a URL naming several hosts.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs `sql` with psql in database `db`, returning its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let mut psql = Command::new(binaries().join("psql"));
        psql.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ])
        .args([
            "-d",
            db,
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ]);
        run(psql, &format!("psql on {} ({sql})", self.name))
            .trim()
            .to_string()
    }

    /// A new empty database; returns its URL.
    pub fn create_database(&self, prefix: &str) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("{prefix}_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// The postmaster's process id.
    pub fn postmaster_pid(&self) -> i32 {
        let pid =
            std::fs::read_to_string(self.data.join("postmaster.pid")).expect("postmaster.pid");
        pid.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("a pid in postmaster.pid")
    }

    /// Kills the server as a machine dies: the postmaster and every process it
    /// started are first stopped (so none of them does anything more), then
    /// killed with SIGKILL. Nothing is flushed or shut down.
    pub fn kill_9(&self) {
        let postmaster = self.postmaster_pid();
        let mut pids = vec![postmaster];
        pids.extend(children_of(postmaster));
        for pid in &pids {
            // SAFETY: plain kill(2) on processes this cluster started.
            unsafe { kill(*pid, SIGSTOP) };
        }
        for pid in &pids {
            // SAFETY: as above.
            unsafe { kill(*pid, SIGKILL) };
        }
    }

    /// Promotes this standby with `pg_ctl promote`, waiting until it accepts writes.
    pub fn promote(&self) {
        let mut promote = as_owner("pg_ctl");
        promote
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-t", "120", "promote"]);
        run(promote, &format!("pg_ctl promote of {}", self.name));
    }

    /// Points this standby at `primary` (as `application_name = self.name`): the
    /// setting is appended to `postgresql.auto.conf` (the last one wins), where
    /// `pg_basebackup -R` wrote the first, and the configuration reloaded.
    pub fn follow(&self, primary: &Cluster) {
        use std::io::Write;
        let line = format!(
            "primary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name={}'\n",
            primary.port, self.name
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join("postgresql.auto.conf"))
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .expect("postgresql.auto.conf takes the new primary");
        let mut reload = as_owner("pg_ctl");
        reload.arg("-D").arg(&self.data).arg("reload");
        run(reload, &format!("pg_ctl reload of {}", self.name));
    }

    /// How far this standby has received the primary's WAL, in bytes.
    pub fn received_wal_bytes(&self) -> u128 {
        self.psql(
            "postgres",
            "SELECT pg_last_wal_receive_lsn() - '0/0'::pg_lsn",
        )
        .split('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
    }

    /// Stops the server and removes its folder, waiting for both.
    pub fn stop(&self) {
        if let Some(mut child) = self
            .supervisor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The processes whose parent is `parent` (from /proc).
fn children_of(parent: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name is in parentheses and may hold spaces: the parent
        // id is the second field after its closing parenthesis.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

/// One cluster shared by every test of this process that asks for a database,
/// started by the first (each test gets its own database on it). fsync is off:
/// these tests kill processes, never the machine.
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| Cluster::start("shared", &["fsync=off", "full_page_writes=off"]))
}

/// A new empty database on the shared cluster; returns its URL.
pub fn database() -> String {
    shared().create_database("dbond_test")
}
