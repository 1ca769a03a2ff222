//! `dbond serve`: open (or on first start create) the ledger in a data folder and
//! serve it over gRPC until SIGINT/SIGTERM.

use super::say;
use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigLayer, LimitsLayer, ServerConfig, TlsLayer};
use crate::ledger::keys::{self, KeyId};
use crate::ledger::signer::Signer;
use crate::registry::ParticipantId;
use crate::service;
use crate::store::{self, Ledger};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// A TOML configuration file (flags and environment variables override it;
    /// unknown keys are refused). See docs/OPERATIONS.md.
    #[arg(long, env = "DBOND_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data folder: the sled store, the ledger key and (at first start) the admin
    /// key. [default: ./dbond-data]
    #[arg(long, env = "DBOND_DATA")]
    pub data: Option<PathBuf>,
    /// Address to listen on. Plaintext is only allowed on loopback unless TLS is
    /// configured or --allow-plaintext-remote is given. [default: 127.0.0.1:50051]
    #[arg(long, env = "DBOND_LISTEN")]
    pub listen: Option<String>,
    /// Origin line naming a new ledger (first start only). [default:
    /// diaspora-bonds/<ledger key id>]
    #[arg(long, env = "DBOND_ORIGIN")]
    pub origin: Option<String>,
    /// Largest gRPC message accepted or sent, in bytes. [default: 4194304]
    #[arg(long, env = "DBOND_MESSAGE_BYTES_MAX")]
    pub message_bytes_max: Option<usize>,
    /// Requests worked on at once per connection. [default: 1024]
    #[arg(long, env = "DBOND_CONCURRENCY_PER_CONNECTION")]
    pub concurrency_per_connection: Option<usize>,
    /// Records per sled batch; a group commit with more (an allotment, issue or
    /// coupon run for many holders) is written in several. [default: 16384]
    #[arg(long, env = "DBOND_STORE_BATCH_RECORDS_MAX")]
    pub store_batch_records_max: Option<usize>,
    /// Allow listening in plaintext on a non-loopback address.
    #[arg(long)]
    pub allow_plaintext_remote: bool,
    /// The engine participant's private key: runs the accrual engine inside the
    /// server, posting due record dates, coupons and redemptions on a cadence.
    #[arg(long, env = "DBOND_ENGINE_KEY")]
    pub engine_key: Option<PathBuf>,
    /// The ledger key: a key file, or a PKCS#11 token key's RFC 7512 URI
    /// ('pkcs11:token=LABEL;object=LABEL', with the module and the PIN's source in
    /// the config's [pkcs11] section). [default: ledger.key in the data folder,
    /// made at first start]
    #[arg(long, env = "DBOND_LEDGER_KEY")]
    pub ledger_key: Option<String>,
    /// Seconds between accrual runs of the in-server engine. [default: 3600]
    #[arg(long, env = "DBOND_ACCRUAL_INTERVAL_SECS")]
    pub accrual_interval_secs: Option<u64>,
    /// Serve Prometheus metrics (GET /metrics) on this address, e.g. 127.0.0.1:9464.
    #[arg(long, env = "DBOND_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// TLS: the server's PEM certificate chain.
    #[arg(long, env = "DBOND_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// TLS: the server's PEM private key.
    #[arg(long, env = "DBOND_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// TLS: require client certificates signed by this PEM CA.
    #[arg(long, env = "DBOND_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Log filter (tracing), e.g. info or dbond=debug. [default: info]
    #[arg(long, env = "DBOND_LOG")]
    pub log: Option<String>,
}

impl ServeArgs {
    /// The checked configuration: flags and environment over the file over defaults.
    pub fn resolve(&self) -> anyhow::Result<ServerConfig> {
        let flags = ConfigLayer {
            data: self.data.clone(),
            listen: self.listen.clone(),
            origin: self.origin.clone(),
            allow_plaintext_remote: self.allow_plaintext_remote.then_some(true),
            engine_key: self.engine_key.clone(),
            ledger_key: self.ledger_key.clone(),
            accrual_interval_secs: self.accrual_interval_secs,
            metrics_listen: self.metrics_listen.clone(),
            log: self.log.clone(),
            limits: LimitsLayer {
                message_bytes_max: self.message_bytes_max,
                concurrent_requests_per_connection_max: self.concurrency_per_connection,
                shutdown_grace_secs: None,
                store_batch_records_max: self.store_batch_records_max,
            },
            tls: TlsLayer {
                cert: self.tls_cert.clone(),
                key: self.tls_key.clone(),
                client_ca: self.tls_client_ca.clone(),
            },
            pkcs11: Default::default(),
        };
        let file = match &self.config {
            Some(path) => ConfigLayer::read(path)?,
            None => ConfigLayer::default(),
        };
        flags.over(file).resolve()
    }
}

/// Paths inside a data folder.
pub struct DataPaths {
    pub store: PathBuf,
    pub ledger_key: PathBuf,
    /// The ledger key's public half, for auditors and banks to pin.
    pub ledger_public_key: PathBuf,
    pub admin_key: PathBuf,
}

impl DataPaths {
    pub fn new(data: &Path) -> Self {
        DataPaths {
            store: data.join("store"),
            ledger_key: data.join("ledger.key"),
            ledger_public_key: data.join("ledger.pub"),
            admin_key: data.join("admin.key"),
        }
    }
}

