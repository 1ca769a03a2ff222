//! The PostgreSQL engine under the conformance suite (a database per test on one
//! throwaway cluster per test binary run), and what only a shared store shows:
//! the schema's versions, URLs with several hosts, and the writer role passing
//! between two ledgers open on one database.

#[path = "../../../testkit/src/pg.rs"]
pub(crate) mod pg;

use super::{PgEngine, PgOptions, PgUrl, SCHEMA_VERSION};
use crate::store::conformance::{self, Opened, Place, Tamper, open, registration, two_entries};
use crate::store::{Engine, SharedStore, Store, StoreError, StoreOptions, WriteError};
use std::sync::Arc;
use std::time::Duration;

/// A fresh database with dbond's tables.
pub(crate) struct PgPlace {
    pub url: PgUrl,
}

impl PgPlace {
    pub(crate) fn new() -> PgPlace {
        let url = PgUrl::parse(&pg::database()).unwrap();
        PgEngine::init(&url).unwrap();
        PgPlace { url }
    }

    /// An engine whose lease outlasts any test: the role passes only when a
    /// holder releases it or a test ends its term in the row, never because a
    /// busy machine delayed a renewal.
    fn engine(&self, batch_records: usize, holder: &str) -> PgEngine {
        PgEngine::open(
            &self.url,
            PgOptions {
                lease: Duration::from_secs(600),
                holder: holder.into(),
                address: format!("http://{holder}.test:50051"),
            },
            batch_records,
        )
        .expect("the engine opens")
    }
}

impl Place for PgPlace {
    fn open(&self, batch_records: usize) -> Opened {
        Opened {
            engine: Arc::new(self.engine(batch_records, "node-a")),
            tamper: Box::new(PgTamper {
                url: self.url.location().to_string(),
            }),
        }
    }
}

/// Changes rows behind the ledger's back, through psql.
struct PgTamper {
    url: String,
}

impl PgTamper {
    fn sql(&self, sql: &str) {
        let db = self.url.rsplit('/').next().unwrap_or_default();
        pg::shared().psql(db, sql);
    }
}

fn bytea(bytes: &[u8]) -> String {
    format!("'\\x{}'::bytea", hex::encode(bytes))
}

impl Tamper for PgTamper {
    fn set_entry(&self, index: u64, bytes: Option<&[u8]>) {
        match bytes {
            Some(b) => self.sql(&format!(
                "INSERT INTO entries VALUES ({index}, {}) ON CONFLICT (idx) DO UPDATE SET bytes = excluded.bytes",
                bytea(b)
            )),
            None => self.sql(&format!("DELETE FROM entries WHERE idx = {index}")),
        }
    }

    fn set_state_record(&self, key: &[u8], value: Option<&[u8]>) {
        match value {
            Some(v) => self.sql(&format!(
                "INSERT INTO state_records VALUES ({}, {}) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                bytea(key),
                bytea(v)
            )),
            None => self.sql(&format!(
                "DELETE FROM state_records WHERE key = {}",
                bytea(key)
            )),
        }
    }

    fn set_checkpoint(&self, note: Option<&[u8]>) {
        match note {
            Some(n) => self.sql(&format!(
                "INSERT INTO checkpoint_note (note) VALUES ({}) ON CONFLICT (one) DO UPDATE SET note = excluded.note",
                bytea(n)
            )),
            None => self.sql("DELETE FROM checkpoint_note"),
        }
    }
}

mod suite {
    super::conformance::conformance_suite!(super::PgPlace::new);
}

