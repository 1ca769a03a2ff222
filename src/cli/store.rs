//! `dbond store init`: creates dbond's tables in a PostgreSQL database, or
//! migrates them to this binary's version. Run it once before the first
//! `dbond serve --store URL`, and again after installing a newer dbond.

use super::say;

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Create dbond's tables in a PostgreSQL database, or upgrade them to this
    /// binary's schema version (refused when the database's is newer).
    Init(StoreInitArgs),
}

#[derive(Debug, clap::Args)]
pub struct StoreInitArgs {
    /// The database (libpq URL, e.g. postgres://dbond_owner@db1,db2/dbond?target_session_attrs=read-write).
    #[arg(long, env = "DBOND_STORE")]
    pub store: String,
}

pub fn run(command: &StoreCommand) -> anyhow::Result<()> {
    match command {
        StoreCommand::Init(args) => {
            let url = crate::store::PgUrl::parse(&args.store)?;
            let migrated = crate::store::PgEngine::init(&url)?;
            let location = url.location();
            if migrated.from == migrated.to {
                say!(
                    "{location}: dbond schema version {} already, nothing to do",
                    migrated.to
                )?;
            } else if migrated.from == 0 {
                say!("{location}: dbond schema version {} created", migrated.to)?;
            } else {
                say!(
                    "{location}: dbond schema upgraded from version {} to {}",
                    migrated.from,
                    migrated.to
                )?;
            }
            Ok(())
        }
    }
}
