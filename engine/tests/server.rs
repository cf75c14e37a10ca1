//! `rill serve` conformance: the HTTP server on port 0, driven by real clients.

use rill_engine::server::{self, ServerConfig};
use rill_engine::{Engine, EngineConfig};
use std::sync::Arc;

/// An engine served on 127.0.0.1:0; stops when dropped.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The engine behind it.
    pub engine: Engine,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with `config`.
    pub async fn start(config: ServerConfig) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(dir.path(), EngineConfig::default())
            .await
            .expect("engine");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server::serve(
            listener,
            Arc::new(engine.clone()),
            config,
            async move {
                let _ = stopped.await;
            },
        ));
        TestServer {
            endpoint,
            engine,
            stop: Some(stop),
            _dir: dir,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

#[tokio::test]
async fn health_answers() -> Result<(), Box<dyn std::error::Error>> {
    let s = TestServer::start(ServerConfig::default()).await;
    let body = reqwest::get(format!("{}/health", s.endpoint))
        .await?
        .text()
        .await?;
    assert_eq!(body, "ok");
    Ok(())
}
