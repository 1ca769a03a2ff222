//! Domain types of the registry: ids, roles, participants and events.

use super::RegistryError;
use crate::ids::KeyId;
use crate::money::{Rate, Units};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A participant's id: 1 to 64 of lowercase ASCII letters, digits and '-', not
/// starting or ending with '-'.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParticipantId(std::sync::Arc<str>);

impl ParticipantId {
    pub fn parse(field: &str, s: &str) -> Result<Self, RegistryError> {
        let max = crate::limits::PARTICIPANT_ID_BYTES_MAX;
        if s.is_empty() || s.len() > max {
            return Err(RegistryError::invalid(
                field,
                format!("must be 1 to {max} characters, found {}", s.len()),
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            || s.starts_with('-')
            || s.ends_with('-')
        {
            return Err(RegistryError::invalid(
                field,
                format!("must be lowercase letters, digits and inner '-', found {s:?}"),
            ));
        }
        Ok(ParticipantId(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Sorts before every valid id (a range bound, never a participant).
    pub(crate) fn min() -> Self {
        ParticipantId("".into())
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A participant's role. Its name (serde, `Display`, `FromStr`) is the lowercase
/// variant name: "admin", "treasury", "bank", "auditor", "engine".
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(
    serialize_all = "lowercase",
    parse_err_ty = String,
    parse_err_fn = unknown_role
)]
pub enum Role {
    Admin,
    Treasury,
    Bank,
    Auditor,
    Engine,
}

fn unknown_role(s: &str) -> String {
    format!("unknown role {s:?}; expected one of admin, treasury, bank, auditor, engine")
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Treasury,
        Role::Bank,
        Role::Auditor,
        Role::Engine,
    ];

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ParticipantStatus {
    Active,
    Revoked,
}

/// A 32-byte Ed25519 public key, hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublicKey(#[serde(with = "hex_bytes")] pub [u8; 32]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0))
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(&s).map_err(serde::de::Error::custom)?;
        v.try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub participant_id: ParticipantId,
    pub role: Role,
    pub status: ParticipantStatus,
    pub key_id: KeyId,
    pub public_key: PublicKey,
    pub display_name: String,
    pub registered_at_index: u64,
}

/// A key and the ledger range in which it may sign: entries with index in
/// `valid_from_index ..= retired_at_index` (open-ended while not retired). The entry
/// that retires a key may itself be signed by it (a participant rotating its own key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: KeyId,
    pub participant_id: ParticipantId,
    pub public_key: PublicKey,
    pub valid_from_index: u64,
    pub retired_at_index: Option<u64>,
}

impl KeyRecord {
    pub fn may_sign(&self, index: u64) -> bool {
        index >= self.valid_from_index && self.retired_at_index.is_none_or(|r| index <= r)
    }
}

/// The ledger's identity, fixed by genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerIdentity {
    pub format_version: u32,
    pub origin: String,
    pub ledger_public_key: PublicKey,
    /// A rehearsal ledger: its recorded times come from a simulated clock.
    #[serde(default)]
    pub simulated_clock: bool,
}

// ---- events ----

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisRecorded {
    pub format_version: u32,
    pub origin: String,
    pub ledger_public_key: PublicKey,
    pub admin_participant_id: ParticipantId,
    pub admin_public_key: PublicKey,
    pub admin_key_id: KeyId,
    /// A rehearsal ledger (simulated clock); false for production.
    pub simulated_clock: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantRegistered {
    pub participant_id: ParticipantId,
    pub role: Role,
    pub public_key: PublicKey,
    pub key_id: KeyId,
    pub display_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRotated {
    pub participant_id: ParticipantId,
    pub old_key_id: KeyId,
    pub new_public_key: PublicKey,
    pub new_key_id: KeyId,
}

/// The ledger key hands over to `new_public_key`: this entry is signed by
/// `old_public_key`, every entry from `from_index` on by the new key.
/// `new_key_signature` is the new key's signature over the hand-over message
/// (`ledger::handover`): the writer fills it in after deciding (deciding needs no
/// private key, and decides it empty) and a verifier checks it apart from the
/// re-decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerKeyRotated {
    pub old_public_key: PublicKey,
    pub new_public_key: PublicKey,
    pub from_index: u64,
    pub new_key_signature: Vec<u8>,
}

impl LedgerKeyRotated {
    /// The event as `decide` gives it: without the new key's signature.
    pub fn unsigned(&self) -> LedgerKeyRotated {
        LedgerKeyRotated {
            new_key_signature: Vec::new(),
            ..self.clone()
        }
    }
}

/// A recovery key's approval of an emergency replacement of the ledger key: the
/// recovery key and its signature over the approval statement
/// (`ledger::recovery`), which the writer and every verifier check apart from
/// deciding (deciding needs no signature check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryApproval {
    pub recovery_public_key: PublicKey,
    pub signature: Vec<u8>,
}

/// The recovery quorum in force from this entry on: any `threshold` of
/// `recovery_public_keys` approve an emergency replacement of the ledger key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryQuorumSet {
    pub threshold: u32,
    pub recovery_public_keys: Vec<PublicKey>,
}

/// The ledger key replaced on the recovery quorum's approval: this entry (at
/// index `after_size`) is signed by `new_public_key`, as is every later entry
/// and every checkpoint of a size greater than `after_size`; `old_public_key`
/// signed the entries before and the checkpoints of a size at most
/// `after_size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerKeyReplaced {
    pub old_public_key: PublicKey,
    pub new_public_key: PublicKey,
    pub after_size: u64,
    pub approvals: Vec<RecoveryApproval>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantRevoked {
    pub participant_id: ParticipantId,
    pub key_id: KeyId,
    pub reason: String,
}

/// Everything the ledger can record. Its kind's name (`Event::kind`) is the snake
/// case of the variant, except `FixingPublished` ("rate_fixing_published", the
/// name of its ledger message).
#[derive(Clone, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Event {
    Genesis(GenesisRecorded),
    ParticipantRegistered(ParticipantRegistered),
    KeyRotated(KeyRotated),
    ParticipantRevoked(ParticipantRevoked),
    LedgerKeyRotated(LedgerKeyRotated),
    RecoveryQuorumSet(RecoveryQuorumSet),
    LedgerKeyReplaced(LedgerKeyReplaced),
    SeriesCreated(super::SeriesDefined),
    SeriesAmended(super::SeriesDefined),
    SeriesOpened(super::SeriesId),
    SeriesClosed {
        series_id: super::SeriesId,
        early: bool,
    },
    SeriesCancelled {
        series_id: super::SeriesId,
        reason: String,
        subscriptions: u64,
    },
    /// (subscription id, units refunded)
    SubscriptionsRefunded {
        series_id: super::SeriesId,
        refunds: Vec<(u64, Units)>,
    },
    AllotmentDecided {
        series_id: super::SeriesId,
        rule: super::AllotmentRule,
        cap_units: Units,
        subscribed_units: Units,
        allotted_units: Units,
        subscriptions: u64,
    },
    SubscriptionsAllotted {
        series_id: super::SeriesId,
        allotments: Vec<super::AllotmentLine>,
    },
    /// (subscription id, allotted units released)
    UnsettledReleased {
        series_id: super::SeriesId,
        released: Vec<(u64, Units)>,
    },
    SeriesIssued {
        series_id: super::SeriesId,
        units: Units,
        holdings: u64,
        amount_raised: rust_decimal::Decimal,
    },
    HoldingsCreated {
        series_id: super::SeriesId,
        holdings: Vec<super::HoldingUnits>,
    },
    SubscriptionSubmitted(super::SubscriptionSubmitted),
    SubscriptionWithdrawn {
        subscription_id: u64,
    },
    SettlementConfirmed {
        subscription_id: u64,
        amount: rust_decimal::Decimal,
    },
    #[strum(serialize = "rate_fixing_published")]
    FixingPublished {
        reference: String,
        date: chrono::NaiveDate,
        rate: Rate,
    },
    RecordDateFixed(super::coupons::RecordDateFixed),
    CouponPaid(super::coupons::CouponPaid),
    CouponPayments {
        id: crate::accrual::EventId,
        series_id: super::SeriesId,
        payments: Vec<super::coupons::Payment>,
    },
    Redeemed(super::coupons::Redeemed),
    RedemptionPayments {
        id: crate::accrual::EventId,
        series_id: super::SeriesId,
        payments: Vec<super::coupons::Payment>,
    },
    SeriesMatured {
        series_id: super::SeriesId,
    },
    WithholdingTableSet(super::withholding::WithholdingTableSet),
    ResidenceRecorded(super::withholding::ResidenceRecorded),
    PaymentUndeliverable(super::unclaimed::PaymentUndeliverable),
    UnclaimedPaymentClaimed(super::unclaimed::UnclaimedPaymentClaimed),
    /// A tranche of an issued series opened (a reopening, or tap).
    SeriesReopened(super::reopening::TrancheTerms),
    TrancheClosed {
        series_id: super::SeriesId,
        tranche: u32,
        early: bool,
    },
    TrancheCancelled {
        series_id: super::SeriesId,
        tranche: u32,
        reason: String,
        subscriptions: u64,
    },
    TrancheAllotted {
        series_id: super::SeriesId,
        tranche: u32,
        rule: super::AllotmentRule,
        cap_units: Units,
        subscribed_units: Units,
        allotted_units: Units,
        subscriptions: u64,
    },
    TrancheIssued {
        series_id: super::SeriesId,
        tranche: u32,
        units: Units,
        holdings: u64,
        /// Σ over the settled allotments of units × price per unit, each rounded.
        principal: rust_decimal::Decimal,
        /// Σ over the settled allotments of units × accrued per unit, each rounded.
        accrued: rust_decimal::Decimal,
    },
    TrancheHoldings {
        series_id: super::SeriesId,
        tranche: u32,
        holdings: Vec<super::HoldingUnits>,
    },
    RegistrationChanged(super::RegistrationChanged),
    TransferRequested(super::TransferRequested),
    TransferConfirmed(super::TransferConfirmed),
    TransferRefused(super::TransferRefused),
    DeathNoticeFiled(super::DeathNoticeFiled),
    HoldingPassed(super::HoldingPassed),
    EarlyRedeemed(super::EarlyRedeemed),
}

impl Event {
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

/// Checks free text for operators: length bounds and no control characters.
pub fn check_text(field: &str, s: &str, max_chars: usize) -> Result<(), RegistryError> {
    let n = s.chars().count();
    if n == 0 || n > max_chars {
        return Err(RegistryError::invalid(
            field,
            format!("must be 1 to {max_chars} characters, found {n}"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(RegistryError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}
