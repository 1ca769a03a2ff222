//! Registry errors: refusals of a command (the caller's fault or the state's) and
//! apply failures (the ledger disagrees with itself: corruption, loud).
//!
//! A refusal says what happened in the domain; which gRPC status carries it is
//! decided in one place, `service::status::registry_code`. Messages are lowercase,
//! without a trailing period, and say what was expected and what was found.

use super::{
    Country, DiasporaCategory, InvestorRef, ParticipantId, Role, SeriesId, SeriesStatus,
    SubscriptionStatus,
};
use crate::accrual::EventId;
use crate::ids::KeyId;
use chrono::{DateTime, NaiveDate, Utc};

/// Why a command was refused. Nothing was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(name(RegistryErrorKind), derive(strum::EnumIter), vis(pub))]
pub enum RegistryError {
    /// A field is malformed or out of range.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },

    // ---- who may act ----
    /// The caller's role may not do this.
    #[error("{action} needs the {needs} role; {caller} is {role}")]
    RoleRequired {
        action: &'static str,
        needs: Role,
        caller: ParticipantId,
        role: Role,
    },
    /// Only the admin or the participant itself may rotate a participant's key.
    #[error("only the admin or {participant} itself may rotate its key; caller is {caller}")]
    NotTheOwner {
        participant: ParticipantId,
        caller: ParticipantId,
    },
    /// A bank may act only on its own subscriptions.
    #[error(
        "subscription {subscription} belongs to another bank; {caller} may act only on its own"
    )]
    NotYourSubscription {
        subscription: u64,
        caller: ParticipantId,
    },

    // ---- what does not exist ----
    #[error("series {series} does not exist")]
    SeriesNotFound { series: SeriesId },
    #[error("subscription {subscription} does not exist")]
    SubscriptionNotFound { subscription: u64 },
    #[error("participant {participant} is not registered")]
    ParticipantNotFound { participant: ParticipantId },

    // ---- what exists already ----
    #[error("series {series} already exists")]
    SeriesExists { series: SeriesId },
    #[error("participant {participant} is already registered")]
    ParticipantExists { participant: ParticipantId },
    /// A registration with a key another participant has (or had).
    #[error("key {key} is already registered; every participant needs its own key")]
    KeyExists { key: KeyId },
    /// A rotation to a key already registered.
    #[error("key {key} is already registered; a rotation needs a fresh key")]
    RotationKeyExists { key: KeyId },
    /// The bank's idempotency key names an earlier, different subscription.
    #[error(
        "idempotency key {key:?} was already used for subscription {subscription} with a different request"
    )]
    IdempotencyConflict { key: String, subscription: u64 },
    /// Fixings are written once.
    #[error("{reference} is already fixed for {date}; fixings are never changed")]
    FixingExists { reference: String, date: NaiveDate },

    // ---- participants ----
    #[error("participant {participant} is revoked")]
    ParticipantRevoked { participant: ParticipantId },
    #[error("{participant} is the last active admin; register another admin before revoking it")]
    LastAdmin { participant: ParticipantId },

    // ---- the ledger's own key ----
    /// A ledger key rotation to the key already in force.
    #[error("ledger key {key} is the key in force; a rotation needs another key")]
    LedgerKeyUnchanged { key: KeyId },
    /// A ledger key rotation back to a key the ledger already used.
    #[error(
        "ledger key {key} already signed this ledger from entry {from_index}; a rotation needs a fresh key"
    )]
    LedgerKeyReused { key: KeyId, from_index: u64 },
    /// A ledger key rotation on a server started without a next key.
    #[error(
        "this server holds no next ledger key: restart it with --next-ledger-key naming the key to rotate to, then ask again"
    )]
    NoNextLedgerKey,
    /// A ledger key rotation naming another key than the next key the server holds.
    #[error(
        "the rotation names ledger key {named}, but the next key this server holds is {held}: name that key, or restart the server with --next-ledger-key set to the key meant"
    )]
    NextLedgerKeyDiffers { named: KeyId, held: KeyId },
    /// An emergency replacement on a ledger with no recovery quorum.
    #[error(
        "this ledger has no recovery quorum: an emergency replacement of the ledger key needs one set (SetRecoveryQuorum) while the key was still in hand"
    )]
    NoRecoveryQuorum,
    /// An emergency replacement whose approvals name another ledger size.
    #[error(
        "the approvals name the ledger after {approved} entries, but it has {size}: the replacement must be the entry right after the size the quorum approved"
    )]
    RecoverySizeMismatch { approved: u64, size: u64 },
    /// An approval by a key outside the recovery quorum.
    #[error("recovery key {key} is not in the recovery quorum in force (set at entry {set_at})")]
    NotARecoveryKey { key: KeyId, set_at: u64 },
    /// Two approvals by one recovery key.
    #[error("recovery key {key} approves more than once; each key counts once")]
    DuplicateApproval { key: KeyId },
    /// Fewer distinct approvals than the threshold.
    #[error("{given} approvals given, the recovery quorum needs {threshold} of {keys}")]
    TooFewApprovals {
        given: usize,
        threshold: u32,
        keys: usize,
    },
    /// An approval whose signature does not verify over the approval statement.
    #[error(
        "the approval of recovery key {key} does not verify over the replacement of this ledger's key by {new_key} after {after_size} entries (another ledger, key or size, or a changed signature)"
    )]
    ApprovalSignatureBad {
        key: KeyId,
        new_key: KeyId,
        after_size: u64,
    },
    /// An emergency replacement naming another key than the one the server holds.
    #[error(
        "the replacement names ledger key {named}, but this server holds {held}: name that key, or restart the server with --ledger-key set to the key meant and --emergency-rotation"
    )]
    ReplacementKeyNotHeld { named: KeyId, held: KeyId },
    /// A write while the server waits for the emergency replacement.
    #[error(
        "this server holds ledger key {held}, not the key in force ({in_force}): it takes no write but EmergencyRotateLedgerKey (`dbond ledger-key emergency-rotate`) until that replacement is on the ledger"
    )]
    AwaitingEmergencyRotation { held: KeyId, in_force: KeyId },
    /// An emergency replacement sent to a server that holds the key in force.
    #[error(
        "this server holds ledger key {in_force}, the key in force: an emergency replacement is taken only by a server restarted with --ledger-key set to the replacing key and --emergency-rotation"
    )]
    NoEmergencyRotation { in_force: KeyId },

    // ---- a series' life ----
    /// A transition (or amendment) the series' status does not allow.
    #[error(
        "cannot {action} series {series}: it is {found}, and only a series that is {needs} can be"
    )]
    WrongSeriesState {
        series: SeriesId,
        action: &'static str,
        needs: &'static str,
        found: SeriesStatus,
    },
    /// Opening a series whose window has already closed.
    #[error(
        "cannot open series {series}: its window closed at {closed_at}; amend the window first"
    )]
    OpenAfterWindow {
        series: SeriesId,
        closed_at: DateTime<Utc>,
    },
    #[error(
        "the settlement deadline of series {series} is {deadline}; unsettled allotments can be released only after it"
    )]
    BeforeSettlementDeadline {
        series: SeriesId,
        deadline: DateTime<Utc>,
    },
    #[error("series {series} has no unsettled allotments")]
    NothingToRelease { series: SeriesId },
    #[error(
        "series {series} has {count} allotments not yet settled; wait for settlement or release them after the deadline"
    )]
    UnsettledAllotments { series: SeriesId, count: usize },
    /// A figure of the series (a sum of units, an amount) beyond what the
    /// registry can represent.
    #[error("series {series}: {what} is too large to represent")]
    TooLarge { series: SeriesId, what: String },

    // ---- subscriptions ----
    #[error("series {series} is cancelled")]
    SeriesCancelled { series: SeriesId },
    #[error("the subscription window of series {series} is not open (the series is {found})")]
    WindowNotOpen {
        series: SeriesId,
        found: SeriesStatus,
    },
    #[error("the subscription window of series {series} opens at {opens_at}")]
    WindowNotYetOpen {
        series: SeriesId,
        opens_at: DateTime<Utc>,
    },
    #[error("the subscription window of series {series} closed at {closed_at}")]
    WindowClosed {
        series: SeriesId,
        closed_at: DateTime<Utc>,
    },
    #[error(
        "diaspora category {category} is not eligible for series {series} (eligible: {eligible})"
    )]
    CategoryNotEligible {
        series: SeriesId,
        category: DiasporaCategory,
        /// The eligible categories, comma separated.
        eligible: String,
    },
    #[error("residents of {country} may not subscribe to series {series}")]
    CountryBarred { series: SeriesId, country: Country },
    #[error("series {series} is not offered to residents of {country}")]
    CountryNotOffered { series: SeriesId, country: Country },
    #[error(
        "investor {investor} would hold {total} units in the book of series {series}, below the minimum of {min}"
    )]
    UnderInvestorMinimum {
        investor: InvestorRef,
        series: SeriesId,
        total: u64,
        min: u64,
    },
    #[error(
        "investor {investor} would hold {total} units in the book of series {series} ({held} already), above the maximum of {max}"
    )]
    OverInvestorLimit {
        investor: InvestorRef,
        series: SeriesId,
        total: u64,
        held: u64,
        max: u64,
    },
    /// A series' book holds at most `UNITS_MAX` units in submitted subscriptions.
    #[error(
        "the book of series {series} holds {subscribed} units; {units} more would pass the {max} units a book can hold",
        max = super::series::UNITS_MAX
    )]
    BookFull {
        series: SeriesId,
        subscribed: u64,
        units: u64,
    },
    #[error("subscription {subscription} is {found} and can no longer be withdrawn")]
    NotWithdrawable {
        subscription: u64,
        found: SubscriptionStatus,
    },
    #[error(
        "the subscription window of series {series} is closed; subscriptions can be withdrawn only while it is open"
    )]
    WithdrawalWindowClosed { series: SeriesId },
    #[error(
        "subscription {subscription} is {found} with {allotted} units allotted; only an allotment awaiting settlement can be settled"
    )]
    NotAwaitingSettlement {
        subscription: u64,
        found: SubscriptionStatus,
        allotted: u64,
    },

    // ---- coupons and redemptions ----
    #[error(
        "series {series} is {found}; coupons and redemptions are posted only for an issued series"
    )]
    NotIssued {
        series: SeriesId,
        found: SeriesStatus,
    },
    #[error("nothing is due on series {series} through {through}; {event} is not due")]
    NothingDue {
        series: SeriesId,
        through: NaiveDate,
        event: EventId,
    },
    #[error(
        "events are posted in date order: {first} is due first (asked for {asked}, which is not due yet or comes later)"
    )]
    NotNextEvent { asked: EventId, first: EventId },
    /// The accrual engine (or the bond math under it) refuses the series.
    #[error("the accrual engine cannot run series {series}: {reason}")]
    EngineCannotRun { series: SeriesId, reason: String },

    // ---- withholding, unclaimed payments, reopenings ----
    #[error(
        "investor {investor} holds nothing at {bank}; a bank records the residence of its own clients"
    )]
    NoHoldingsAtBank {
        investor: InvestorRef,
        bank: ParticipantId,
    },
    #[error("the payment {event} is not posted; only a payment made can be reported undeliverable")]
    PaymentNotPosted { event: EventId },
    #[error("the payment of {event} to {investor} is already reported undeliverable")]
    AlreadyReported {
        event: EventId,
        investor: InvestorRef,
    },
    #[error("the payment {event} paid nothing to {investor} at {bank}")]
    NotPaid {
        event: EventId,
        investor: InvestorRef,
        bank: ParticipantId,
    },
    #[error("the payment of {event} to {investor} was not reported undeliverable")]
    NotUnclaimed {
        event: EventId,
        investor: InvestorRef,
    },
    #[error("the payment of {event} to {investor} is already claimed (reference {reference:?})")]
    AlreadyClaimed {
        event: EventId,
        investor: InvestorRef,
        reference: String,
    },
    #[error(
        "series {series} has tranche {tranche} in progress ({found}); issue or cancel it before reopening again"
    )]
    TrancheInProgress {
        series: SeriesId,
        tranche: u32,
        found: super::reopening::TrancheStatus,
    },
    #[error(
        "cannot {action} tranche {tranche} of series {series}: it is {found}, and only a tranche that is {needs} can be"
    )]
    WrongTrancheState {
        series: SeriesId,
        tranche: u32,
        action: &'static str,
        needs: &'static str,
        found: super::reopening::TrancheStatus,
    },
    #[error(
        "tranche {tranche} of series {series} can no longer be issued: the record date {record_date} of the next coupon is fixed; cancel the tranche"
    )]
    RecordDatePassed {
        series: SeriesId,
        tranche: u32,
        record_date: NaiveDate,
    },
    // ---- holdings after issue ----
    /// A bank may act only on its own clients' holdings.
    #[error("the holding is at {bank}; {caller} may act only on its own clients' holdings")]
    NotYourHolding {
        bank: ParticipantId,
        caller: ParticipantId,
    },
    #[error("series {series} has no holding of {investor} at {bank}")]
    HoldingNotFound {
        series: SeriesId,
        investor: InvestorRef,
        bank: ParticipantId,
    },
    #[error(
        "series {series} is {found}; holdings change only while a series is issued and not yet matured"
    )]
    SeriesNotLive {
        series: SeriesId,
        found: SeriesStatus,
    },
    #[error("the holding of {investor} at {bank} in series {series} holds no units")]
    EmptyHolding {
        series: SeriesId,
        investor: InvestorRef,
        bank: ParticipantId,
    },
    #[error("the holding of {investor} in series {series} is already registered as {form}")]
    RegistrationUnchanged {
        series: SeriesId,
        investor: InvestorRef,
        form: &'static str,
    },
    /// An investor's subscriptions and holding of one series at one bank share one form.
    #[error(
        "{investor} is registered as {held} in series {series} at this bank; a {asked} registration would need a reference of its own"
    )]
    RegistrationConflict {
        series: SeriesId,
        investor: InvestorRef,
        held: &'static str,
        asked: &'static str,
    },
    #[error(
        "event {event} of series {series} is due and not yet posted; holdings change once the engine has posted it"
    )]
    EventsDue { series: SeriesId, event: EventId },
    #[error(
        "the register of series {series} is closed from the record date {record_date} until the payment of {payment_date}; units move again after it"
    )]
    RegisterClosed {
        series: SeriesId,
        record_date: NaiveDate,
        payment_date: NaiveDate,
    },
    #[error("series {series} allows transfers: {policy}; a {kind} is not among them")]
    TransferNotAllowed {
        series: SeriesId,
        kind: &'static str,
        policy: &'static str,
    },
    #[error(
        "the holding of {investor} at {bank} in series {series} has {available} units {what}; {asked} asked"
    )]
    NotEnoughUnits {
        series: SeriesId,
        investor: InvestorRef,
        bank: ParticipantId,
        asked: u64,
        available: u64,
        what: &'static str,
    },
    #[error(
        "{investor} would hold {total} units of series {series}, outside the per-investor bounds of {min} to {max}"
    )]
    HoldingOutOfBounds {
        series: SeriesId,
        investor: InvestorRef,
        total: u64,
        min: u64,
        max: u64,
    },
    #[error("transfer {transfer} does not exist")]
    TransferNotFound { transfer: u64 },
    #[error(
        "transfer {transfer} delivers from {delivering}; only {needs} may act on it, not {caller}"
    )]
    NotYourTransfer {
        transfer: u64,
        delivering: ParticipantId,
        caller: ParticipantId,
        needs: &'static str,
    },
    #[error("transfer {transfer} is {found}; only a pending transfer can be confirmed or refused")]
    TransferNotPending { transfer: u64, found: &'static str },
    #[error(
        "no holding at {bank} names {owner} as an owner (with units, in a series not yet matured)"
    )]
    UnknownOwner {
        owner: InvestorRef,
        bank: ParticipantId,
    },
    #[error(
        "{units} units of the holding of {investor} in series {series} are promised to a pending transfer; confirm or refuse it first"
    )]
    TransferPending {
        series: SeriesId,
        investor: InvestorRef,
        units: u64,
    },
    #[error("series {series} offers no early redemption{}", reason.map(|r| format!(" for {r}")).unwrap_or_default())]
    EarlyRedemptionNotOffered {
        series: SeriesId,
        reason: Option<&'static str>,
    },
    #[error("series {series} is issued on {issue_date}; nothing is redeemed before")]
    BeforeIssueDate {
        series: SeriesId,
        issue_date: NaiveDate,
    },
    #[error(
        "series {series} is locked up until {until}; redemption on request is possible from then"
    )]
    InsideLockup { series: SeriesId, until: NaiveDate },
    #[error(
        "the holding of {investor} in series {series} inherited nothing; the death put redeems units received by succession"
    )]
    DeathPutNeedsSuccession {
        series: SeriesId,
        investor: InvestorRef,
    },
    #[error(
        "hardship puts of series {series} may redeem {quota} units in {year}; {used} are used and {asked} more asked"
    )]
    HardshipQuotaExhausted {
        series: SeriesId,
        year: i32,
        used: u64,
        quota: u64,
        asked: u64,
    },
    #[error(
        "an early redemption of series {series} would be priced at {price} per unit; the penalty leaves nothing to pay"
    )]
    RedemptionPriceNotPositive {
        series: SeriesId,
        price: rust_decimal::Decimal,
    },

    // ---- the registry itself ----
    /// A readers' copy of the state was asked to decide.
    #[error("this copy of the registry answers queries only; the ledger writer decides commands")]
    ReadersCopy,
}

impl RegistryError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        RegistryError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The accrual engine, or the bond math under it, cannot run `series`.
    pub fn engine(series: &SeriesId, reason: impl std::fmt::Display) -> Self {
        RegistryError::EngineCannotRun {
            series: series.clone(),
            reason: reason.to_string(),
        }
    }

    /// Which refusal this is, without its details.
    pub fn kind(&self) -> RegistryErrorKind {
        self.into()
    }
}

/// An event that cannot be applied to the state: the ledger is inconsistent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("entry {index}: {reason}")]
pub struct ApplyError {
    pub index: u64,
    pub reason: String,
}
