//! Registry errors: refusals of a command (the caller's fault or the state's) and
//! apply failures (the ledger disagrees with itself: corruption, loud).

/// Why a command was refused. Nothing was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// A field is malformed or out of range.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The command is well formed but not allowed in the current state.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller's role may not do this.
    #[error("{0}")]
    PermissionDenied(String),
}

impl RegistryError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        RegistryError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// An event that cannot be applied to the state: the ledger is inconsistent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("entry {index}: {reason}")]
pub struct ApplyError {
    pub index: u64,
    pub reason: String,
}
