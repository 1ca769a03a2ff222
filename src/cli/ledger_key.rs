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
    }
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
