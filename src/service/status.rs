//! The one table from errors to gRPC statuses: every error that reaches a caller
//! (authentication, reads, batches, the registry, the writer, the store, proofs,
//! pricing) is mapped here, each type by one exhaustive `match`, and nowhere else
//! in `service` is a status made. Every refusal carries a message a person
//! understands; invalid fields carry a BadRequest detail naming the field.
//! Messages are bounded (`limits::STATUS_MESSAGE_BYTES_MAX`) whatever they quote.

use super::error::{AuthError, BatchError, ClockError, ReadError, ReadOnlyError};
use crate::ledger::merkle::MerkleError;
use crate::limits::{STATUS_MESSAGE_BYTES_MAX, STATUS_QUOTE_CHARS_MAX};
use crate::pricing::PricingError;
use crate::registry::RegistryError;
use crate::store::{StoreError, WriteError};
use std::borrow::Cow;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The status code for each registry refusal: the one place a refusal's code is
/// chosen.
pub fn registry_code(e: &RegistryError) -> Code {
    use RegistryError as E;
    match e {
        E::Invalid { .. } | E::LedgerKeyUnchanged { .. } | E::DuplicateApproval { .. } => {
            Code::InvalidArgument
        }
        E::NotARecoveryKey { .. } | E::TooFewApprovals { .. } | E::ApprovalSignatureBad { .. } => {
            Code::PermissionDenied
        }
        E::RoleRequired { .. }
        | E::NotTheOwner { .. }
        | E::NotYourSubscription { .. }
        | E::NotYourHolding { .. }
        | E::NotYourTransfer { .. } => Code::PermissionDenied,
        E::SeriesNotFound { .. }
        | E::SubscriptionNotFound { .. }
        | E::ParticipantNotFound { .. }
        | E::HoldingNotFound { .. }
        | E::TransferNotFound { .. }
        | E::UnknownOwner { .. } => Code::NotFound,
        E::SeriesExists { .. }
        | E::ParticipantExists { .. }
        | E::KeyExists { .. }
        | E::RotationKeyExists { .. }
        | E::LedgerKeyReused { .. }
        | E::IdempotencyConflict { .. }
        | E::FixingExists { .. } => Code::AlreadyExists,
        E::ParticipantRevoked { .. }
        | E::LastAdmin { .. }
        | E::NoNextLedgerKey
        | E::NextLedgerKeyDiffers { .. }
        | E::NoRecoveryQuorum
        | E::RecoverySizeMismatch { .. }
        | E::ReplacementKeyNotHeld { .. }
        | E::AwaitingEmergencyRotation { .. }
        | E::NoEmergencyRotation { .. }
        | E::WrongSeriesState { .. }
        | E::OpenAfterWindow { .. }
        | E::BeforeSettlementDeadline { .. }
        | E::NothingToRelease { .. }
        | E::UnsettledAllotments { .. }
        | E::TooLarge { .. }
        | E::SeriesCancelled { .. }
        | E::WindowNotOpen { .. }
        | E::WindowNotYetOpen { .. }
        | E::WindowClosed { .. }
        | E::CategoryNotEligible { .. }
        | E::CountryBarred { .. }
        | E::CountryNotOffered { .. }
        | E::UnderInvestorMinimum { .. }
        | E::OverInvestorLimit { .. }
        | E::BookFull { .. }
        | E::NotWithdrawable { .. }
        | E::WithdrawalWindowClosed { .. }
        | E::NotAwaitingSettlement { .. }
        | E::NotIssued { .. }
        | E::NothingDue { .. }
        | E::NotNextEvent { .. }
        | E::EngineCannotRun { .. }
        | E::NoHoldingsAtBank { .. }
        | E::PaymentNotPosted { .. }
        | E::TrancheInProgress { .. }
        | E::WrongTrancheState { .. }
        | E::RecordDatePassed { .. }
        | E::SeriesNotLive { .. }
        | E::EmptyHolding { .. }
        | E::RegistrationUnchanged { .. }
        | E::RegistrationConflict { .. }
        | E::EventsDue { .. }
        | E::RegisterClosed { .. }
        | E::TransferNotAllowed { .. }
        | E::NotEnoughUnits { .. }
        | E::HoldingOutOfBounds { .. }
        | E::TransferNotPending { .. }
        | E::TransferPending { .. }
        | E::EarlyRedemptionNotOffered { .. }
        | E::BeforeIssueDate { .. }
        | E::InsideLockup { .. }
        | E::DeathPutNeedsSuccession { .. }
        | E::HardshipQuotaExhausted { .. }
        | E::RedemptionPriceNotPositive { .. }
        | E::ReadersCopy => Code::FailedPrecondition,
        E::NotPaid { .. } | E::NotUnclaimed { .. } => Code::NotFound,
        E::AlreadyReported { .. } | E::AlreadyClaimed { .. } => Code::AlreadyExists,
    }
}

/// `message` cut to `STATUS_MESSAGE_BYTES_MAX` at a character boundary, saying so.
pub fn clip(message: &str) -> Cow<'_, str> {
    if message.len() <= STATUS_MESSAGE_BYTES_MAX {
        return Cow::Borrowed(message);
    }
    let mut end = STATUS_MESSAGE_BYTES_MAX;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}… (cut; {} bytes in all)",
        &message[..end],
        message.len()
    ))
}

