//! The checks AWS's front end makes before any operation runs, in AWS's order, and the
//! answers it gives, so that a client meets at `rill serve` what it meets at
//! `kinesis.<region>.amazonaws.com`.
//!
//! # Order and answers
//!
//! 1. **CORS.** A request with an `Origin` header is answered with
//!    `Access-Control-Allow-Origin: *`; an `OPTIONS` with `Origin` is a preflight, answered
//!    200 with an empty body, `Access-Control-Allow-Headers` and `-Methods` echoing the
//!    request's `Access-Control-Request-*` and `Access-Control-Max-Age: 172800`. Other
//!    requests with `Origin` also get `Access-Control-Expose-Headers` (see [`EXPOSED`]).
//! 2. **Method.** Anything but `POST` (on any path but the server's own `GET /metrics`,
//!    `/health`): 403 with AWS's XML
//!    `<AccessDeniedException><Message>Unable to determine service/operation name to be
//!    authorized</Message></AccessDeniedException>`. AWS ignores the path of a `POST`; so
//!    does rill.
//! 3. **Empty body.** 400 `SerializationException` when the target names a Kinesis
//!    operation, `UnknownOperationException` otherwise, both without a message, in JSON when
//!    the content type is `application/x-amz-json-1.1` and in CBOR otherwise.
//! 4. **Content type.** Not `application/x-amz-json-1.1`, `application/x-amz-cbor-1.1` or
//!    `application/json`: 403 `AccessDeniedException` XML when the target has no
//!    `service.operation` form, else 404 `<UnknownOperationException/>`.
//! 5. **Body.** Not a JSON (or CBOR) object: 400 `SerializationException` without a
//!    message. `application/json` bodies get the Coral envelope
//!    `{"Output":{"__type":"com.amazon.coral.service#SerializationException"},"Version":"1.0"}`,
//!    and since AWS serves no operation under that type, a parsable one gets the same
//!    envelope around `UnknownOperationException` (404).
//! 6. **Target.** Not `Kinesis_20131202.<an operation of the table>`: 400
//!    `UnknownOperationException` without a message.
//! 7. **Authentication present.** With and without `--auth`: neither an `Authorization`
//!    header nor an `X-Amz-Algorithm` query parameter is 400
//!    `MissingAuthenticationTokenException` ("Missing Authentication Token"); both is 400
//!    `InvalidSignatureException`; a header without `Credential`, `Signature`,
//!    `SignedHeaders` or a date header, or a query without one of the five SigV4
//!    parameters, is 400 `IncompleteSignatureException` naming each missing part, as AWS
//!    words it. Checking the signature itself is [`super::auth`]'s, with `--auth`.

use super::codec::Codec;
use super::{ErrorFormat, WireError};
use crate::api::Operation;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;

/// The `Access-Control-Expose-Headers` AWS answers a request with an `Origin`.
pub const EXPOSED: &str =
    "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date";

/// How long a browser may cache a preflight answer, in seconds (AWS's figure).
const PREFLIGHT_MAX_AGE: &str = "172800";

/// The message of AWS's answer to a request it cannot map to an operation.
const NO_OPERATION: &str = "Unable to determine service/operation name to be authorized";

/// The three body encodings AWS's front end accepts.
const AMZ_JSON: &str = "application/x-amz-json-1.1";
const AMZ_CBOR: &str = "application/x-amz-cbor-1.1";
const PLAIN_JSON: &str = "application/json";

/// Whether a request carries `Origin` (and so gets CORS headers).
pub fn has_origin(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN)
}

/// The answer to an `OPTIONS` preflight, or `None` when the request is not one.
pub fn preflight(method: &Method, headers: &HeaderMap) -> Option<Response> {
    if method != Method::OPTIONS || !has_origin(headers) {
        return None;
    }
    let mut resp = Response::new(axum::body::Body::empty());
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if let Some(v) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
    }
    if let Some(v) = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD) {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
    Some(resp)
}

/// Adds the CORS headers of a non-preflight answer to a request with `Origin`.
pub fn add_cors(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
}

/// Step 2: the answer to a method other than `POST`.
pub fn not_post() -> WireError {
    WireError {
        status: StatusCode::FORBIDDEN,
        code: "AccessDeniedException".into(),
        message: NO_OPERATION.into(),
        format: ErrorFormat::Xml,
    }
}

/// What steps 3 to 6 found a request to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    /// The body encoding (of the request and of the answer).
    pub codec: Codec,
    /// The operation the target names.
    pub operation: Operation,
}

