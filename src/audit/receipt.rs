//! Receipts: one entry, its inclusion proof and the signed checkpoint it is proved
//! against, checkable offline without any other entry (so without any other
//! holder's data). Format: `docs/LEDGER_FORMAT.md` section 9.
//!
//! Invariant: a receipt is accepted only if the checkpoint is signed by the ledger
//! key, the entry is signed by the same key, and the entry's leaf hash and audit
//! path give the checkpoint's root.

use super::handovers::KeyChain;
use crate::ledger::checkpoint::{self, Checkpoint};
use crate::ledger::entry;
use crate::ledger::keys::{self, KeyId};
use crate::ledger::merkle::{self, Hash};
use crate::proto as pb;
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;

/// The value of the receipt file's `format` field.
pub const RECEIPT_FORMAT: &str = "dbond-receipt-v1";

/// Longest audit path a receipt may carry: a tree of 2^64 leaves has 64 levels.
const PROOF_HASHES_MAX: usize = 64;

/// A receipt as written to a file (JSON). Binary fields are lowercase hex, except
/// the entry, which is canonical standard padded base64 (RFC 4648 section 4, no
/// stray bits): each has one spelling, and any other is refused.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptFile {
    pub format: String,
    pub origin: String,
    /// 32-byte Ed25519 ledger key, hex.
    pub ledger_public_key: String,
    pub index: u64,
    /// The stored `LedgerEntry` bytes, base64.
    pub entry: String,
    pub tree_size: u64,
    /// Audit path, leaf to root, each 32 bytes hex.
    pub inclusion_proof: Vec<String>,
    /// The C2SP signed checkpoint note for `tree_size`.
    pub checkpoint: String,
}

impl From<&pb::EntryReceipt> for ReceiptFile {
    fn from(r: &pb::EntryReceipt) -> Self {
        ReceiptFile {
            format: RECEIPT_FORMAT.to_string(),
            origin: r.origin.clone(),
            ledger_public_key: hex::encode(&r.ledger_public_key),
            index: r.index,
            entry: base64::engine::general_purpose::STANDARD.encode(&r.entry),
            tree_size: r.tree_size,
            inclusion_proof: r.inclusion_proof.iter().map(hex::encode).collect(),
            checkpoint: r.checkpoint.clone(),
        }
    }
}

impl ReceiptFile {
    pub fn to_json(&self) -> String {
        // A struct of strings and integers always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    pub fn from_json(text: &str) -> Result<Self, ReceiptError> {
        serde_json::from_str(text).map_err(|e| ReceiptError::Malformed(e.to_string()))
    }
}

/// Why a receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("not a receipt: {0}")]
    Malformed(String),
    #[error("receipt format {found:?} is not {RECEIPT_FORMAT:?}")]
    Format { found: String },
    #[error(
        "the receipt names ledger key {found}, but the key you trust (after the {handovers} hand-overs given) is {pinned}: if the ledger handed its key over, give its hand-over entries (--handovers FILE, from dbond ledger-key handovers)"
    )]
    WrongLedgerKey {
        pinned: String,
        found: String,
        handovers: usize,
    },
    #[error("hand-overs: {0}")]
    Handover(String),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("checkpoint is for {found}, the receipt says {expected}")]
    CheckpointMismatch { expected: String, found: String },
    #[error("entry: {0}")]
    Entry(String),
    #[error("the entry's ledger signature does not verify")]
    EntrySignature,
    #[error("inclusion proof: {0}")]
    Inclusion(String),
}

/// What a valid receipt proves.
#[derive(Debug, Clone)]
pub struct CheckedReceipt {
    pub origin: String,
    pub ledger_key_id: KeyId,
    pub index: u64,
    pub entry_hash: Hash,
    pub checkpoint: Checkpoint,
    /// The decoded entry.
    pub body: pb::EntryBody,
    /// One line saying what the entry records.
    pub description: String,
}