/// A request's value quoted for a message, shortened beyond
/// `STATUS_QUOTE_CHARS_MAX` characters (with its full length).
pub fn quote(value: &str) -> String {
    match value.char_indices().nth(STATUS_QUOTE_CHARS_MAX) {
        None => format!("{value:?}"),
        Some((end, _)) => format!("{:?}… ({} bytes)", &value[..end], value.len()),
    }
}

pub fn registry(e: &RegistryError) -> Status {
    let message = e.to_string();
    match e {
        RegistryError::Invalid { field, reason } => Status::with_error_details(
            Code::InvalidArgument,
            clip(&message),
            ErrorDetails::with_bad_request_violation(field.as_str(), clip(reason)),
        ),
        _ => Status::new(registry_code(e), clip(&message)),
    }
}

/// A status code's name as the gRPC specification spells it ("INVALID_ARGUMENT").
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A status of `code` whose message is `e`'s, bounded.
fn plain(code: Code, e: &impl std::fmt::Display) -> Status {
    Status::new(code, clip(&e.to_string()))
}

/// The status code for each authentication failure: a request that does not
/// prove who sent it is UNAUTHENTICATED; one that is malformed INVALID_ARGUMENT;
/// one whose sender may not call the RPC PERMISSION_DENIED.
pub fn auth_code(e: &AuthError) -> Code {
    match e {
        AuthError::Unsigned
        | AuthError::NotAKeyId { .. }
        | AuthError::UnknownKey { .. }
        | AuthError::KeyRetired { .. }
        | AuthError::KeyWithoutParticipant { .. }
        | AuthError::ParticipantRevoked { .. }
        | AuthError::BadSignature { .. }
        | AuthError::WrongLedger { .. }
        | AuthError::Stale { .. }
        | AuthError::FromTheFuture { .. }
        | AuthError::Replay => Code::Unauthenticated,
        AuthError::PayloadTooLarge { .. }
        | AuthError::NotAPayload { .. }
        | AuthError::BadIssueTime { .. }
        | AuthError::NonceLength { .. }
        | AuthError::NoCommand
        | AuthError::UnknownFields { .. }
        | AuthError::WrongCommand { .. }
        | AuthError::NotAWrite { .. } => Code::InvalidArgument,
        AuthError::RoleNotAllowed { .. } => Code::PermissionDenied,
        AuthError::UnreadableKey { .. } => Code::Internal,
    }
}

pub fn auth(e: &AuthError) -> Status {
    match e {
        AuthError::BadIssueTime { message } => Status::with_error_details(
            Code::InvalidArgument,
            clip(message),
            ErrorDetails::with_bad_request_violation("issued_at", clip(message)),
        ),
        _ => plain(auth_code(e), e),
    }
}

/// The status code for each refused read.
pub fn read_code(e: &ReadError) -> Code {
    match e {
        ReadError::EntryNotFound { .. }
        | ReadError::SubscriptionNotFound { .. }
        | ReadError::SeriesNotFound { .. }
        | ReadError::NoHolding { .. }
        | ReadError::EventNotPosted { .. }
        | ReadError::NothingPaid { .. } => Code::NotFound,
        ReadError::RangeOutsideLedger { .. }
        | ReadError::TreeBeyondLedger { .. }
        | ReadError::IndexNotInTree { .. } => Code::OutOfRange,
        ReadError::RangeTooLong { .. }
        | ReadError::OldSizeOutOfRange { .. }
        | ReadError::NoReceiptTarget
        | ReadError::PaysNothing { .. }
        | ReadError::BadPageToken => Code::InvalidArgument,
        ReadError::EntryOfAnotherBank { .. }
        | ReadError::ReceiptOfAnotherBank { .. }
        | ReadError::ReceiptForAnotherBanksSubscription { .. }
        | ReadError::ReceiptForAnotherBanksClient { .. }
        | ReadError::SubscriptionOfAnotherBank { .. }
        | ReadError::HoldingsAtAnotherBank { .. }
        | ReadError::ClientsOfAnotherBank { .. } => Code::PermissionDenied,
        ReadError::SeriesNotIssued { .. } | ReadError::NotComputable { .. } => {
            Code::FailedPrecondition
        }
        ReadError::Inconsistent { .. } | ReadError::TaskFailed { .. } => Code::Internal,
    }
}

pub fn read(e: &ReadError) -> Status {
    plain(read_code(e), e)
}

/// The status code for each refused clock move: a production server refuses
/// the control itself; a time that is no time, or before now, is the request's.
pub fn clock_code(e: &ClockError) -> Code {
    match e {
        ClockError::NotSimulated => Code::FailedPrecondition,
        ClockError::BadTime { .. } | ClockError::Backwards { .. } => Code::InvalidArgument,
    }
}

pub fn clock(e: &ClockError) -> Status {
    match e {
        ClockError::BadTime { message } | ClockError::Backwards { message } => {
            Status::with_error_details(
                clock_code(e),
                clip(message),
                ErrorDetails::with_bad_request_violation("to", clip(message)),
            )
        }
        ClockError::NotSimulated => plain(clock_code(e), e),
    }
}

