//! The one table from errors to gRPC statuses. Every refusal carries a message a
//! person understands; invalid fields carry a BadRequest detail naming the field.

use crate::registry::RegistryError;
use crate::store::{StoreError, WriteError};
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

pub fn registry(e: &RegistryError) -> Status {
    match e {
        RegistryError::Invalid { field, reason } => Status::with_error_details(
            Code::InvalidArgument,
            e.to_string(),
            ErrorDetails::with_bad_request_violation(field.clone(), reason.clone()),
        ),
        _ => Status::new(registry_code(e), e.to_string()),
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
        StoreError::Invalid(m) => Status::invalid_argument(m.clone()),
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
}