/// 64 lowercase hex digits: the one spelling of 32 bytes.
fn decode_hash(what: &str, s: &str) -> Result<Hash, ReceiptError> {
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ReceiptError::Malformed(format!(
            "{what}: expected lowercase hex digits, found {s:?}"
        )));
    }
    let bytes = hex::decode(s).map_err(|e| ReceiptError::Malformed(format!("{what}: {e}")))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        ReceiptError::Malformed(format!("{what} is {} bytes, expected 32", b.len()))
    })
}

/// Checks a receipt. `pinned` is the ledger key the checker trusts (from its own
/// records); without one, the key in the receipt is used and the caller should
/// show its id so a person can compare it with the published one.
pub fn verify_receipt(
    r: &ReceiptFile,
    pinned: Option<&VerifyingKey>,
) -> Result<CheckedReceipt, ReceiptError> {
    verify_receipt_with(r, pinned, &[])
}

/// [`verify_receipt`], following the ledger key's hand-overs (their stored
/// entries, in index order) from the pinned key: a receipt of an entry or a
/// checkpoint signed by a later key is accepted when the hand-overs lead to it.
pub fn verify_receipt_with(
    r: &ReceiptFile,
    pinned: Option<&VerifyingKey>,
    handovers: &[Vec<u8>],
) -> Result<CheckedReceipt, ReceiptError> {
    if r.format != RECEIPT_FORMAT {
        return Err(ReceiptError::Format {
            found: r.format.clone(),
        });
    }
    let key_bytes = decode_hash("ledger_public_key", &r.ledger_public_key)?;
    let named = keys::parse_public_key(&key_bytes)
        .map_err(|e| ReceiptError::Malformed(format!("ledger_public_key: {e}")))?;
    let chain = match pinned {
        Some(p) => {
            Some(KeyChain::follow(&r.origin, *p, handovers).map_err(ReceiptError::Handover)?)
        }
        None => None,
    };
    let key = chain.as_ref().map_or(named, |c| c.key_at(r.tree_size));
    if key != named {
        return Err(ReceiptError::WrongLedgerKey {
            pinned: KeyId::of(&key).to_string(),
            found: KeyId::of(&named).to_string(),
            handovers: chain.as_ref().map_or(0, KeyChain::handovers),
        });
    }
    let entry_key = chain.as_ref().map_or(named, |c| c.entry_key_at(r.index));
    let cp = checkpoint::open(&r.checkpoint, &r.origin, &key)
        .map_err(|e| ReceiptError::Checkpoint(e.to_string()))?;
    if cp.origin != r.origin || cp.size != r.tree_size {
        return Err(ReceiptError::CheckpointMismatch {
            expected: format!("{:?} at size {}", r.origin, r.tree_size),
            found: format!("{:?} at size {}", cp.origin, cp.size),
        });
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&r.entry)
        .map_err(|e| ReceiptError::Malformed(format!("entry: {e}")))?;
    let opened = entry::open(&bytes).map_err(|e| ReceiptError::Entry(e.to_string()))?;
    if opened.index() != r.index {
        return Err(ReceiptError::Entry(format!(
            "the entry says it is entry {}, the receipt says {}",
            opened.index(),
            r.index
        )));
    }
    if !opened.ledger_signature_ok(&entry_key) {
        return Err(ReceiptError::EntrySignature);
    }
    if r.inclusion_proof.len() > PROOF_HASHES_MAX {
        return Err(ReceiptError::Malformed(format!(
            "inclusion proof has {} hashes, at most {PROOF_HASHES_MAX} are possible",
            r.inclusion_proof.len()
        )));
    }
    let proof = r
        .inclusion_proof
        .iter()
        .map(|h| decode_hash("inclusion_proof", h))
        .collect::<Result<Vec<_>, _>>()?;
    merkle::verify_inclusion(&opened.hash, r.index, r.tree_size, &proof, &cp.root)
        .map_err(|e| ReceiptError::Inclusion(e.to_string()))?;
    let description = describe(&opened.body);
    Ok(CheckedReceipt {
        origin: r.origin.clone(),
        ledger_key_id: KeyId::of(&key),
        index: r.index,
        entry_hash: opened.hash,
        checkpoint: cp,
        body: opened.body,
        description,
    })
}

