//! `rill serve` over HTTPS (issue 19): a self-signed certificate or PEM files, HTTP/2 and
//! HTTP/1.1 by ALPN, aws-sdk-kinesis trusting the generated certificate, and clients that do
//! not trust it refused at the handshake while the server goes on serving.

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::{BehaviorVersion, Region};
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_types::Blob;
use rill_engine::server::tls::TlsConfig;
use rill_engine::server::{self, ConnConfig, ServerConfig};
use rill_engine::{Engine, EngineConfig};
use rill_testkit::wire::{AMZ_DATE, UNSIGNED_AUTH};
use std::sync::Arc;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// An engine served over TLS on 127.0.0.1:0; stops when dropped.
struct TlsServer {
    /// `https://localhost:<port>` (the certificate names `localhost`).
    endpoint: String,
    /// The certificate clients trust, in PEM.
    cert_pem: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    async fn start(tls: impl FnOnce(&std::path::Path) -> TlsConfig) -> TlsServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = tls(dir.path());
        let engine = Engine::open(&dir.path().join("data"), EngineConfig::default())
            .await
            .expect("engine");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let cert_pem = tls.cert_pem().to_string();
        tokio::spawn(server::serve_with(
            listener,
            Arc::new(engine),
            ServerConfig::default(),
            ConnConfig {
                tls: Some(tls),
                ..ConnConfig::default()
            },
            async move {
                let _ = stopped.await;
            },
        ));
        TlsServer {
            endpoint: format!("https://localhost:{port}"),
            cert_pem,
            stop: Some(stop),
            _dir: dir,
        }
    }

    async fn self_signed() -> TlsServer {
        TlsServer::start(|dir| {
            TlsConfig::self_signed(&dir.join("cert.pem"), &[]).expect("self-signed certificate")
        })
        .await
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// aws-sdk-kinesis over HTTPS, trusting only `pem`.
fn sdk(endpoint: &str, pem: &str) -> Result<Client, Box<dyn std::error::Error>> {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(
                    TrustStore::empty()
                        .with_native_roots(false)
                        .with_pem_certificate(pem.as_bytes()),
                )
                .build()?,
        )
        .build_https();
    let conf = aws_sdk_kinesis::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKID", "SECRET", None, None, "tls-test",
        ))
        .retry_config(RetryConfig::disabled())
        .http_client(http)
        .endpoint_url(endpoint)
        .build();
    Ok(Client::from_conf(conf))
}

/// A reqwest client trusting `pem` (none: trusting nothing) that offers `alpn`.
fn raw_client(
    pem: Option<&str>,
    alpn: &[&[u8]],
) -> Result<reqwest::Client, Box<dyn std::error::Error>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert?)?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()?)
}

/// A ListStreams over `client`; its HTTP version and status.
async fn list_streams(
    client: &reqwest::Client,
    endpoint: &str,
) -> Result<(reqwest::Version, u16), reqwest::Error> {
    let resp = client
        .post(format!("{endpoint}/"))
        .header("authorization", UNSIGNED_AUTH)
        .header("x-amz-date", AMZ_DATE)
        .header("x-amz-target", "Kinesis_20131202.ListStreams")
        .header("content-type", "application/x-amz-json-1.1")
        .body("{}")
        .send()
        .await?;
    Ok((resp.version(), resp.status().as_u16()))
}

#[tokio::test]
async fn the_sdk_writes_and_reads_over_https_trusting_the_generated_certificate() -> TestResult {
    let s = TlsServer::self_signed().await;
    let client = sdk(&s.endpoint, &s.cert_pem)?;
    client
        .create_stream()
        .stream_name("secure")
        .shard_count(1)
        .send()
        .await?;
    let put = client
        .put_record()
        .stream_name("secure")
        .partition_key("k")
        .data(Blob::new("over tls"))
        .send()
        .await?;
    let it = client
        .get_shard_iterator()
        .stream_name("secure")
        .shard_id(put.shard_id())
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await?;
    let got = client
        .get_records()
        .shard_iterator(it.shard_iterator().ok_or("no iterator")?)
        .send()
        .await?;
    let data: Vec<&[u8]> = got.records().iter().map(|r| r.data().as_ref()).collect();
    assert_eq!(data, vec![&b"over tls"[..]]);
    Ok(())
}

#[tokio::test]
async fn alpn_picks_http2_or_http1() -> TestResult {
    let s = TlsServer::self_signed().await;
    let pem = Some(s.cert_pem.as_str());
    let h2 = raw_client(pem, &[b"h2"])?;
    assert_eq!(
        list_streams(&h2, &s.endpoint).await?,
        (reqwest::Version::HTTP_2, 200)
    );
    let h1 = raw_client(pem, &[b"http/1.1"])?;
    assert_eq!(
        list_streams(&h1, &s.endpoint).await?,
        (reqwest::Version::HTTP_11, 200)
    );
    // No ALPN at all: HTTP/1.1, as on the cleartext port.
    let none = raw_client(pem, &[])?;
    assert_eq!(
        list_streams(&none, &s.endpoint).await?,
        (reqwest::Version::HTTP_11, 200)
    );
    Ok(())
}

#[tokio::test]
async fn untrusting_and_cleartext_clients_are_refused_and_the_server_goes_on() -> TestResult {
    let s = TlsServer::self_signed().await;
    let untrusting = raw_client(None, &[b"h2", b"http/1.1"])?;
    let err = list_streams(&untrusting, &s.endpoint)
        .await
        .err()
        .ok_or("a client that does not trust the certificate was served")?;
    assert!(err.is_connect(), "a handshake failure: {err:?}");
    // Cleartext to the TLS port: no HTTP answer.
    let cleartext = reqwest::Client::new();
    let http_endpoint = s.endpoint.replacen("https://", "http://", 1);
    assert!(list_streams(&cleartext, &http_endpoint).await.is_err());
    // Still serving.
    let good = raw_client(Some(&s.cert_pem), &[b"h2"])?;
    assert_eq!(list_streams(&good, &s.endpoint).await?.1, 200);
    Ok(())
}

#[tokio::test]
async fn a_certificate_and_key_from_pem_files_are_served() -> TestResult {
    let s = TlsServer::start(|dir| {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        let cert = params.self_signed(&key).expect("certificate");
        let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        TlsConfig::from_pem_files(&cert_path, &key_path).expect("PEM files")
    })
    .await;
    let client = raw_client(Some(&s.cert_pem), &[b"h2"])?;
    assert_eq!(
        list_streams(&client, &s.endpoint).await?,
        (reqwest::Version::HTTP_2, 200)
    );
    Ok(())
}
