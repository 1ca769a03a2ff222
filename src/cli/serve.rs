//! `dbond serve`: open (or on first start create) the ledger, in the data folder
//! or in PostgreSQL (`--store URL`, keys still in the data folder), and serve it
//! over gRPC until SIGINT/SIGTERM.

use super::say;
use crate::clock::{Clock, SimulatedClock, SystemClock};
use crate::config::{
    ConfigLayer, LimitsLayer, ServerConfig, SharedStoreConfig, StoreLayer, TlsLayer,
};
use crate::ledger::keys::{self, KeyId};
use crate::ledger::signer::{LedgerKey, Signer};
use crate::registry::ParticipantId;
use crate::service;
use crate::store::{self, Store};
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
    /// The ledger's store when it is not the sled store in --data: a PostgreSQL
    /// URL in libpq's form, several hosts allowed (e.g.
    /// postgres://dbond@db1,db2/dbond?target_session_attrs=read-write). The keys
    /// stay in --data; every server of one ledger has a copy of its ledger key.
    /// Create the tables first with `dbond store init --store URL`.
    #[arg(long, env = "DBOND_STORE")]
    pub store: Option<String>,
    /// With --store: the writer lease's term in seconds; a follower takes over
    /// this long after the writer's last renewal. [default: 5]
    #[arg(long, env = "DBOND_LEASE_SECS")]
    pub lease_secs: Option<u64>,
    /// With --store: the address clients reach this server at, which the
    /// ledger's other servers name when they refuse a write. [default: the
    /// listening address]
    #[arg(long, env = "DBOND_ADVERTISE")]
    pub advertise: Option<String>,
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
    /// The next ledger key, which `dbond ledger-key rotate` hands the ledger's
    /// signing over to: a key file or a PKCS#11 token key's URI, opened as
    /// --ledger-key is. [default: none; rotations are refused]
    #[arg(long, env = "DBOND_NEXT_LEDGER_KEY")]
    pub next_ledger_key: Option<String>,
    /// Start with --ledger-key set to a fresh key that is not the key in force
    /// (lost or stolen): the server takes no write but `dbond ledger-key
    /// emergency-rotate`, which replaces the key in force by this one on the
    /// recovery quorum's approvals. Needs a recovery quorum on the ledger.
    #[arg(long)]
    pub emergency_rotation: bool,
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
    /// The server's clock: `system` (a production ledger) or `simulated` (a
    /// rehearsal ledger: its genesis says so, and its admin moves the clock
    /// forward with ClockService.AdvanceClock or `dbond clock advance`). A ledger
    /// is served on the clock it was created with.
    #[arg(long, value_enum, default_value_t = ClockKind::System, env = "DBOND_CLOCK")]
    pub clock: ClockKind,
    /// With --clock simulated: the time a new rehearsal ledger starts at, RFC 3339
    /// (e.g. 2027-01-01T00:00:00Z). An existing one resumes at its last recorded
    /// time, or at this time if it is later. [default: now]
    #[arg(long, env = "DBOND_CLOCK_START")]
    pub start: Option<chrono::DateTime<chrono::Utc>>,
}

/// Which clock `dbond serve` runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ClockKind {
    /// The machine's clock: a production ledger.
    #[default]
    System,
    /// A rehearsal clock that starts at --start and that the admin moves forward.
    Simulated,
}

/// The clock a server was asked to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeClock {
    System,
    Simulated {
        start: chrono::DateTime<chrono::Utc>,
    },
}

impl ServeArgs {
    /// The clock the flags ask for; --start only goes with --clock simulated.
    pub fn serve_clock(&self) -> anyhow::Result<ServeClock> {
        match (self.clock, self.start) {
            (ClockKind::System, None) => Ok(ServeClock::System),
            (ClockKind::System, Some(_)) => {
                anyhow::bail!("--start sets a simulated clock's time: give --clock simulated too")
            }
            (ClockKind::Simulated, start) => Ok(ServeClock::Simulated {
                start: start.unwrap_or_else(chrono::Utc::now),
            }),
        }
    }

