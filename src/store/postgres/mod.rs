//! The PostgreSQL engine: a ledger in dbond's tables of one PostgreSQL database
//! (`schema.rs`), which several `dbond serve` processes may share. The only
//! module that imports tokio-postgres.
//!
//! A group is one transaction: it first renews this process's writer lease,
//! which fails unless the lease row still holds this process's epoch (`lease.rs`),
//! then inserts the entries, writes the state records and the checkpoint, and
//! commits with `synchronous_commit` as the server is configured. So all of a
//! group is stored or none of it, no unfinished group ever exists, and a process
//! that lost the writer role stores nothing: its transaction finds another epoch
//! and rolls back. The lease row is replicated with everything else, so this
//! holds across a failover of the database.
//!
//! The engine's connections (writes, reads, the lease) run on a small runtime of
//! its own; the engine's methods are blocking, like the sled engine's, and may be
//! called from any thread, a tokio worker's included.

mod lease;
mod schema;
#[cfg(test)]
mod tests;

pub use lease::DEFAULT_LEASE;
pub use schema::{Migrated, SCHEMA_VERSION};

use super::engine::{
    Engine, EngineError, Entries, EntryVisitor, Group, RoleHolder, SharedStore, StateVisitor,
    StateWrite, Taken,
};
use super::{FaultPlan, FaultPoint, StoreError};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Config, NoTls};

/// Entries read per query.
const ENTRIES_PER_PAGE: i64 = 1024;
/// State records read per query.
const RECORDS_PER_PAGE: i64 = 4096;

/// How a process takes part in a shared ledger.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// The writer lease's term: a writer that stops renewing it loses the role
    /// this long after its last renewal, and a follower then takes it.
    pub lease: Duration,
    /// Who this process is, for the lease row and messages.
    pub holder: String,
    /// The address clients reach this process's gRPC service at, for the lease
    /// row: a follower names it when it refuses a write.
    pub address: String,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            lease: DEFAULT_LEASE,
            holder: format!("dbond pid {}", std::process::id()),
            address: String::new(),
        }
    }
}

/// A parsed PostgreSQL URL (libpq's forms, several hosts included), as
/// tokio-postgres reads it.
#[derive(Clone)]
pub struct PgUrl {
    config: Config,
    location: String,
}

impl std::fmt::Debug for PgUrl {
    /// Never prints the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.location)
    }
}

impl PgUrl {
    /// Parses `url` (`postgres://USER@HOST[:PORT][,HOST[:PORT]...]/DB?...`).
    pub fn parse(url: &str) -> Result<PgUrl, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Invalid(format!(
                "a store URL starts with postgres:// or postgresql://, found {:?}",
                url.split("://").next().unwrap_or(url)
            )));
        }
        let mut config: Config = url.parse().map_err(|e: tokio_postgres::Error| {
            StoreError::Invalid(format!("the store URL cannot be read: {}", describe(&e)))
        })?;
        if config.get_hosts().is_empty() {
            return Err(StoreError::Invalid(
                "the store URL names no host (postgres://USER@HOST/DB)".into(),
            ));
        }
        if config.get_hosts().len() > 1
            && config.get_target_session_attrs()
                != tokio_postgres::config::TargetSessionAttrs::ReadWrite
        {
            // Otherwise a connection could land on a standby, which is read-only
            // and may be behind what this server already published.
            return Err(StoreError::Invalid(
                "a store URL naming several hosts needs target_session_attrs=read-write".into(),
            ));
        }
        if config.get_dbname().is_none() {
            return Err(StoreError::Invalid(
                "the store URL names no database (postgres://USER@HOST/DB)".into(),
            ));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("dbond");
        }
        let location = location_of(&config);
        Ok(PgUrl { config, location })
    }

    /// The URL without its password, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The hosts and ports it names, in order.
    pub fn hosts(&self) -> Vec<(String, u16)> {
        let ports = self.config.get_ports();
        self.config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let name = match host {
                    tokio_postgres::config::Host::Tcp(h) => h.clone(),
                    #[cfg(unix)]
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                };
                let port = ports
                    .get(i)
                    .or_else(|| (ports.len() == 1).then(|| &ports[0]))
                    .copied()
                    .unwrap_or(5432);
                (name, port)
            })
            .collect()
    }

    /// Whether only a server that accepts writes is connected to.
    pub fn wants_read_write(&self) -> bool {
        self.config.get_target_session_attrs()
            == tokio_postgres::config::TargetSessionAttrs::ReadWrite
    }
}

