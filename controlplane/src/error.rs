//! The control plane's one error type: a [`Kind`] that decides the gRPC status and a context
//! string for the operator. Every API handler returns [`Error`]; the mapping to
//! `tonic::Status` lives in exactly one place, the API's (`api/status.rs`).

use std::fmt;

/// What went wrong, from the caller's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The request is malformed (bad address, bad page token, invalid rule text).
    InvalidArgument,
    /// The named object does not exist (unknown sid).
    NotFound,
    /// The object exists already (rule sid on add without replace).
    AlreadyExists,
    /// No or unknown credentials.
    Unauthenticated,
    /// Known caller whose role does not allow the call.
    PermissionDenied,
    /// Storage refused a write (full disk, read-only file system).
    Storage,
    /// The database is damaged or of an unknown format.
    Corrupt,
    /// The system is not in a state that allows the call (ruleset does not compile).
    FailedPrecondition,
    /// A dependent part (appliance, compiler) is not available or shutting down.
    Unavailable,
    /// The request was valid but could not be completed now (reload not confirmed).
    Aborted,
    /// A configured cap is reached (the block list is full).
    Full,
    /// A bug or an unexpected condition.
    Internal,
    /// Configuration is invalid.
    Config,
}

impl Kind {
    /// Stable lower-case name, used in audit records and counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::InvalidArgument => "invalid_argument",
            Kind::NotFound => "not_found",
            Kind::AlreadyExists => "already_exists",
            Kind::Unauthenticated => "unauthenticated",
            Kind::PermissionDenied => "permission_denied",
            Kind::Storage => "storage",
            Kind::Corrupt => "corrupt",
            Kind::FailedPrecondition => "failed_precondition",
            Kind::Unavailable => "unavailable",
            Kind::Aborted => "aborted",
            Kind::Full => "full",
            Kind::Internal => "internal",
            Kind::Config => "config",
        }
    }
}

/// An error with its kind and a message that says what and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    pub kind: Kind,
    pub context: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.context)
    }
}

impl Error {
    pub fn new(kind: Kind, context: impl Into<String>) -> Self {
        Error {
            kind,
            context: context.into(),
        }
    }
    pub fn invalid(context: impl Into<String>) -> Self {
        Self::new(Kind::InvalidArgument, context)
    }
    pub fn not_found(context: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, context)
    }
    pub fn internal(context: impl Into<String>) -> Self {
        Self::new(Kind::Internal, context)
    }
    pub fn config(context: impl Into<String>) -> Self {
        Self::new(Kind::Config, context)
    }
    /// Prefixes the context with where it happened.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.context = format!("{what}: {}", self.context);
        self
    }
}

/// Control-plane result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rocksdb::Error> for Error {
    fn from(e: rocksdb::Error) -> Self {
        let msg = e.into_string();
        // RocksDB reports damage as "Corruption: ..." and I/O trouble (ENOSPC, EROFS) as
        // "IO error: ..."; keep the two apart so operators see which one they have.
        let kind = if msg.starts_with("Corruption") {
            Kind::Corrupt
        } else {
            Kind::Storage
        };
        Error::new(kind, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_prefixes() {
        let e = Error::invalid("bad ip").context("address");
        assert_eq!(e.to_string(), "invalid_argument: address: bad ip");
    }
}
