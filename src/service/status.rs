//! The one table from errors to gRPC statuses. Every refusal carries a message a
//! person understands; invalid fields carry a BadRequest detail naming the field.
//! Messages are bounded (`limits::STATUS_MESSAGE_BYTES_MAX`) whatever they quote.

use crate::limits::{STATUS_MESSAGE_BYTES_MAX, STATUS_QUOTE_CHARS_MAX};
use crate::registry::RegistryError;
use crate::store::{StoreError, WriteError};
use std::borrow::Cow;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The status code for each registry refusal.
pub fn registry_code(e: &RegistryError) -> Code {
    match e {
        RegistryError::Invalid { .. } => Code::InvalidArgument,
        RegistryError::NotFound(_) => Code::NotFound,
        RegistryError::AlreadyExists(_) => Code::AlreadyExists,
        RegistryError::FailedPrecondition(_) => Code::FailedPrecondition,
        RegistryError::PermissionDenied(_) => Code::PermissionDenied,
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

    #[test]
    fn every_registry_error_has_its_code() {
        let table = [
            (
                RegistryError::invalid("units", "must be whole"),
                Code::InvalidArgument,
            ),
            (RegistryError::NotFound("x".into()), Code::NotFound),
            (
                RegistryError::AlreadyExists("x".into()),
                Code::AlreadyExists,
            ),
            (
                RegistryError::FailedPrecondition("x".into()),
                Code::FailedPrecondition,
            ),
            (
                RegistryError::PermissionDenied("x".into()),
                Code::PermissionDenied,
            ),
        ];
        for (err, code) in table {
            assert_eq!(registry(&err).code(), code, "{err:?}");
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
                WriteError::Refused(RegistryError::NotFound("x".into())),
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