fn location_of(config: &Config) -> String {
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let url = PgUrl {
        config: config.clone(),
        location: String::new(),
    };
    let hosts: Vec<String> = url
        .hosts()
        .into_iter()
        .map(|(h, p)| format!("{h}:{p}"))
        .collect();
    format!(
        "postgres://{user}{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or_default()
    )
}

/// A tokio-postgres error with its cause (its own `Display` names only the kind).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut out = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            out.push_str(&format!(" ({detail})"));
        }
        return out;
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Runs `future` to completion on this thread. The futures of a connected
/// client only exchange messages with its connection's task, which runs on the
/// engine's runtime, so any thread may wait for them this way.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark()
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark()
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// The engine's runtime: connections and lease renewals run on it.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    fn new() -> Result<Runtime, StoreError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("postgres-engine")
            .enable_all()
            .build()
            .map(|rt| Runtime(Some(rt)))
            .map_err(|e| StoreError::Storage(format!("cannot start the PostgreSQL runtime: {e}")))
    }

    fn handle(&self) -> tokio::runtime::Handle {
        self.0
            .as_ref()
            .map(|rt| rt.handle().clone())
            .expect("the runtime lives as long as the engine")
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which a tokio thread may not do.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// One connection of the engine, opened on first use and again after it closed
/// (a pinned one, holding a snapshot, never reopens).
pub(super) struct Conn {
    url: PgUrl,
    runtime: Arc<Runtime>,
    client: Mutex<Option<Arc<Client>>>,
    pinned: bool,
    /// Settings of the session, run after every connect.
    setup: Option<String>,
}

impl Conn {
    fn new(url: &PgUrl, runtime: &Arc<Runtime>) -> Conn {
        Conn {
            url: url.clone(),
            runtime: runtime.clone(),
            client: Mutex::new(None),
            pinned: false,
            setup: None,
        }
    }

    /// A connection whose sessions start with `setup` (SQL).
    fn with_setup(url: &PgUrl, runtime: &Arc<Runtime>, setup: String) -> Conn {
        Conn {
            setup: Some(setup),
            ..Conn::new(url, runtime)
        }
    }

    /// The connected client, connecting first if there is none or it closed.
    pub(super) fn client(&self) -> Result<Arc<Client>, StoreError> {
        let mut slot = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = slot.as_ref() {
            if !client.is_closed() {
                return Ok(client.clone());
            }
            if self.pinned {
                return Err(StoreError::Storage(format!(
                    "the connection to {} holding a consistent view closed",
                    self.url.location
                )));
            }
        }
        let client = Arc::new(self.connect()?);
        if let Some(setup) = &self.setup {
            block_on(client.batch_execute(setup)).map_err(|e| {
                StoreError::Storage(format!(
                    "setting up a session on {}: {}",
                    self.url.location,
                    describe(&e)
                ))
            })?;
        }
        *slot = Some(client.clone());
        Ok(client)
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let config = self.url.config.clone();
        let handle = self.runtime.handle();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let connecting = handle.clone();
        handle.spawn(async move {
            let connected = match config.connect(NoTls).await {
                Ok((client, connection)) => {
                    connecting.spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(error = %describe(&e), "a PostgreSQL connection ended");
                        }
                    });
                    Ok(client)
                }
                Err(e) => Err(describe(&e)),
            };
            let _ = tx.send(connected);
        });
        rx.recv()
            .map_err(|_| StoreError::Storage("the PostgreSQL engine has stopped".into()))?
            .map_err(|e| {
                StoreError::Storage(format!("cannot connect to {}: {e}", self.url.location))
            })
    }

    /// Runs `f` with the client, waiting for its future on this thread.
    fn wait<T>(&self, future: impl Future<Output = T>) -> Result<T, StoreError> {
        Ok(block_on(future))
    }

    /// Runs a read with the client, mapping its error.
    fn read<T, F, Fut>(&self, what: &str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let client = self.client()?;
        block_on(f(client)).map_err(|e| {
            StoreError::Storage(format!(
                "{what} from {}: {}",
                self.url.location,
                describe(&e)
            ))
        })
    }
}

