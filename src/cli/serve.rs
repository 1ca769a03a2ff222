//! `dbond serve`: open (or on first start create) the ledger in a data folder and
//! serve it over gRPC until SIGINT/SIGTERM.

use crate::clock::{Clock, SystemClock};
use crate::ledger::keys::{self, KeyId};
use crate::registry::ParticipantId;
use crate::service::{self, ServerLimits};
use crate::store::{self, Ledger};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Data folder: the sled store, the ledger key and (at first start) the admin key.
    #[arg(long, env = "DBOND_DATA", default_value = "./dbond-data")]
    pub data: PathBuf,
    /// Address to listen on. Plaintext is only allowed on loopback unless
    /// --allow-plaintext-remote is given.
    #[arg(long, env = "DBOND_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: String,
    /// Origin line naming a new ledger (first start only); default
    /// "diaspora-bonds/<ledger key id>".
    #[arg(long, env = "DBOND_ORIGIN")]
    pub origin: Option<String>,
    /// Largest gRPC message accepted or sent, in bytes.
    #[arg(long, env = "DBOND_MESSAGE_BYTES_MAX", default_value_t = crate::limits::GRPC_MESSAGE_BYTES_MAX)]
    pub message_bytes_max: usize,
    /// Requests worked on at once per connection.
    #[arg(long, env = "DBOND_CONCURRENCY_PER_CONNECTION", default_value_t = crate::limits::CONCURRENT_REQUESTS_PER_CONNECTION_MAX)]
    pub concurrency_per_connection: usize,
    /// Allow listening in plaintext on a non-loopback address.
    #[arg(long)]
    pub allow_plaintext_remote: bool,
    /// The engine participant's private key: runs the accrual engine inside the
    /// server, posting due record dates, coupons and redemptions on a cadence.
    #[arg(long, env = "DBOND_ENGINE_KEY")]
    pub engine_key: Option<std::path::PathBuf>,
    /// Seconds between accrual runs of the in-server engine.
    #[arg(long, env = "DBOND_ACCRUAL_INTERVAL_SECS", default_value_t = crate::limits::ACCRUAL_INTERVAL_SECS_DEFAULT)]
    pub accrual_interval_secs: u64,
}

/// Paths inside a data folder.
pub struct DataPaths {
    pub store: PathBuf,
    pub ledger_key: PathBuf,
    pub admin_key: PathBuf,
}

impl DataPaths {
    pub fn new(data: &Path) -> Self {
        DataPaths {
            store: data.join("store"),
            ledger_key: data.join("ledger.key"),
            admin_key: data.join("admin.key"),
        }
    }
}

/// Opens the ledger in `data`, creating it (keys, genesis) if the folder holds none.
pub fn open_or_create(
    data: &Path,
    origin: Option<&str>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Ledger> {
    let paths = DataPaths::new(data);
    std::fs::create_dir_all(data)
        .map_err(|e| anyhow::anyhow!("cannot create data folder {}: {e}", data.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700));
    }
    let fresh = !paths.store.exists()
        || std::fs::read_dir(&paths.store)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
    if fresh {
        if paths.ledger_key.exists() || paths.admin_key.exists() {
            anyhow::bail!(
                "{} holds keys but no store; refusing to create a new ledger over them (move them away, or restore the store from backup)",
                data.display()
            );
        }
        let ledger_key = keys::generate();
        let admin_key = keys::generate();
        let origin = origin.map(str::to_string).unwrap_or_else(|| {
            format!("diaspora-bonds/{}", KeyId::of(&ledger_key.verifying_key()))
        });
        keys::write_private_key(&paths.ledger_key, &ledger_key)?;
        keys::write_private_key(&paths.admin_key, &admin_key)?;
        let ledger = Ledger::create(
            &paths.store,
            &ledger_key,
            store::Genesis {
                origin: origin.clone(),
                admin_participant_id: ParticipantId::parse("admin", "admin")?,
                admin_key: &admin_key,
            },
            clock,
        )?;
        eprintln!("created a new ledger {origin:?} in {}", data.display());
        eprintln!(
            "  ledger key  {} (signs entries and checkpoints; keep it on this host)",
            paths.ledger_key.display()
        );
        eprintln!(
            "  admin key   {} (participant \"admin\", key id {}; move it off this host after registering participants)",
            paths.admin_key.display(),
            KeyId::of(&admin_key.verifying_key())
        );
        Ok(ledger)
    } else {
        let ledger_key = keys::read_private_key(&paths.ledger_key)?;
        eprintln!(
            "opening the ledger in {} (replaying and checking every entry)",
            data.display()
        );
        let ledger = Ledger::open(&paths.store, ledger_key, clock)?;
        eprintln!(
            "ledger {:?} open: {} entries, all consistent",
            ledger.identity().origin,
            ledger.size()
        );
        Ok(ledger)
    }
}

pub async fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let addr: SocketAddr = args.listen.parse().map_err(|e| {
        anyhow::anyhow!(
            "--listen {:?} is not HOST:PORT with a numeric host: {e}",
            args.listen
        )
    })?;
    if !addr.ip().is_loopback() && !args.allow_plaintext_remote {
        anyhow::bail!(
            "refusing to serve plaintext gRPC on {addr}, which is not loopback; pass --allow-plaintext-remote to do it anyway"
        );
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let data = args.data.clone();
    let origin = args.origin.clone();
    let clock_open = clock.clone();
    let ledger =
        tokio::task::spawn_blocking(move || open_or_create(&data, origin.as_deref(), clock_open))
            .await??;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    // Scripts and tests read this line to find the port.
    println!("listening on {local}");
    std::io::stdout().flush()?;
    let limits = ServerLimits {
        message_bytes_max: args.message_bytes_max,
        concurrent_requests_per_connection_max: args.concurrency_per_connection,
        ..ServerLimits::default()
    };
    service::serve(
        ledger.clone(),
        clock,
        listener,
        limits,
        service::shutdown_signal(),
    )
    .await?;
    ledger.flush()?;
    eprintln!("shut down cleanly; ledger size {}", ledger.size());
    Ok(())
}
