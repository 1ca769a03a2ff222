//! Replaying the stored ledger: every entry in order, its shape, index and hash
//! link, its event applied to a fresh state, the tree rebuilt and compared with the
//! latest signed checkpoint. Signatures of entries are the auditor's job (`audit`);
//! the checkpoint signature alone already covers every stored byte of every entry.

use super::{StoreError, corrupt, layout};
use crate::ledger::checkpoint;
use crate::ledger::entry;
use crate::ledger::keys;
use crate::ledger::merkle::{Frontier, Hash};
use crate::registry::{self, Changes, EntryMeta, State};

/// The result of a replay.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub state: State,
    pub frontier: Frontier,
    pub last_hash: Hash,
    pub checkpoint: String,
    /// Every perfect Merkle node, the leaves (the entries' leaf hashes) included.
    pub nodes: super::NodeLevels,
}

/// An entry read and decoded ahead of the replay.
type Decoded = (
    u64,
    entry::Opened,
    chrono::DateTime<chrono::Utc>,
    registry::Event,
);

/// Entries decoded per message between the reading thread and the replay.
const DECODE_CHUNK: usize = 1024;

/// Reads and decodes the entries in order on the calling thread, sending them in
/// chunks; stops at the first fault, which it sends.
fn decode_all(
    tree: &sled::Tree,
    out: std::sync::mpsc::SyncSender<Vec<Result<Decoded, StoreError>>>,
) {
    let mut chunk = Vec::with_capacity(DECODE_CHUNK);
    for (expected_index, item) in (0u64..).zip(tree.scan_prefix([layout::ENTRY_PREFIX])) {
        let decoded = item.map_err(StoreError::from).and_then(|(key, bytes)| {
            let index = layout::entry_index(&key)
                .ok_or_else(|| corrupt(expected_index, "malformed entry key"))?;
            if index != expected_index {
                return Err(corrupt(
                    expected_index,
                    format!("entry {expected_index} is missing (next stored entry is {index})"),
                ));
            }
            let opened = entry::open(&bytes).map_err(|e| corrupt(index, e.to_string()))?;
            if opened.index() != index {
                return Err(corrupt(
                    index,
                    format!(
                        "entry stored at {index} says it is entry {}",
                        opened.index()
                    ),
                ));
            }
            let recorded_at =
                crate::codec::timestamp_from_pb("recorded_at", opened.body.recorded_at.as_ref())
                    .map_err(|e| corrupt(index, e.to_string()))?;
            let pb_event = opened
                .body
                .event
                .as_ref()
                .ok_or_else(|| corrupt(index, "event missing"))?;
            let event =
                crate::codec::event_from_pb(pb_event).map_err(|e| corrupt(index, e.to_string()))?;
            Ok((index, opened, recorded_at, event))
        });
        let failed = decoded.is_err();
        chunk.push(decoded);
        if failed || chunk.len() == DECODE_CHUNK {
            // A fault is sent too, then reading stops.
            let sent = out.send(std::mem::take(&mut chunk)).is_ok();
            if !sent || failed {
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = out.send(chunk);
    }
}

/// Replays every entry of `tree`, calling `progress(entries_done)` now and then.
/// One thread reads and decodes entries while this one links and applies them.
pub fn replay(tree: &sled::Tree, mut progress: impl FnMut(u64)) -> Result<Replayed, StoreError> {
    let mut state = State::new();
    let mut frontier = Frontier::new();
    let mut nodes = super::NodeLevels::default();
    let mut last_hash = entry::GENESIS_PREV_HASH;
    let mut changes = Changes::default();
    let mut expected_index = 0u64;
    let (tx, rx) = std::sync::mpsc::sync_channel(8);
    let reader = tree.clone();
    std::thread::scope(|scope| -> Result<(), StoreError> {
        scope.spawn(move || decode_all(&reader, tx));
        for chunk in rx {
            for decoded in chunk {
                let (index, opened, recorded_at, event) = decoded?;
                if opened.prev_hash() != last_hash {
                    return Err(corrupt(
                        index,
                        format!(
                            "previous-hash link is broken: expected {}, found {}",
                            hex::encode(last_hash),
                            hex::encode(opened.prev_hash())
                        ),
                    ));
                }
                changes.clear();
                registry::apply(
                    &mut state,
                    &EntryMeta { index, recorded_at },
                    &event,
                    &mut changes,
                )
                .map_err(|e| corrupt(index, e.reason))?;
                frontier.append(opened.hash, |level, i, hash| nodes.push(level, i, *hash));
                last_hash = opened.hash;
                expected_index += 1;
                if expected_index % 65536 == 0 {
                    progress(expected_index);
                }
            }
        }
        Ok(())
    })?;
    progress(expected_index);
    let last = expected_index.saturating_sub(1);
    let identity = state
        .identity()
        .ok_or_else(|| corrupt(0, "the ledger has no genesis entry"))?;
    let ledger_key = keys::parse_public_key(&identity.ledger_public_key.0)
        .map_err(|e| corrupt(0, e.to_string()))?;
    let note_bytes = tree
        .get(layout::CHECKPOINT_KEY)?
        .ok_or_else(|| corrupt(last, "the signed checkpoint is missing"))?;
    let note = String::from_utf8(note_bytes.to_vec())
        .map_err(|_| corrupt(last, "the stored checkpoint is not UTF-8"))?;
    let cp = checkpoint::open(&note, super::checkpoint_key_name(identity), &ledger_key)
        .map_err(|e| corrupt(last, format!("stored checkpoint: {e}")))?;
    if cp.origin != identity.origin {
        return Err(corrupt(
            last,
            format!(
                "checkpoint origin {:?} is not the ledger's {:?}",
                cp.origin, identity.origin
            ),
        ));
    }
    if cp.size != frontier.size() {
        return Err(corrupt(
            last,
            format!(
                "the signed checkpoint covers {} entries but the store holds {}",
                cp.size,
                frontier.size()
            ),
        ));
    }
    if cp.root != frontier.root() {
        return Err(corrupt(
            last,
            format!(
                "merkle root mismatch: signed checkpoint says {}, entries give {}",
                hex::encode(cp.root),
                hex::encode(frontier.root())
            ),
        ));
    }
    Ok(Replayed {
        state,
        frontier,
        last_hash,
        checkpoint: note,
        nodes,
    })
}
