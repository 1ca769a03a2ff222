//! The stored state against the replay: the state records an engine holds must be
//! exactly those the replayed state gives, and nothing outside the engine's layout
//! may be stored.
//!
//! The records are compared by digest, in blocks: the stored ones are digested
//! while the entries replay (`StoredDigest::of`), the replayed state's blocks in
//! parallel after it. Only when the digests differ are the records read again, to
//! name the first difference.

use super::engine::StateRecord;
use super::{Engine, StoreError, corrupt};
use crate::registry::{State, StateKey};
use sha2::Digest;

/// State records per digest block.
pub(super) const RECORDS_PER_DIGEST: usize = 65_536;

/// Digests of a sequence of state records in blocks (each record's key, then its
/// value, each length-prefixed), and how many records there were.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct StoredDigest {
    pub(super) records: u64,
    pub(super) blocks: Vec<[u8; 32]>,
}

impl StoredDigest {
    /// Digests the stored records without keeping them in memory.
    pub(super) fn of(engine: &dyn Engine) -> Result<StoredDigest, StoreError> {
        Self::in_blocks(engine, RECORDS_PER_DIGEST)
    }

    pub(super) fn in_blocks(engine: &dyn Engine, block: usize) -> Result<StoredDigest, StoreError> {
        let mut out = StoredDigest::default();
        let mut hasher = sha2::Sha256::new();
        engine.scan_state(&mut |key, value| {
            digest_record(&mut hasher, key, value);
            out.records += 1;
            if out.records % block as u64 == 0 {
                out.blocks.push(hasher.finalize_reset().into());
            }
            Ok(())
        })?;
        if out.records % block as u64 != 0 {
            out.blocks.push(hasher.finalize().into());
        }
        Ok(out)
    }

    /// The digest the replayed `state`'s records give (`None` if a listed record
    /// is missing, which cannot match either).
    pub(super) fn expected(
        state: &State,
        keys: &[(Vec<u8>, StateKey)],
        block: usize,
    ) -> Option<Self> {
        use rayon::prelude::*;
        let blocks = keys
            .par_chunks(block)
            .map(|chunk| {
                let mut hasher = sha2::Sha256::new();
                let mut buf = Vec::new();
                for (key_bytes, key) in chunk {
                    if !state.record_into(key, &mut buf) {
                        return None;
                    }
                    digest_record(&mut hasher, key_bytes, &buf);
                }
                Some(hasher.finalize().into())
            })
            .collect::<Option<Vec<[u8; 32]>>>()?;
        Some(StoredDigest {
            records: keys.len() as u64,
            blocks,
        })
    }
}

fn digest_record(hasher: &mut sha2::Sha256, key: &[u8], value: &[u8]) {
    for part in [key, value] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
}

/// Every stored state record, in key order.
pub(super) fn stored_records(engine: &dyn Engine) -> Result<Vec<StateRecord>, StoreError> {
    let mut out = Vec::new();
    engine.scan_state(&mut |key, value| {
        out.push((key.to_vec(), value.to_vec()));
        Ok(())
    })?;
    Ok(out)
}

/// Compares what the engine holds besides entries and the checkpoint (the state
/// records, digested as `stored`) with the replayed `state`, and refuses records
/// of no known kind. `last` is the index a difference is reported at.
pub(super) fn check_stored(
    engine: &dyn Engine,
    state: &State,
    last: u64,
    stored: StoredDigest,
) -> Result<(), StoreError> {
    engine.check_layout(last)?;
    let expected = state.record_keys();
    if StoredDigest::expected(state, &expected, RECORDS_PER_DIGEST).as_ref() == Some(&stored) {
        return Ok(());
    }
    let mut buf = Vec::new();
    let stored = stored_records(engine)?;
    let differs =
        |(k, v): &(Vec<u8>, Vec<u8>), (ek, key): &(Vec<u8>, StateKey), buf: &mut Vec<u8>| {
            k != ek || !state.record_into(key, buf) || v != buf
        };
    let first_diff = stored
        .iter()
        .zip(&expected)
        .find(|(a, b)| differs(a, b, &mut buf))
        .map(|(_, b)| String::from_utf8_lossy(&b.0).into_owned())
        .or_else(|| {
            (stored.len() != expected.len()).then(|| {
                format!(
                    "{} records expected, {} stored",
                    expected.len(),
                    stored.len()
                )
            })
        });
    match first_diff {
        Some(first_diff) => Err(corrupt(
            last,
            format!(
                "stored registry state disagrees with the replay of the ledger (first difference: {first_diff})"
            ),
        )),
        None => Ok(()),
    }
}
