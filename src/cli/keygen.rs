//! `dbond keygen`: a participant key pair to files.

use super::say;
use crate::ledger::keys::{self, KeyId};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Output path prefix: writes PREFIX.key (private, mode 0600) and PREFIX.pub.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: &KeygenArgs) -> anyhow::Result<()> {
    let key = keys::generate();
    let private = args.out.with_extension("key");
    let public = args.out.with_extension("pub");
    keys::write_private_key(&private, &key)?;
    keys::write_public_key(&public, &key.verifying_key())?;
    say!("key id       {}", KeyId::of(&key.verifying_key()))?;
    say!(
        "private key  {} (keep it secret; mode 0600)",
        private.display()
    )?;
    say!(
        "public key   {} (give this to the ledger admin)",
        public.display()
    )?;
    Ok(())
}