/// Splits `X-Amz-Target` into service and operation (either may be empty).
fn target(headers: &HeaderMap) -> (&str, &str) {
    let t = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut parts = t.split('.');
    (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
}

/// The operation a target names, when it is `Kinesis_20131202.<operation of the table>`.
fn operation_of(headers: &HeaderMap) -> Option<Operation> {
    let (service, op) = target(headers);
    if format!("{service}.") != super::TARGET_PREFIX {
        return None;
    }
    Operation::from_wire(op)
}

/// The media type of `Content-Type`, without parameters.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn no_message(status: StatusCode, code: &str, format: ErrorFormat) -> WireError {
    WireError {
        status,
        code: code.into(),
        message: String::new(),
        format,
    }
}

/// Steps 3 to 6: the codec and operation of a request, or AWS's answer to it. On success
/// the body is known to decode to an object.
pub fn classify(headers: &HeaderMap, body: &[u8]) -> Result<Classified, (Codec, WireError)> {
    let media = media_type(headers);
    let operation = operation_of(headers);
    if body.is_empty() {
        let codec = if media == AMZ_JSON {
            Codec::Json
        } else {
            Codec::Cbor
        };
        let code = if operation.is_some() {
            "SerializationException"
        } else {
            "UnknownOperationException"
        };
        return Err((
            codec,
            no_message(StatusCode::BAD_REQUEST, code, ErrorFormat::Json),
        ));
    }
    let codec = match media.as_str() {
        AMZ_JSON | PLAIN_JSON => Codec::Json,
        AMZ_CBOR => Codec::Cbor,
        _ => {
            let (service, op) = target(headers);
            let e = if service.is_empty() || op.is_empty() {
                not_post()
            } else {
                no_message(
                    StatusCode::NOT_FOUND,
                    "UnknownOperationException",
                    ErrorFormat::Xml,
                )
            };
            return Err((Codec::Json, e));
        }
    };
    if media == PLAIN_JSON {
        let is_object = codec.decode(body).is_ok_and(|v| v.is_object());
        let e = if is_object {
            no_message(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                ErrorFormat::Coral,
            )
        } else {
            no_message(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                ErrorFormat::Coral,
            )
        };
        return Err((codec, e));
    }
    // Only the first byte is looked at here, so that a large body is parsed once (by the
    // operation); a body that opens an object but does not parse meets the same
    // message-less SerializationException there.
    if !opens_object(codec, body) {
        return Err((
            codec,
            no_message(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                ErrorFormat::Json,
            ),
        ));
    }
    match operation {
        Some(operation) => Ok(Classified { codec, operation }),
        None => Err((
            codec,
            no_message(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                ErrorFormat::Json,
            ),
        )),
    }
}

/// Whether `body` starts as an object does in `codec` (a JSON `{`, a CBOR map's initial
/// byte), or is only whitespace (read as `{}`).
fn opens_object(codec: Codec, body: &[u8]) -> bool {
    match codec {
        Codec::Json => match body.iter().find(|b| !b.is_ascii_whitespace()) {
            None => true,
            Some(b) => *b == b'{',
        },
        // Major type 5 (a map), any length encoding.
        Codec::Cbor => body.first().is_some_and(|b| b >> 5 == 5),
    }
}

/// The SigV4 query-string parameters a presigned request must carry, in AWS's order.
const QUERY_PARAMETERS: [&str; 5] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
    "X-Amz-Date",
];

/// The parts of a SigV4 `Authorization` header, in AWS's order.
pub const HEADER_PARTS: [&str; 3] = ["Credential", "Signature", "SignedHeaders"];

