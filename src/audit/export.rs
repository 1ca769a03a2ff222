//! The export file: a whole ledger (or a prefix of it) in one file that an auditor
//! checks offline. Format: `docs/LEDGER_FORMAT.md` section 8.
//!
//! ```text
//! magic "DBONDEXP" | version u32 | count u64 | count × (len u32 | entry bytes)
//!   | note len u32 | checkpoint note (UTF-8) | proof count u32 | proof hashes (32 bytes each)
//! ```
//! Integers are big-endian. The checkpoint is the ledger's signed checkpoint for
//! some size `m >= count`; the proof is the RFC 9162 consistency proof from `count`
//! to `m` (empty when they are equal).
//!
//! Invariant: no byte is unchecked. The header is compared exactly; every entry
//! byte is covered by the entry hash, so by the hash chain and the Merkle root;
//! the root is covered by the signed checkpoint (directly, or through the
//! consistency proof); the note is signed; lengths frame what follows and the file
//! must end exactly after the proof.

use super::verifier::{Verified, Verifier, VerifyFailure};
use crate::ledger::checkpoint::{self, Checkpoint};
use crate::ledger::keys::{self, KeyId};
use crate::ledger::merkle::{self, Hash};
use std::io::{Read, Write};

pub const EXPORT_MAGIC: &[u8; 8] = b"DBONDEXP";
pub const EXPORT_VERSION: u32 = 1;

/// Largest entry an export may frame. Entries are bounded by the request payload
/// limit plus the event; this leaves room and refuses absurd lengths before
/// allocating.
pub const EXPORT_ENTRY_BYTES_MAX: u32 = 8 << 20;

/// Longest consistency proof: two hashes per level of a 2^64-leaf tree.
pub const EXPORT_PROOF_HASHES_MAX: u32 = 128;

const _: () = assert!(EXPORT_ENTRY_BYTES_MAX as usize > crate::limits::REQUEST_PAYLOAD_BYTES_MAX);

/// Writes an export. Call [`ExportWriter::entry`] exactly `count` times, then
/// [`ExportWriter::finish`].
pub struct ExportWriter<W: Write> {
    out: W,
    count: u64,
    written: u64,
}

impl<W: Write> ExportWriter<W> {
    pub fn new(mut out: W, count: u64) -> std::io::Result<Self> {
        out.write_all(EXPORT_MAGIC)?;
        out.write_all(&EXPORT_VERSION.to_be_bytes())?;
        out.write_all(&count.to_be_bytes())?;
        Ok(ExportWriter {
            out,
            count,
            written: 0,
        })
    }

    pub fn entry(&mut self, index: u64, bytes: &[u8]) -> std::io::Result<()> {
        if index != self.written || index >= self.count {
            return Err(std::io::Error::other(format!(
                "entry {index} out of order: expected entry {} of {}",
                self.written, self.count
            )));
        }
        let len = u32::try_from(bytes.len())
            .ok()
            .filter(|l| *l <= EXPORT_ENTRY_BYTES_MAX)
            .ok_or_else(|| {
                std::io::Error::other(format!("entry {index} is {} bytes, too large", bytes.len()))
            })?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(bytes)?;
        self.written += 1;
        Ok(())
    }

