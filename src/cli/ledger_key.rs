//! `dbond ledger-key`: the ledger key in a PKCS#11 token (make one, measure its
//! signing rate), and the opening of the ledger key a server is configured with (a
//! key file, or a token key's `pkcs11:` URI with the module and PIN source from
//! the configuration).

use super::say;
use crate::config::{ConfigLayer, PinSource, Pkcs11Config};
use crate::ledger::keys::{self, KeyId};
use crate::ledger::signer::{LedgerKey, Signer};
use crate::ledger::token::{TokenAccess, TokenKey, TokenUri};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub enum LedgerKeyCommand {
    /// Make a new Ed25519 key pair inside a PKCS#11 token, for `dbond serve
    /// --ledger-key URI`; prints its public key and key id.
    Generate(TokenArgs),
    /// Sign COUNT messages with a ledger key (a file or a token key) and print the
    /// rate: what one entry signature costs through that key.
    Bench(BenchArgs),
    /// Hand the running ledger's signing over to the next ledger key its server
    /// holds (`dbond serve --next-ledger-key`): appends the hand-over entry,
    /// signed by the old key and by the new one (admin).
    Rotate(RotateArgs),
    /// Write the ledger's hand-over entries (from a running server, which
    /// publishes them unsigned) to a file, for `dbond verify-receipt
    /// --handovers`; each is checked against the chain from the first key.
    Handovers(HandoversArgs),
}

#[derive(Debug, clap::Args)]
pub struct HandoversArgs {
    /// Server address (http://host:port).
    #[arg(long, env = "DBOND_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// The first ledger key you trust (64 hex digits or a public key file):
    /// the hand-overs must lead from it. [default: genesis's, as the server says]
    #[arg(long)]
    pub ledger_key: Option<String>,
    /// Where to write the hand-over file.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("new_key").required(true).args(["new_public_key", "new_key_file"])))]
pub struct RotateArgs {
    /// Server address (http://host:port).
    #[arg(long, env = "DBOND_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// The admin's private key file.
    #[arg(long, env = "DBOND_KEY")]
    pub admin_key: PathBuf,
    /// The next ledger key's public key, 64 hex digits.
    #[arg(long)]
    pub new_public_key: Option<String>,
    /// The next ledger key's public key file (SPKI PEM or 64 hex digits).
    #[arg(long)]
    pub new_key_file: Option<PathBuf>,
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
    /// TLS: the PEM CA certificate that signed the server's certificate.
    #[arg(long, env = "DBOND_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The key's RFC 7512 URI: pkcs11:token=LABEL;object=LABEL.
    pub uri: String,
    /// The TOML configuration whose [pkcs11] section names the module and the
    /// PIN's source (the same file `dbond serve --config` reads).
    #[arg(long, env = "DBOND_CONFIG")]
    pub config: PathBuf,
    /// Also write the public key (SPKI PEM) to this file, for auditors to pin.
    #[arg(long)]
    pub public_out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A ledger key file, or a token key's pkcs11: URI.
    pub key: String,
    /// The configuration with the [pkcs11] section (for a token key).
    #[arg(long, env = "DBOND_CONFIG")]
    pub config: Option<PathBuf>,
    /// Signatures to make.
    #[arg(long, default_value_t = 2000)]
    pub count: u32,
}

/// The user PIN from its configured source.
fn read_pin(source: &PinSource) -> anyhow::Result<String> {
    match source {
        PinSource::File(path) => std::fs::read_to_string(path)
            .map(|pin| pin.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|e| {
                anyhow::anyhow!("cannot read the PKCS#11 PIN file {}: {e}", path.display())
            }),
        PinSource::Env(name) => std::env::var(name).map_err(|_| {
            anyhow::anyhow!("the PKCS#11 PIN variable {name} is not set (pkcs11.pin_env)")
        }),
    }
}

/// Opens the token key `uri` names through the configured module.
pub fn open_token_key(uri: &str, pkcs11: Option<&Pkcs11Config>) -> anyhow::Result<TokenKey> {
    let uri = TokenUri::parse(uri)?;
    let pkcs11 = pkcs11.ok_or_else(|| {
        anyhow::anyhow!(
            "{uri} is a PKCS#11 token key: configure [pkcs11] module and pin_file or pin_env"
        )
    })?;
    let pin = read_pin(&pkcs11.pin)?;
    Ok(TokenKey::open(
        &TokenAccess {
            module: &pkcs11.module,
            pin: &pin,
        },
        &uri,
    )?)
}

/// Opens a ledger key: a `pkcs11:` URI through the token, else a key file.
pub fn open(setting: &str, pkcs11: Option<&Pkcs11Config>) -> anyhow::Result<LedgerKey> {
    if TokenUri::is_uri(setting) {
        Ok(open_token_key(setting, pkcs11)?.into())
    } else {
        Ok(keys::read_private_key(Path::new(setting))?.into())
    }
}

fn pkcs11_of(config: &Path) -> anyhow::Result<Option<Pkcs11Config>> {
    ConfigLayer::read(config)?.pkcs11.resolve()
}

pub fn run(command: &LedgerKeyCommand) -> anyhow::Result<()> {
    match command {
        LedgerKeyCommand::Generate(args) => generate(args),
        LedgerKeyCommand::Bench(args) => bench(args),
        LedgerKeyCommand::Rotate(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(rotate(args)),
        LedgerKeyCommand::Handovers(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(handovers(args)),
    }
}

async fn handovers(args: &HandoversArgs) -> anyhow::Result<()> {
    let channel = crate::client::channel(&args.server).await?;
    let info = crate::client::ledger_info(&channel).await?;
    let first = match &args.ledger_key {
        Some(k) => super::audit::parse_key_arg(k)?,
        None => keys::parse_public_key(&info.ledger_public_key)?,
    };
    let chain =
        crate::audit::handovers::KeyChain::follow(&info.origin, first, &info.handover_entries)
            .map_err(|e| anyhow::anyhow!("the server's hand-overs do not verify: {e}"))?;
    let file = crate::audit::handovers::HandoverFile::new(&info.origin, &info.handover_entries)
        .map_err(|e| anyhow::anyhow!(e))?;
    std::fs::write(&args.out, file.to_json())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.out.display()))?;
    say!(
        "{} hand-overs of ledger {:?} written to {}: from key {} to key {}",
        chain.handovers(),
        info.origin,
        args.out.display(),
        KeyId::of(&first),
        KeyId::of(&chain.last())
    )?;
    Ok(())
}

/// The public key a rotation names: hex on the command line, or a key file.
fn new_public_key(args: &RotateArgs) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
    match (&args.new_public_key, &args.new_key_file) {
        (Some(text), None) => {
            let bytes = hex::decode(text.trim())
                .map_err(|e| anyhow::anyhow!("--new-public-key is not hex: {e}"))?;
            Ok(keys::parse_public_key(&bytes)
                .map_err(|e| anyhow::anyhow!("--new-public-key: {e}"))?)
        }
        (None, Some(path)) => Ok(keys::read_public_key(path)?),
        _ => {
            anyhow::bail!("give the next ledger key as --new-public-key HEX or --new-key-file FILE")
        }
    }
}

