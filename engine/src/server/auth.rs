//! SigV4 request authentication for `rill serve --auth FILE`.
//!
//! The credentials file holds one `ACCESS_KEY_ID SECRET_ACCESS_KEY` pair per line (separated
//! by white space, `:` or `,`); blank lines and lines starting with `#` are ignored.
//!
//! A request must carry `Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/
//! <service>/aws4_request, SignedHeaders=<names>, Signature=<hex>` and an `X-Amz-Date`. The
//! server rebuilds the canonical request from the headers the client says it signed (`host`
//! among them), hashes the body (or takes `X-Amz-Content-SHA256`), and recomputes the
//! signature with the key derived for the credential's date, region and service; the
//! derivation and HMAC are `aws-sigv4`'s. Outcomes, as AWS names them:
//!
//! | request | answer |
//! |---|---|
//! | no `Authorization` header | 400 `MissingAuthenticationTokenException` |
//! | header present but missing a part | 400 `IncompleteSignatureException` |
//! | unknown access key id | 400 `UnrecognizedClientException` |
//! | wrong signature | 403 `InvalidSignatureException` |
//! | `X-Amz-Date` more than 15 minutes off | 400 `InvalidSignatureException` ("Signature expired") |

use super::WireError;
use super::policy::{Policy, PolicyError};
use crate::config_file::LoadError;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use subtle::ConstantTimeEq;

/// Access key id to secret access key.
#[derive(Clone, Default)]
pub struct Credentials {
    keys: HashMap<String, String>,
    /// Identity policies by access key id (keys without one are allowed everything their
    /// resources' policies do not deny).
    policies: HashMap<String, Arc<Policy>>,
}

impl Credentials {
    /// Whether `secret` is the secret of `key_id` (compared in constant time): the check of
    /// HTTP Basic credentials on the server's page.
    pub fn accepts(&self, key_id: &str, secret: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.keys
            .get(key_id)
            .is_some_and(|s| bool::from(s.as_bytes().ct_eq(secret.as_bytes())))
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("Credentials")
            .field("access_key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Credentials {
    /// Credentials from (access key id, secret) pairs.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Credentials {
        Credentials {
            keys: pairs.into_iter().collect(),
            policies: HashMap::new(),
        }
    }

    /// Gives `access_key_id` an identity policy.
    pub fn with_policy(mut self, access_key_id: &str, policy: Policy) -> Credentials {
        self.policies
            .insert(access_key_id.to_string(), Arc::new(policy));
        self
    }

    /// The identity policy of a key, if it has one.
    pub fn policy(&self, access_key_id: &str) -> Option<&Policy> {
        self.policies.get(access_key_id).map(|p| &**p)
    }

    /// Parses the text of a credentials file: either lines of `ACCESS_KEY_ID SECRET`, or a
    /// JSON document `{"keys": [{"access_key_id", "secret_access_key", "policy"?}]}` where
    /// `policy` is the key's identity policy (see [`super::policy`]).
    pub fn parse(text: &str) -> Result<Credentials, CredentialsError> {
        if text.trim_start().starts_with('{') {
            return Credentials::parse_json(text);
        }
        let mut keys = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line
                .split(|c: char| c.is_whitespace() || c == ':' || c == ',')
                .filter(|p| !p.is_empty());
            match (parts.next(), parts.next(), parts.next()) {
                (Some(id), Some(secret), None) => {
                    keys.insert(id.to_string(), secret.to_string());
                }
                _ => return Err(CredentialsError::Line { line: n + 1 }),
            }
        }
        if keys.is_empty() {
            return Err(CredentialsError::Empty);
        }
        Ok(Credentials {
            keys,
            policies: HashMap::new(),
        })
    }

    fn parse_json(text: &str) -> Result<Credentials, CredentialsError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(CredentialsError::NotJson)?;
        let keys = v
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or(CredentialsError::NoKeys)?;
        let mut creds = Credentials::default();
        for (i, k) in keys.iter().enumerate() {
            let field = |name: &'static str| {
                k.get(name)
                    .and_then(|x| x.as_str())
                    .map(str::to_string)
                    .ok_or(CredentialsError::MissingMember {
                        index: i,
                        member: name,
                    })
            };
            let id = field("access_key_id")?;
            creds.keys.insert(id.clone(), field("secret_access_key")?);
            if let Some(p) = k.get("policy") {
                let policy = Policy::from_value(p)
                    .map_err(|source| CredentialsError::Policy { index: i, source })?;
                creds.policies.insert(id, Arc::new(policy));
            }
        }
        if creds.keys.is_empty() {
            return Err(CredentialsError::Empty);
        }
        Ok(creds)
    }

    /// Reads and parses a credentials file.
    pub fn load(path: &Path) -> Result<Credentials, LoadError<CredentialsError>> {
        crate::config_file::load(path, Credentials::parse)
    }
}

