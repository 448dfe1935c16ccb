//! The one mapping from the control plane's [`Error`] to a gRPC status: its [`Kind`] picks
//! the code, its context is the message.

use crate::error::{Error, Kind};

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        use tonic::Code;
        let code = match e.kind {
            Kind::InvalidArgument => Code::InvalidArgument,
            Kind::NotFound => Code::NotFound,
            Kind::AlreadyExists => Code::AlreadyExists,
            Kind::Unauthenticated => Code::Unauthenticated,
            Kind::PermissionDenied => Code::PermissionDenied,
            // A full disk is a resource problem the operator can fix; say so.
            Kind::Storage | Kind::Full => Code::ResourceExhausted,
            Kind::Corrupt => Code::DataLoss,
            Kind::FailedPrecondition => Code::FailedPrecondition,
            Kind::Unavailable => Code::Unavailable,
            Kind::Aborted => Code::Aborted,
            Kind::Internal | Kind::Config => Code::Internal,
        };
        tonic::Status::new(code, e.context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_distinct_statuses() {
        let s: tonic::Status = Error::not_found("sid 5").into();
        assert_eq!(s.code(), tonic::Code::NotFound);
        assert_eq!(s.message(), "sid 5");
        let s: tonic::Status = Error::new(Kind::Storage, "No space left").into();
        assert_eq!(s.code(), tonic::Code::ResourceExhausted);
        let s: tonic::Status = Error::new(Kind::PermissionDenied, "x").into();
        assert_eq!(s.code(), tonic::Code::PermissionDenied);
    }
}