async fn rotate(args: &RotateArgs) -> anyhow::Result<()> {
    let new_key = new_public_key(args)?;
    let client = super::ClientArgs {
        server: args.server.clone(),
        key: args.admin_key.clone(),
        json: args.json,
        tls_ca: args.tls_ca.clone(),
        tls_client_cert: None,
        tls_client_key: None,
        tls_domain: None,
    }
    .connect()
    .await?;
    let r = client
        .rotate_ledger_key(&new_key)
        .await
        .map_err(super::status_error)?;
    let receipt = r.receipt.unwrap_or_default();
    let handover = r.handover.unwrap_or_default();
    let old = keys::parse_public_key(&handover.old_public_key)
        .map(|k| KeyId::of(&k).to_string())
        .unwrap_or_default();
    if args.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "index": receipt.index,
                "entry_hash": hex::encode(&receipt.entry_hash),
                "tree_size": receipt.tree_size,
                "old_key_id": old,
                "new_key_id": KeyId::of(&new_key).to_string(),
                "new_public_key": hex::encode(new_key.to_bytes()),
                "from_index": handover.from_index,
            }))?
        )?;
        return Ok(());
    }
    say!(
        "ledger key handed over at entry {} (entry hash {}): key {old} signed it and everything before; key {} signs from entry {} on",
        receipt.index,
        hex::encode(&receipt.entry_hash),
        KeyId::of(&new_key),
        handover.from_index
    )?;
    say!(
        "restart the server with --ledger-key set to the new key: it refuses the old one from now on"
    )?;
    Ok(())
}

fn generate(args: &TokenArgs) -> anyhow::Result<()> {
    let uri = TokenUri::parse(&args.uri)?;
    let pkcs11 = pkcs11_of(&args.config)?.ok_or_else(|| {
        anyhow::anyhow!(
            "{} has no [pkcs11] section (module, and pin_file or pin_env)",
            args.config.display()
        )
    })?;
    let pin = read_pin(&pkcs11.pin)?;
    let key = TokenKey::generate(
        &TokenAccess {
            module: &pkcs11.module,
            pin: &pin,
        },
        &uri,
    )?;
    let public = key.public_key();
    if let Some(path) = &args.public_out {
        keys::write_public_key(path, &public)?;
    }
    say!("token key    {uri}")?;
    say!("key id       {}", KeyId::of(&public))?;
    say!("public key   {}", hex::encode(public.to_bytes()))?;
    Ok(())
}

fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let pkcs11 = match &args.config {
        Some(path) => pkcs11_of(path)?,
        None => None,
    };
    let key = open(&args.key, pkcs11.as_ref())?;
    let count = args.count.max(1);
    // A message of an entry body's usual size.
    let message = [0x5au8; 256];
    let started = std::time::Instant::now();
    for _ in 0..count {
        key.sign(keys::ENTRY_CONTEXT, &message)?;
    }
    let took = started.elapsed();
    let per_second = f64::from(count) / took.as_secs_f64();
    say!(
        "{}: {count} signatures in {:.3} s, {per_second:.0} per second, {:.1} µs each",
        key.describe(),
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / f64::from(count)
    )?;
    Ok(())
}
