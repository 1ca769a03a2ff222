//! A signing gRPC client for dbond: every request is wrapped in a SignedRequest
//! (fresh nonce, current time, this ledger's origin). Used by the command line, the
//! load generator, the demo and the tests. One file per group of services:
//! participants, batches and the ledger (`ledger.rs`); treasury, bank and registry
//! (`bonds.rs`); pricing (`pricing.rs`); fixings, the engine and statements
//! (`coupons.rs`); holdings after issue (`holdings.rs`); withholding, unclaimed
//! payments, reopenings and the tax report (`servicing.rs`).

use crate::ledger::keys::KeyId;
use crate::proto as pb;
use ed25519_dalek::SigningKey;
use tonic::transport::{Channel, Endpoint};

mod bonds;
mod coupons;
mod holdings;
mod ledger;
mod pricing;
mod servicing;
mod source;

pub use bonds::SeriesAction;
pub use pb::command::Kind as CommandKind;
pub use servicing::Reopening;

/// A connection acting as one participant.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    key: SigningKey,
    key_id: KeyId,
    origin: String,
    /// Where request times come from (the system clock unless a test or a
    /// simulation says otherwise).
    clock: std::sync::Arc<dyn crate::clock::Clock>,
}

pub use crate::ledger::request::{nonce, sign_request};

/// TLS settings of a client: the CA that signed the server's certificate, and
/// optionally the client's own certificate (for servers that require one).
#[derive(Clone, Debug, Default)]
pub struct ClientTls {
    pub ca_pem: Vec<u8>,
    pub identity_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// The name the server's certificate is for (default: the URL's host).
    pub domain: Option<String>,
}

/// Opens a plaintext channel to `url` (`http://host:port`; a bare `host:port` is accepted).
pub async fn channel(url: &str) -> anyhow::Result<Channel> {
    channel_with(url, None).await
}

/// Opens a channel, over TLS when `tls` is given (then `https://` is implied).
pub async fn channel_with(url: &str, tls: Option<&ClientTls>) -> anyhow::Result<Channel> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = if url.contains("://") {
        url.to_string()
    } else {
        format!("{scheme}://{url}")
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| anyhow::anyhow!("bad server address {url:?}: {e}"))?
        .tcp_nodelay(true)
        .connect_timeout(std::time::Duration::from_secs(10));
    if let Some(tls) = tls {
        let mut config = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&tls.ca_pem));
        if let Some((cert, key)) = &tls.identity_pem {
            config = config.identity(tonic::transport::Identity::from_pem(cert, key));
        }
        if let Some(domain) = &tls.domain {
            config = config.domain_name(domain.clone());
        }
        endpoint = endpoint
            .tls_config(config)
            .map_err(|e| anyhow::anyhow!("TLS settings for {url}: {e}"))?;
    }
    endpoint.connect().await.map_err(|e| {
        anyhow::anyhow!("cannot connect to {url}: {e} (is `dbond serve` running there?)")
    })
}

/// The ledger's public identity.
pub async fn ledger_info(channel: &Channel) -> anyhow::Result<pb::GetLedgerInfoResponse> {
    let mut ledger = pb::ledger_service_client::LedgerServiceClient::new(channel.clone());
    Ok(ledger
        .get_ledger_info(pb::GetLedgerInfoRequest {})
        .await?
        .into_inner())
}

impl Client {
    /// Connects and learns the ledger's origin.
    pub async fn connect(url: &str, key: SigningKey) -> anyhow::Result<Client> {
        Client::connect_with(url, key, None).await
    }

    /// Connects (over TLS when `tls` is given) and learns the ledger's origin. On
    /// a rehearsal ledger the client signs with the server's simulated time: it
    /// keeps a copy of that clock, started at the time the server gave.
    pub async fn connect_with(
        url: &str,
        key: SigningKey,
        tls: Option<&ClientTls>,
    ) -> anyhow::Result<Client> {
        let channel = channel_with(url, tls).await?;
        let info = ledger_info(&channel).await?;
        let simulated = info.simulated_clock;
        let server_now = info.now;
        let client = Client::with_channel(channel, key, info.origin);
        Ok(match (simulated, server_now) {
            (true, Some(now)) => {
                let now = crate::codec::timestamp_from_pb("now", Some(&now))?;
                client.with_clock(std::sync::Arc::new(crate::clock::SimulatedClock::new(now)))
            }
            _ => client,
        })
    }

    pub fn with_channel(channel: Channel, key: SigningKey, origin: String) -> Client {
        let key_id = KeyId::of(&key.verifying_key());
        Client {
            channel,
            key,
            key_id,
            origin,
            clock: std::sync::Arc::new(crate::clock::SystemClock),
        }
    }

    /// The same client signing with times from `clock`.
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn crate::clock::Clock>) -> Client {
        self.clock = clock;
        self
    }

    /// The same connection acting with another key.
    pub fn as_key(&self, key: SigningKey) -> Client {
        Client::with_channel(self.channel.clone(), key, self.origin.clone())
            .with_clock(self.clock.clone())
    }

    /// Where this client's request times come from: the server's simulated time
    /// on a rehearsal ledger, the system clock otherwise.
    pub fn clock(&self) -> &dyn crate::clock::Clock {
        self.clock.as_ref()
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Signs `command` with a fresh nonce and the current time.
    pub fn sign(&self, command: CommandKind) -> pb::SignedRequest {
        self.sign_with(command, self.clock.now(), &nonce())
    }

    /// Signs with a given time and nonce (tests of staleness and replay).
    pub fn sign_with(
        &self,
        command: CommandKind,
        issued_at: chrono::DateTime<chrono::Utc>,
        nonce: &[u8],
    ) -> pb::SignedRequest {
        sign_request(&self.key, &self.origin, command, issued_at, nonce)
    }
}
