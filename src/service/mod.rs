//! The tonic edge: authentication, proto <-> domain conversion, the one error ->
//! status table, and the server (health, reflection, limits, graceful shutdown).
//! Only this module (and the clients in `client`) know about tonic.

pub mod auth;
mod batch;
mod bonds;
mod clock;
pub mod coupons;
pub mod error;
mod holdings;
mod ledger;
pub mod observe;
mod participants;
mod pricing;
pub mod readonly;
pub mod rpc;
pub mod scheduler;
pub mod servicing;
pub mod status;

use crate::clock::Clock;
use crate::config::{ServerLimits, TlsPem};
use crate::proto as pb;
use crate::store::{Committed, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The gRPC services of one ledger: it implements every service of the API over
/// the ledger it serves, its authenticator and the clock (one clone per service;
/// clones share all three).
#[derive(Clone)]
pub struct Services {
    ledger: Store,
    auth: auth::Authenticator,
    clock: Arc<dyn Clock>,
}

impl Services {
    pub fn new(ledger: Store, clock: Arc<dyn Clock>) -> Self {
        let auth = auth::Authenticator::new(ledger.clone(), clock.clone());
        Services {
            ledger,
            auth,
            clock,
        }
    }
}

/// The receipt every mutating reply carries.
pub fn receipt(c: &Committed) -> pb::Receipt {
    pb::Receipt {
        index: c.first_index,
        entry_hash: c.first_hash.to_vec(),
        recorded_at: Some(crate::codec::timestamp_to_pb(c.recorded_at)),
        tree_size: c.tree_size,
    }
}

/// How a server is exposed: limits, TLS (with optional client certificates), the
/// metrics its requests are recorded in, and whether it serves a mirror's copy.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    pub limits: ServerLimits,
    pub tls: Option<tonic::transport::ServerTlsConfig>,
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// The source a mirror's copy follows: every write RPC is refused with
    /// FAILED_PRECONDITION naming it (`readonly.rs`); reads are served as usual.
    pub mirror_of: Option<String>,
}

/// The TLS settings of a server from its PEM files' contents.
pub fn tls_config(pem: &TlsPem) -> tonic::transport::ServerTlsConfig {
    let identity = tonic::transport::Identity::from_pem(&pem.cert, &pem.key);
    let mut tls = tonic::transport::ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &pem.client_ca {
        tls = tls.client_ca_root(tonic::transport::Certificate::from_pem(ca));
    }
    tls
}

/// Serves every service on `listener` (plaintext) until `shutdown` resolves.
pub async fn serve(
    ledger: Store,
    clock: Arc<dyn Clock>,
    listener: tokio::net::TcpListener,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(
        ledger,
        clock,
        listener,
        ServeOptions {
            limits,
            ..Default::default()
        },
        shutdown,
    )
    .await
}

