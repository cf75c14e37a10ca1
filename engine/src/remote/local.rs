//! [`Remote::local`]: a client for a Kinesis-compatible server the caller names by URL, with
//! the credentials to sign with and, for `https://`, the certificates to trust.

use super::Remote;
use aws_credential_types::Credentials;
use aws_sdk_kinesis::config::{BehaviorVersion, Region};
use std::path::{Path, PathBuf};

/// How [`Remote::local`] reaches its server. (Its `Debug` shows the key id, not the secret.)
#[derive(Clone, Default)]
pub struct LocalOptions {
    /// The access key id and secret to sign with. `None` signs as `rill`/`rill`, which a
    /// server without `--auth` (or kinesalite) accepts; a `rill serve --auth FILE` needs a
    /// pair of its file.
    pub credentials: Option<(String, String)>,
    /// A PEM file of the certificates to trust for an `https://` endpoint, instead of the
    /// system's roots (the file `rill serve --tls-self-signed PATH` writes, for one).
    pub ca_bundle: Option<PathBuf>,
}

impl std::fmt::Debug for LocalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalOptions")
            .field("access_key_id", &self.credentials.as_ref().map(|c| &c.0))
            .field("ca_bundle", &self.ca_bundle)
            .finish()
    }
}

impl LocalOptions {
    /// The options of the environment: the credentials of `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` when both are set, the certificates of the file
    /// `AWS_CA_BUNDLE` names when it is set (as the AWS CLI and boto3 read them).
    /// `AWS_SESSION_TOKEN` is not read: local servers take long-term keys.
    pub fn from_env() -> LocalOptions {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        LocalOptions {
            credentials: var("AWS_ACCESS_KEY_ID").zip(var("AWS_SECRET_ACCESS_KEY")),
            ca_bundle: var("AWS_CA_BUNDLE").map(PathBuf::from),
        }
    }
}

/// Why [`Remote::local`] could not build its client.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The CA bundle could not be read.
    #[error("cannot read the CA bundle {path}: {source}")]
    ReadCaBundle {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The CA bundle holds no certificate the TLS stack accepts.
    #[error("the CA bundle {path} is not usable: {message}")]
    BadCaBundle {
        /// The file.
        path: PathBuf,
        /// What the TLS stack said.
        message: String,
    },
}

impl Remote {
    /// A client for the Kinesis-compatible server at `url` (`http://` or `https://`), as
    /// [`Remote::from_endpoint`] builds one (region `us-east-1`, the SDK's retry policy,
    /// nothing else read from the environment), signing with `options.credentials` and,
    /// for an `https://` URL, trusting only the certificates of `options.ca_bundle` when one
    /// is given (an `http://` URL never reads the bundle).
    ///
    /// # Errors
    /// [`LocalError`] when the CA bundle cannot be read or holds no usable certificate.
    pub fn local(url: &str, options: &LocalOptions) -> Result<Remote, LocalError> {
        let (key, secret) = options
            .credentials
            .clone()
            .unwrap_or_else(|| ("rill".into(), "rill".into()));
        let mut conf = aws_sdk_kinesis::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::from_static("us-east-1"))
            .credentials_provider(Credentials::new(key, secret, None, None, "rill-local"))
            .endpoint_url(url);
        if let Some(path) = &options.ca_bundle
            && url
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        {
            conf = conf.http_client(trusting(path)?);
        }
        Ok(Remote::new(aws_sdk_kinesis::Client::from_conf(
            conf.build(),
        )))
    }
}

/// An HTTPS client (rustls, aws-lc) trusting only the certificates of the PEM file `path`.
fn trusting(path: &Path) -> Result<aws_sdk_kinesis::config::SharedHttpClient, LocalError> {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    let pem = std::fs::read(path).map_err(|source| LocalError::ReadCaBundle {
        path: path.to_path_buf(),
        source,
    })?;
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(LocalError::BadCaBundle {
            path: path.to_path_buf(),
            message: "no PEM certificate in the file".into(),
        });
    }
    let context = TlsContext::builder()
        .with_trust_store(
            TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(pem),
        )
        .build()
        .map_err(|e| LocalError::BadCaBundle {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https())
}