/// The ledger key a server is configured with: a file or a token key's URI (and
/// the PKCS#11 module and PIN source for a token). No setting means `ledger.key`
/// in the data folder, made at first start.
#[derive(Clone, Debug, Default)]
pub struct KeySettings {
    pub ledger_key: Option<String>,
    pub pkcs11: Option<crate::config::Pkcs11Config>,
}

/// Opens the ledger in `data`, creating it (keys, genesis) if the folder holds none.
pub fn open_or_create(
    data: &Path,
    origin: Option<&str>,
    keys_set: &KeySettings,
    clock: Arc<dyn Clock>,
    options: store::StoreOptions,
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
        // A configured key (a token's, or a file made elsewhere) signs genesis;
        // else a new key file is made in the data folder.
        let (ledger_key, where_kept) = match &keys_set.ledger_key {
            Some(setting) => {
                let key = super::ledger_key::open(setting, keys_set.pkcs11.as_ref())?;
                let described = key.describe();
                (key, described)
            }
            None => {
                let key = keys::generate();
                keys::write_private_key(&paths.ledger_key, &key)?;
                (key.into(), paths.ledger_key.display().to_string())
            }
        };
        let ledger_public = ledger_key.public_key();
        let admin_key = keys::generate();
        let origin = origin
            .map(str::to_string)
            .unwrap_or_else(|| format!("diaspora-bonds/{}", KeyId::of(&ledger_public)));
        keys::write_private_key(&paths.admin_key, &admin_key)?;
        // The public half, for auditors and banks to pin (receipts, witnessing).
        let ledger_pub = &paths.ledger_public_key;
        keys::write_public_key(ledger_pub, &ledger_public)?;
        let ledger = Ledger::create_with(
            &paths.store,
            ledger_key,
            store::Genesis {
                origin: origin.clone(),
                admin_participant_id: ParticipantId::parse("admin", "admin")?,
                admin_key: &admin_key,
            },
            clock,
            options,
        )?;
        eprintln!("created a new ledger {origin:?} in {}", data.display());
        eprintln!(
            "  ledger key  {where_kept} (signs entries and checkpoints; keep it on this host); public key {} (key id {}: publish it, auditors and banks pin it)",
            ledger_pub.display(),
            KeyId::of(&ledger_public)
        );
        eprintln!(
            "  admin key   {} (participant \"admin\", key id {}; move it off this host after registering participants)",
            paths.admin_key.display(),
            KeyId::of(&admin_key.verifying_key())
        );
        Ok(ledger)
    } else {
        let ledger_key = match &keys_set.ledger_key {
            Some(setting) => super::ledger_key::open(setting, keys_set.pkcs11.as_ref())?,
            None => keys::read_private_key(&paths.ledger_key)?.into(),
        };
        eprintln!(
            "opening the ledger in {} (replaying and checking every entry)",
            data.display()
        );
        let ledger = Ledger::open_with(&paths.store, ledger_key, clock, options)?;
        eprintln!(
            "ledger {:?} open: {} entries, all consistent",
            ledger.identity().origin,
            ledger.size()
        );
        Ok(ledger)
    }
}

pub async fn run(config: &ServerConfig) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let data = config.data.clone();
    let origin = config.origin.clone();
    let keys_set = KeySettings {
        ledger_key: config.ledger_key.clone(),
        pkcs11: config.pkcs11.clone(),
    };
    let clock_open = clock.clone();
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let options = store::StoreOptions {
        batch_records: Some(config.store_batch_records),
        observer: Some(metrics.clone()),
        ..Default::default()
    };
    let ledger = tokio::task::spawn_blocking(move || {
        open_or_create(&data, origin.as_deref(), &keys_set, clock_open, options)
    })
    .await??;
    let tls = match &config.tls {
        Some(files) => Some(service::tls_config(&files.read()?)),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let local = listener.local_addr()?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    if let Some(addr) = config.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
        say!("metrics on http://{}/metrics", listener.local_addr()?)?;
        tokio::spawn(service::observe::serve_metrics(
            listener,
            metrics.clone(),
            ledger.clone(),
            stopped(stop_rx.clone()),
        ));
    }
    if let Some(path) = &config.engine_key {
        let key = keys::read_private_key(path)?;
        eprintln!(
            "accrual engine running inside the server every {} s as key {}",
            config.accrual_interval.as_secs(),
            KeyId::of(&key.verifying_key())
        );
        let scheduler =
            crate::service::scheduler::Scheduler::new(ledger.clone(), clock.clone(), key)
                .with_metrics(metrics.clone());
        tokio::spawn(scheduler.run(config.accrual_interval, stopped(stop_rx.clone())));
    }
    tokio::spawn(async move {
        service::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    // Scripts and tests read this line to find the port.
    say!(
        "listening on {local}{}",
        if tls.is_some() { " (TLS)" } else { "" }
    )?;
    std::io::stdout().flush()?;
    let options = service::ServeOptions {
        limits: config.limits.clone(),
        tls,
        metrics: Some(metrics),
    };
    service::serve_with(ledger.clone(), clock, listener, options, stopped(stop_rx)).await?;
    ledger.flush()?;
    eprintln!("shut down cleanly; ledger size {}", ledger.size());
    Ok(())
}