/// One line saying what an entry records, for people.
pub fn describe(body: &pb::EntryBody) -> String {
    use pb::event::Kind;
    let Some(kind) = body.event.as_ref().and_then(|e| e.kind.as_ref()) else {
        return "an entry without an event".into();
    };
    let one = |who: &str, bank: &str, what: String| format!("{what} for {who} through {bank}");
    match kind {
        Kind::SubscriptionSubmitted(s) => format!(
            "subscription {} to {} units of {} by {} for investor {} ({}, resident in {})",
            s.subscription_id,
            s.units,
            s.series_id,
            s.bank_id,
            s.investor_ref,
            pb::DiasporaCategory::try_from(s.category)
                .map(|c| {
                    c.as_str_name()
                        .trim_start_matches("DIASPORA_CATEGORY_")
                        .to_lowercase()
                })
                .unwrap_or_else(|_| "unknown category".into()),
            s.country
        ),
        Kind::HoldingsCreated(h) => h
            .holdings
            .iter()
            .map(|x| {
                one(
                    &x.investor_ref,
                    &x.bank_id,
                    format!("holding of {} units of {}", x.units, h.series_id),
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        Kind::CouponPayments(pb::CouponPayments {
            event_id, payments, ..
        })
        | Kind::RedemptionPayments(pb::RedemptionPayments {
            event_id, payments, ..
        }) => payments
            .iter()
            .map(|x| {
                one(
                    &x.investor_ref,
                    &x.bank_id,
                    format!("{event_id} paid {} on {} units", x.amount, x.units),
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        Kind::SubscriptionsAllotted(a) => a
            .allotments
            .iter()
            .map(|x| {
                format!(
                    "subscription {} allotted {} units of {} ({} refunded, {} due)",
                    x.subscription_id,
                    x.allotted_units,
                    a.series_id,
                    x.refunded_units,
                    x.amount_due
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        Kind::SettlementConfirmed(s) => format!(
            "settlement of subscription {} confirmed ({} received)",
            s.subscription_id, s.amount
        ),
        Kind::SubscriptionWithdrawn(s) => {
            format!("subscription {} withdrawn", s.subscription_id)
        }
        Kind::ParticipantRegistered(p) => format!(
            "participant {} registered as {} with key {}",
            p.participant_id,
            pb::Role::try_from(p.role)
                .map(|r| r.as_str_name().trim_start_matches("ROLE_").to_lowercase())
                .unwrap_or_else(|_| "unknown role".into()),
            p.key_id
        ),
        Kind::KeyRotated(k) => format!(
            "{} rotated key {} to {}",
            k.participant_id, k.old_key_id, k.new_key_id
        ),
        Kind::ParticipantRevoked(p) => format!("participant {} revoked", p.participant_id),
        Kind::Genesis(g) => format!("genesis of ledger {}", g.origin),
        Kind::CouponPaid(c) => format!(
            "{} paid {} per unit on {} ({} holdings, total {} {})",
            c.event_id, c.amount_per_unit, c.payment_date, c.holdings, c.total, c.currency
        ),
        Kind::Redeemed(c) => format!(
            "{} redeemed at {} per unit on {} ({} holdings, total {} {})",
            c.event_id, c.amount_per_unit, c.payment_date, c.holdings, c.total, c.currency
        ),
        other => format!("{} event", event_name(other)),
    }
}

fn event_name(kind: &pb::event::Kind) -> String {
    // The variant name from the Debug form, e.g. "SeriesOpened(...)".
    let debug = format!("{kind:?}");
    debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or("unknown")
        .to_string()
}
