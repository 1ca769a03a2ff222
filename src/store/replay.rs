//! Replaying the stored ledger: every entry in order, its shape, index and hash
//! link, its event applied to a fresh state, the tree rebuilt and compared with the
//! latest signed checkpoint. Signatures of entries are the auditor's job (`audit`);
//! the checkpoint signature alone already covers every stored byte of every entry.

use super::{Engine, NodeLevels, StoreError, corrupt};
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
    pub nodes: NodeLevels,
}

/// What the replay needs of an entry, read and decoded ahead of it. The rest of
/// the decoded entry is freed on the decoding thread that allocated it (a free
/// from another thread costs the allocator more).
pub(super) struct Decoded {
    pub index: u64,
    pub hash: Hash,
    pub prev_hash: Hash,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    pub event: registry::Event,
}

/// Entries per chunk: the unit a decoding thread reads, decodes and hands on.
pub(super) const DECODE_CHUNK: u64 = 1024;
/// Decoding threads. Reading, hashing and decoding an entry costs more than
/// applying it, so two decoders (taking chunks in turn) keep the replaying thread
/// busy.
const DECODERS: u64 = 2;

/// What a decoder sends per chunk: the chunk's entries in order, stopping at the
/// first fault, which it includes.
type Chunk = Vec<Result<Decoded, StoreError>>;

/// The fault of finding entry `found` where entry `expected` should be.
fn missing(expected: u64, found: u64) -> StoreError {
    corrupt(
        expected,
        format!("entry {expected} is missing (next stored entry is {found})"),
    )
}

/// Opens and decodes the stored `bytes` of entry `index`.
pub(super) fn decode_one(index: u64, bytes: &[u8]) -> Result<Decoded, StoreError> {
    let opened = entry::open(bytes).map_err(|e| corrupt(index, e.to_string()))?;
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
    let event = crate::codec::event_from_pb(pb_event).map_err(|e| corrupt(index, e.to_string()))?;
    // `open` checked that it is 32 bytes.
    let prev_hash = opened
        .prev_hash()
        .try_into()
        .map_err(|_| corrupt(index, "prev_hash must be 32 bytes"))?;
    Ok(Decoded {
        index,
        hash: opened.hash,
        prev_hash,
        recorded_at,
        event,
    })
}

/// Reads and decodes chunks `first`, `first + DECODERS`, ... in order, sending
/// each (possibly empty) until one is short (the ledger's end) or faulty.
fn decode_chunks(engine: &dyn Engine, first: u64, out: std::sync::mpsc::SyncSender<Chunk>) {
    let mut chunk_no = first;
    loop {
        let start = chunk_no * DECODE_CHUNK;
        let end = start + DECODE_CHUNK;
        let mut chunk = Vec::with_capacity(DECODE_CHUNK as usize);
        let mut expected = start;
        let read = engine.scan_entries(start, Some(end), &mut |index, bytes| {
            let decoded = if index == expected {
                decode_one(index, bytes)
            } else {
                Err(missing(expected, index))
            };
            let ok = decoded.is_ok();
            chunk.push(decoded);
            expected += 1;
            ok
        });
        if let Err(e) = read {
            chunk.push(Err(e));
        }
        let last = chunk.len() as u64 != DECODE_CHUNK || chunk.last().is_some_and(|d| d.is_err());
        if out.send(chunk).is_err() || last {
            return;
        }
        chunk_no += DECODERS;
    }
}

/// Refuses any entry stored from `index` on, where none may be.
fn nothing_stored_from(engine: &dyn Engine, index: u64) -> Result<(), StoreError> {
    let mut found = None;
    engine.scan_entries(index, None, &mut |at, _| {
        found = Some(at);
        false
    })?;
    match found {
        None => Ok(()),
        Some(at) => Err(missing(index, at)),
    }
}

/// Replays every entry `engine` holds, calling `progress(entries_done)` now and
/// then. Two threads read and decode entries while this one links and applies them.
pub fn replay(engine: &dyn Engine, mut progress: impl FnMut(u64)) -> Result<Replayed, StoreError> {
    let mut state = State::new();
    let mut frontier = Frontier::new();
    let mut nodes = NodeLevels::default();
    let mut last_hash = entry::GENESIS_PREV_HASH;
    let mut changes = Changes::default();
    let mut expected_index = 0u64;
    std::thread::scope(|scope| -> Result<(), StoreError> {
        let mut decoders = Vec::new();
        for first in 0..DECODERS {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(4);
            super::named(scope, "replay-decode", move || {
                decode_chunks(engine, first, tx)
            })?;
            decoders.push(rx);
        }
        // Chunk n comes from decoder n % DECODERS; a short chunk is the last.
        'chunks: for turn in (0..DECODERS as usize).cycle() {
            let Ok(chunk) = decoders[turn].recv() else {
                break;
            };
            let short = chunk.len() as u64 != DECODE_CHUNK;
            for decoded in chunk {
                let Decoded {
                    index,
                    hash,
                    prev_hash,
                    recorded_at,
                    event,
                } = decoded?;
                if prev_hash != last_hash {
                    return Err(corrupt(
                        index,
                        format!(
                            "previous-hash link is broken: expected {}, found {}",
                            hex::encode(last_hash),
                            hex::encode(prev_hash)
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
                frontier.append(hash, |level, i, node| nodes.push(level, i, *node));
                last_hash = hash;
                expected_index += 1;
                if expected_index % 65536 == 0 {
                    progress(expected_index);
                }
            }
            if short {
                break 'chunks;
            }
        }
        // Decoders still reading past the end stop when their channel closes.
        drop(decoders);
        Ok(())
    })?;
    // Nothing may be stored after the last entry (a gap before it would have
    // cut the replay short here).
    nothing_stored_from(engine, expected_index)?;
    progress(expected_index);
    let last = expected_index.saturating_sub(1);
    let identity = state
        .identity()
        .ok_or_else(|| corrupt(0, "the ledger has no genesis entry"))?;
    // The checkpoint of size n is signed by the key that signs entry n.
    let in_force = state
        .ledger_key_at(frontier.size())
        .ok_or_else(|| corrupt(0, "the ledger has no genesis entry"))?;
    let ledger_key = keys::parse_public_key(&in_force.0).map_err(|e| corrupt(0, e.to_string()))?;
    let note_bytes = engine
        .checkpoint()?
        .ok_or_else(|| corrupt(last, "the signed checkpoint is missing"))?;
    let note = String::from_utf8(note_bytes)
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