    /// Writes the checkpoint and the consistency proof from `count` to its size.
    pub fn finish(mut self, checkpoint_note: &str, proof: &[Hash]) -> std::io::Result<W> {
        if self.written != self.count {
            return Err(std::io::Error::other(format!(
                "export announced {} entries but {} were written",
                self.count, self.written
            )));
        }
        let note = checkpoint_note.as_bytes();
        self.out.write_all(&(note.len() as u32).to_be_bytes())?;
        self.out.write_all(note)?;
        self.out.write_all(&(proof.len() as u32).to_be_bytes())?;
        for h in proof {
            self.out.write_all(h)?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// What a verified export established.
#[derive(Debug)]
pub struct ExportVerified {
    pub verified: Verified,
    /// The signed checkpoint the export carries (its size may exceed the count).
    pub checkpoint: Checkpoint,
}

/// Where in the file a framing fault is, for the message.
fn framing(offset: u64, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("export file, byte {offset}: {what}")
}

struct Counted<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> Counted<R> {
    fn exact<const N: usize>(&mut self, what: &str) -> anyhow::Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.fill(&mut buf, what)?;
        Ok(buf)
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> anyhow::Result<()> {
        self.inner.read_exact(buf).map_err(|e| {
            framing(
                self.offset,
                format!("cannot read {what}: {e} (file truncated?)"),
            )
        })?;
        self.offset += buf.len() as u64;
        Ok(())
    }
}

/// Verifies an export file read from `input`: every entry as `dbond verify` does,
/// the checkpoint's signature, the root (directly or through the consistency
/// proof), and each saved checkpoint in `saved` (signed notes the auditor kept).
/// `progress(done, total)` is called as entries are checked.
pub fn verify_export(
    input: impl Read,
    saved: &[String],
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<ExportVerified> {
    let mut r = Counted {
        inner: std::io::BufReader::with_capacity(1 << 20, input),
        offset: 0,
    };
    let magic = r.exact::<8>("the magic")?;
    if &magic != EXPORT_MAGIC {
        return Err(framing(
            0,
            "not a dbond export (the file must start with \"DBONDEXP\")",
        ));
    }
    let version = u32::from_be_bytes(r.exact::<4>("the version")?);
    if version != EXPORT_VERSION {
        return Err(framing(
            8,
            format!("export version {version}; this dbond reads version {EXPORT_VERSION}"),
        ));
    }
    let count = u64::from_be_bytes(r.exact::<8>("the entry count")?);
    let mut verifier = Verifier::new();
    let saved_sizes = super::witness::sizes_of(saved)?;
    for size in &saved_sizes {
        verifier.want_root_at(*size);
    }
    let mut buf = Vec::new();
    for index in 0..count {
        let at = r.offset;
        let len = u32::from_be_bytes(r.exact::<4>("an entry length")?);
        if len > EXPORT_ENTRY_BYTES_MAX {
            return Err(framing(
                at,
                format!("entry {index} claims {len} bytes; the limit is {EXPORT_ENTRY_BYTES_MAX}"),
            ));
        }
        buf.resize(len as usize, 0);
        r.fill(&mut buf, "an entry")?;
        verifier.push(&buf)?;
        if index % 4096 == 0 {
            progress(index, count);
        }
    }
    let at = r.offset;
    let note_len = u32::from_be_bytes(r.exact::<4>("the checkpoint length")?);
    if note_len as usize > checkpoint::NOTE_BYTES_MAX {
        return Err(framing(
            at,
            format!(
                "checkpoint claims {note_len} bytes; a note is at most {}",
                checkpoint::NOTE_BYTES_MAX
            ),
        ));
    }
    let mut note = vec![0u8; note_len as usize];
    r.fill(&mut note, "the checkpoint")?;
    let note =
        String::from_utf8(note).map_err(|_| framing(at + 4, "the checkpoint is not UTF-8"))?;
    let at = r.offset;
    let proof_len = u32::from_be_bytes(r.exact::<4>("the proof length")?);
    if proof_len > EXPORT_PROOF_HASHES_MAX {
        return Err(framing(
            at,
            format!(
                "consistency proof claims {proof_len} hashes; at most {EXPORT_PROOF_HASHES_MAX}"
            ),
        ));
    }
    let mut proof = Vec::with_capacity(proof_len as usize);
    for _ in 0..proof_len {
        proof.push(r.exact::<32>("a proof hash")?);
    }
    let mut rest = [0u8; 1];
    match r.inner.read(&mut rest) {
        Ok(0) => {}
        Ok(_) => return Err(framing(r.offset, "bytes after the end of the export")),
        Err(e) => return Err(framing(r.offset, format!("cannot read: {e}"))),
    }
    // A prefix export may end inside a request whose other entries lie beyond it;
    // the consistency proof then covers them. A whole export may not.
    let (verified, open_request) = verifier.finish_prefix()?;
    progress(verified.size, count);
    let checkpoint = check_against(&verified, &note, &proof)?;
    if let Some(cause) = open_request {
        if checkpoint.size == verified.size {
            return Err(VerifyFailure {
                index: verified.size,
                reason: format!("the ledger ends before request {cause} produced all its entries"),
            }
            .into());
        }
    }
    super::witness::check_saved(&verified, saved)?;
    Ok(ExportVerified {
        verified,
        checkpoint,
    })
}

/// Checks a signed checkpoint for a size at or beyond the verified one: directly
/// when the sizes are equal, through the consistency proof otherwise.
pub fn check_against(
    verified: &Verified,
    note: &str,
    proof: &[Hash],
) -> Result<Checkpoint, VerifyFailure> {
    let last = verified.size.saturating_sub(1);
    let fail = |reason: String| VerifyFailure {
        index: last,
        reason,
    };
    let identity = verified
        .state
        .identity()
        .ok_or_else(|| fail("no genesis".into()))?;
    // The key in force for the note's size, as far as the entries given tell:
    // a hand-over beyond them is not known here.
    let (unverified, _) =
        checkpoint::parse_unverified(note).map_err(|e| fail(format!("checkpoint: {e}")))?;
    let in_force = verified
        .state
        .ledger_key_at(unverified.size)
        .ok_or_else(|| fail("no genesis".into()))?;
    let key = keys::parse_public_key(&in_force.0).map_err(|e| fail(format!("ledger key: {e}")))?;
    let cp =
        checkpoint::open(note, crate::store::checkpoint_key_name(identity), &key).map_err(|e| {
            fail(format!(
                "checkpoint: {e} (the ledger key in force at size {} is {})",
                unverified.size,
                KeyId::of(&key)
            ))
        })?;
    if cp.origin != identity.origin {
        return Err(fail(format!(
            "checkpoint origin {:?} is not the ledger's {:?}",
            cp.origin, identity.origin
        )));
    }
    if cp.size < verified.size {
        return Err(fail(format!(
            "checkpoint is for size {}, smaller than the {} entries given",
            cp.size, verified.size
        )));
    }
    if cp.size == verified.size {
        if !proof.is_empty() {
            return Err(fail(format!(
                "a checkpoint of the same size needs no consistency proof, found {} hashes",
                proof.len()
            )));
        }
        if cp.root != verified.root {
            return Err(fail(format!(
                "merkle root mismatch at size {}: checkpoint says {}, entries give {}",
                cp.size,
                hex::encode(cp.root),
                hex::encode(verified.root)
            )));
        }
    } else {
        merkle::verify_consistency(verified.size, cp.size, &verified.root, &cp.root, proof)
            .map_err(|e| {
                fail(format!(
                    "the {} entries are not a prefix of the checkpointed tree of size {}: {e}",
                    verified.size, cp.size
                ))
            })?;
    }
    Ok(cp)
}
