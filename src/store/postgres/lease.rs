//! The writer role on PostgreSQL: a lease row (`writer_lease`: epoch, holder,
//! address, expires_at). A process takes the role with one UPDATE that raises the
//! epoch by one, and only when the term of the last holder has run out (by the
//! database's clock, so the processes' clocks do not matter); it renews the term
//! every third of it on a connection of its own; and every group it writes checks
//! and renews the epoch inside its own transaction (`PgEngine::write_group`).
//!
//! Safety does not rest on time: a holder that was paused or cut off past its
//! term, and so superseded, finds another epoch in the row when it next writes,
//! and its transaction stores nothing. Time only decides how soon a follower may
//! take over a writer that died. The row is an ordinary row, so it is replicated
//! with everything else and survives a failover of the database; an advisory lock
//! would not.

use super::{Conn, PgOptions, describe};
use crate::store::StoreError;
use crate::store::engine::{RoleHolder, Taken};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::types::Type;

/// The writer lease's term when none is configured.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(crate::limits::STORE_LEASE_SECS_DEFAULT);

/// Renewals per term: a holder renews every third of it, so two renewals in a
/// row may fail before it loses the role.
const RENEWALS_PER_TERM: u32 = 3;

/// This process's side of the writer lease.
pub(super) struct Lease {
    conn: Arc<Conn>,
    options: PgOptions,
    /// The epoch this process holds, 0 for none.
    epoch: Arc<AtomicI64>,
    /// The holder last seen in the row, for messages.
    seen: Arc<Mutex<Option<RoleHolder>>>,
    renewing: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Lease {
    pub(super) fn new(conn: Conn, options: PgOptions) -> Lease {
        Lease {
            conn: Arc::new(conn),
            options,
            epoch: Arc::new(AtomicI64::new(0)),
            seen: Arc::new(Mutex::new(None)),
            renewing: Mutex::new(None),
        }
    }

    /// The epoch this process holds, as far as its renewals know.
    pub(super) fn epoch(&self) -> Option<i64> {
        Some(self.epoch.load(Ordering::SeqCst)).filter(|e| *e > 0)
    }

    pub(super) fn term_secs(&self) -> f64 {
        self.options.lease.as_secs_f64()
    }

    /// How often a follower looks for new entries and a free role: a twentieth of
    /// the term, between 20 ms and 250 ms.
    pub(super) fn follow_interval(&self) -> Duration {
        (self.options.lease / 20).clamp(Duration::from_millis(20), Duration::from_millis(250))
    }

    /// Takes the role if its term ran out (or it was released), raising the
    /// epoch; otherwise says who holds it.
    pub(super) fn take(&self) -> Result<Taken, StoreError> {
        if let Some(epoch) = self.epoch() {
            return Ok(Taken::Taken(epoch as u64));
        }
        let (holder, address, term) = (
            self.options.holder.clone(),
            self.options.address.clone(),
            self.term_secs(),
        );
        let taken = self.conn.read("taking the writer role", |c| async move {
            c.query_typed_opt(
                "UPDATE writer_lease SET epoch = epoch + 1, holder = $1, address = $2,
                     expires_at = clock_timestamp() + make_interval(secs => $3)
                 WHERE expires_at < clock_timestamp()
                 RETURNING epoch",
                &[
                    (&holder, Type::TEXT),
                    (&address, Type::TEXT),
                    (&term, Type::FLOAT8),
                ],
            )
            .await
        })?;
        match taken {
            Some(row) => {
                let epoch: i64 = row.get(0);
                self.epoch.store(epoch, Ordering::SeqCst);
                *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(RoleHolder {
                    epoch: epoch as u64,
                    holder: self.options.holder.clone(),
                    address: self.options.address.clone(),
                    expired: false,
                });
                self.start_renewing(epoch);
                tracing::info!(epoch, "took the writer role");
                Ok(Taken::Taken(epoch as u64))
            }
            None => self.holder().map(Taken::HeldBy),
        }
    }

    /// The holder as the row says now.
    pub(super) fn holder(&self) -> Result<RoleHolder, StoreError> {
        let row = self.conn.read("reading the writer role", |c| async move {
            c.query_one(
                "SELECT epoch, holder, address, expires_at < clock_timestamp() FROM writer_lease",
                &[],
            )
            .await
        })?;
        let holder = RoleHolder {
            epoch: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
            holder: row.get(1),
            address: row.get(2),
            expired: row.get(3),
        };
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(holder.clone());
        Ok(holder)
    }

    /// `why` this process cannot write, naming the holder as last read (read
    /// again if the database answers).
    pub(super) fn describe_holder(&self, why: &str) -> String {
        let holder = self
            .holder()
            .ok()
            .or_else(|| self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone());
        match holder {
            Some(h) => format!("{why}; {}", h.describe()),
            None => why.to_string(),
        }
    }

    /// Notes that `epoch` was superseded (a group found another in the row).
    pub(super) fn lost(&self, epoch: i64) {
        if self
            .epoch
            .compare_exchange(epoch, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            tracing::warn!(epoch, "the writer role was taken over");
        }
        self.stop_renewing();
    }

    /// Gives the role up: its term ends now, so a follower takes it at once.
    pub(super) fn release(&self) {
        self.stop_renewing();
        let epoch = self.epoch.swap(0, Ordering::SeqCst);
        if epoch == 0 {
            return;
        }
        let released = self.conn.read("releasing the writer role", |c| async move {
            c.execute_typed(
                "UPDATE writer_lease SET expires_at = '-infinity' WHERE epoch = $1",
                &[(&epoch, Type::INT8)],
            )
            .await
        });
        match released {
            Ok(_) => tracing::info!(epoch, "released the writer role"),
            Err(e) => {
                tracing::warn!(epoch, error = %e, "could not release the writer role; it ends with its term")
            }
        }
    }

    /// Renews the term every third of it while this process holds `epoch`; a
    /// renewal that finds another epoch in the row ends the hold.
    fn start_renewing(&self, epoch: i64) {
        let every = self.options.lease / RENEWALS_PER_TERM;
        let (conn, held, term) = (self.conn.clone(), self.epoch.clone(), self.term_secs());
        let task = self.conn_handle().spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if held.load(Ordering::SeqCst) != epoch {
                    return;
                }
                let client = match tokio::task::block_in_place(|| conn.client()) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(epoch, error = %e, "cannot renew the writer role");
                        continue;
                    }
                };
                let renewed = client
                    .execute_typed(
                        "UPDATE writer_lease SET expires_at = clock_timestamp() + make_interval(secs => $2)
                         WHERE epoch = $1",
                        &[(&epoch, Type::INT8), (&term, Type::FLOAT8)],
                    )
                    .await;
                match renewed {
                    Ok(1) => {}
                    Ok(_) => {
                        if held
                            .compare_exchange(epoch, 0, Ordering::SeqCst, Ordering::SeqCst)
                            .is_ok()
                        {
                            tracing::warn!(epoch, "the writer role was taken over");
                        }
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(epoch, error = %describe(&e), "renewing the writer role failed")
                    }
                }
            }
        });
        if let Some(old) = self
            .renewing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task)
        {
            old.abort();
        }
    }

    pub(super) fn stop_renewing(&self) {
        if let Some(task) = self
            .renewing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }

    fn conn_handle(&self) -> tokio::runtime::Handle {
        self.conn.runtime.handle()
    }
}
