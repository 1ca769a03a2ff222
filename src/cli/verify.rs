//! `dbond verify`: check a ledger in full (a stopped store, an export file or a
//! running server) and say exactly where it fails.

use super::audit::{connect_for, progress_bar};
use super::say;
use crate::audit::witness::WitnessDir;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["data", "store", "export", "server"])))]
pub struct VerifyArgs {
    /// A stopped server's data folder (or its `store` folder).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// A ledger kept in PostgreSQL (a libpq URL), read through one consistent
    /// view while its servers run.
    #[arg(long)]
    pub store: Option<String>,
    /// An export file (from `dbond export`).
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// A running server (with --key: an auditor's key). Streams the ledger, then
    /// compares the replayed registry with what the server reports.
    #[arg(long, requires = "key")]
    pub server: Option<String>,
    /// The participant's private key file (with --server).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// TLS CA certificate for --server (turns TLS on).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// A checkpoint note saved earlier: the ledger must be consistent with it (a
    /// different root at its size is a fork). Repeatable.
    #[arg(long = "checkpoint")]
    pub checkpoints: Vec<PathBuf>,
    /// A witness folder (`dbond checkpoint --save`): every checkpoint saved there
    /// must be consistent with the ledger.
    #[arg(long)]
    pub witness: Option<PathBuf>,
    /// Require a production ledger: a rehearsal ledger (its genesis says its clock
    /// is simulated) fails verification.
    #[arg(long)]
    pub production: bool,
}

/// What the last line says about the ledger's clock.
fn clock_line(simulated: bool) -> &'static str {
    if simulated {
        "clock: SIMULATED: a rehearsal ledger (its genesis says so); its recorded times are not real times and it is not a production ledger"
    } else {
        "clock: production: the genesis names no simulated clock"
    }
}

fn saved_notes(args: &VerifyArgs) -> anyhow::Result<Vec<String>> {
    let mut notes = Vec::new();
    for path in &args.checkpoints {
        notes.push(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
        );
    }
    if let Some(dir) = &args.witness {
        let dir = WitnessDir::new(dir);
        let pin = dir.pinned()?.ok_or_else(|| {
            anyhow::anyhow!(
                "{} is not a witness folder (no ledger.json)",
                dir.path().display()
            )
        })?;
        notes.extend(dir.saved(&pin)?.into_iter().map(|s| s.note));
    }
    Ok(notes)
}

pub async fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    let saved = saved_notes(args)?;
    let bar = progress_bar("verifying");
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let started = std::time::Instant::now();
    let saved_line = if saved.is_empty() {
        String::new()
    } else {
        format!("; consistent with the {} saved checkpoint(s)", saved.len())
    };
    let stored = match (&args.data, &args.store) {
        (None, None) => None,
        (data, store) => Some(super::store_location(data.as_deref(), store.as_deref())),
    };
    let result: anyhow::Result<(String, bool)> = match (stored, &args.export, &args.server) {
        (Some(location), None, None) => {
            crate::audit::witness::sizes_of(&saved)
                .and_then(|sizes| {
                    let store = crate::store::RawStore::open_at(&location?)?;
                    crate::audit::verify_raw(&store, &sizes, progress)
                })
                .and_then(|v| {
                crate::audit::witness::check_saved(&v, &saved)?;
                Ok((format!(
                    "verified {} entries in {:.1?}: every signature, hash link and event; merkle root {} matches the signed checkpoint; registry state matches the replay{saved_line}",
                    v.size,
                    started.elapsed(),
                    hex::encode(v.root)
                ), simulated(&v)))
            })
        }
        (None, Some(file), None) => std::fs::File::open(file)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))
            .and_then(|f| crate::audit::export::verify_export(f, &saved, progress))
            .map(|v| {
                (format!(
                    "verified {} entries in {:.1?}: every signature, hash link and event; merkle root {} {}{saved_line}",
                    v.verified.size,
                    started.elapsed(),
                    hex::encode(v.verified.root),
                    if v.checkpoint.size == v.verified.size {
                        "matches the signed checkpoint".to_string()
                    } else {
                        format!(
                            "is proved consistent with the signed checkpoint of size {}",
                            v.checkpoint.size
                        )
                    }
                ), simulated(&v.verified))
            }),
        (None, None, Some(server)) => {
            let client = connect_for(server, args.key.as_deref(), args.tls_ca.clone()).await?;
            crate::audit::online::verify_server(&client, &saved, progress)
                .await
                .map(|v| {
                    (format!(
                        "verified {} entries in {:.1?}: every signature, hash link and event; merkle root {} matches the server's signed checkpoint{saved_line}; the replayed registry equals what the server reports ({} participants, {} series, {} subscriptions, {} holdings)",
                        v.verified.size,
                        started.elapsed(),
                        hex::encode(v.verified.root),
                        v.compared.participants,
                        v.compared.series,
                        v.compared.subscriptions,
                        v.compared.holdings
                    ), simulated(&v.verified))
                })
        }
        _ => Err(anyhow::anyhow!(
            "give exactly one of --data DIR, --store URL, --export FILE or --server URL"
        )),
    };
    bar.finish_and_clear();
    match result {
        Ok((_, true)) if args.production => Err(anyhow::anyhow!(
            "verification FAILED: --production: this is a rehearsal ledger (its genesis says its clock is simulated), not a production ledger"
        )),
        Ok((line, simulated)) => {
            say!("{line}")?;
            say!("{}", clock_line(simulated))?;
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("verification FAILED: {e}")),
    }
}

/// Whether the verified ledger's genesis says its clock is simulated.
fn simulated(v: &crate::audit::Verified) -> bool {
    v.state.identity().is_some_and(|i| i.simulated_clock)
}
