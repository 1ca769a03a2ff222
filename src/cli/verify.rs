//! `dbond verify`: check a ledger in full and say exactly where it fails.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A stopped server's data folder (or its `store` folder).
    #[arg(long)]
    pub data: PathBuf,
}

fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} verifying {pos}/{len} entries [{bar:40}] {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    let store = if args.data.join("store").is_dir() {
        args.data.join("store")
    } else {
        args.data.clone()
    };
    let bar = progress_bar();
    let started = std::time::Instant::now();
    let result = crate::audit::verify_store(&store, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    match result {
        Ok(v) => {
            println!(
                "verified {} entries in {:.1?}: every signature, hash link and event; merkle root {} matches the signed checkpoint; registry state matches the replay",
                v.size,
                started.elapsed(),
                hex::encode(v.root)
            );
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("verification FAILED: {e}")),
    }
}
