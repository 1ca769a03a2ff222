//! `dbond backup`: an online backup of a running server (or a mirror), as a
//! complete data folder as of one signed checkpoint: the mirror machinery run to
//! the source's current checkpoint and stopped. A backup into a folder that holds
//! one already continues it.

use super::{ClientArgs, say};
use crate::ledger::checkpoint;
use crate::mirror::{Mirror, MirrorOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The backup's data folder (created if missing). A folder that holds a
    /// backup already is brought up to the source's current checkpoint.
    #[arg(long)]
    pub out: PathBuf,
    /// The size the backup in --out holds already (refused if it holds another):
    /// an incremental backup that states what it continues.
    #[arg(long)]
    pub from_size: Option<u64>,
    /// The ledger key to trust: 64 hex digits or a public key file. A source
    /// whose checkpoints it did not sign is refused.
    #[arg(long)]
    pub ledger_key: Option<String>,
}

pub async fn run(args: &BackupArgs) -> anyhow::Result<()> {
    let trusted = super::mirror::trusted_key(args.ledger_key.as_deref())?;
    let out = args.out.clone();
    let started = Instant::now();
    let mut mirror = tokio::task::spawn_blocking(move || {
        Mirror::open(
            &out,
            MirrorOptions {
                ledger_key: trusted,
                ..Default::default()
            },
        )
    })
    .await??;
    let before = mirror.size();
    if let Some(expected) = args.from_size {
        if before != expected {
            anyhow::bail!(
                "{} holds a backup of {before} entries, not {expected}: nothing was changed",
                args.out.display()
            );
        }
    }
    let client = args.client.connect().await?;
    let round = mirror
        .catch_up(&client, Instant::now())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let note = mirror
        .checkpoint()
        .ok_or_else(|| anyhow::anyhow!("the backup holds no checkpoint"))?;
    let (cp, _) = checkpoint::parse_unverified(&note)?;
    tokio::task::spawn_blocking(move || mirror.close()).await??;
    let took = started.elapsed();
    let out = args.out.display();
    if args.client.json {
        writeln!(
            std::io::stdout(),
            "{}",
            serde_json::json!({
                "out": out.to_string(),
                "size": round.size,
                "added": round.size - before,
                "root": hex::encode(cp.root),
                "seconds": took.as_secs_f64(),
            })
        )?;
        return Ok(());
    }
    say!(
        "backup of {} entries ({} new) in {out} as of the source's signed checkpoint (root {}), in {:.1?}",
        round.size,
        round.size - before,
        hex::encode(cp.root),
        took
    )?;
    say!(
        "check it with `dbond verify --data {out}`; to restore, put the ledger key in {out}/ledger.key and start `dbond serve --data {out}`"
    )?;
    Ok(())
}