pub fn batch(e: &BatchError) -> Status {
    let code = match e {
        BatchError::TooManyRequests { .. } | BatchError::CountMismatch { .. } => {
            Code::InvalidArgument
        }
        BatchError::CheckFailed { .. } => Code::Internal,
    };
    plain(code, e)
}

/// A write sent to a mirror: the request is fine, the server is the wrong one.
pub fn read_only(e: &ReadOnlyError) -> Status {
    let code = match e {
        ReadOnlyError::Mirror { .. } => Code::FailedPrecondition,
    };
    plain(code, e)
}

pub fn write(e: &WriteError) -> Status {
    match e {
        WriteError::Refused(r) => registry(r),
        WriteError::Unauthenticated(m) => Status::unauthenticated(clip(m)),
        WriteError::Unavailable(m) => Status::unavailable(clip(m)),
    }
}

pub fn store(e: &StoreError) -> Status {
    match e {
        StoreError::Invalid(m) => Status::invalid_argument(clip(m)),
        StoreError::NotInitialised(_) => plain(Code::FailedPrecondition, e),
        StoreError::Corrupt { .. }
        | StoreError::KeyMismatch { .. }
        | StoreError::RotatedOut { .. }
        | StoreError::AlreadyInitialised(_) => plain(Code::Internal, e),
        StoreError::Storage(_) => plain(Code::Unavailable, e),
    }
}

/// A proof the server could not build over its own tree: every case is a fault
/// of the server (requests are checked against the tree's size first).
pub fn proof(e: &MerkleError) -> Status {
    let code = match e {
        MerkleError::IndexOutOfRange { .. }
        | MerkleError::SizeOutOfRange { .. }
        | MerkleError::MissingNode { .. }
        | MerkleError::Storage(_) => Code::Internal,
    };
    Status::new(code, clip(&format!("cannot build proof: {e}")))
}

/// Terms, dates or figures the bond math refuses: the request's values.
pub fn pricing(e: &PricingError) -> Status {
    let code = match e {
        PricingError::InvalidTerms(_)
        | PricingError::Calendar(_)
        | PricingError::Settlement(_)
        | PricingError::MissingFixing { .. }
        | PricingError::YieldOutOfRange(_)
        | PricingError::NoYield(_)
        | PricingError::Overflow(_) => Code::InvalidArgument,
    };
    plain(code, e)
}

macro_rules! into_status {
    ($($error:ty => $map:ident,)*) => {
        $(impl From<$error> for Status {
            fn from(e: $error) -> Status {
                $map(&e)
            }
        })*
    };
}