/// Serves every service on `listener` until `shutdown` resolves, then drains.
pub async fn serve_with(
    ledger: Store,
    clock: Arc<dyn Clock>,
    listener: tokio::net::TcpListener,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let limits = options.limits;
    let watched = ledger.clone();
    let services = Services::new(ledger, clock);
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pb::participant_service_server::ParticipantServiceServer<Services>>()
        .await;
    health_reporter
        .set_serving::<pb::ledger_service_server::LedgerServiceServer<Services>>()
        .await;
    health_reporter
        .set_serving::<pb::treasury_service_server::TreasuryServiceServer<Services>>()
        .await;
    health_reporter
        .set_serving::<pb::bank_service_server::BankServiceServer<Services>>()
        .await;
    health_reporter
        .set_serving::<pb::registry_service_server::RegistryServiceServer<Services>>()
        .await;
    health_reporter
        .set_serving::<pb::pricing_service_server::PricingServiceServer<Services>>()
        .await;
    health_reporter
        .set_serving::<pb::engine_service_server::EngineServiceServer<Services>>()
        .await;
    health_reporter
        .set_serving::<pb::batch_service_server::BatchServiceServer<Services>>()
        .await;
    health_reporter
        .set_serving::<pb::servicing_service_server::ServicingServiceServer<Services>>()
        .await;
    health_reporter
        .set_serving::<pb::clock_service_server::ClockServiceServer<Services>>()
        .await;
    health_reporter
        .set_serving::<pb::holdings_service_server::HoldingsServiceServer<Services>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let max = limits.message_bytes_max;
    macro_rules! limited {
        ($server:expr) => {
            $server
                .max_decoding_message_size(max)
                .max_encoding_message_size(max)
        };
    }
    // `Server::tcp_nodelay` does not reach connections from a given listener; set
    // it here, or Nagle and delayed ACKs add ~40 ms to small replies.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    // After the signal, in-flight requests get `shutdown_grace` to finish; clients
    // that keep idle connections open do not hold the process up beyond that.
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutdown requested; draining requests");
        let _ = signalled_tx.send(());
    };
    let grace = limits.shutdown_grace;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = options.tls {
        builder = builder.tls_config(tls)?;
    }
    let server = builder
        .concurrency_limit_per_connection(limits.concurrent_requests_per_connection_max)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(observe::ObserveLayer {
            metrics: options.metrics,
        })
        .layer(readonly::ReadOnlyLayer {
            mirror_of: options.mirror_of.map(Arc::from),
        })
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(limited!(
            pb::participant_service_server::ParticipantServiceServer::new(services.clone())
        ))
        .add_service(limited!(
            pb::ledger_service_server::LedgerServiceServer::new(services.clone())
        ))
        .add_service(limited!(
            pb::treasury_service_server::TreasuryServiceServer::new(services.clone())
        ))
        .add_service(limited!(pb::bank_service_server::BankServiceServer::new(
            services.clone()
        )))
        .add_service(limited!(
            pb::registry_service_server::RegistryServiceServer::new(services.clone())
        ))
        .add_service(limited!(
            pb::pricing_service_server::PricingServiceServer::new(services.clone())
        ))
        .add_service(limited!(
            pb::engine_service_server::EngineServiceServer::new(services.clone())
        ))
        .add_service(limited!(pb::batch_service_server::BatchServiceServer::new(
            services.clone()
        )))
        .add_service(limited!(pb::clock_service_server::ClockServiceServer::new(
            services.clone()
        )))
        .add_service(limited!(
            pb::holdings_service_server::HoldingsServiceServer::new(services.clone())
        ))
        .add_service(limited!(
            pb::servicing_service_server::ServicingServiceServer::new(services.clone())
        ))
        .serve_with_incoming_shutdown(incoming, shutdown);
    // When the writer stops (fail-stop), health says so: NOT_SERVING for the server
    // as a whole and for the services that write; the read services stay SERVING.
    let health_follows_the_writer = async move {
        let reason = watched.writer_stopped().await;
        tracing::error!(%reason, "health: NOT_SERVING (writes stopped; reads go on)");
        health_reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        health_reporter
            .set_not_serving::<pb::participant_service_server::ParticipantServiceServer<Services>>()
            .await;
        health_reporter
            .set_not_serving::<pb::treasury_service_server::TreasuryServiceServer<Services>>()
            .await;
        health_reporter
            .set_not_serving::<pb::bank_service_server::BankServiceServer<Services>>()
            .await;
        health_reporter
            .set_not_serving::<pb::engine_service_server::EngineServiceServer<Services>>()
            .await;
        health_reporter
            .set_not_serving::<pb::batch_service_server::BatchServiceServer<Services>>()
            .await;
        health_reporter
            .set_not_serving::<pb::servicing_service_server::ServicingServiceServer<Services>>()
            .await;
        health_reporter
            .set_not_serving::<pb::holdings_service_server::HoldingsServiceServer<Services>>()
            .await;
        std::future::pending::<()>().await
    };
    tokio::select! {
        result = server => result?,
        () = health_follows_the_writer => {},
        () = async {
            if signalled_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!("connections still open {grace:?} after shutdown was requested; closing them");
        }
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

pub fn local_addr(listener: &tokio::net::TcpListener) -> std::io::Result<SocketAddr> {
    listener.local_addr()
}