/// AWS's `IncompleteSignatureException` text for an `Authorization` header lacking the
/// `absent` parts (of [`HEADER_PARTS`]) and, unless `dated`, a date header; empty when
/// nothing is missing.
pub fn incomplete_header_message(absent: &[&str], dated: bool, auth: &str) -> String {
    let mut message = String::new();
    for name in absent {
        message.push_str(&format!(
            "Authorization header requires '{name}' parameter. "
        ));
    }
    if !dated {
        message.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    if !message.is_empty() {
        message.push_str(&format!("Authorization={auth}"));
    }
    message
}

/// Step 7: whether a request carries a complete SigV4 authentication, as AWS checks it
/// before it looks at keys or signatures.
pub fn check_authentication(headers: &HeaderMap, uri: &Uri) -> Result<(), WireError> {
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (k.to_string(), v.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let in_query = |name: &str| query.iter().any(|(k, v)| k == name && !v.is_empty());
    let by_query = query.iter().any(|(k, _)| k == "X-Amz-Algorithm");
    let header = headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let error = |code: &str, message: String| WireError {
        status: StatusCode::BAD_REQUEST,
        code: code.into(),
        message,
        format: ErrorFormat::Json,
    };
    let mut missing = String::new();
    match (header, by_query) {
        (Some(_), true) => {
            return Err(error(
                "InvalidSignatureException",
                "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.".into(),
            ));
        }
        (None, false) => {
            return Err(error(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token".into(),
            ));
        }
        (Some(auth), false) => {
            // The algorithm, then `Name=value` parts separated by commas or spaces.
            let parts: Vec<(&str, &str)> = auth
                .split([',', ' '])
                .skip(1)
                .filter(|p| !p.is_empty())
                .map(|p| p.trim().split_once('=').unwrap_or((p.trim(), "")))
                .collect();
            let absent: Vec<&str> = HEADER_PARTS
                .into_iter()
                .filter(|name| !parts.iter().any(|(k, v)| k == name && !v.is_empty()))
                .collect();
            let dated = headers.contains_key("x-amz-date") || headers.contains_key(header::DATE);
            missing = incomplete_header_message(&absent, dated, &auth);
        }
        (None, true) => {
            for name in QUERY_PARAMETERS {
                if !in_query(name) {
                    missing.push_str(&format!(
                        "AWS query-string parameters must include '{name}'. "
                    ));
                }
            }
            if !missing.is_empty() {
                missing.push_str("Re-examine the query-string parameters.");
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(error("IncompleteSignatureException", missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header value"));
        }
        h
    }

    #[test]
    fn classification_follows_aws_order() {
        let target = ("x-amz-target", "Kinesis_20131202.ListStreams");
        let json = ("content-type", AMZ_JSON);
        let ok = classify(&headers(&[target, json]), b"{}").map(|c| c.operation);
        assert_eq!(ok, Ok(Operation::ListStreams));
        let empty = classify(&headers(&[target, json]), b"").map_err(|(_, e)| e.code);
        assert_eq!(empty, Err("SerializationException".to_string()));
        let unknown = headers(&[("x-amz-target", "Kinesis_20131202.Frob"), json]);
        let e = classify(&unknown, b"{}").map_err(|(_, e)| (e.code, e.message));
        assert_eq!(e, Err(("UnknownOperationException".into(), String::new())));
        let xml = classify(&headers(&[target, ("content-type", "text/plain")]), b"{}");
        let e = xml.map_err(|(_, e)| (e.status, e.format));
        assert_eq!(e, Err((StatusCode::NOT_FOUND, ErrorFormat::Xml)));
        let no_target = classify(&headers(&[("content-type", "text/plain")]), b"{}");
        let e = no_target.map_err(|(_, e)| (e.status, e.code));
        assert_eq!(
            e,
            Err((StatusCode::FORBIDDEN, "AccessDeniedException".into()))
        );
        let not_object = classify(&headers(&[target, json]), b"[1]");
        let e = not_object.map_err(|(_, e)| e.code);
        assert_eq!(e, Err("SerializationException".to_string()));
    }

    #[test]
    fn authentication_parts_are_named_as_aws_names_them() {
        let uri: Uri = "/".parse().expect("uri");
        let none = check_authentication(&HeaderMap::new(), &uri).map_err(|e| e.code);
        assert_eq!(none, Err("MissingAuthenticationTokenException".into()));
        let bare = check_authentication(&headers(&[("authorization", "foo")]), &uri)
            .map_err(|e| e.message);
        assert_eq!(
            bare,
            Err("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=foo".into())
        );
        let full = headers(&[
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=c",
            ),
            ("x-amz-date", "20261202T000000Z"),
        ]);
        assert_eq!(check_authentication(&full, &uri), Ok(()));
        let query: Uri = "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=1"
            .parse()
            .expect("uri");
        let e = check_authentication(&HeaderMap::new(), &query).map_err(|e| e.message);
        assert_eq!(
            e,
            Err("AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-SignedHeaders'. Re-examine the query-string parameters.".into())
        );
        let both = check_authentication(&full, &query).map_err(|e| e.code);
        assert_eq!(both, Err("InvalidSignatureException".into()));
    }
}
