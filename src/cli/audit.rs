//! Auditors' verbs: `dbond export`, `dbond receipt`, `dbond verify-receipt` and
//! `dbond checkpoint` (witnessing). `dbond verify` is in `verify.rs`.

use super::{ClientArgs, status_error};
use super::{out, say};
use crate::audit::export::ExportWriter;
use crate::audit::receipt::{ReceiptFile, verify_receipt};
use crate::audit::source::EntrySource;
use crate::audit::witness::{self, Next, Pinned, Saved, WitnessDir};
use crate::ledger::checkpoint;
use crate::ledger::keys::{self, KeyId};
use crate::ledger::merkle::{self, Hash};
use crate::proto as pb;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio_stream::StreamExt;

fn to_hash(bytes: &[u8], what: &str) -> anyhow::Result<Hash> {
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{what} is {} bytes, expected 32", bytes.len()))
}

pub(super) fn progress_bar(verb: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {verb} {{pos}}/{{len}} entries [{{bar:40}}] {{per_sec}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

// ---------------------------------------------------------------------------
// dbond export

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A stopped server's data folder to export in full.
    #[arg(long, conflicts_with_all = ["server", "store"])]
    pub data: Option<PathBuf>,
    /// A ledger kept in PostgreSQL (a libpq URL) to export in full, read through
    /// one consistent view while its servers run.
    #[arg(long, conflicts_with = "server")]
    pub store: Option<String>,
    /// A running server to export from (with --key: a participant that may stream
    /// entries, e.g. an auditor).
    #[arg(long, requires = "key")]
    pub server: Option<String>,
    /// The participant's private key file (with --server).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// With --server: export the first N entries only (default: up to the latest
    /// checkpoint). The file then carries the consistency proof to that checkpoint.
    #[arg(long, requires = "server")]
    pub to: Option<u64>,
    /// TLS CA certificate for --server (turns TLS on).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// The export file to write (docs/LEDGER_FORMAT.md section 8); `-` writes it
    /// to standard output.
    #[arg(long)]
    pub out: PathBuf,
}

/// Whether `--out` names standard output.
fn is_stdout(path: &Path) -> bool {
    path == Path::new("-")
}

/// The export's file, or standard output for `-`.
fn create_out(path: &Path) -> anyhow::Result<Box<dyn Write>> {
    if is_stdout(path) {
        return Ok(Box::new(out::StdoutBytes::new()));
    }
    let file = std::fs::File::create(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    Ok(Box::new(std::io::BufWriter::with_capacity(1 << 20, file)))
}

pub async fn run_export(args: &ExportArgs) -> anyhow::Result<()> {
    let bar = progress_bar("exporting");
    let stored = match (&args.data, &args.store) {
        (None, None) => None,
        (data, store) => Some(super::store_location(data.as_deref(), store.as_deref())?),
    };
    let (count, size) = match (stored, &args.server) {
        (Some(location), None) => {
            let store = crate::store::RawStore::open_at(&location)?;
            let note = store.checkpoint()?;
            let (cp, _) = checkpoint::parse_unverified(&note)?;
            bar.set_length(cp.size);
            let mut w = ExportWriter::new(create_out(&args.out)?, cp.size)?;
            for item in store.entries() {
                let (index, bytes) = item?;
                if index >= cp.size {
                    break;
                }
                w.entry(index, &bytes)?;
                if index % 4096 == 0 {
                    bar.set_position(index);
                }
            }
            w.finish(&note, &[])?;
            (cp.size, cp.size)
        }
        (None, Some(server)) => {
            let client = client_for(server, args.key.as_deref(), args.tls_ca.clone()).await?;
            let head = client.head().await?;
            let count = args.to.unwrap_or(head.tree_size);
            if count == 0 || count > head.tree_size {
                return Err(anyhow::anyhow!(
                    "--to {count}: the ledger's latest checkpoint covers 1 to {} entries",
                    head.tree_size
                ));
            }
            bar.set_length(count);
            let mut w = ExportWriter::new(create_out(&args.out)?, count)?;
            let mut next = 0;
            while next < count {
                let stop = count.min(next + crate::limits::STREAM_ENTRIES_PER_CALL_MAX);
                let mut stream = client.entries(next, stop).await?;
                while let Some(item) = stream.next().await.transpose()? {
                    w.entry(item.index, &item.bytes)?;
                    next = item.index + 1;
                    if item.index % 4096 == 0 {
                        bar.set_position(item.index);
                    }
                }
                if next != stop {
                    return Err(anyhow::anyhow!("the server's stream ended at entry {next}"));
                }
            }
            let proof = if count == head.tree_size {
                Vec::new()
            } else {
                client
                    .consistency_proof(count, head.tree_size)
                    .await
                    .map_err(status_error)?
                    .proof
                    .iter()
                    .map(|h| to_hash(h, "proof hash"))
                    .collect::<anyhow::Result<Vec<_>>>()?
            };
            w.finish(&head.checkpoint, &proof)?;
            (count, head.tree_size)
        }
        _ => {
            return Err(anyhow::anyhow!(
                "give exactly one of --data DIR, --store URL or --server URL"
            ));
        }
    };
    bar.finish_and_clear();
    if is_stdout(&args.out) {
        // Standard output carries the export itself.
        eprintln!(
            "exported {count} entries to standard output (checkpoint of size {size}); check it with: dbond verify --export FILE"
        );
        return Ok(());
    }
    say!(
        "exported {count} entries to {} (checkpoint of size {size}); check it with: dbond verify --export {}",
        args.out.display(),
        args.out.display()
    )?;
    Ok(())
}

async fn client_for(
    server: &str,
    key: Option<&Path>,
    tls_ca: Option<PathBuf>,
) -> anyhow::Result<crate::client::Client> {
    let key = key.ok_or_else(|| {
        anyhow::anyhow!("--server needs --key (a participant's private key file)")
    })?;
    ClientArgs {
        server: server.to_string(),
        key: key.to_path_buf(),
        json: false,
        tls_ca,
        tls_client_cert: None,
        tls_client_key: None,
        tls_domain: None,
    }
    .connect()
    .await
}

pub(super) async fn connect_for(
    server: &str,
    key: Option<&Path>,
    tls_ca: Option<PathBuf>,
) -> anyhow::Result<crate::client::Client> {
    client_for(server, key, tls_ca).await
}

// ---------------------------------------------------------------------------
// dbond receipt

#[derive(Debug, clap::Args)]
pub struct ReceiptArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The entry, by index.
    #[arg(long, group = "target")]
    pub index: Option<u64>,
    /// The entry that recorded this subscription.
    #[arg(long, group = "target")]
    pub subscription: Option<u64>,
    /// The entry that created the investor's holding of this series (with --investor).
    #[arg(long, group = "target", requires = "investor")]
    pub holding: Option<String>,
    /// The entry that paid the investor this accrual event, e.g. AZ-2031-USD/coupon/3
    /// or AZ-2031-USD/redemption (with --investor).
    #[arg(long, group = "target", requires = "investor")]
    pub payment: Option<String>,
    /// The investor reference (with --holding or --payment).
    #[arg(long)]
    pub investor: Option<String>,
    /// The custodian bank (banks may leave it out: their own).
    #[arg(long, default_value = "")]
    pub bank: String,
    /// Where to write the receipt (JSON).
    #[arg(long)]
    pub out: PathBuf,
}

pub async fn run_receipt(args: &ReceiptArgs) -> anyhow::Result<()> {
    use pb::get_receipt::Target;
    let investor = args.investor.clone().unwrap_or_default();
    let target = match (
        &args.index,
        &args.subscription,
        &args.holding,
        &args.payment,
    ) {
        (Some(i), None, None, None) => Target::Index(*i),
        (None, Some(s), None, None) => Target::SubscriptionId(*s),
        (None, None, Some(series), None) => Target::Holding(pb::HoldingRef {
            series_id: series.clone(),
            investor_ref: investor,
            bank_id: args.bank.clone(),
        }),
        (None, None, None, Some(event)) => Target::Payment(pb::PaymentRef {
            event_id: event.clone(),
            investor_ref: investor,
            bank_id: args.bank.clone(),
        }),
        _ => {
            return Err(anyhow::anyhow!(
                "name the entry with one of --index, --subscription, --holding or --payment"
            ));
        }
    };
    let client = args.client.connect().await?;
    let receipt = client.receipt(target).await.map_err(status_error)?;
    let file = ReceiptFile::from(&receipt);
    // Check it before handing it out: a receipt that does not verify is a server fault.
    let checked = verify_receipt(&file, None)
        .map_err(|e| anyhow::anyhow!("the server's receipt does not verify: {e}"))?;
    std::fs::write(&args.out, file.to_json())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.out.display()))?;
    if args.client.json {
        say!(
            "{}",
            serde_json::json!({
                "receipt": args.out.display().to_string(),
                "index": checked.index,
                "tree_size": checked.checkpoint.size,
                "entry_hash": hex::encode(checked.entry_hash),
                "description": checked.description,
            })
        )?;
    } else {
        say!(
            "receipt for entry {} ({}) written to {}; proved in the checkpoint of size {}",
            checked.index,
            checked.description,
            args.out.display(),
            checked.checkpoint.size
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// dbond verify-receipt

#[derive(Debug, clap::Args)]
pub struct VerifyReceiptArgs {
    /// The receipt file (from `dbond receipt`).
    #[arg(long)]
    pub receipt: PathBuf,
    /// The ledger key you trust: 64 hex digits, or a public key file. Without it
    /// (or --witness), the key in the receipt is used and its id printed to compare.
    #[arg(long, conflicts_with = "witness")]
    pub ledger_key: Option<String>,
    /// A witness folder (`dbond checkpoint`): trust its pinned ledger key.
    #[arg(long)]
    pub witness: Option<PathBuf>,
    /// The ledger's hand-over entries (`dbond ledger-key handovers`): a receipt
    /// signed by a later ledger key is accepted when they lead to it from the
    /// key you trust.
    #[arg(long)]
    pub handovers: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn parse_key_arg(arg: &str) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
    if arg.len() == 64 && arg.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes = hex::decode(arg)?;
        return Ok(keys::parse_public_key(&bytes)?);
    }
    Ok(keys::read_public_key(Path::new(arg))?)
}

pub fn run_verify_receipt(args: &VerifyReceiptArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.receipt)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.receipt.display()))?;
    let file = ReceiptFile::from_json(&text)?;
    let pinned = match (&args.ledger_key, &args.witness) {
        (Some(k), _) => Some(parse_key_arg(k)?),
        (None, Some(dir)) => {
            let pin = WitnessDir::new(dir).pinned()?.ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no pinned ledger (run dbond checkpoint --save first)",
                    dir.display()
                )
            })?;
            Some(pin.key()?)
        }
        (None, None) => None,
    };
    let handovers = match &args.handovers {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            let handovers = crate::audit::handovers::HandoverFile::from_json(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            if handovers.origin != file.origin {
                anyhow::bail!(
                    "{} holds the hand-overs of ledger {:?}, the receipt is of {:?}",
                    path.display(),
                    handovers.origin,
                    file.origin
                );
            }
            handovers
                .entries()
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Vec::new(),
    };
    let checked = crate::audit::receipt::verify_receipt_with(&file, pinned.as_ref(), &handovers)
        .map_err(|e| anyhow::anyhow!("receipt INVALID: {e}"))?;
    let trust = if pinned.is_some() {
        "the ledger key you trust"
    } else {
        "the ledger key named in the receipt (pin it with --ledger-key to be sure)"
    };
    if args.json {
        say!(
            "{}",
            serde_json::json!({
                "valid": true,
                "origin": checked.origin,
                "ledger_key_id": checked.ledger_key_id.to_string(),
                "index": checked.index,
                "entry_hash": hex::encode(checked.entry_hash),
                "tree_size": checked.checkpoint.size,
                "root": hex::encode(checked.checkpoint.root),
                "description": checked.description,
                "pinned": pinned.is_some(),
            })
        )?;
    } else {
        say!(
            "receipt valid: entry {} of ledger {} is in its tree of size {} (root {}), signed by {} {}\n  {}",
            checked.index,
            checked.origin,
            checked.checkpoint.size,
            hex::encode(checked.checkpoint.root),
            trust,
            checked.ledger_key_id,
            checked.description
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// dbond checkpoint

#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The witness folder that keeps the checkpoints seen so far.
    #[arg(long, default_value = "dbond-witness")]
    pub witness: PathBuf,
    /// Keep this checkpoint in the witness folder (pins the ledger key on first use).
    #[arg(long)]
    pub save: bool,
}

pub async fn run_checkpoint(args: &CheckpointArgs) -> anyhow::Result<()> {
    let client = args.client.connect().await?;
    let head = client.checkpoint().await.map_err(status_error)?;
    let dir = WitnessDir::new(&args.witness);
    let server_pin = Pinned {
        origin: client.origin().to_string(),
        ledger_public_key: hex::encode(&head.ledger_public_key),
    };
    let (pin, first_use) = match dir.pinned()? {
        Some(p) => {
            if p != server_pin {
                return Err(anyhow::anyhow!(
                    "the server is ledger {:?} with key {}, but {} follows ledger {:?} with key {}: a different ledger, or its key was replaced",
                    server_pin.origin,
                    KeyId::of(&server_pin.key()?),
                    args.witness.display(),
                    p.origin,
                    KeyId::of(&p.key()?)
                ));
            }
            (p, false)
        }
        None => (server_pin, true),
    };
    // The key that signs the server's note follows the hand-overs the server
    // publishes, each checked from the pinned key and proved to be in the tree.
    let info = crate::client::ledger_info(client.channel()).await?;
    let chain = dir.chain(&pin)?;
    let chain = if info.handover_entries.len() > chain.handovers() {
        crate::audit::handovers::KeyChain::follow(&pin.origin, pin.key()?, &info.handover_entries)
            .map_err(|e| anyhow::anyhow!("the server's ledger key hand-overs: {e}"))?
    } else {
        chain
    };
    let (unverified, _) = checkpoint::parse_unverified(&head.checkpoint)?;
    let key = chain.key_at(unverified.size);
    let cp = checkpoint::open(&head.checkpoint, &pin.origin, &key).map_err(|e| {
        anyhow::anyhow!(
            "the server's checkpoint is not signed by the ledger key in force at size {} ({}): {e}",
            unverified.size,
            KeyId::of(&key)
        )
    })?;
    for bytes in &info.handover_entries {
        let opened = crate::ledger::entry::open(bytes)?;
        if opened.index() >= cp.size {
            continue;
        }
        let proof = client
            .inclusion_proof(opened.index(), cp.size)
            .await
            .map_err(status_error)?
            .proof
            .iter()
            .map(|h| to_hash(h, "proof hash"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        merkle::verify_inclusion(&opened.hash, opened.index(), cp.size, &proof, &cp.root).map_err(
            |e| {
                anyhow::anyhow!(
                    "the hand-over at entry {} is not in the signed tree of size {}: {e}",
                    opened.index(),
                    cp.size
                )
            },
        )?;
    }
    let saved = dir.saved(&pin)?;
    let new = Saved {
        note: head.checkpoint.clone(),
        checkpoint: cp.clone(),
    };
    let outcome = match witness::compare(&saved, &cp) {
        Ok(next) => next,
        Err(e) => {
            let evidence = dir.save_evidence(&head.checkpoint, &cp)?;
            return Err(anyhow::anyhow!(
                "{e} (the new note is kept in {})",
                evidence.display()
            ));
        }
    };
    let said = match outcome {
        Next::First => format!(
            "first checkpoint for ledger {} (key {}): trust starts here",
            pin.origin,
            KeyId::of(&key)
        ),
        Next::Same => format!("the ledger is still at size {}: nothing new", cp.size),
        Next::ProveFrom { old_size } => {
            let old = saved
                .iter()
                .rev()
                .find(|s| s.checkpoint.size == old_size)
                .ok_or_else(|| anyhow::anyhow!("saved checkpoint {old_size} vanished"))?;
            let proof = client
                .consistency_proof(old_size, cp.size)
                .await
                .map_err(status_error)?
                .proof
                .iter()
                .map(|h| to_hash(h, "proof hash"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if let Err(e) = merkle::verify_consistency(
                old_size,
                cp.size,
                &old.checkpoint.root,
                &cp.root,
                &proof,
            ) {
                let evidence = dir.save_evidence(&head.checkpoint, &cp)?;
                return Err(anyhow::anyhow!(
                    "FORK or broken server: the signed checkpoint of size {} is not proved to extend the saved one of size {old_size}: {e} (the new note is kept in {})",
                    cp.size,
                    evidence.display()
                ));
            }
            format!(
                "the ledger grew from {old_size} to {} entries and only grew (consistency proof checked)",
                cp.size
            )
        }
    };
    if args.save {
        if first_use {
            dir.pin(&pin)?;
        }
        dir.keep_handovers(&pin, &info.handover_entries)?;
        let path = dir.save(&new)?;
        say!("{said}; saved {}", path.display())?;
    } else {
        say!("{said}")?;
    }
    if args.client.json {
        let mut out = std::io::stdout();
        writeln!(
            out,
            "{}",
            serde_json::json!({"size": cp.size, "root": hex::encode(cp.root), "saved": args.save})
        )?;
    }
    Ok(())
}
