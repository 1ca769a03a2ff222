//! The `dbond` command-line verbs. Argument structs live here; `main.rs` only
//! parses and dispatches.

pub mod bonds;
pub mod calc;
pub mod coupons;
pub mod keygen;
pub mod load;
pub mod participant;
pub mod report;
pub mod serve;
pub mod verify;

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
}

impl ClientArgs {
    pub async fn connect(&self) -> anyhow::Result<crate::client::Client> {
        let key = crate::ledger::keys::read_private_key(&self.key)?;
        crate::client::Client::connect(&self.server, key).await
    }
}

/// Turns a gRPC status into an error a person reads.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{} ({:?})", status.message(), status.code())
}
