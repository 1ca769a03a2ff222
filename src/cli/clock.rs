//! `dbond clock advance`: the admin moves a rehearsal server's simulated clock
//! forward. A production server refuses (FAILED_PRECONDITION).

use super::{ClientArgs, say, status_error};
use chrono::{DateTime, Utc};

#[derive(Debug, clap::Subcommand)]
pub enum ClockCommand {
    /// Move a rehearsal server's simulated clock forward (admin).
    #[command(group(clap::ArgGroup::new("target").required(true).args(["to", "days"])))]
    Advance {
        #[command(flatten)]
        client: ClientArgs,
        /// The new time, RFC 3339 (e.g. 2027-07-01T00:00:00Z); not before the
        /// server's current time.
        #[arg(long)]
        to: Option<DateTime<Utc>>,
        /// Days to move forward from the server's current time.
        #[arg(long)]
        days: Option<u32>,
    },
}

pub async fn run(command: &ClockCommand) -> anyhow::Result<()> {
    let ClockCommand::Advance { client, to, days } = command;
    let json = client.json;
    let client = client.connect().await?;
    let to = match (to, days) {
        (Some(to), _) => *to,
        // The client signs with the server's time on a rehearsal ledger.
        (None, Some(days)) => client.clock().now() + chrono::Duration::days(i64::from(*days)),
        (None, None) => anyhow::bail!("give --to TIME or --days N"),
    };
    let now = client.advance_clock(to).await.map_err(status_error)?;
    let now = now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    if json {
        say!("{}", serde_json::json!({ "now": now }))
    } else {
        say!("simulated clock now {now}")
    }
}