/// A credentials file whose text cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A line of a text file is not one `ACCESS_KEY_ID SECRET_ACCESS_KEY` pair.
    #[error("line {line}: expected `ACCESS_KEY_ID SECRET_ACCESS_KEY`")]
    Line {
        /// The line number, from 1.
        line: usize,
    },
    /// The text starts like JSON but is not JSON.
    #[error("credentials file is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The JSON document has no `keys` list.
    #[error("expected {{\"keys\": [...]}}")]
    NoKeys,
    /// An entry of `keys` lacks a string member.
    #[error("keys[{index}]: missing {member}")]
    MissingMember {
        /// The entry's index in `keys`.
        index: usize,
        /// The member (`access_key_id` or `secret_access_key`).
        member: &'static str,
    },
    /// An entry's `policy` is not a valid policy.
    #[error("keys[{index}].policy: {source}")]
    Policy {
        /// The entry's index in `keys`.
        index: usize,
        /// What is wrong with the policy.
        #[source]
        source: PolicyError,
    },
    /// The file holds no credentials.
    #[error("no credentials in the file")]
    Empty,
}

fn err(status: StatusCode, code: &str, message: impl Into<String>) -> WireError {
    WireError::new(status, code, message)
}

fn incomplete(message: impl Into<String>) -> WireError {
    err(
        StatusCode::BAD_REQUEST,
        "IncompleteSignatureException",
        message,
    )
}

/// SigV4's unreserved characters: everything else is percent-encoded in canonical URIs and
/// query strings.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same, keeping `/` (canonical paths).
const UNRESERVED_PATH: &AsciiSet = &UNRESERVED.remove(b'/');

fn uri_encode(s: &str, encode_slash: bool) -> String {
    let set = if encode_slash {
        UNRESERVED
    } else {
        UNRESERVED_PATH
    };
    utf8_percent_encode(s, set).to_string()
}

fn canonical_query(q: Option<&str>) -> String {
    let Some(q) = q.filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), true),
                uri_encode(&percent_decode(v), true),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes a query component as a form value: `+` is a space, `%XY` a byte.
fn percent_decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Checks a request's SigV4 signature against `creds`; returns the access key id.
pub fn verify(
    creds: &Credentials,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, WireError> {
    verify_at(creds, method, uri, headers, body, SystemTime::now())
}

/// [`verify`] at a given time (for tests).
pub fn verify_at(
    creds: &Credentials,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<String, WireError> {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(incomplete(format!(
            "Authorization header requires the AWS4-HMAC-SHA256 algorithm. Authorization={auth}"
        )));
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        let absent: Vec<&str> = super::front::HEADER_PARTS
            .into_iter()
            .zip([credential, signature, signed_headers])
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| n)
            .collect();
        return Err(incomplete(super::front::incomplete_header_message(
            &absent, true, auth,
        )));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, terminator] = scope.as_slice() else {
        return Err(incomplete(format!(
            "Credential should be scoped to a valid region, service and date. Credential={credential}"
        )));
    };
    if *terminator != "aws4_request" {
        return Err(incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    let Some(secret) = creds.keys.get(*key_id) else {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    };
    let Some(amz_date) = headers.get("x-amz-date").and_then(|v| v.to_str().ok()) else {
        return Err(incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    let Some(when) = crate::api::dates::parse_amz_date(amz_date) else {
        return Err(incomplete(format!(
            "X-Amz-Date {amz_date} is not a valid ISO 8601 basic time"
        )));
    };
    if !amz_date.starts_with(date) {
        return Err(err(
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{}', from '{amz_date}'.",
                &amz_date[..8]
            ),
        ));
    }
    let skew = now
        .duration_since(when)
        .or_else(|e| Ok::<_, ()>(e.duration()))
        .unwrap_or_default();
    if skew > Duration::from_secs(15 * 60) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "InvalidSignatureException",
            format!(
                "Signature expired: {amz_date} is now earlier or later than 15 minutes from the server's time."
            ),
        ));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err(incomplete(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<String> = headers
            .get_all(*name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let value = if values.is_empty() && *name == "host" {
            uri.authority().map(|a| a.to_string()).unwrap_or_default()
        } else {
            values.join(",")
        };
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&value);
        canonical_headers.push('\n');
    }
    let payload_hash = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| hex::encode(Sha256::digest(body)));
    let path = if uri.path().is_empty() {
        "/"
    } else {
        uri.path()
    };
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.as_str(),
        uri_encode(&percent_decode_path(path), false),
        canonical_query(uri.query()),
        canonical_headers,
        signed_headers,
        payload_hash
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = aws_sigv4::sign::v4::generate_signing_key(secret, when, region, service);
    let expected = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
    if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        return Err(err(
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok((*key_id).to_string())
}

fn percent_decode_path(p: &str) -> String {
    // Paths are decoded once and re-encoded, so that `%2F` and `/` compare as the SDKs sign.
    percent_decode_str(p).decode_utf8_lossy().into_owned()
}
