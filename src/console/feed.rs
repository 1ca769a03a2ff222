//! The console's own follower of the ledger. It asks the server for the ledger's
//! size a few times a second; when it grew, a participant who may stream entries
//! (everyone but banks) streams the new ones, checks each one's index, hash link
//! and ledger signature, decodes its event with the library's codec and adds it to
//! the books. A bank only learns that the ledger changed. Each change is
//! published on a watch channel that the pages' event stream listens to.
//!
//! A server that cannot be reached is reported to the pages and retried; an entry
//! that does not decode, link or verify stops the follower, loudly, since the
//! pages would otherwise show figures the ledger does not hold.

use super::book::Books;
use crate::client::{self, Client};
use crate::codec;
use crate::ledger::checkpoint;
use crate::ledger::entry::{self, GENESIS_PREV_HASH};
use crate::ledger::merkle::Hash;
use crate::registry::Event;
use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// How often the follower asks for the ledger's size: a subscription shows on
/// the pages within this and the time to stream it (one small request a tick).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long the follower waits before asking again after the server failed.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// Signed checkpoints the console keeps for the auditor's page (about 300 bytes
/// each); older ones are dropped first.
pub const CHECKPOINT_HISTORY_MAX: usize = 1_000;

/// What the pages' event stream carries: the ledger's size as the console last
/// saw it, and the problem it has reaching or following it, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pulse {
    pub size: u64,
    pub problem: Option<String>,
}

/// A signed checkpoint the console fetched.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SeenCheckpoint {
    pub size: u64,
    pub note: String,
    pub fetched_at: DateTime<Utc>,
}

/// What the follower has learnt.
#[derive(Default)]
pub struct FeedState {
    /// Entries taken in (for a follower that streams) or the size last seen.
    pub size: u64,
    pub books: Books,
    /// Participant of each key id seen registered or rotated in.
    pub key_owners: HashMap<String, String>,
    /// Newest last.
    pub checkpoints: VecDeque<SeenCheckpoint>,
    /// Hash of the last entry taken in.
    last_hash: Option<Hash>,
}

/// The follower's state, shared with the web handlers.
pub struct Feed {
    pub state: RwLock<FeedState>,
    pub pulse: watch::Sender<Pulse>,
    /// Whether this participant may stream the ledger (everyone but banks).
    pub streams: bool,
    ledger_key: VerifyingKey,
}