fn index_param(index: u64) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX)
}

fn index_of(idx: i64) -> Result<u64, StoreError> {
    u64::try_from(idx).map_err(|_| StoreError::Corrupt {
        index: 0,
        reason: format!("an entry is stored at the negative index {idx}"),
    })
}

/// A ledger in a PostgreSQL database.
pub struct PgEngine {
    url: PgUrl,
    runtime: Arc<Runtime>,
    writes: Conn,
    reads: Arc<Conn>,
    /// The writer role; `None` for a consistent read-only view.
    lease: Option<lease::Lease>,
    /// Rows written per statement within a group's transaction.
    batch_records: usize,
}

impl PgEngine {
    /// Connects to the database `url` names and checks dbond's tables there.
    /// Groups go through the writer lease `options` describe; nothing is written
    /// before [`SharedStore::take_role`] succeeds.
    pub fn open(
        url: &PgUrl,
        options: PgOptions,
        batch_records: usize,
    ) -> Result<PgEngine, StoreError> {
        let runtime = Arc::new(Runtime::new()?);
        let reads = Arc::new(Conn::new(url, &runtime));
        let client = reads.client()?;
        block_on(schema::check(&client, &url.location))?;
        // A writer paused inside a group's transaction (stopped, swapped out,
        // cut off) would keep the lease row locked, and no follower could take
        // over: the server ends such a session after a term. A take-over that
        // meets a lock gives up after a second and tries again later.
        let lease_ms = options.lease.as_millis();
        Ok(PgEngine {
            url: url.clone(),
            writes: Conn::with_setup(
                url,
                &runtime,
                format!("SET idle_in_transaction_session_timeout = {lease_ms}"),
            ),
            lease: Some(lease::Lease::new(
                Conn::with_setup(url, &runtime, "SET lock_timeout = 1000".into()),
                options,
            )),
            reads,
            runtime,
            batch_records: batch_records.max(1),
        })
    }

    /// Creates dbond's tables in the database `url` names, or migrates them to
    /// this binary's version (`dbond store init`).
    pub fn init(url: &PgUrl) -> Result<Migrated, StoreError> {
        let runtime = Arc::new(Runtime::new()?);
        let conn = Conn::new(url, &runtime);
        schema::init_on(&conn)
    }

    /// A read-only view of the ledger as it is now, through one repeatable-read
    /// transaction: every read sees the same committed groups, whatever writers
    /// commit meanwhile.
    pub fn consistent_view(&self) -> Result<PgEngine, StoreError> {
        let conn = Conn {
            pinned: true,
            ..Conn::new(&self.url, &self.runtime)
        };
        let client = conn.client()?;
        block_on(async {
            client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?;
            // The snapshot is taken at the first query, here.
            client.query_one("SELECT 1", &[]).await.map(|_| ())
        })
        .map_err(|e| {
            StoreError::Storage(format!(
                "starting a consistent read of {}: {}",
                self.url.location,
                describe(&e)
            ))
        })?;
        Ok(PgEngine {
            url: self.url.clone(),
            writes: Conn::new(&self.url, &self.runtime),
            reads: Arc::new(conn),
            lease: None,
            runtime: self.runtime.clone(),
            batch_records: self.batch_records,
        })
    }

    fn page(
        reads: &Conn,
        start: u64,
        end: Option<u64>,
        limit: i64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let (start, end) = (index_param(start), end.map_or(i64::MAX, index_param));
        let rows =
            reads.read("reading entries", |c| async move {
                c.query_typed(
                "SELECT idx, bytes FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3",
                &[(&start, Type::INT8), (&end, Type::INT8), (&limit, Type::INT8)],
            )
            .await
            })?;
        rows.iter()
            .map(|row| Ok((index_of(row.get(0))?, row.get::<_, Vec<u8>>(1))))
            .collect()
    }

