//! Headers for tests that speak Kinesis's wire protocol by hand.
//!
//! AWS's front end (and `rill serve`'s) answers a request without any authentication
//! `MissingAuthenticationTokenException` before it looks at the operation, even when no
//! keys are checked. A test that posts raw JSON or CBOR to a server started without
//! `--auth` sends [`UNSIGNED_AUTH`] and [`AMZ_DATE`]: an `Authorization` header of SigV4's
//! form whose signature is never verified.

/// An `Authorization` header of SigV4's form (credential scope, signed headers and a
/// signature), accepted by a server that checks only that authentication is present.
pub const UNSIGNED_AUTH: &str = "AWS4-HMAC-SHA256 Credential=rill/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=0";

/// The `X-Amz-Date` that goes with [`UNSIGNED_AUTH`].
pub const AMZ_DATE: &str = "20260101T000000Z";
