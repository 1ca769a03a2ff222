//! The live web console (`dbond console`): a gRPC client of a ledger server (or
//! of a mirror serving the same reads), acting with one participant's own key,
//! that serves web pages of what that participant may see: the issuance desk's
//! programme and live book, a bank's own subscriptions and holdings, and the
//! auditor's entry browser with inclusion proofs checked in the browser.
//!
//! Invariants: the console only reads (it signs no write); it shows nothing the
//! participant's key could not read itself, because every figure comes from that
//! key's own signed reads or, for those allowed to stream the ledger, from
//! entries it streamed and checked; it listens on loopback unless given TLS, and
//! then requires its access token (`access`). Pages check proofs with the ledger
//! key their user pinned, not with anything the console says.

pub mod access;
pub mod book;
mod feed;
mod views;
mod web;

pub use feed::{CHECKPOINT_HISTORY_MAX, POLL_INTERVAL, Pulse};
pub use views::{BANK_STATEMENTS_MAX, ENTRIES_PAGE_MAX, TIMELINE_POINTS_MAX};

use crate::client::{self, Client};
use crate::clock::Clock;
use crate::registry::Role;
use access::{AccessToken, Exposure};
use ed25519_dalek::VerifyingKey;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The console's own certificate and key (PEM), for serving over TLS.
#[derive(Clone)]
pub struct ServerTls {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// Test doubles, set through the library only: nothing on the command line
/// reaches them.
#[derive(Clone, Copy, Debug, Default)]
pub struct TestHooks {
    /// Serve every proof with one bit flipped, as a dishonest console would, so a
    /// test can see the page refuse it.
    pub alter_proofs: bool,
}

/// How to run a console.
#[derive(Clone)]
pub struct ConsoleOptions {
    pub listen: SocketAddr,
    pub tls: Option<ServerTls>,
    /// The ledger key the operator trusts (`--ledger-key`): the console refuses
    /// a server with another key, and pre-fills it in the pages.
    pub pinned_ledger_key: Option<VerifyingKey>,
    pub clock: Arc<dyn Clock>,
    pub hooks: TestHooks,
}

impl ConsoleOptions {
    /// Loopback, no TLS, no pinned key, the system clock.
    pub fn new(listen: SocketAddr) -> ConsoleOptions {
        ConsoleOptions {
            listen,
            tls: None,
            pinned_ledger_key: None,
            clock: Arc::new(crate::clock::SystemClock),
            hooks: TestHooks::default(),
        }
    }
}

/// The participant the console acts as.
#[derive(Clone, Debug)]
pub struct Identity {
    pub participant_id: String,
    pub role: Role,
    pub display_name: String,
    pub key_id: String,
}

/// The ledger's public identity as the server states it.
#[derive(Clone, Debug)]
pub(crate) struct LedgerIdentity {
    pub origin: String,
    pub key_name: String,
    pub public_key_hex: String,
}

/// What every handler reads.
pub(crate) struct Ctx {
    pub client: Client,
    pub feed: Arc<feed::Feed>,
    pub me: Identity,
    pub ledger: LedgerIdentity,
    pub pinned_ledger_key_hex: Option<String>,
    pub clock: Arc<dyn Clock>,
    pub hooks: TestHooks,
    /// The bank page, as of a ledger size (it costs a read per client).
    pub bank_cache: Mutex<Option<(u64, serde_json::Value)>>,
}

/// A running console. Dropping it stops the web server and the follower.
pub struct Console {
    addr: SocketAddr,
    tls: bool,
    token: Option<AccessToken>,
    me: Identity,
    handle: axum_server::Handle<SocketAddr>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    follower: tokio::task::JoinHandle<()>,
}

impl Console {
    /// Checks where it may listen, learns who `client`'s key belongs to, starts
    /// following the ledger and starts serving.
    pub async fn start(client: Client, options: ConsoleOptions) -> anyhow::Result<Console> {
        let exposure = access::exposure(options.listen, options.tls.is_some())?;
        let info = client::ledger_info(client.channel()).await?;
        let server_key = crate::ledger::keys::parse_public_key(&info.ledger_public_key)
            .map_err(|e| anyhow::anyhow!("the server's ledger key is not a valid key: {e}"))?;
        if let Some(pinned) = &options.pinned_ledger_key
            && pinned != &server_key
        {
            anyhow::bail!(
                "the server at this address signs with ledger key {}, not the pinned key {}: \
                 it is another ledger, or not the ledger it claims to be",
                hex::encode(server_key.as_bytes()),
                hex::encode(pinned.as_bytes())
            );
        }
        let me = identify(&client).await?;
        let streams = me.role != Role::Bank;
        let feed = feed::Feed::new(streams, server_key);
        let ctx = Arc::new(Ctx {
            client: client.clone(),
            feed: feed.clone(),
            me: me.clone(),
            ledger: LedgerIdentity {
                origin: info.origin.clone(),
                key_name: info.checkpoint_key_name.clone(),
                public_key_hex: hex::encode(server_key.as_bytes()),
            },
            pinned_ledger_key_hex: options.pinned_ledger_key.map(|k| hex::encode(k.as_bytes())),
            clock: options.clock.clone(),
            hooks: options.hooks,
            bank_cache: Mutex::new(None),
        });
        let token = match &exposure {
            Exposure::Network(t) => Some(t.clone()),
            Exposure::Loopback => None,
        };
        let app = web::router(ctx, exposure).into_make_service();
        let listener = std::net::TcpListener::bind(options.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", options.listen))?;
        let addr = listener.local_addr()?;
        let handle = axum_server::Handle::new();
        let server = match &options.tls {
            Some(tls) => {
                let config = axum_server::tls_rustls::RustlsConfig::from_pem(
                    tls.cert_pem.clone(),
                    tls.key_pem.clone(),
                )
                .await
                .map_err(|e| anyhow::anyhow!("the console's TLS certificate or key: {e}"))?;
                let server = axum_server::from_tcp_rustls(listener, config)?.handle(handle.clone());
                tokio::spawn(server.serve(app))
            }
            None => {
                let server = axum_server::from_tcp(listener)?.handle(handle.clone());
                tokio::spawn(server.serve(app))
            }
        };
        let follower = tokio::spawn(feed::follow(feed, client));
        Ok(Console {
            addr,
            tls: options.tls.is_some(),
            token,
            me,
            handle,
            server,
            follower,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address to open: `http(s)://addr/`, with `?token=` when one is needed.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        match &self.token {
            Some(t) => format!(
                "{scheme}://{}/?{}={}",
                self.addr,
                access::TOKEN_PARAM,
                t.as_str()
            ),
            None => format!("{scheme}://{}/", self.addr),
        }
    }

    /// The access token every request must carry (consoles beyond loopback).
    pub fn token(&self) -> Option<&str> {
        self.token.as_ref().map(|t| t.as_str())
    }

    pub fn identity(&self) -> &Identity {
        &self.me
    }

    /// Serves until `shutdown` completes or the web server fails.
    pub async fn run_until(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::select! {
            () = shutdown => Ok(()),
            r = &mut self.server => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(anyhow::anyhow!("the console's web server stopped: {e}")),
                Err(e) => Err(anyhow::anyhow!("the console's web server stopped: {e}")),
            },
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.handle.shutdown();
        self.follower.abort();
        self.server.abort();
    }
}

/// Finds the participant whose current key signs for `client`.
async fn identify(client: &Client) -> anyhow::Result<Identity> {
    let participants = client.list_participants().await.map_err(|s| {
        anyhow::anyhow!(
            "the server refused to list participants for key {}: {} ({:?})",
            client.key_id(),
            s.message(),
            s.code()
        )
    })?;
    let key_id = client.key_id().as_str();
    let p = participants
        .iter()
        .find(|p| p.key_id == key_id)
        .ok_or_else(|| {
            anyhow::anyhow!("key {key_id} is not the current key of any participant of this ledger")
        })?;
    let role = crate::codec::role_from_pb("role", p.role)
        .map_err(|e| anyhow::anyhow!("participant {}: {e}", p.participant_id))?;
    Ok(Identity {
        participant_id: p.participant_id.clone(),
        role,
        display_name: p.display_name.clone(),
        key_id: key_id.to_string(),
    })
}