#[test]
fn urls_with_several_hosts_are_read_by_tokio_postgres() {
    let url = PgUrl::parse(
        "postgres://dbond:secret@db1.example:5433,db2.example,10.0.0.3:6000/ledger?target_session_attrs=read-write",
    )
    .unwrap();
    assert_eq!(
        url.hosts(),
        [
            ("db1.example".to_string(), 5433),
            ("db2.example".to_string(), 5432),
            ("10.0.0.3".to_string(), 6000)
        ]
    );
    assert!(url.wants_read_write());
    assert_eq!(
        url.location(),
        "postgres://dbond@db1.example:5433,db2.example:5432,10.0.0.3:6000/ledger"
    );
    assert!(
        !format!("{url:?}").contains("secret"),
        "no password printed"
    );
    let single = PgUrl::parse("postgresql://u@h/d").unwrap();
    assert!(!single.wants_read_write());
    for (bad, says) in [
        ("mysql://u@h/d", "postgres://"),
        ("postgres://u@h", "no database"),
        (
            "postgres://u@h/d?target_session_attrs=sometimes",
            "cannot be read",
        ),
        ("postgres://u@h/d?colour=blue", "cannot be read"),
        ("postgres://u@h1,h2/d", "target_session_attrs=read-write"),
    ] {
        match PgUrl::parse(bad) {
            Err(StoreError::Invalid(m)) => assert!(m.contains(says), "{bad}: {m}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn the_schema_is_created_once_upgraded_in_place_and_refused_when_newer() {
    let url = PgUrl::parse(&pg::database()).unwrap();
    match PgEngine::open(&url, PgOptions::default(), 16) {
        Err(StoreError::Invalid(m)) => {
            assert!(m.contains("dbond store init"), "{m}")
        }
        other => panic!("a database without tables opened: {:?}", other.err()),
    }
    assert_eq!(
        PgEngine::init(&url).unwrap(),
        super::Migrated {
            from: 0,
            to: SCHEMA_VERSION
        }
    );
    assert_eq!(
        PgEngine::init(&url).unwrap(),
        super::Migrated {
            from: SCHEMA_VERSION,
            to: SCHEMA_VERSION
        },
        "a second init changes nothing"
    );
    let engine = PgEngine::open(&url, PgOptions::default(), 16).unwrap();
    assert!(engine.is_empty().unwrap());
    drop(engine);
    let db = url.location().rsplit('/').next().unwrap().to_string();
    pg::shared().psql(&db, "UPDATE schema_version SET version = version + 1");
    for refused in [
        PgEngine::open(&url, PgOptions::default(), 16).err(),
        PgEngine::init(&url).err(),
    ] {
        match refused {
            Some(StoreError::Invalid(m)) => assert!(m.contains("newer than this binary"), "{m}"),
            other => panic!("a newer schema was taken: {other:?}"),
        }
    }
}

/// Waits (up to a generous deadline) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited too long: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_writer_at_a_time_and_a_follower_takes_over() {
    let place = PgPlace::new();
    let keys = two_entries(&place).await;
    let writer = open(&place, &keys, StoreOptions::default()).unwrap();
    let b = Arc::new(place.engine(16, "node-b"));
    let follower = Store::open_on(
        b.clone(),
        keys.ledger.clone(),
        keys.clock.clone(),
        StoreOptions::default(),
    )
    .unwrap();
    assert_eq!(writer.not_writing(), None);
    match follower.write(registration(&keys, "bank-x")).await {
        Err(WriteError::Unavailable(m)) => {
            assert!(
                m.contains("node-a") && m.contains("http://node-a.test:50051"),
                "{m}"
            );
            assert!(m.contains("not recorded"), "{m}");
        }
        other => panic!("a follower wrote: {other:?}"),
    }
    // The follower reads what the writer writes.
    let c = writer.write(registration(&keys, "bank-b")).await.unwrap();
    until("the follower to see bank-b", || {
        follower.size() == c.tree_size
    })
    .await;
    assert_eq!(follower.root_at(3).unwrap(), writer.root_at(3).unwrap());
    assert_eq!(
        follower.read(|p| p.checkpoint.clone()),
        writer.read(|p| p.checkpoint.clone())
    );

    // The writer goes away cleanly: the follower takes over at once.
    writer.close().unwrap();
    until("the follower to take the role", || {
        follower.not_writing().is_none()
    })
    .await;
    let c = follower.write(registration(&keys, "bank-c")).await.unwrap();
    assert_eq!(c.first_index, 3);

    // A server still holding a superseded epoch appends nothing: its group's
    // transaction finds another epoch, it steps down and follows.
    let stale = Arc::new(place.engine(16, "node-c"));
    let old = Store::open_on(
        stale.clone(),
        keys.ledger.clone(),
        keys.clock.clone(),
        StoreOptions::default(),
    )
    .unwrap();
    assert!(old.not_writing().is_some(), "the role is held by node-b");
    follower.close().unwrap();
    until("node-c to take the role", || old.not_writing().is_none()).await;
    let epoch_c = stale.role_held().unwrap();
    // Another server takes the role behind node-c's back, as after node-c was
    // paused past its term: node-c's next group must store nothing, whether its
    // transaction or its renewal finds the new epoch first.
    let db = place.url.location().rsplit('/').next().unwrap().to_string();
    pg::shared().psql(
        &db,
        "UPDATE writer_lease SET epoch = epoch + 1, holder = 'node-d', address = 'http://node-d.test:50051', expires_at = clock_timestamp() + interval '1 hour'",
    );
    let size = stale.last_index().unwrap();
    match old.write(registration(&keys, "bank-d")).await {
        Err(WriteError::Unavailable(m)) => {
            assert!(m.contains("not recorded") && m.contains("node-d"), "{m}")
        }
        other => panic!("a superseded writer wrote: {other:?}"),
    }
    assert_eq!(stale.last_index().unwrap(), size, "nothing was stored");
    until("node-c to step down", || old.not_writing().is_some()).await;
    assert_eq!(stale.role_held(), None);
    assert_eq!(old.failure(), None, "stepping down is no failure");
    // Once node-d's term ends, node-c takes the role back, rebuilding its
    // working state (which may hold the refused group) from the store first.
    pg::shared().psql(&db, "UPDATE writer_lease SET expires_at = '-infinity'");
    until("node-c to take the role back", || {
        old.not_writing().is_none()
    })
    .await;
    assert_eq!(stale.role_held(), Some(epoch_c + 2));
    let c = old.write(registration(&keys, "bank-d")).await.unwrap();
    assert_eq!(c.first_index, 4, "the refused group left no trace");
    old.close().unwrap();

    let ledger = open(&place, &keys, StoreOptions::default()).unwrap();
    assert_eq!(ledger.size(), 5);
    ledger.close().unwrap();
}