    /// The checked configuration: flags and environment over the file over defaults.
    pub fn resolve(&self) -> anyhow::Result<ServerConfig> {
        let flags = ConfigLayer {
            data: self.data.clone(),
            listen: self.listen.clone(),
            origin: self.origin.clone(),
            allow_plaintext_remote: self.allow_plaintext_remote.then_some(true),
            engine_key: self.engine_key.clone(),
            ledger_key: self.ledger_key.clone(),
            next_ledger_key: self.next_ledger_key.clone(),
            emergency_rotation: self.emergency_rotation,
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
            store: StoreLayer {
                url: self.store.clone(),
                lease_secs: self.lease_secs,
                advertise: self.advertise.clone(),
            },
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

impl KeySettings {
    /// The configured ledger key, opened; `None` when none is configured (the
    /// data folder's `ledger.key` is the key).
    fn open(&self) -> anyhow::Result<Option<LedgerKey>> {
        self.ledger_key
            .as_deref()
            .map(|setting| super::ledger_key::open(setting, self.pkcs11.as_ref()))
            .transpose()
    }

    /// The ledger key of an existing ledger: the configured one, else `ledger.key`
    /// in the data folder.
    fn open_existing(&self, paths: &DataPaths) -> anyhow::Result<LedgerKey> {
        match self.open()? {
            Some(key) => Ok(key),
            None => Ok(keys::read_private_key(&paths.ledger_key)?.into()),
        }
    }
}

/// Makes the data folder (mode 0700).
fn data_folder(data: &Path) -> anyhow::Result<DataPaths> {
    std::fs::create_dir_all(data)
        .map_err(|e| anyhow::anyhow!("cannot create data folder {}: {e}", data.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700));
    }
    Ok(DataPaths::new(data))
}

/// A new ledger's keys, written to the data folder before anything signed with
/// them is stored (a ledger is never left without its key), and its origin.
struct NewKeys {
    ledger_public: ed25519_dalek::VerifyingKey,
    /// Where the ledger key is kept: the configured key, or the new `ledger.key`.
    ledger_kept: String,
    /// Whether `ledger.key` was made here (a configured key is none of ours).
    made_ledger_key: bool,
    admin: ed25519_dalek::SigningKey,
    origin: String,
}

impl NewKeys {
    /// Writes a new ledger's key files, and gives the ledger key that is to sign
    /// its genesis: the configured key (a token's, or a file made elsewhere) when
    /// one is set, else a new `ledger.key` in the data folder.
    fn write(
        data: &Path,
        paths: &DataPaths,
        origin: Option<&str>,
        keys_set: &KeySettings,
    ) -> anyhow::Result<(NewKeys, LedgerKey)> {
        if paths.ledger_key.exists() || paths.admin_key.exists() {
            anyhow::bail!(
                "{} holds keys but no store; refusing to create a new ledger over them (move them away, or restore the store from backup)",
                data.display()
            );
        }
        let (ledger, ledger_kept, made_ledger_key) = match keys_set.open()? {
            Some(key) => {
                let described = key.describe();
                (key, described, false)
            }
            None => {
                let key = keys::generate();
                keys::write_private_key(&paths.ledger_key, &key)?;
                (key.into(), paths.ledger_key.display().to_string(), true)
            }
        };
        let ledger_public = ledger.public_key();
        let admin = keys::generate();
        let origin = origin
            .map(str::to_string)
            .unwrap_or_else(|| format!("diaspora-bonds/{}", KeyId::of(&ledger_public)));
        keys::write_private_key(&paths.admin_key, &admin)?;
        // The public half, for auditors and banks to pin (receipts, witnessing).
        keys::write_public_key(&paths.ledger_public_key, &ledger_public)?;
        let new = NewKeys {
            ledger_public,
            ledger_kept,
            made_ledger_key,
            admin,
            origin,
        };
        Ok((new, ledger))
    }

    fn genesis(&self) -> anyhow::Result<store::Genesis<'_>> {
        Ok(store::Genesis {
            origin: self.origin.clone(),
            admin_participant_id: ParticipantId::parse("admin", "admin")?,
            admin_key: &self.admin,
        })
    }

    fn announce(&self, paths: &DataPaths, place: &str) {
        eprintln!("created a new ledger {:?} in {place}", self.origin);
        eprintln!(
            "  ledger key  {} (signs entries and checkpoints; keep it on this host); public key {} (key id {}: publish it, auditors and banks pin it)",
            self.ledger_kept,
            paths.ledger_public_key.display(),
            KeyId::of(&self.ledger_public)
        );
        eprintln!(
            "  admin key   {} (participant \"admin\", key id {}; move it off this host after registering participants)",
            paths.admin_key.display(),
            KeyId::of(&self.admin.verifying_key())
        );
    }

    /// Removes the key files this made for a ledger that was not created after all.
    fn discard(&self, paths: &DataPaths) {
        if self.made_ledger_key {
            let _ = std::fs::remove_file(&paths.ledger_key);
        }
        for path in [&paths.admin_key, &paths.ledger_public_key] {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Opens the ledger in `data`, creating it (keys, genesis) if the folder holds none.
pub fn open_or_create(
    data: &Path,
    origin: Option<&str>,
    keys_set: &KeySettings,
    clock: Arc<dyn Clock>,
    options: store::StoreOptions,
) -> anyhow::Result<Store> {
    let paths = data_folder(data)?;
    let fresh = !paths.store.exists()
        || std::fs::read_dir(&paths.store)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
    if fresh {
        let (new, ledger_key) = NewKeys::write(data, &paths, origin, keys_set)?;
        let ledger = Store::create_with(&paths.store, ledger_key, new.genesis()?, clock, options)?;
        new.announce(&paths, &data.display().to_string());
        Ok(ledger)
    } else {
        let ledger_key = keys_set.open_existing(&paths)?;
        eprintln!(
            "opening the ledger in {} (replaying and checking every entry)",
            data.display()
        );
        let ledger = Store::open_with(&paths.store, ledger_key, clock, options)?;
        eprintln!(
            "ledger {:?} open: {} entries, all consistent",
            ledger.identity().origin,
            ledger.size()
        );
        Ok(ledger)
    }
}

/// Opens the ledger kept in PostgreSQL, creating it (keys in `data`, genesis in
/// the database) if the database holds none. `address` is where clients reach
/// this server, for the writer lease row.
pub fn open_or_create_shared(
    data: &Path,
    store: &SharedStoreConfig,
    address: &str,
    origin: Option<&str>,
    keys_set: &KeySettings,
    clock: Arc<dyn Clock>,
    options: store::StoreOptions,
) -> anyhow::Result<Store> {
    let paths = data_folder(data)?;
    let url = store::PgUrl::parse(&store.url).map_err(|e| anyhow::anyhow!("store.url: {e}"))?;
    let engine = Arc::new(store::PgEngine::open(
        &url,
        store::PgOptions {
            lease: store.lease,
            holder: format!("{address} (pid {})", std::process::id()),
            address: address.to_string(),
        },
        options.batch_records(),
    )?);
    let location = url.location().to_string();
    if store::Engine::is_empty(&*engine)? {
        let (new, ledger_key) = NewKeys::write(data, &paths, origin, keys_set)?;
        let ledger = match Store::create_on(engine, ledger_key, new.genesis()?, clock, options) {
            Ok(ledger) => ledger,
            Err(e @ (store::StoreError::AlreadyInitialised(_) | store::StoreError::Invalid(_))) => {
                // Another server created the ledger first: these keys signed nothing.
                new.discard(&paths);
                if keys_set.ledger_key.is_some() {
                    anyhow::bail!("{e} (start this server again with that server's ledger key)");
                }
                anyhow::bail!(
                    "{e} (start this server again with a copy of that server's ledger key in {})",
                    data.display()
                );
            }
            Err(e) => return Err(e.into()),
        };
        new.announce(&paths, &format!("{location} (keys in {})", data.display()));
        return Ok(ledger);
    }
    if keys_set.ledger_key.is_none() && !paths.ledger_key.exists() {
        anyhow::bail!(
            "{location} holds a ledger but {} holds no ledger key: every server of one ledger signs with the same key, so copy ledger.key (and ledger.pub) from the server that created it",
            data.display()
        );
    }
    let ledger_key = keys_set.open_existing(&paths)?;
    eprintln!("opening the ledger in {location} (replaying and checking every entry)");
    let ledger = Store::open_on(engine, ledger_key, clock, options)?;
    eprintln!(
        "ledger {:?} open: {} entries, all consistent; {}",
        ledger.identity().origin,
        ledger.size(),
        ledger
            .not_writing()
            .unwrap_or_else(|| "this server is the writer".into())
    );
    Ok(ledger)
}

/// Refuses to serve a ledger on another clock than the one its genesis names (a
/// production ledger on a clock its admin could move, or a rehearsal ledger on
/// the system clock), and resumes a rehearsal clock no earlier than the ledger's
/// last recorded time.
pub fn check_clock(ledger: &Store, clock: &dyn Clock) -> anyhow::Result<()> {
    match (ledger.identity().simulated_clock, clock.simulated()) {
        (false, None) => Ok(()),
        (true, None) => anyhow::bail!(
            "ledger {:?} is a rehearsal ledger (its genesis says its clock is simulated): serve it with --clock simulated",
            ledger.identity().origin
        ),
        (false, Some(_)) => anyhow::bail!(
            "ledger {:?} is a production ledger: it is served on the system clock only (a simulated clock would let its admin move its time)",
            ledger.identity().origin
        ),
        (true, Some(simulated)) => {
            if let Some(last) = ledger.read(|p| p.state.last_recorded_at()) {
                if last > simulated.now() {
                    simulated.advance_to(last)?;
                }
            }
            Ok(())
        }
    }
}

pub async fn run(config: &ServerConfig, serve_clock: ServeClock) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = match serve_clock {
        ServeClock::System => Arc::new(SystemClock),
        ServeClock::Simulated { start } => Arc::new(SimulatedClock::new(start)),
    };
    let data = config.data.clone();
    let origin = config.origin.clone();
    let keys_set = KeySettings {
        ledger_key: config.ledger_key.clone(),
        pkcs11: config.pkcs11.clone(),
    };
    let clock_open = clock.clone();
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let next_ledger_key = config
        .next_ledger_key
        .as_deref()
        .map(|setting| super::ledger_key::open(setting, config.pkcs11.as_ref()))
        .transpose()
        .map_err(|e| anyhow::anyhow!("the next ledger key: {e}"))?
        .map(store::NextLedgerKey::new);
    if let Some(next) = next_ledger_key.as_ref().and_then(|k| k.public_key()) {
        eprintln!(
            "next ledger key ready (key id {}): `dbond ledger-key rotate` hands the ledger over to it",
            KeyId::of(&next)
        );
    }
    let options = store::StoreOptions {
        batch_records: Some(config.store_batch_records),
        observer: Some(metrics.clone()),
        next_ledger_key,
        emergency_rotation: config.emergency_rotation,
        ..Default::default()
    };
    let tls = match &config.tls {
        Some(files) => Some(service::tls_config(&files.read()?)),
        None => None,
    };
    // Bound before the ledger opens: a server sharing a PostgreSQL store tells the
    // others its address through the writer lease row.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let local = listener.local_addr()?;
    let shared = config.store.clone();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let ledger = tokio::task::spawn_blocking(move || match shared {
        None => open_or_create(&data, origin.as_deref(), &keys_set, clock_open, options),
        Some(store) => {
            let address = store
                .advertise
                .clone()
                .unwrap_or_else(|| format!("{scheme}://{local}"));
            open_or_create_shared(
                &data,
                &store,
                &address,
                origin.as_deref(),
                &keys_set,
                clock_open,
                options,
            )
        }
    })
    .await??;
    check_clock(&ledger, clock.as_ref())?;
    if let Some(simulated) = clock.simulated() {
        eprintln!(
            "REHEARSAL: simulated clock at {}; the admin moves it forward with `dbond clock advance`",
            simulated.now()
        );
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    if let Some(addr) = config.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
        say!("metrics on http://{}/metrics", listener.local_addr()?)?;
        let sized = ledger.clone();
        tokio::spawn(service::observe::serve_metrics(
            listener,
            metrics.clone(),
            Arc::new(move || sized.size()),
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
        mirror_of: None,
    };
    service::serve_with(ledger.clone(), clock, listener, options, stopped(stop_rx)).await?;
    // Another server of a shared store takes over at once instead of at the end
    // of this one's term.
    ledger.release_writer_role();
    ledger.flush()?;
    eprintln!("shut down cleanly; ledger size {}", ledger.size());
    Ok(())
}
