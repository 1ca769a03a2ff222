//! `dbond console`: serves the live web console for one participant's key.

use super::ClientArgs;
use crate::console::{Console, ConsoleOptions, ServerTls};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Where the console serves its pages. Loopback by default; any other address
    /// needs --tls-cert and --tls-key, and every request must then carry the access
    /// token printed at start.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The console's own TLS certificate (PEM), for serving pages over HTTPS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The ledger public key you trust (hex or PEM, as `dbond verify-receipt`
    /// takes it): the console refuses a server with another key, and the pages
    /// check proofs against it.
    #[arg(long)]
    pub ledger_key: Option<PathBuf>,
}

impl ConsoleArgs {
    /// The options the flags give, read and checked before anything connects.
    pub fn options(&self) -> anyhow::Result<ConsoleOptions> {
        let mut options = ConsoleOptions::new(self.listen);
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            options.tls = Some(ServerTls {
                cert_pem: super::read_file(cert)?,
                key_pem: super::read_file(key)?,
            });
        }
        if let Some(path) = &self.ledger_key {
            options.pinned_ledger_key = Some(crate::ledger::keys::read_public_key(path)?);
        }
        // Refuse a non-loopback address without TLS before connecting anywhere.
        crate::console::access::exposure(options.listen, options.tls.is_some())?;
        Ok(options)
    }
}

pub async fn run(args: &ConsoleArgs) -> anyhow::Result<()> {
    let options = args.options()?;
    let client = args.client.connect().await?;
    let console = Console::start(client, options).await?;
    let me = console.identity().clone();
    if args.client.json {
        println!(
            "{}",
            serde_json::json!({
                "url": console.url(),
                "listen": console.addr().to_string(),
                "token": console.token(),
                "participant_id": me.participant_id,
                "role": me.role.as_str(),
            })
        );
    } else {
        let url = console.url();
        let base = url.split('?').next().unwrap_or(&url).to_string();
        println!("console listening on {base}");
        println!(
            "acting as {} ({}, key {})",
            me.participant_id, me.role, me.key_id
        );
        if let Some(token) = console.token() {
            println!("access token: {token}");
            println!(
                "open {url} once (put this machine's name for {}); the browser then keeps the token as a cookie",
                console.addr().ip()
            );
        }
    }
    console
        .run_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
