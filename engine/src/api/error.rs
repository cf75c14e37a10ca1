//! The one error type of the Kinesis surface: a variant per AWS exception.
//!
//! Every variant carries the message AWS would send. [`Error::code`] gives the exception
//! name exactly as it appears in the wire protocol's `__type` field and in PutRecords'
//! per-entry `ErrorCode`. Errors that come from below the API (disk, network) keep their
//! source in [`Error::Internal`], which answers `InternalFailure` on the wire.

use std::fmt;

/// The boxed source of an internal error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A Kinesis error: the AWS exception name (one variant each) and its message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `ResourceNotFoundException`: the stream, shard or consumer does not exist.
    #[error("ResourceNotFoundException: {0}")]
    ResourceNotFound(String),
    /// `ResourceInUseException`: the resource exists already or is not in a state that allows the call.
    #[error("ResourceInUseException: {0}")]
    ResourceInUse(String),
    /// `InvalidArgumentException`: a parameter is valid in form but not in meaning.
    #[error("InvalidArgumentException: {0}")]
    InvalidArgument(String),
    /// `LimitExceededException`: an account or stream limit would be exceeded.
    #[error("LimitExceededException: {0}")]
    LimitExceeded(String),
    /// `ExpiredIteratorException`: the shard iterator is older than five minutes.
    #[error("ExpiredIteratorException: {0}")]
    ExpiredIterator(String),
    /// `ExpiredNextTokenException`: a pagination token is older than it may be.
    #[error("ExpiredNextTokenException: {0}")]
    ExpiredNextToken(String),
    /// `ProvisionedThroughputExceededException`: a shard's read or write limit was hit.
    #[error("ProvisionedThroughputExceededException: {0}")]
    ProvisionedThroughputExceeded(String),
    /// `ValidationException`: a parameter failed its declared constraints.
    #[error("ValidationException: {0}")]
    Validation(String),
    /// `AccessDeniedException`: the caller may not perform the action.
    #[error("AccessDeniedException: {0}")]
    AccessDenied(String),
    /// `KMSAccessDeniedException`.
    #[error("KMSAccessDeniedException: {0}")]
    KmsAccessDenied(String),
    /// `KMSDisabledException`.
    #[error("KMSDisabledException: {0}")]
    KmsDisabled(String),
    /// `KMSInvalidStateException`.
    #[error("KMSInvalidStateException: {0}")]
    KmsInvalidState(String),
    /// `KMSNotFoundException`.
    #[error("KMSNotFoundException: {0}")]
    KmsNotFound(String),
    /// `KMSOptInRequired`.
    #[error("KMSOptInRequired: {0}")]
    KmsOptInRequired(String),
    /// `KMSThrottlingException`.
    #[error("KMSThrottlingException: {0}")]
    KmsThrottling(String),
    /// `InternalFailure`: the service failed; the source, when there is one, says why.
    #[error("InternalFailure: {message}")]
    Internal {
        /// What failed, for the caller.
        message: String,
        /// The underlying error (I/O, SQLite, transport), if any.
        #[source]
        source: Option<BoxError>,
    },
    /// An exception this crate has no variant for (for example from a newer service).
    #[error("{code}: {message}")]
    Other {
        /// The exception name as the service sent it.
        code: String,
        /// The message as the service sent it.
        message: String,
    },
}

impl Error {
    /// The AWS exception name, as sent in `__type` and in per-entry `ErrorCode`s.
    pub fn code(&self) -> &str {
        match self {
            Error::ResourceNotFound(_) => "ResourceNotFoundException",
            Error::ResourceInUse(_) => "ResourceInUseException",
            Error::InvalidArgument(_) => "InvalidArgumentException",
            Error::LimitExceeded(_) => "LimitExceededException",
            Error::ExpiredIterator(_) => "ExpiredIteratorException",
            Error::ExpiredNextToken(_) => "ExpiredNextTokenException",
            Error::ProvisionedThroughputExceeded(_) => "ProvisionedThroughputExceededException",
            Error::Validation(_) => "ValidationException",
            Error::AccessDenied(_) => "AccessDeniedException",
            Error::KmsAccessDenied(_) => "KMSAccessDeniedException",
            Error::KmsDisabled(_) => "KMSDisabledException",
            Error::KmsInvalidState(_) => "KMSInvalidStateException",
            Error::KmsNotFound(_) => "KMSNotFoundException",
            Error::KmsOptInRequired(_) => "KMSOptInRequired",
            Error::KmsThrottling(_) => "KMSThrottlingException",
            Error::Internal { .. } => "InternalFailure",
            Error::Other { code, .. } => code,
        }
    }

    /// The message alone, without the exception name.
    pub fn message(&self) -> &str {
        match self {
            Error::ResourceNotFound(m)
            | Error::ResourceInUse(m)
            | Error::InvalidArgument(m)
            | Error::LimitExceeded(m)
            | Error::ExpiredIterator(m)
            | Error::ExpiredNextToken(m)
            | Error::ProvisionedThroughputExceeded(m)
            | Error::Validation(m)
            | Error::AccessDenied(m)
            | Error::KmsAccessDenied(m)
            | Error::KmsDisabled(m)
            | Error::KmsInvalidState(m)
            | Error::KmsNotFound(m)
            | Error::KmsOptInRequired(m)
            | Error::KmsThrottling(m) => m,
            Error::Internal { message, .. } | Error::Other { message, .. } => message,
        }
    }

