//! The one table from errors to gRPC statuses. Every refusal carries a message a
//! person understands; invalid fields carry a BadRequest detail naming the field.
//! Messages are bounded (`limits::STATUS_MESSAGE_BYTES_MAX`) whatever they quote.

use crate::limits::{STATUS_MESSAGE_BYTES_MAX, STATUS_QUOTE_CHARS_MAX};
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
        E::Invalid { .. } => Code::InvalidArgument,
        E::RoleRequired { .. } | E::NotTheOwner { .. } | E::NotYourSubscription { .. } => {
            Code::PermissionDenied
        }
        E::SeriesNotFound { .. }
        | E::SubscriptionNotFound { .. }
        | E::ParticipantNotFound { .. } => Code::NotFound,
        E::SeriesExists { .. }
        | E::ParticipantExists { .. }
        | E::KeyExists { .. }
        | E::RotationKeyExists { .. }
        | E::IdempotencyConflict { .. }
        | E::FixingExists { .. } => Code::AlreadyExists,
        E::ParticipantRevoked { .. }
        | E::LastAdmin { .. }
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
        | E::ReadersCopy => Code::FailedPrecondition,
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

pub fn write(e: &WriteError) -> Status {
    match e {
        WriteError::Refused(r) => registry(r),
        WriteError::Unauthenticated(m) => Status::unauthenticated(m.clone()),
        WriteError::Unavailable(m) => Status::unavailable(m.clone()),
    }
}

pub fn store(e: &StoreError) -> Status {
    match e {
        StoreError::Invalid(m) => Status::invalid_argument(clip(m)),
        StoreError::NotInitialised(_) => Status::failed_precondition(e.to_string()),
        StoreError::Corrupt { .. }
        | StoreError::KeyMismatch { .. }
        | StoreError::AlreadyInitialised(_) => Status::internal(e.to_string()),
        StoreError::Storage(_) => Status::unavailable(e.to_string()),
    }
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
