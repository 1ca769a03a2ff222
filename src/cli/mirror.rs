//! `dbond mirror`: keep a verified copy of a running server's ledger (or of
//! another mirror's copy) in a data folder, following it until SIGINT/SIGTERM;
//! optionally serve the copy's read side and Prometheus metrics.

use super::{ClientArgs, say};
use crate::clock::{Clock, SystemClock};
use crate::config::ServerLimits;
use crate::ledger::keys::{self, KeyId};
use crate::metrics::Metrics;
use crate::mirror::{Backoff, FollowOptions, Mirror, MirrorOptions};
use crate::service;
use crate::store::{Store, StoreOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, clap::Args)]
pub struct MirrorArgs {
    /// The server (or another mirror) to follow: http://host:port.
    #[arg(long)]
    pub from: String,
    /// The mirror's data folder: its copy of the ledger (store/), ledger.pub, and
    /// the source's checkpoints it has seen (checkpoints/). Created if missing.
    #[arg(long)]
    pub data: PathBuf,
    /// The private key of a registered participant that may read the whole
    /// ledger (admin, treasury, auditor or engine).
    #[arg(long, env = "DBOND_KEY")]
    pub key: PathBuf,
    /// Serve the read side of the API from the copy on this address (HOST:PORT);
    /// every write is refused with FAILED_PRECONDITION naming the source.
    #[arg(long)]
    pub listen: Option<String>,
    /// Allow --listen in plaintext on an address that is not loopback.
    #[arg(long)]
    pub allow_plaintext_remote: bool,
    /// Serve Prometheus metrics (GET /metrics) on this address, e.g. 127.0.0.1:9465.
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// The ledger key to trust from the start: 64 hex digits or a public key
    /// file (the source's ledger.pub). A source whose checkpoints it did not sign,
    /// or whose genesis names another key, is refused at once. Without it, the
    /// key the source's genesis names is pinned at the first copy.
    #[arg(long)]
    pub ledger_key: Option<String>,
    /// TLS: the PEM CA certificate that signed the source's certificate (turns TLS on).
    #[arg(long, env = "DBOND_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// TLS: this client's PEM certificate, for sources that require one.
    #[arg(long, env = "DBOND_TLS_CLIENT_CERT", requires = "tls_client_key")]
    pub tls_client_cert: Option<PathBuf>,
    /// TLS: this client's PEM private key.
    #[arg(long, env = "DBOND_TLS_CLIENT_KEY", requires = "tls_client_cert")]
    pub tls_client_key: Option<PathBuf>,
    /// TLS: the name on the source's certificate, if not the host in --from.
    #[arg(long)]
    pub tls_domain: Option<String>,
}

impl MirrorArgs {
    /// The connection to the source, as a client verb would make it.
    fn client_args(&self) -> ClientArgs {
        ClientArgs {
            server: self.from.clone(),
            key: self.key.clone(),
            json: false,
            tls_ca: self.tls_ca.clone(),
            tls_client_cert: self.tls_client_cert.clone(),
            tls_client_key: self.tls_client_key.clone(),
            tls_domain: self.tls_domain.clone(),
        }
    }
}

fn address(flag: &str, text: &str) -> anyhow::Result<SocketAddr> {
    text.parse()
        .map_err(|e| anyhow::anyhow!("{flag} {text:?} is not HOST:PORT with a numeric host: {e}"))
}

/// The ledger key given with `--ledger-key`, if any.
pub(super) fn trusted_key(
    arg: Option<&str>,
) -> anyhow::Result<Option<ed25519_dalek::VerifyingKey>> {
    arg.map(super::audit::parse_key_arg).transpose()
}