impl Feed {
    pub fn new(streams: bool, ledger_key: VerifyingKey) -> Arc<Feed> {
        Arc::new(Feed {
            state: RwLock::new(FeedState::default()),
            pulse: watch::channel(Pulse::default()).0,
            streams,
            ledger_key,
        })
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, FeedState> {
        // A handler that panicked while reading leaves nothing half-written.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, FeedState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn report(&self, size: u64, problem: Option<String>) {
        self.pulse.send_if_modified(|p| {
            let next = Pulse { size, problem };
            let changed = *p != next;
            *p = next;
            changed
        });
    }
}

/// Why following stopped or paused.
enum Stop {
    /// The server could not be reached or refused: try again later.
    Retry(String),
    /// The ledger holds something the console cannot take in: stop following.
    Broken(String),
}

/// Follows the ledger until the task is dropped (or an entry is broken).
pub async fn follow(feed: Arc<Feed>, client: Client) {
    loop {
        match step(&feed, &client).await {
            Ok(()) => {
                let size = feed.read().size;
                feed.report(size, None);
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            Err(Stop::Retry(problem)) => {
                let size = feed.read().size;
                feed.report(size, Some(problem));
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
            Err(Stop::Broken(problem)) => {
                tracing::error!("console stopped following the ledger: {problem}");
                let size = feed.read().size;
                feed.report(
                    size,
                    Some(format!(
                        "the console stopped following the ledger: {problem}"
                    )),
                );
                return;
            }
        }
    }
}

async fn step(feed: &Feed, client: &Client) -> Result<(), Stop> {
    let info = client::ledger_info(client.channel())
        .await
        .map_err(|e| Stop::Retry(format!("cannot reach the server: {e:#}")))?;
    let have = feed.read().size;
    if info.tree_size < have {
        return Err(Stop::Broken(format!(
            "the server reports {} entries, fewer than the {have} already seen: a ledger never shrinks",
            info.tree_size
        )));
    }
    if info.tree_size == have {
        return Ok(());
    }
    if feed.streams {
        let mut stream = client
            .stream_entries(have, info.tree_size)
            .await
            .map_err(|s| Stop::Retry(format!("cannot stream entries: {}", s.message())))?;
        loop {
            let message = stream
                .message()
                .await
                .map_err(|s| Stop::Retry(format!("entry stream broke: {}", s.message())))?;
            let Some(m) = message else { break };
            take_in(feed, m.index, &m.entry)?;
        }
    } else {
        feed.write().size = info.tree_size;
    }
    let cp = client
        .checkpoint()
        .await
        .map_err(|s| Stop::Retry(format!("cannot fetch the checkpoint: {}", s.message())))?;
    // The note is kept as the server signed it; the pages check it with the key
    // their user pinned. Here it is only read for its size.
    if let Ok((parsed, _)) = checkpoint::parse_unverified(&cp.checkpoint) {
        let mut state = feed.write();
        if state
            .checkpoints
            .back()
            .is_none_or(|c| c.size != parsed.size)
        {
            if state.checkpoints.len() == CHECKPOINT_HISTORY_MAX {
                state.checkpoints.pop_front();
            }
            state.checkpoints.push_back(SeenCheckpoint {
                size: parsed.size,
                note: cp.checkpoint,
                fetched_at: Utc::now(),
            });
        }
    }
    Ok(())
}

/// Checks one streamed entry against the one before it and the ledger key, then
/// adds its event to the books.
fn take_in(feed: &Feed, index: u64, bytes: &[u8]) -> Result<(), Stop> {
    let broken = |why: String| Stop::Broken(format!("entry {index}: {why}"));
    let opened = entry::open(bytes).map_err(|e| broken(e.to_string()))?;
    let mut state = feed.write();
    if opened.index() != index || index != state.size {
        return Err(broken(format!(
            "expected entry {} and an index to match, the stream said {index} and the entry {}",
            state.size,
            opened.index()
        )));
    }
    let prev = state.last_hash.unwrap_or(GENESIS_PREV_HASH);
    if index > 0 && state.last_hash.is_none() {
        return Err(broken(
            "the follower has no previous entry to link to".into(),
        ));
    }
    if opened.prev_hash() != prev.as_slice() {
        return Err(broken(format!(
            "prev_hash {} is not the hash of entry {} ({})",
            hex::encode(opened.prev_hash()),
            index.wrapping_sub(1),
            hex::encode(prev)
        )));
    }
    if !opened.ledger_signature_ok(&feed.ledger_key) {
        return Err(broken("the ledger signature does not verify".into()));
    }
    let recorded_at = codec::timestamp_from_pb("recorded_at", opened.body.recorded_at.as_ref())
        .map_err(|e| broken(e.to_string()))?;
    let event = opened
        .body
        .event
        .as_ref()
        .ok_or_else(|| broken("no event".into()))
        .and_then(|e| codec::event_from_pb(e).map_err(|e| broken(e.to_string())))?;
    match &event {
        Event::Genesis(g) => {
            state.key_owners.insert(
                g.admin_key_id.to_string(),
                g.admin_participant_id.to_string(),
            );
        }
        Event::ParticipantRegistered(p) => {
            state
                .key_owners
                .insert(p.key_id.to_string(), p.participant_id.to_string());
        }
        Event::KeyRotated(k) => {
            state
                .key_owners
                .insert(k.new_key_id.to_string(), k.participant_id.to_string());
        }
        _ => {}
    }
    state.books.apply(index, recorded_at, &event);
    state.last_hash = Some(opened.hash);
    state.size = index + 1;
    Ok(())
}
