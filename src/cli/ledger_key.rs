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
    /// Register the recovery quorum that may approve an emergency replacement
    /// of the ledger key: THRESHOLD of the recovery keys given (admin). It
    /// replaces the quorum in force.
    RecoveryQuorum(RecoveryQuorumArgs),
    /// Approve, with a recovery key and offline, the replacement of a ledger's
    /// key by a new key as the entry after SIZE entries: writes the approval
    /// file that `dbond ledger-key emergency-rotate` takes.
    Approve(ApproveArgs),
    /// Replace a lost or stolen ledger key by the key a server started with
    /// `--emergency-rotation` holds, on the recovery quorum's approvals (admin).
    EmergencyRotate(EmergencyRotateArgs),
}

#[derive(Debug, clap::Args)]
pub struct RecoveryQuorumArgs {
    /// Server address (http://host:port).
    #[arg(long, env = "DBOND_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// The admin's private key file.
    #[arg(long, env = "DBOND_KEY")]
    pub admin_key: PathBuf,
    /// How many distinct recovery keys must approve a replacement.
    #[arg(long)]
    pub threshold: u32,
    /// A recovery public key: 64 hex digits or a public key file (from `dbond
    /// keygen`); give one per key.
    #[arg(long = "recovery-key", required = true)]
    pub recovery_keys: Vec<String>,
    /// TLS: the PEM CA certificate that signed the server's certificate.
    #[arg(long, env = "DBOND_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The recovery key's private key file (from `dbond keygen`).
    #[arg(long)]
    pub recovery_key: PathBuf,
    /// The ledger's id: the origin its genesis names.
    #[arg(long)]
    pub ledger_id: String,
    /// The replacing ledger key's public key: 64 hex digits or a public key file.
    #[arg(long)]
    pub new_key: String,
    /// The ledger size the replacement follows: the number of entries of the
    /// ledger the quorum vouches for (the replacement is entry SIZE).
    #[arg(long)]
    pub after_size: u64,
    /// Where to write the approval file.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct EmergencyRotateArgs {
    /// Server address (http://host:port).
    #[arg(long, env = "DBOND_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// The admin's private key file.
    #[arg(long, env = "DBOND_KEY")]
    pub admin_key: PathBuf,
    /// The approval files (`dbond ledger-key approve`), one per recovery key;
    /// they must all name the same ledger, key and size.
    #[arg(long, num_args = 1.., required = true)]
    pub approvals: Vec<PathBuf>,
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
    /// TLS: the PEM CA certificate that signed the server's certificate.
    #[arg(long, env = "DBOND_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
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
        LedgerKeyCommand::RecoveryQuorum(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(recovery_quorum(args)),
        LedgerKeyCommand::Approve(args) => approve(args),
        LedgerKeyCommand::EmergencyRotate(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(emergency_rotate(args)),
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

fn admin_client(
    server: &str,
    admin_key: &Path,
    json: bool,
    tls_ca: &Option<PathBuf>,
) -> super::ClientArgs {
    super::ClientArgs {
        server: server.to_string(),
        key: admin_key.to_path_buf(),
        json,
        tls_ca: tls_ca.clone(),
        tls_client_cert: None,
        tls_client_key: None,
        tls_domain: None,
    }
}

async fn recovery_quorum(args: &RecoveryQuorumArgs) -> anyhow::Result<()> {
    let keys = args
        .recovery_keys
        .iter()
        .map(|k| super::audit::parse_key_arg(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = admin_client(&args.server, &args.admin_key, false, &args.tls_ca)
        .connect()
        .await?;
    let r = client
        .set_recovery_quorum(args.threshold, &keys)
        .await
        .map_err(super::status_error)?;
    let receipt = r.receipt.unwrap_or_default();
    say!(
        "recovery quorum set at entry {}: {} of {} keys ({}) approve an emergency replacement of the ledger key",
        receipt.index,
        args.threshold,
        keys.len(),
        keys.iter()
            .map(|k| KeyId::of(k).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    Ok(())
}

fn approve(args: &ApproveArgs) -> anyhow::Result<()> {
    use crate::ledger::recovery::{APPROVAL_CONTEXT, APPROVAL_FORMAT, ApprovalFile, Statement};
    let recovery = keys::read_private_key(&args.recovery_key)?;
    let new = super::audit::parse_key_arg(&args.new_key)?;
    let statement = Statement {
        origin: &args.ledger_id,
        new: &new,
        after_size: args.after_size,
    };
    let signature = keys::sign(&recovery, APPROVAL_CONTEXT, statement.message().as_bytes());
    let file = ApprovalFile {
        format: APPROVAL_FORMAT.into(),
        origin: args.ledger_id.clone(),
        new_public_key: hex::encode(new.to_bytes()),
        after_size: args.after_size,
        recovery_public_key: hex::encode(recovery.verifying_key().to_bytes()),
        signature: hex::encode(signature.to_bytes()),
    };
    std::fs::write(&args.out, file.to_json())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.out.display()))?;
    say!(
        "recovery key {} approves ledger key {} replacing the key of ledger {:?} after {} entries: approval written to {}",
        KeyId::of(&recovery.verifying_key()),
        KeyId::of(&new),
        args.ledger_id,
        args.after_size,
        args.out.display()
    )?;
    Ok(())
}

/// The approvals the files hold, checked to name one ledger, key and size
/// (and each to verify over that statement) before anything is sent.
fn read_approvals(
    paths: &[PathBuf],
) -> anyhow::Result<(
    String,
    ed25519_dalek::VerifyingKey,
    u64,
    Vec<crate::proto::RecoveryApproval>,
)> {
    use crate::ledger::recovery::{ApprovalFile, Statement};
    let mut named: Option<(String, ed25519_dalek::VerifyingKey, u64)> = None;
    let mut approvals = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let file = ApprovalFile::from_json(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let (recovery, new, signature) = file
            .decode()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let this = (file.origin.clone(), new, file.after_size);
        match &named {
            None => named = Some(this.clone()),
            Some(first) if *first != this => anyhow::bail!(
                "{} approves ledger key {} for ledger {:?} after {} entries, the first file ledger key {} for {:?} after {}: every approval must name the same replacement",
                path.display(),
                KeyId::of(&this.1),
                this.0,
                this.2,
                KeyId::of(&first.1),
                first.0,
                first.2
            ),
            Some(_) => {}
        }
        Statement {
            origin: &file.origin,
            new: &new,
            after_size: file.after_size,
        }
        .verify(&recovery, &signature)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        approvals.push(crate::proto::RecoveryApproval {
            recovery_public_key: recovery.to_bytes().to_vec(),
            signature,
        });
    }
    let (origin, new, after_size) =
        named.ok_or_else(|| anyhow::anyhow!("give at least one approval file"))?;
    Ok((origin, new, after_size, approvals))
}

async fn emergency_rotate(args: &EmergencyRotateArgs) -> anyhow::Result<()> {
    let (origin, new, after_size, approvals) = read_approvals(&args.approvals)?;
    let client = admin_client(&args.server, &args.admin_key, args.json, &args.tls_ca)
        .connect()
        .await?;
    let info = crate::client::ledger_info(client.channel()).await?;
    if info.origin != origin {
        anyhow::bail!(
            "the approvals name ledger {origin:?}, but the server serves {:?}",
            info.origin
        );
    }
    let r = client
        .emergency_rotate_ledger_key(&new, after_size, approvals)
        .await
        .map_err(super::status_error)?;
    let receipt = r.receipt.unwrap_or_default();
    let replacement = r.replacement.unwrap_or_default();
    let old = keys::parse_public_key(&replacement.old_public_key)
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
                "new_key_id": KeyId::of(&new).to_string(),
                "new_public_key": hex::encode(new.to_bytes()),
                "after_size": replacement.after_size,
                "approvals": replacement.approvals.len(),
            }))?
        )?;
        return Ok(());
    }
    say!(
        "ledger key replaced at entry {} (entry hash {}) on {} approvals: key {} signs this entry and everything after; key {old} signed the {} entries before and signs nothing more",
        receipt.index,
        hex::encode(&receipt.entry_hash),
        replacement.approvals.len(),
        KeyId::of(&new),
        replacement.after_size
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