    /// One group as one transaction (see the module notes); `commit_sent` says
    /// whether the commit went out, after which the outcome may be unknown.
    async fn write_transaction(
        &self,
        client: &Client,
        group: &Group,
        epoch: i64,
        term: f64,
        fault: Option<FaultPlan>,
        commit_sent: &mut bool,
    ) -> Result<(), EngineError> {
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| self.storage("beginning a group", &e))?;
        let body = async {
            // First, and inside the transaction: the lease row must still hold
            // this process's epoch. The row stays locked until the commit, so a
            // take-over waits for this group and then sees it.
            let renewed = client
                .execute_typed(
                    "UPDATE writer_lease SET expires_at = clock_timestamp() + make_interval(secs => $2)
                     WHERE epoch = $1",
                    &[(&epoch, Type::INT8), (&term, Type::FLOAT8)],
                )
                .await
                .map_err(|e| self.storage("checking the writer lease", &e))?;
            if renewed != 1 {
                return Err(EngineError::LostWriterRole(String::new()));
            }
            let first = index_param(group.size_before);
            for (n, entries) in chunks(&group.entries, self.batch_records).enumerate() {
                if n == 1 {
                    if let Some(e) = FaultPlan::strikes(fault, FaultPoint::LaterBatch) {
                        return Err(EngineError::Storage(e));
                    }
                }
                let start = first + (n * self.batch_records) as i64;
                let bytes: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
                client
                    .execute_typed(
                        "INSERT INTO entries (idx, bytes)
                         SELECT $1 + n - 1, b FROM unnest($2::bytea[]) WITH ORDINALITY AS t(b, n)",
                        &[(&start, Type::INT8), (&bytes, Type::BYTEA_ARRAY)],
                    )
                    .await
                    .map_err(|e| self.storage("inserting entries", &e))?;
            }
            if group.entries.len() <= self.batch_records {
                if let Some(e) = FaultPlan::strikes(fault, FaultPoint::LaterBatch) {
                    return Err(EngineError::Storage(e));
                }
            }
            let (set, removed): (Vec<&StateWrite>, Vec<&StateWrite>) =
                group.records.iter().partition(|(_, v)| v.is_some());
            for records in chunks(&set, self.batch_records) {
                let keys: Vec<&[u8]> = records.iter().map(|(k, _)| k.as_slice()).collect();
                let values: Vec<&[u8]> = records
                    .iter()
                    .map(|(_, v)| v.as_deref().unwrap_or_default())
                    .collect();
                client
                    .execute_typed(
                        "INSERT INTO state_records (key, value)
                         SELECT * FROM unnest($1::bytea[], $2::bytea[])
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        &[(&keys, Type::BYTEA_ARRAY), (&values, Type::BYTEA_ARRAY)],
                    )
                    .await
                    .map_err(|e| self.storage("writing state records", &e))?;
            }
            for records in chunks(&removed, self.batch_records) {
                let keys: Vec<&[u8]> = records.iter().map(|(k, _)| k.as_slice()).collect();
                client
                    .execute_typed(
                        "DELETE FROM state_records WHERE key = ANY($1::bytea[])",
                        &[(&keys, Type::BYTEA_ARRAY)],
                    )
                    .await
                    .map_err(|e| self.storage("removing state records", &e))?;
            }
            let note = group.checkpoint.as_bytes();
            client
                .execute_typed(
                    "INSERT INTO checkpoint_note (note) VALUES ($1)
                     ON CONFLICT (one) DO UPDATE SET note = excluded.note",
                    &[(&note, Type::BYTEA)],
                )
                .await
                .map_err(|e| self.storage("writing the checkpoint", &e))?;
            if let Some(e) = FaultPlan::strikes(fault, FaultPoint::Flush) {
                return Err(EngineError::Storage(e));
            }
            Ok(())
        }
        .await;
        match body {
            Ok(()) => {
                *commit_sent = true;
                client
                    .batch_execute("COMMIT")
                    .await
                    .map_err(|e| self.storage("committing a group", &e))
            }
            Err(e) => {
                // Nothing of the group is committed; a connection that broke
                // ends its transaction with it.
                let _ = client.batch_execute("ROLLBACK").await;
                Err(e)
            }
        }
    }

    fn storage(&self, what: &str, e: &tokio_postgres::Error) -> EngineError {
        EngineError::Storage(format!("{what} on {}: {}", self.url.location, describe(e)))
    }
}

/// Rows of a group, chunked for multi-row statements.
fn chunks<T>(items: &[T], size: usize) -> impl Iterator<Item = &[T]> {
    items.chunks(size.max(1))
}