    /// Rebuilds an error from an exception name and message, as received on the wire.
    pub fn from_code(code: &str, message: impl Into<String>) -> Error {
        let m = message.into();
        // Some services send `namespace#Name` or a trailing `:url`; keep the name only.
        let name = code.rsplit('#').next().unwrap_or(code);
        let name = name.split(':').next().unwrap_or(name);
        match name {
            "ResourceNotFoundException" => Error::ResourceNotFound(m),
            "ResourceInUseException" => Error::ResourceInUse(m),
            "InvalidArgumentException" => Error::InvalidArgument(m),
            "LimitExceededException" => Error::LimitExceeded(m),
            "ExpiredIteratorException" => Error::ExpiredIterator(m),
            "ExpiredNextTokenException" => Error::ExpiredNextToken(m),
            "ProvisionedThroughputExceededException" => Error::ProvisionedThroughputExceeded(m),
            "ValidationException" => Error::Validation(m),
            "AccessDeniedException" => Error::AccessDenied(m),
            "KMSAccessDeniedException" => Error::KmsAccessDenied(m),
            "KMSDisabledException" => Error::KmsDisabled(m),
            "KMSInvalidStateException" => Error::KmsInvalidState(m),
            "KMSNotFoundException" => Error::KmsNotFound(m),
            "KMSOptInRequired" => Error::KmsOptInRequired(m),
            "KMSThrottlingException" => Error::KmsThrottling(m),
            "InternalFailure" | "InternalFailureException" => Error::Internal {
                message: m,
                source: None,
            },
            other => Error::Other {
                code: other.to_string(),
                message: m,
            },
        }
    }

    /// An `InternalFailure` that keeps its source.
    pub fn internal(message: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::Internal {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Whether retrying the same call later may succeed: throttling and internal failures,
    /// and the transient errors a real service or its front end sends under codes of their
    /// own (kept as [`Error::Other`]): `ServiceUnavailable` (HTTP 503), `ThrottlingException`
    /// and other `Throttl*` codes, `RequestTimeout*`, `InternalServerError`, `SlowDown`.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::ProvisionedThroughputExceeded(_)
            | Error::LimitExceeded(_)
            | Error::Internal { .. }
            | Error::KmsThrottling(_) => true,
            Error::Other { code, .. } => [
                "ServiceUnavailable",
                "Throttl",
                "RequestTimeout",
                "InternalServerError",
                "SlowDown",
            ]
            .iter()
            .any(|c| code.contains(c)),
            _ => false,
        }
    }
}

/// Builds AWS's `ValidationException` text: "N validation error(s) detected: a; b".
#[derive(Default)]
pub struct ValidationErrors {
    items: Vec<String>,
}

impl ValidationErrors {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds "Value 'v' at 'field' failed to satisfy constraint: Member must ..." .
    pub fn constraint(&mut self, value: impl fmt::Display, field: &str, constraint: &str) {
        self.items.push(format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// Adds "Value null at 'field' failed to satisfy constraint: Member must not be null".
    pub fn null(&mut self, field: &str) {
        self.items.push(format!(
            "Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ));
    }

    /// Adds a constraint message for a value that is not shown (blobs, long lists).
    pub fn hidden(&mut self, field: &str, constraint: &str) {
        self.items.push(format!(
            "Value at '{field}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `Ok(())` when empty, otherwise the `ValidationException` (listing at most ten, as AWS).
    pub fn finish(self) -> Result<(), Error> {
        if self.items.is_empty() {
            return Ok(());
        }
        // AWS reports at most ten.
        let n = self.items.len().min(10);
        let noun = if n == 1 { "error" } else { "errors" };
        Err(Error::Validation(format!(
            "{n} validation {noun} detected: {}",
            self.items[..n].join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for e in [
            Error::ResourceNotFound("x".into()),
            Error::ResourceInUse("x".into()),
            Error::InvalidArgument("x".into()),
            Error::LimitExceeded("x".into()),
            Error::ExpiredIterator("x".into()),
            Error::ExpiredNextToken("x".into()),
            Error::ProvisionedThroughputExceeded("x".into()),
            Error::Validation("x".into()),
            Error::KmsThrottling("x".into()),
        ] {
            let back = Error::from_code(e.code(), e.message());
            assert_eq!(back.code(), e.code());
            assert_eq!(back.message(), "x");
        }
        let e = Error::from_code("com.amazonaws.kinesis#ResourceNotFoundException", "m");
        assert!(matches!(e, Error::ResourceNotFound(_)));
        let e = Error::from_code("SomethingNew", "m");
        assert_eq!(e.code(), "SomethingNew");
    }

    #[test]
    fn validation_messages_join() {
        let mut v = ValidationErrors::new();
        assert!(v.is_empty());
        v.null("streamName");
        assert_eq!(
            v.finish().map_err(|e| e.to_string()),
            Err("ValidationException: 1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null".to_string())
        );
        let mut v = ValidationErrors::new();
        v.null("a");
        v.constraint(0, "b", "Member must have value greater than or equal to 1");
        let msg = v
            .finish()
            .err()
            .map(|e| e.message().to_string())
            .unwrap_or_default();
        assert!(msg.starts_with("2 validation errors detected: "), "{msg}");
        assert!(msg.contains("; Value '0' at 'b'"), "{msg}");
    }
}
