//! The `dbond` command-line verbs. Argument structs live here; `main.rs` only
//! parses and dispatches.

pub mod audit;
pub mod backup;
pub mod bonds;
pub mod calc;
pub mod clock;
pub mod console;
pub mod coupons;
pub mod demo;
pub mod holdings;
pub mod keygen;
pub mod ledger_key;
pub mod load;
pub mod mirror;
pub mod out;
pub mod participant;
pub mod report;
pub mod serve;
pub mod servicing;
pub mod store;
pub mod verify;

pub(crate) use out::say;
use std::path::PathBuf;

/// Where a client verb connects and which key it signs with.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Server address (http://host:port).
    #[arg(long, env = "DBOND_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// The participant's private key file (PKCS#8 PEM, from `dbond keygen`).
    #[arg(long, env = "DBOND_KEY")]
    pub key: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// TLS: the PEM CA certificate that signed the server's certificate (turns TLS on).
    #[arg(long, env = "DBOND_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// TLS: this client's PEM certificate, for servers that require one.
    #[arg(long, env = "DBOND_TLS_CLIENT_CERT", requires = "tls_client_key")]
    pub tls_client_cert: Option<PathBuf>,
    /// TLS: this client's PEM private key.
    #[arg(long, env = "DBOND_TLS_CLIENT_KEY", requires = "tls_client_cert")]
    pub tls_client_key: Option<PathBuf>,
    /// TLS: the name on the server's certificate, if not the host in --server.
    #[arg(long)]
    pub tls_domain: Option<String>,
}

/// The store an offline verb reads: `--store URL` (PostgreSQL), or the sled
/// store of `--data DIR` (a data folder or its `store` folder).
pub fn store_location(
    data: Option<&std::path::Path>,
    store: Option<&str>,
) -> anyhow::Result<crate::store::StoreLocation> {
    match (data, store) {
        (_, Some(url)) => Ok(crate::store::StoreLocation::Postgres(Box::new(
            crate::store::PgUrl::parse(url)?,
        ))),
        (Some(data), None) => Ok(crate::store::StoreLocation::Folder(
            if data.join("store").is_dir() {
                data.join("store")
            } else {
                data.to_path_buf()
            },
        )),
        (None, None) => anyhow::bail!("give --data DIR or --store URL"),
    }
}

fn read_file(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

impl ClientArgs {
    pub fn tls(&self) -> anyhow::Result<Option<crate::client::ClientTls>> {
        let Some(ca) = &self.tls_ca else {
            return Ok(None);
        };
        let identity = match (&self.tls_client_cert, &self.tls_client_key) {
            (Some(c), Some(k)) => Some((read_file(c)?, read_file(k)?)),
            _ => None,
        };
        Ok(Some(crate::client::ClientTls {
            ca_pem: read_file(ca)?,
            identity_pem: identity,
            domain: self.tls_domain.clone(),
        }))
    }

    pub async fn connect(&self) -> anyhow::Result<crate::client::Client> {
        let key = crate::ledger::keys::read_private_key(&self.key)?;
        crate::client::Client::connect_with(&self.server, key, self.tls()?.as_ref()).await
    }
}

/// Turns a gRPC status into an error a person reads.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{} ({:?})", status.message(), status.code())
}