impl Engine for PgEngine {
    fn location(&self) -> String {
        self.url.location.clone()
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        let row = self.reads.read("reading the tables", |c| async move {
            c.query_one(
                "SELECT NOT (EXISTS (SELECT 1 FROM entries) OR EXISTS (SELECT 1 FROM checkpoint_note)
                 OR EXISTS (SELECT 1 FROM state_records))",
                &[],
            )
            .await
        })?;
        Ok(row.get(0))
    }

    fn write_group(&self, group: &Group, fault: Option<FaultPlan>) -> Result<(), EngineError> {
        let lease = self.lease.as_ref().ok_or_else(|| {
            EngineError::Storage("a consistent view of the ledger is read-only".into())
        })?;
        let epoch = lease.epoch().ok_or_else(|| {
            EngineError::LostWriterRole(lease.describe_holder("this server does not hold it"))
        })?;
        if let Some(e) = FaultPlan::strikes(fault, FaultPoint::BatchWrite) {
            return Err(EngineError::Storage(e));
        }
        let mut retried = false;
        let outcome = loop {
            let client = self
                .writes
                .client()
                .map_err(|e| EngineError::Storage(e.to_string()))?;
            let mut commit_sent = false;
            let outcome = block_on(self.write_transaction(
                &client,
                group,
                epoch,
                lease.term_secs(),
                fault,
                &mut commit_sent,
            ));
            // A connection found closed before the commit was sent (the database
            // restarted or failed over since the last group) committed nothing:
            // the group is tried once more on a new connection.
            if matches!(outcome, Err(EngineError::Storage(_)))
                && !commit_sent
                && client.is_closed()
                && !retried
            {
                retried = true;
                continue;
            }
            break outcome;
        };
        match outcome {
            Err(EngineError::LostWriterRole(_)) => {
                lease.lost(epoch);
                Err(EngineError::LostWriterRole(lease.describe_holder(
                    &format!("this server's epoch {epoch} was superseded"),
                )))
            }
            Err(e) => Err(e),
            // Committed: a failure planned here stands in for a reply lost after
            // the commit, so the caller cannot know that the group is stored.
            Ok(()) => match FaultPlan::strikes(fault, FaultPoint::Sync) {
                Some(e) => Err(EngineError::Storage(e)),
                None => Ok(()),
            },
        }
    }

    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let idx = index_param(index);
        let row = self.reads.read("reading an entry", |c| async move {
            c.query_typed_opt(
                "SELECT bytes FROM entries WHERE idx = $1",
                &[(&idx, Type::INT8)],
            )
            .await
        })?;
        Ok(row.map(|r| r.get(0)))
    }

    fn entries(&self, start: u64, end: Option<u64>) -> Entries {
        let reads = self.reads.clone();
        let mut next = start;
        let mut page = std::collections::VecDeque::new();
        let mut done = end.is_some_and(|end| end <= start);
        Box::new(std::iter::from_fn(move || {
            if page.is_empty() && !done {
                match PgEngine::page(&reads, next, end, ENTRIES_PER_PAGE) {
                    Ok(rows) => {
                        done = (rows.len() as i64) < ENTRIES_PER_PAGE;
                        if let Some((last, _)) = rows.last() {
                            next = last.saturating_add(1);
                        }
                        page.extend(rows.into_iter().map(Ok));
                    }
                    Err(e) => {
                        done = true;
                        page.push_back(Err(e));
                    }
                }
            }
            page.pop_front()
        }))
    }

    fn scan_entries(
        &self,
        start: u64,
        end: Option<u64>,
        visit: &mut EntryVisitor<'_>,
    ) -> Result<(), StoreError> {
        let mut next = start;
        loop {
            if end.is_some_and(|end| end <= next) {
                return Ok(());
            }
            let rows = PgEngine::page(&self.reads, next, end, ENTRIES_PER_PAGE)?;
            let short = (rows.len() as i64) < ENTRIES_PER_PAGE;
            for (index, bytes) in &rows {
                if !visit(*index, bytes) {
                    return Ok(());
                }
                next = index.saturating_add(1);
            }
            if short {
                return Ok(());
            }
        }
    }

    fn last_index(&self) -> Result<Option<u64>, StoreError> {
        let row = self.reads.read("reading the last entry", |c| async move {
            c.query_one("SELECT max(idx) FROM entries", &[]).await
        })?;
        row.get::<_, Option<i64>>(0).map(index_of).transpose()
    }

    fn checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self.reads.read("reading the checkpoint", |c| async move {
            c.query_opt("SELECT note FROM checkpoint_note", &[]).await
        })?;
        Ok(row.map(|r| r.get(0)))
    }

    fn scan_state(&self, visit: &mut StateVisitor<'_>) -> Result<(), StoreError> {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let from = after.clone();
            let rows = self.reads.read("reading state records", |c| async move {
                match &from {
                    None => {
                        c.query_typed(
                            "SELECT key, value FROM state_records ORDER BY key LIMIT $1",
                            &[(&RECORDS_PER_PAGE, Type::INT8)],
                        )
                        .await
                    }
                    Some(key) => {
                        c.query_typed(
                            "SELECT key, value FROM state_records WHERE key > $1 ORDER BY key LIMIT $2",
                            &[(key, Type::BYTEA), (&RECORDS_PER_PAGE, Type::INT8)],
                        )
                        .await
                    }
                }
            })?;
            for row in &rows {
                visit(row.get::<_, &[u8]>(0), row.get::<_, &[u8]>(1))?;
            }
            if (rows.len() as i64) < RECORDS_PER_PAGE {
                return Ok(());
            }
            after = rows.last().map(|r| r.get::<_, Vec<u8>>(0));
        }
    }

    /// The tables admit nothing but entries at non-negative indexes, state
    /// records and one checkpoint: there is nothing else to look for.
    fn check_layout(&self, _at: u64) -> Result<(), StoreError> {
        Ok(())
    }

    /// A group is one transaction: none is ever left unfinished.
    fn unfinished_group(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    fn remove_entries_from(&self, size: u64) -> Result<u64, StoreError> {
        let from = index_param(size);
        self.writes.read("removing entries", |c| async move {
            c.execute_typed(
                "DELETE FROM entries WHERE idx >= $1",
                &[(&from, Type::INT8)],
            )
            .await
        })
    }

    fn finish_roll_back(&self, records: Vec<StateWrite>) -> Result<(), StoreError> {
        self.writes.read("restoring state records", |c| async move {
            c.batch_execute("BEGIN").await?;
            for (key, value) in &records {
                let result = match value {
                    Some(v) => {
                        c.execute_typed(
                            "INSERT INTO state_records (key, value) VALUES ($1, $2)
                             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            &[(key, Type::BYTEA), (v, Type::BYTEA)],
                        )
                        .await
                    }
                    None => {
                        c.execute_typed(
                            "DELETE FROM state_records WHERE key = $1",
                            &[(key, Type::BYTEA)],
                        )
                        .await
                    }
                };
                if let Err(e) = result {
                    let _ = c.batch_execute("ROLLBACK").await;
                    return Err(e);
                }
            }
            c.batch_execute("COMMIT").await
        })
    }

    /// Every group is durable when its commit returns.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn shared(&self) -> Option<&dyn SharedStore> {
        self.lease.as_ref().map(|_| self as &dyn SharedStore)
    }
}