/// Connects to the source, trying again (with the mirror's backoff) while it
/// cannot be reached, until `stop` says to give up.
async fn connect(
    args: &ClientArgs,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<crate::client::Client>> {
    let mut backoff = Backoff::default();
    loop {
        match args.connect().await {
            Ok(client) => return Ok(Some(client)),
            Err(e) => {
                let delay = backoff.failed();
                tracing::warn!(
                    source = %args.server,
                    attempt = backoff.failures(),
                    retry_in_ms = delay.as_millis() as u64,
                    error = %format!("{e:#}"),
                    "cannot reach the source; trying again"
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {},
                    _ = stop.wait_for(|s| *s) => return Ok(None),
                }
            }
        }
    }
}

pub async fn run(args: &MirrorArgs) -> anyhow::Result<()> {
    let client_args = args.client_args();
    // Key and TLS files are read now, so a wrong path fails at once.
    keys::read_private_key(&args.key)?;
    client_args.tls()?;
    let trusted = trusted_key(args.ledger_key.as_deref())?;
    let listen = args
        .listen
        .as_deref()
        .map(|l| address("--listen", l))
        .transpose()?;
    if let Some(addr) = listen {
        if !addr.ip().is_loopback() && !args.allow_plaintext_remote {
            anyhow::bail!(
                "refusing to serve plaintext gRPC on {addr}, which is not loopback; give --allow-plaintext-remote, or put the mirror behind a TLS proxy"
            );
        }
    }
    let metrics_listen = args
        .metrics_listen
        .as_deref()
        .map(|m| address("--metrics-listen", m))
        .transpose()?;
    let metrics = Arc::new(Metrics::for_mirror());
    let options = MirrorOptions {
        ledger_key: trusted,
        store: StoreOptions {
            observer: Some(metrics.clone()),
            ..Default::default()
        },
        metrics: Some(metrics.clone()),
    };
    let data = args.data.clone();
    let mut mirror = tokio::task::spawn_blocking(move || Mirror::open(&data, options)).await??;
    say!(
        "mirror of {} in {}: {} entries held",
        args.from,
        args.data.display(),
        mirror.size()
    )?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    tokio::spawn(async move {
        service::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    // The copy, for the metrics endpoint and the readers, once there is one.
    let copy: Arc<Mutex<Option<Store>>> = Arc::new(Mutex::new(None));
    if let Some(addr) = metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
        say!("metrics on http://{}/metrics", listener.local_addr()?)?;
        let sized = copy.clone();
        tokio::spawn(service::observe::serve_metrics(
            listener,
            metrics.clone(),
            Arc::new(move || {
                sized
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .map_or(0, Store::size)
            }),
            stopped(stop_rx.clone()),
        ));
    }
    let listener = match listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?,
        ),
        None => None,
    };
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Store>();
    let serving = {
        let copy = copy.clone();
        let source = args.from.clone();
        let metrics = metrics.clone();
        let shutdown = stopped(stop_rx.clone());
        tokio::spawn(async move {
            let Ok(ledger) = ready_rx.await else {
                return Ok(());
            };
            *copy.lock().unwrap_or_else(|e| e.into_inner()) = Some(ledger.clone());
            let Some(listener) = listener else {
                return Ok(());
            };
            let local = listener.local_addr()?;
            // Scripts and tests read this line to find the port.
            say!("listening on {local} (read-only mirror of {source})")?;
            std::io::stdout().flush()?;
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let options = service::ServeOptions {
                limits: ServerLimits::default(),
                tls: None,
                metrics: Some(metrics),
                mirror_of: Some(source),
            };
            service::serve_with(ledger, clock, listener, options, shutdown).await
        })
    };

    let mut stop_connect = stop_rx.clone();
    let Some(client) = connect(&client_args, &mut stop_connect).await? else {
        return close(mirror, copy, serving).await;
    };
    match mirror.ledger().map(|l| KeyId::of(l.ledger_public_key())) {
        Some(key) => say!(
            "following {} (ledger {:?}, key {key})",
            args.from,
            client.origin()
        )?,
        None => say!(
            "following {} (ledger {:?}); the first copy pins the ledger key",
            args.from,
            client.origin()
        )?,
    }
    let followed = crate::mirror::follow(
        &mut mirror,
        &client,
        &FollowOptions::new(&args.from),
        Some(ready_tx),
        stopped(stop_rx.clone()),
    )
    .await;
    match followed {
        Ok(()) => close(mirror, copy, serving).await,
        // Health is NOT_SERVING already (the copy stopped); the process ends
        // with the reason, the evidence kept in the folder.
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// Waits for the readers' server to drain, then closes the copy.
async fn close(
    mirror: Mirror,
    copy: Arc<Mutex<Option<Store>>>,
    serving: tokio::task::JoinHandle<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    if let Ok(Err(e)) = serving.await {
        tracing::warn!(error = %e, "the readers' server ended with an error");
    }
    copy.lock().unwrap_or_else(|e| e.into_inner()).take();
    let size = mirror.size();
    // Every group is durable when stored; closing only lets go of the folder.
    if let Err(e) = tokio::task::spawn_blocking(move || mirror.close()).await? {
        tracing::warn!(error = %e, "closing the copy");
    }
    eprintln!("mirror stopped; {size} entries held");
    Ok(())
}