into_status! {
    AuthError => auth,
    ReadError => read,
    BatchError => batch,
    ReadOnlyError => read_only,
    ClockError => clock,
    RegistryError => registry,
    WriteError => write,
    StoreError => store,
    MerkleError => proof,
    PricingError => pricing,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryErrorKind;

    /// One refusal of each kind and the code users see for it. The match is
    /// exhaustive over the kinds, so a new refusal cannot be left out.
    fn registry_case(kind: RegistryErrorKind) -> (RegistryError, Code) {
        use crate::registry::{
            Country, DiasporaCategory, InvestorRef, ParticipantId, Role, SeriesId, SeriesStatus,
            SubscriptionStatus,
        };
        use RegistryError as E;
        use RegistryErrorKind as K;
        let series = SeriesId::parse("s", "AZ-2032-USD").unwrap();
        let bank = ParticipantId::parse("p", "bank-a").unwrap();
        let investor = InvestorRef::parse("i", "inv-1").unwrap();
        let key = crate::ids::KeyId::parse("0123456789abcdef").unwrap();
        let event: crate::accrual::EventId = "AZ-2032-USD/coupon/1".parse().unwrap();
        let first: crate::accrual::EventId = "AZ-2032-USD/record/1".parse().unwrap();
        let date = chrono::NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        let time = date.and_hms_opt(12, 0, 0).unwrap().and_utc();
        let country = Country::parse("c", "IR").unwrap();
        let (fp, nf, ae, pd) = (
            Code::FailedPrecondition,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
        );
        match kind {
            K::Invalid => (
                RegistryError::invalid("units", "must be whole"),
                Code::InvalidArgument,
            ),
            K::RoleRequired => (
                E::RoleRequired {
                    action: "creating a series",
                    needs: Role::Treasury,
                    caller: bank,
                    role: Role::Bank,
                },
                pd,
            ),
            K::NotTheOwner => (
                E::NotTheOwner {
                    participant: bank.clone(),
                    caller: bank,
                },
                pd,
            ),
            K::NotYourSubscription => (
                E::NotYourSubscription {
                    subscription: 7,
                    caller: bank,
                },
                pd,
            ),
            K::SeriesNotFound => (E::SeriesNotFound { series }, nf),
            K::SubscriptionNotFound => (E::SubscriptionNotFound { subscription: 7 }, nf),
            K::ParticipantNotFound => (E::ParticipantNotFound { participant: bank }, nf),
            K::SeriesExists => (E::SeriesExists { series }, ae),
            K::ParticipantExists => (E::ParticipantExists { participant: bank }, ae),
            K::KeyExists => (E::KeyExists { key }, ae),
            K::RotationKeyExists => (E::RotationKeyExists { key }, ae),
            K::IdempotencyConflict => (
                E::IdempotencyConflict {
                    key: "k1".into(),
                    subscription: 7,
                },
                ae,
            ),
            K::FixingExists => (
                E::FixingExists {
                    reference: "euribor-6m".into(),
                    date,
                },
                ae,
            ),
            K::ParticipantRevoked => (E::ParticipantRevoked { participant: bank }, fp),
            K::LastAdmin => (E::LastAdmin { participant: bank }, fp),
            K::LedgerKeyUnchanged => (
                E::LedgerKeyUnchanged { key: key.clone() },
                Code::InvalidArgument,
            ),
            K::LedgerKeyReused => (
                E::LedgerKeyReused {
                    key: key.clone(),
                    from_index: 0,
                },
                ae,
            ),
            K::NoNextLedgerKey => (E::NoNextLedgerKey, fp),
            K::NoRecoveryQuorum => (E::NoRecoveryQuorum, fp),
            K::RecoverySizeMismatch => (
                E::RecoverySizeMismatch {
                    approved: 3,
                    size: 4,
                },
                fp,
            ),
            K::NotARecoveryKey => (
                E::NotARecoveryKey {
                    key: key.clone(),
                    set_at: 2,
                },
                pd,
            ),
            K::DuplicateApproval => (
                E::DuplicateApproval { key: key.clone() },
                Code::InvalidArgument,
            ),
            K::TooFewApprovals => (
                E::TooFewApprovals {
                    given: 1,
                    threshold: 2,
                    keys: 3,
                },
                pd,
            ),
            K::ApprovalSignatureBad => (
                E::ApprovalSignatureBad {
                    key: key.clone(),
                    new_key: key.clone(),
                    after_size: 3,
                },
                pd,
            ),
            K::ReplacementKeyNotHeld => (
                E::ReplacementKeyNotHeld {
                    named: key.clone(),
                    held: key.clone(),
                },
                fp,
            ),
            K::NoEmergencyRotation => (
                E::NoEmergencyRotation {
                    in_force: key.clone(),
                },
                fp,
            ),
            K::AwaitingEmergencyRotation => (
                E::AwaitingEmergencyRotation {
                    held: key.clone(),
                    in_force: key.clone(),
                },
                fp,
            ),
            K::NextLedgerKeyDiffers => (
                E::NextLedgerKeyDiffers {
                    named: key.clone(),
                    held: key,
                },
                fp,
            ),
            K::WrongSeriesState => (
                E::WrongSeriesState {
                    series,
                    action: "open",
                    needs: "draft",
                    found: SeriesStatus::Open,
                },
                fp,
            ),
            K::OpenAfterWindow => (
                E::OpenAfterWindow {
                    series,
                    closed_at: time,
                },
                fp,
            ),
            K::BeforeSettlementDeadline => (
                E::BeforeSettlementDeadline {
                    series,
                    deadline: time,
                },
                fp,
            ),
            K::NothingToRelease => (E::NothingToRelease { series }, fp),
            K::UnsettledAllotments => (E::UnsettledAllotments { series, count: 2 }, fp),
            K::TooLarge => (
                E::TooLarge {
                    series,
                    what: "the units subscribed".into(),
                },
                fp,
            ),
            K::SeriesCancelled => (E::SeriesCancelled { series }, fp),
            K::WindowNotOpen => (
                E::WindowNotOpen {
                    series,
                    found: SeriesStatus::Closed,
                },
                fp,
            ),
            K::WindowNotYetOpen => (
                E::WindowNotYetOpen {
                    series,
                    opens_at: time,
                },
                fp,
            ),
            K::WindowClosed => (
                E::WindowClosed {
                    series,
                    closed_at: time,
                },
                fp,
            ),
            K::CategoryNotEligible => (
                E::CategoryNotEligible {
                    series,
                    category: DiasporaCategory::Affinity,
                    eligible: "citizen_abroad".into(),
                },
                fp,
            ),
            K::CountryBarred => (E::CountryBarred { series, country }, fp),
            K::CountryNotOffered => (E::CountryNotOffered { series, country }, fp),
            K::UnderInvestorMinimum => (
                E::UnderInvestorMinimum {
                    investor,
                    series,
                    total: 1,
                    min: 2,
                },
                fp,
            ),
            K::OverInvestorLimit => (
                E::OverInvestorLimit {
                    investor,
                    series,
                    total: 101,
                    held: 60,
                    max: 100,
                },
                fp,
            ),
            K::BookFull => (
                E::BookFull {
                    series,
                    subscribed: 999_999_999_990,
                    units: 11,
                },
                fp,
            ),
            K::NotWithdrawable => (
                E::NotWithdrawable {
                    subscription: 7,
                    found: SubscriptionStatus::Allotted,
                },
                fp,
            ),
            K::WithdrawalWindowClosed => (E::WithdrawalWindowClosed { series }, fp),
            K::NotAwaitingSettlement => (
                E::NotAwaitingSettlement {
                    subscription: 7,
                    found: SubscriptionStatus::Submitted,
                    allotted: 0,
                },
                fp,
            ),
            K::NotIssued => (
                E::NotIssued {
                    series,
                    found: SeriesStatus::Open,
                },
                fp,
            ),
            K::NothingDue => (
                E::NothingDue {
                    series,
                    through: date,
                    event,
                },
                fp,
            ),
            K::NotNextEvent => (
                E::NotNextEvent {
                    asked: event,
                    first,
                },
                fp,
            ),
            K::EngineCannotRun => (RegistryError::engine(&series, "no fixing"), fp),
            K::NoHoldingsAtBank => (E::NoHoldingsAtBank { investor, bank }, fp),
            K::PaymentNotPosted => (E::PaymentNotPosted { event }, fp),
            K::AlreadyReported => (E::AlreadyReported { event, investor }, ae),
            K::NotPaid => (
                E::NotPaid {
                    event,
                    investor,
                    bank,
                },
                nf,
            ),
            K::NotUnclaimed => (E::NotUnclaimed { event, investor }, nf),
            K::AlreadyClaimed => (
                E::AlreadyClaimed {
                    event,
                    investor,
                    reference: "PAY-1".into(),
                },
                ae,
            ),
            K::TrancheInProgress => (
                E::TrancheInProgress {
                    series,
                    tranche: 1,
                    found: crate::registry::reopening::TrancheStatus::Open,
                },
                fp,
            ),
            K::WrongTrancheState => (
                E::WrongTrancheState {
                    series,
                    tranche: 1,
                    action: "allot",
                    needs: "closed",
                    found: crate::registry::reopening::TrancheStatus::Open,
                },
                fp,
            ),
            K::RecordDatePassed => (
                E::RecordDatePassed {
                    series,
                    tranche: 1,
                    record_date: date,
                },
                fp,
            ),
            K::NotYourHolding => (
                E::NotYourHolding {
                    bank: bank.clone(),
                    caller: bank,
                },
                pd,
            ),
            K::HoldingNotFound => (
                E::HoldingNotFound {
                    series,
                    investor,
                    bank,
                },
                nf,
            ),
            K::SeriesNotLive => (
                E::SeriesNotLive {
                    series,
                    found: SeriesStatus::Matured,
                },
                fp,
            ),
            K::EmptyHolding => (
                E::EmptyHolding {
                    series,
                    investor,
                    bank,
                },
                fp,
            ),
            K::RegistrationUnchanged => (
                E::RegistrationUnchanged {
                    series,
                    investor,
                    form: "sole",
                },
                fp,
            ),
            K::RegistrationConflict => (
                E::RegistrationConflict {
                    series,
                    investor,
                    held: "sole",
                    asked: "joint",
                },
                fp,
            ),
            K::EventsDue => (E::EventsDue { series, event }, fp),
            K::RegisterClosed => (
                E::RegisterClosed {
                    series,
                    record_date: date,
                    payment_date: date,
                },
                fp,
            ),
            K::TransferNotAllowed => (
                E::TransferNotAllowed {
                    series,
                    kind: "gift",
                    policy: "none",
                },
                fp,
            ),
            K::NotEnoughUnits => (
                E::NotEnoughUnits {
                    series,
                    investor,
                    bank,
                    asked: 5,
                    available: 3,
                    what: "free (not pending)",
                },
                fp,
            ),
            K::HoldingOutOfBounds => (
                E::HoldingOutOfBounds {
                    series,
                    investor,
                    total: 101,
                    min: 1,
                    max: 100,
                },
                fp,
            ),
            K::TransferNotFound => (E::TransferNotFound { transfer: 7 }, nf),
            K::NotYourTransfer => (
                E::NotYourTransfer {
                    transfer: 7,
                    delivering: bank.clone(),
                    caller: bank,
                    needs: "the delivering bank",
                },
                pd,
            ),
            K::TransferNotPending => (
                E::TransferNotPending {
                    transfer: 7,
                    found: "confirmed",
                },
                fp,
            ),
            K::UnknownOwner => (
                E::UnknownOwner {
                    owner: investor,
                    bank,
                },
                nf,
            ),
            K::TransferPending => (
                E::TransferPending {
                    series,
                    investor,
                    units: 3,
                },
                fp,
            ),
            K::EarlyRedemptionNotOffered => (
                E::EarlyRedemptionNotOffered {
                    series,
                    reason: Some("hardship"),
                },
                fp,
            ),
            K::BeforeIssueDate => (
                E::BeforeIssueDate {
                    series,
                    issue_date: date,
                },
                fp,
            ),
            K::InsideLockup => (
                E::InsideLockup {
                    series,
                    until: date,
                },
                fp,
            ),
            K::DeathPutNeedsSuccession => (E::DeathPutNeedsSuccession { series, investor }, fp),
            K::HardshipQuotaExhausted => (
                E::HardshipQuotaExhausted {
                    series,
                    year: 2027,
                    used: 50,
                    quota: 50,
                    asked: 1,
                },
                fp,
            ),
            K::RedemptionPriceNotPositive => (
                E::RedemptionPriceNotPositive {
                    series,
                    price: rust_decimal::Decimal::ZERO,
                },
                fp,
            ),
            K::ReadersCopy => (E::ReadersCopy, fp),
        }
    }

    #[test]
    fn every_registry_error_has_its_code() {
        use strum::IntoEnumIterator;
        for kind in RegistryErrorKind::iter() {
            let (err, code) = registry_case(kind);
            assert_eq!(err.kind(), kind, "the case of {kind:?} is of its kind");
            assert_eq!(registry_code(&err), code, "{err:?}");
            let st = registry(&err);
            assert_eq!(st.code(), code, "{err:?}");
            let message = st.message();
            assert_eq!(message, err.to_string());
            assert!(
                !message.is_empty()
                    && !message.ends_with('.')
                    && !message.starts_with(char::is_uppercase),
                "{kind:?}: lowercase, no trailing period: {message:?}"
            );
            assert_eq!(
                st.get_details_bad_request().is_some(),
                kind == RegistryErrorKind::Invalid,
                "{kind:?}: only an invalid field carries a BadRequest"
            );
        }
        let st = registry(&RegistryError::invalid("units", "must be whole"));
        let details = st.get_details_bad_request().expect("bad request detail");
        assert_eq!(details.field_violations[0].field, "units");
        let write_table = [
            (
                WriteError::Unauthenticated("x".into()),
                Code::Unauthenticated,
            ),
            (WriteError::Unavailable("x".into()), Code::Unavailable),
            (
                WriteError::Refused(RegistryError::SubscriptionNotFound { subscription: 7 }),
                Code::NotFound,
            ),
        ];
        for (err, code) in write_table {
            assert_eq!(write(&err).code(), code, "{err:?}");
        }
    }

    /// What each authentication failure must answer, written out apart from the
    /// table: every variant is walked (strum), so a new one fails to build here
    /// until its row is added.
    fn expected_auth(e: &AuthError) -> Code {
        use AuthError as A;
        match e {
            A::Unsigned => Code::Unauthenticated,
            A::PayloadTooLarge { .. } => Code::InvalidArgument,
            A::NotAKeyId { .. } => Code::Unauthenticated,
            A::UnknownKey { .. } => Code::Unauthenticated,
            A::KeyRetired { .. } => Code::Unauthenticated,
            A::KeyWithoutParticipant { .. } => Code::Unauthenticated,
            A::ParticipantRevoked { .. } => Code::Unauthenticated,
            A::UnreadableKey { .. } => Code::Internal,
            A::BadSignature { .. } => Code::Unauthenticated,
            A::NotAPayload { .. } => Code::InvalidArgument,
            A::WrongLedger { .. } => Code::Unauthenticated,
            A::BadIssueTime { .. } => Code::InvalidArgument,
            A::Stale { .. } => Code::Unauthenticated,
            A::FromTheFuture { .. } => Code::Unauthenticated,
            A::NonceLength { .. } => Code::InvalidArgument,
            A::NoCommand => Code::InvalidArgument,
            A::UnknownFields { .. } => Code::InvalidArgument,
            A::WrongCommand { .. } => Code::InvalidArgument,
            A::NotAWrite { .. } => Code::InvalidArgument,
            A::RoleNotAllowed { .. } => Code::PermissionDenied,
            A::Replay => Code::Unauthenticated,
        }
    }

    fn expected_read(e: &ReadError) -> Code {
        use ReadError as R;
        match e {
            R::EntryNotFound { .. } => Code::NotFound,
            R::RangeOutsideLedger { .. } => Code::OutOfRange,
            R::RangeTooLong { .. } => Code::InvalidArgument,
            R::TreeBeyondLedger { .. } => Code::OutOfRange,
            R::IndexNotInTree { .. } => Code::OutOfRange,
            R::OldSizeOutOfRange { .. } => Code::InvalidArgument,
            R::NoReceiptTarget => Code::InvalidArgument,
            R::EntryOfAnotherBank { .. } => Code::PermissionDenied,
            R::ReceiptOfAnotherBank { .. } => Code::PermissionDenied,
            R::ReceiptForAnotherBanksSubscription { .. } => Code::PermissionDenied,
            R::ReceiptForAnotherBanksClient { .. } => Code::PermissionDenied,
            R::SubscriptionOfAnotherBank { .. } => Code::PermissionDenied,
            R::HoldingsAtAnotherBank { .. } => Code::PermissionDenied,
            R::ClientsOfAnotherBank { .. } => Code::PermissionDenied,
            R::SubscriptionNotFound { .. } => Code::NotFound,
            R::SeriesNotFound { .. } => Code::NotFound,
            R::SeriesNotIssued { .. } => Code::FailedPrecondition,
            R::NoHolding { .. } => Code::NotFound,
            R::EventNotPosted { .. } => Code::NotFound,
            R::PaysNothing { .. } => Code::InvalidArgument,
            R::NothingPaid { .. } => Code::NotFound,
            R::BadPageToken => Code::InvalidArgument,
            R::NotComputable { .. } => Code::FailedPrecondition,
            R::Inconsistent { .. } => Code::Internal,
            R::TaskFailed { .. } => Code::Internal,
        }
    }

    fn expected_clock(e: &ClockError) -> Code {
        match e {
            ClockError::NotSimulated => Code::FailedPrecondition,
            ClockError::BadTime { .. } => Code::InvalidArgument,
            ClockError::Backwards { .. } => Code::InvalidArgument,
        }
    }

    fn expected_batch(e: &BatchError) -> Code {
        match e {
            BatchError::TooManyRequests { .. } => Code::InvalidArgument,
            BatchError::CountMismatch { .. } => Code::InvalidArgument,
            BatchError::CheckFailed { .. } => Code::Internal,
        }
    }

    /// Every variant of `E` (walked by strum) answers `expected`'s code, through
    /// `Status::from`, with the error's own message.
    fn walk<E>(expected: fn(&E) -> Code) -> usize
    where
        E: strum::IntoEnumIterator + std::fmt::Display + std::fmt::Debug + Clone,
        Status: From<E>,
    {
        let mut walked = 0;
        for e in E::iter() {
            let st = Status::from(e.clone());
            assert_eq!(st.code(), expected(&e), "{e:?}");
            assert_eq!(st.message(), e.to_string(), "{e:?}");
            walked += 1;
        }
        walked
    }

    fn expected_read_only(e: &ReadOnlyError) -> Code {
        match e {
            ReadOnlyError::Mirror { .. } => Code::FailedPrecondition,
        }
    }

    #[test]
    fn every_auth_read_and_batch_error_has_its_code() {
        assert_eq!(walk(expected_auth), 21);
        assert_eq!(walk(expected_read), 25);
        assert_eq!(walk(expected_batch), 3);
        assert_eq!(walk(expected_read_only), 1);
        assert_eq!(walk(expected_clock), 3);
        let st = auth(&AuthError::BadIssueTime {
            message: "issued_at: timestamp is required".into(),
        });
        let details = st.get_details_bad_request().expect("bad request detail");
        assert_eq!(details.field_violations[0].field, "issued_at");
        let st = auth(&AuthError::RoleNotAllowed {
            rpc: "ListHolders",
            allowed: crate::service::rpc::OVERSEERS,
            participant_id: "bank-a".into(),
            role: "bank".into(),
        });
        assert_eq!(
            st.message(),
            "ListHolders is for admin, treasury, auditor, engine; bank-a is bank"
        );
    }

    /// Each of the store's, the writer's, the proofs' and the pricing's errors, in
    /// a sample of every variant beside the code it must answer. These types live
    /// below the service: a new variant stops `expected_*` from building here
    /// until its row (and its sample) are added.
    fn expected_store(e: &StoreError) -> Code {
        match e {
            StoreError::Storage(_) => Code::Unavailable,
            StoreError::Corrupt { .. } => Code::Internal,
            StoreError::NotInitialised(_) => Code::FailedPrecondition,
            StoreError::AlreadyInitialised(_) => Code::Internal,
            StoreError::KeyMismatch { .. } => Code::Internal,
            StoreError::RotatedOut { .. } => Code::Internal,
            StoreError::Invalid(_) => Code::InvalidArgument,
        }
    }

    fn every_store_error() -> Vec<StoreError> {
        vec![
            StoreError::Storage("disk".into()),
            StoreError::Corrupt {
                index: 3,
                reason: "hash".into(),
            },
            StoreError::NotInitialised("/x".into()),
            StoreError::AlreadyInitialised("/x".into()),
            StoreError::KeyMismatch {
                expected: "a".into(),
                found: "b".into(),
            },
            StoreError::RotatedOut {
                given: "a".into(),
                in_force: "b".into(),
                from_index: 4,
            },
            StoreError::Invalid("bad".into()),
        ]
    }

    fn expected_write(e: &WriteError) -> Code {
        match e {
            WriteError::Refused(r) => registry_code(r),
            WriteError::Unauthenticated(_) => Code::Unauthenticated,
            WriteError::Unavailable(_) => Code::Unavailable,
        }
    }

    fn every_write_error() -> Vec<WriteError> {
        vec![
            WriteError::Refused(RegistryError::invalid("units", "must be whole")),
            WriteError::Unauthenticated("key revoked".into()),
            WriteError::Unavailable("stopped".into()),
        ]
    }

    fn expected_proof(e: &MerkleError) -> Code {
        match e {
            MerkleError::IndexOutOfRange { .. }
            | MerkleError::SizeOutOfRange { .. }
            | MerkleError::MissingNode { .. }
            | MerkleError::Storage(_) => Code::Internal,
        }
    }

    fn every_proof_error() -> Vec<MerkleError> {
        vec![
            MerkleError::IndexOutOfRange { index: 5, size: 4 },
            MerkleError::SizeOutOfRange {
                old_size: 0,
                new_size: 4,
            },
            MerkleError::MissingNode { level: 1, index: 2 },
            MerkleError::Storage("gone".into()),
        ]
    }

    fn expected_pricing(e: &PricingError) -> Code {
        match e {
            PricingError::InvalidTerms(_)
            | PricingError::Calendar(_)
            | PricingError::Settlement(_)
            | PricingError::MissingFixing { .. }
            | PricingError::YieldOutOfRange(_)
            | PricingError::NoYield(_)
            | PricingError::Overflow(_) => Code::InvalidArgument,
        }
    }

    fn every_pricing_error() -> Vec<PricingError> {
        let day = chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap();
        vec![
            PricingError::InvalidTerms("x".into()),
            PricingError::Calendar(crate::calendar::CalendarError::IcmaNeedsSchedule),
            PricingError::Settlement("x".into()),
            PricingError::MissingFixing { accrual_start: day },
            PricingError::YieldOutOfRange(rust_decimal::Decimal::TEN),
            PricingError::NoYield("x".into()),
            PricingError::Overflow("x".into()),
        ]
    }

    /// Distinct variants in `samples`, each answering `expected`'s code.
    fn sampled<E>(samples: Vec<E>, expected: fn(&E) -> Code) -> usize
    where
        E: std::fmt::Debug,
        Status: From<E>,
    {
        let kinds: std::collections::HashSet<_> =
            samples.iter().map(std::mem::discriminant).collect();
        assert_eq!(kinds.len(), samples.len(), "one sample per variant");
        for e in samples {
            let code = expected(&e);
            let label = format!("{e:?}");
            assert_eq!(Status::from(e).code(), code, "{label}");
        }
        kinds.len()
    }

    #[test]
    fn every_store_write_proof_and_pricing_error_has_its_code() {
        assert_eq!(sampled(every_store_error(), expected_store), 7);
        assert_eq!(sampled(every_write_error(), expected_write), 3);
        assert_eq!(sampled(every_proof_error(), expected_proof), 4);
        assert_eq!(sampled(every_pricing_error(), expected_pricing), 7);
        let st = proof(&MerkleError::MissingNode { level: 1, index: 2 });
        assert!(
            st.message().starts_with("cannot build proof: "),
            "{}",
            st.message()
        );
    }

    /// The variant name of an error, from its `Debug` form.
    fn variant(e: &impl std::fmt::Debug) -> String {
        format!("{e:?}")
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// docs/ERRORS.md's tables: `Type::Variant` -> the status column.
    fn documented_refusals() -> std::collections::BTreeMap<String, String> {
        include_str!("../../docs/ERRORS.md")
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
                (cells[0].trim_matches('`').to_string(), cells[1].to_string())
            })
            .collect()
    }

    /// Every variant of every error type a client can meet has its row in
    /// docs/ERRORS.md with the code this table gives it, and every row names a
    /// variant that exists.
    #[test]
    fn every_refusal_in_docs_errors_md_has_its_code() {
        use strum::IntoEnumIterator;
        let mut expected: Vec<(String, String)> = Vec::new();
        let mut row = |ty: &str, name: String, code: Code| {
            expected.push((format!("{ty}::{name}"), code_name(code).to_string()));
        };
        for kind in RegistryErrorKind::iter() {
            let (e, _) = registry_case(kind);
            row("RegistryError", format!("{kind:?}"), registry_code(&e));
        }
        for e in AuthError::iter() {
            row("AuthError", variant(&e), auth_code(&e));
        }
        for e in ReadError::iter() {
            row("ReadError", variant(&e), read_code(&e));
        }
        for e in BatchError::iter() {
            row("BatchError", variant(&e), batch(&e).code());
        }
        for e in ClockError::iter() {
            row("ClockError", variant(&e), clock_code(&e));
        }
        for e in ReadOnlyError::iter() {
            row("ReadOnlyError", variant(&e), read_only(&e).code());
        }
        for e in every_store_error() {
            row("StoreError", variant(&e), store(&e).code());
        }
        for e in every_proof_error() {
            row("MerkleError", variant(&e), proof(&e).code());
        }
        for e in every_pricing_error() {
            row("PricingError", variant(&e), pricing(&e).code());
        }
        for e in every_write_error() {
            let code = match &e {
                WriteError::Refused(_) => "the code of its `RegistryError`".to_string(),
                other => code_name(write(other).code()).to_string(),
            };
            expected.push((format!("WriteError::{}", variant(&e)), code));
        }
        let documented = documented_refusals();
        let mut missing = Vec::new();
        for (name, code) in &expected {
            match documented.get(name) {
                Some(doc) if doc == code => {}
                Some(doc) => missing.push(format!("{name}: the page says {doc}, the code {code}")),
                None => missing.push(format!("{name}: no row (its code is {code})")),
            }
        }
        let known: std::collections::BTreeSet<&String> = expected.iter().map(|(n, _)| n).collect();
        for name in documented.keys().filter(|n| !known.contains(n)) {
            missing.push(format!("{name}: a row for no error"));
        }
        assert!(
            missing.is_empty(),
            "docs/ERRORS.md disagrees with the code:\n{}",
            missing.join("\n")
        );
        assert!(expected.len() > 100, "every type was walked");
    }

    #[test]
    fn messages_are_bounded_whatever_they_quote() {
        let huge = "é".repeat(100_000);
        let st = registry(&RegistryError::invalid(
            "series_id",
            format!("must be short, found {huge:?}"),
        ));
        assert!(
            st.message().len() < STATUS_MESSAGE_BYTES_MAX + 64,
            "{}",
            st.message().len()
        );
        assert!(st.message().starts_with("series_id: must be short, found"));
        assert!(st.message().ends_with("bytes in all)"));
        let details = st.get_details_bad_request().expect("bad request detail");
        assert!(details.field_violations[0].description.len() < STATUS_MESSAGE_BYTES_MAX + 64);
        assert_eq!(clip("short"), "short");
        assert_eq!(quote("ab"), "\"ab\"");
        let q = quote(&huge);
        assert!(
            q.starts_with(&format!("\"{}\"…", "é".repeat(STATUS_QUOTE_CHARS_MAX))),
            "{q}"
        );
        assert!(q.ends_with("(200000 bytes)"), "{q}");
    }
}
