//! dbond's tables in PostgreSQL and their migrations. `dbond store init` creates
//! them or brings them to this binary's version, in one transaction; an open
//! refuses a database without them, with an older version (until `store init`
//! runs) or with a newer one (a newer dbond wrote it).
//!
//! - `schema_version`: one row, the version of the tables below.
//! - `entries`: `idx` (the entry's index) → `bytes`, the entry exactly as sealed.
//! - `state_records`: `key` (`StateKey::to_bytes`) → `value`, the registry's
//!   state records; `bytea` sorts bytewise, as the ledger logic reads them.
//! - `checkpoint_note`: one row, the latest signed checkpoint note.
//! - `writer_lease`: one row, the writer role: its `epoch` (raised by one at every
//!   take-over), the `holder` and the `address` it gives clients, and when its
//!   term ends (`expires_at`, by the database's clock).

use super::{Conn, describe};
use crate::store::StoreError;
use tokio_postgres::Client;

/// The version of dbond's tables this binary reads and writes.
pub const SCHEMA_VERSION: i32 = 1;

/// The statements that bring the tables from version `n` to `n + 1`, at `n`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [r#"
CREATE TABLE entries (
    idx bigint PRIMARY KEY CHECK (idx >= 0),
    bytes bytea NOT NULL
);
CREATE TABLE state_records (
    key bytea PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE checkpoint_note (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    note bytea NOT NULL
);
CREATE TABLE writer_lease (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    epoch bigint NOT NULL CHECK (epoch >= 0),
    holder text NOT NULL,
    address text NOT NULL,
    expires_at timestamptz NOT NULL
);
INSERT INTO writer_lease (epoch, holder, address, expires_at)
    VALUES (0, '', '', '-infinity');
"#];

/// What `dbond store init` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migrated {
    /// The version found (0: no dbond tables).
    pub from: i32,
    pub to: i32,
}

/// Creates dbond's tables, or migrates them to [`SCHEMA_VERSION`], in one
/// transaction that holds the version row locked, so two at once run one after
/// the other. Refuses tables newer than this binary's.
pub(super) async fn init(client: &Client) -> Result<Migrated, StoreError> {
    let fail = |what: &str, e: tokio_postgres::Error| {
        StoreError::Storage(format!("{what}: {}", describe(&e)))
    };
    client
        .batch_execute(
            "BEGIN; CREATE TABLE IF NOT EXISTS schema_version (
                 one boolean PRIMARY KEY DEFAULT true CHECK (one),
                 version integer NOT NULL
             );
             LOCK TABLE schema_version IN EXCLUSIVE MODE",
        )
        .await
        .map_err(|e| fail("creating the schema_version table", e))?;
    let outcome = async {
        let from = client
            .query_opt("SELECT version FROM schema_version", &[])
            .await
            .map_err(|e| fail("reading the schema version", e))?
            .map_or(0, |row| row.get::<_, i32>(0));
        if from > SCHEMA_VERSION {
            return Err(newer(from));
        }
        for (version, migration) in MIGRATIONS.iter().enumerate().skip(from as usize) {
            client
                .batch_execute(migration)
                .await
                .map_err(|e| fail(&format!("migrating to schema version {}", version + 1), e))?;
        }
        client
            .execute(
                "INSERT INTO schema_version (version) VALUES ($1)
                 ON CONFLICT (one) DO UPDATE SET version = excluded.version",
                &[&SCHEMA_VERSION],
            )
            .await
            .map_err(|e| fail("recording the schema version", e))?;
        Ok(Migrated {
            from,
            to: SCHEMA_VERSION,
        })
    }
    .await;
    let end = if outcome.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    client
        .batch_execute(end)
        .await
        .map_err(|e| fail("committing the schema", e))?;
    outcome
}

fn newer(found: i32) -> StoreError {
    StoreError::Invalid(format!(
        "the database holds dbond schema version {found}, newer than this binary's {SCHEMA_VERSION}: run a dbond that knows it"
    ))
}

/// Refuses a database whose tables are missing, older or newer than this binary's.
pub(super) async fn check(client: &Client, location: &str) -> Result<(), StoreError> {
    let run_init = format!("run `dbond store init --store {location}`");
    let version = match client
        .query_opt("SELECT version FROM schema_version", &[])
        .await
    {
        Ok(row) => row.map(|r| r.get::<_, i32>(0)),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => None,
        Err(e) => {
            return Err(StoreError::Storage(format!(
                "reading the schema version: {}",
                describe(&e)
            )));
        }
    };
    match version {
        None => Err(StoreError::Invalid(format!(
            "{location} holds no dbond tables: {run_init} to create them"
        ))),
        Some(v) if v > SCHEMA_VERSION => Err(newer(v)),
        Some(v) if v < SCHEMA_VERSION => Err(StoreError::Invalid(format!(
            "{location} holds dbond schema version {v}, older than this binary's {SCHEMA_VERSION}: {run_init} to upgrade it"
        ))),
        Some(_) => Ok(()),
    }
}

/// Runs `init` over a fresh connection of `conn`.
pub(super) fn init_on(conn: &Conn) -> Result<Migrated, StoreError> {
    let client = conn.client()?;
    conn.wait(async move { init(&client).await })?
}
