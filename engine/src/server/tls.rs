//! HTTPS: the server's certificate and key, and the TLS settings every connection gets.
//!
//! A [`TlsConfig`] is made either from PEM files ([`TlsConfig::from_pem_files`]: a chain of
//! `CERTIFICATE` blocks, leaf first, and one `PRIVATE KEY`, `RSA PRIVATE KEY` or
//! `EC PRIVATE KEY` block) or by generating a self-signed certificate
//! ([`TlsConfig::self_signed`]) whose PEM is written where clients can be told to trust it.
//!
//! Connections negotiate TLS 1.3 or 1.2 (rustls with aws-lc-rs) and the protocol by ALPN:
//! `h2` or `http/1.1`, in that order of preference; a client that offers no ALPN speaks
//! HTTP/1.1 (or HTTP/2 with prior knowledge) as on the cleartext port. The handshake must end
//! within [`super::ConnConfig::header_read_timeout`], or the connection is closed.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The certificate file holds no `CERTIFICATE` block.
    #[error("{0}: no CERTIFICATE in the file")]
    NoCertificate(PathBuf),
    /// The key file holds no private key block (or one that does not parse).
    #[error("{0}: no private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) in the file")]
    NoKey(PathBuf),
    /// rustls refused the certificate and key (a key that does not match, say).
    #[error("the certificate and key cannot be used: {0}")]
    Rustls(#[from] rustls::Error),
    /// Generating a self-signed certificate failed.
    #[error("generating a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The server side of TLS: a certificate chain, its key, and ALPN `h2` and `http/1.1`.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    server: Arc<rustls::ServerConfig>,
    /// The leaf certificate in PEM, for clients to trust (a self-signed one's).
    cert_pem: String,
}

/// The protocols offered by ALPN, in order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

impl TlsConfig {
    /// Reads a certificate chain (leaf first) and its private key from PEM files.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsConfig, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_bytes = read(cert)?;
        let key_bytes = read(key)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_bytes)
            .filter_map(Result::ok)
            .collect();
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(cert.to_path_buf()));
        }
        let key_der = PrivateKeyDer::from_pem_slice(&key_bytes)
            .map_err(|_| TlsError::NoKey(key.to_path_buf()))?;
        let cert_pem = String::from_utf8_lossy(&cert_bytes).into_owned();
        TlsConfig::build(chain, key_der, cert_pem)
    }

    /// Generates a self-signed certificate for `localhost`, `127.0.0.1` and `::1` (plus
    /// `names`, DNS names or IP addresses) and writes its PEM to `cert_path`, for clients
    /// to trust (`AWS_CA_BUNDLE`, `--ca-bundle`, `NODE_EXTRA_CA_CERTS`, a Java trust store).
    /// The key stays in memory: a new certificate is made at every start.
    pub fn self_signed(cert_path: &Path, names: &[String]) -> Result<TlsConfig, TlsError> {
        let mut subject_alt_names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        subject_alt_names.extend(names.iter().cloned());
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(subject_alt_names)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "rill serve (self-signed)");
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        write_synced(cert_path, cert_pem.as_bytes()).map_err(|source| TlsError::Io {
            path: cert_path.to_path_buf(),
            source,
        })?;
        let key_der = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|_| TlsError::NoKey(cert_path.to_path_buf()))?;
        TlsConfig::build(vec![cert.der().clone()], key_der, cert_pem)
    }

    fn build(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cert_pem: String,
    ) -> Result<TlsConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        server.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(TlsConfig {
            server: Arc::new(server),
            cert_pem,
        })
    }

    /// The certificate (chain) in PEM, as read or generated.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The acceptor connections are handshaken with.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.server))
    }
}

/// Writes `bytes` to `path` through a temporary file, fsynced and renamed, so that a reader
/// never sees half a certificate.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_written_and_read_back() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("cert.pem");
        let tls = TlsConfig::self_signed(&path, &["rill.test".into()])?;
        let written = std::fs::read_to_string(&path)?;
        assert_eq!(written, tls.cert_pem());
        assert!(written.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(
            tls.server.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        Ok(())
    }

    #[test]
    fn files_without_certificate_or_key_are_named() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem")?;
        let err = TlsConfig::from_pem_files(&empty, &empty);
        assert!(matches!(err, Err(TlsError::NoCertificate(p)) if p == empty));
        let cert = dir.path().join("cert.pem");
        TlsConfig::self_signed(&cert, &[])?;
        let err = TlsConfig::from_pem_files(&cert, &cert);
        assert!(matches!(err, Err(TlsError::NoKey(p)) if p == cert));
        let missing = dir.path().join("missing.pem");
        let err = TlsConfig::from_pem_files(&missing, &cert);
        assert!(matches!(err, Err(TlsError::Io { path, .. }) if path == missing));
        Ok(())
    }
}