impl SharedStore for PgEngine {
    fn consistent_view(&self) -> Result<Arc<dyn Engine>, StoreError> {
        Ok(Arc::new(PgEngine::consistent_view(self)?))
    }

    fn take_role(&self) -> Result<Taken, StoreError> {
        match &self.lease {
            Some(lease) => lease.take(),
            None => Err(StoreError::Invalid(
                "a consistent view of the ledger cannot write".into(),
            )),
        }
    }

    fn role_held(&self) -> Option<u64> {
        self.lease
            .as_ref()
            .and_then(|l| l.epoch())
            .and_then(|e| u64::try_from(e).ok())
    }

    fn holder(&self) -> Result<RoleHolder, StoreError> {
        match &self.lease {
            Some(lease) => lease.holder(),
            None => Err(StoreError::Invalid(
                "a consistent view holds no role".into(),
            )),
        }
    }

    fn release_role(&self) {
        if let Some(lease) = &self.lease {
            lease.release();
        }
    }

    fn follow_interval(&self) -> Duration {
        self.lease
            .as_ref()
            .map_or(Duration::from_millis(250), |l| l.follow_interval())
    }
}

impl Drop for PgEngine {
    fn drop(&mut self) {
        if let Some(lease) = &self.lease {
            lease.stop_renewing();
        }
    }
}
