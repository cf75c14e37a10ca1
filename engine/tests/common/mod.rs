//! What the `rill serve` tests of this directory share: an engine on a temporary directory
//! served on 127.0.0.1 port 0, stopped when dropped.

use rill_engine::server::{self, ServerConfig};
use rill_engine::{Engine, EngineConfig};
use std::sync::Arc;

/// A served engine: its endpoint, the engine itself (to call it embedded), and the stop.
pub struct Served {
    pub endpoint: String,
    pub engine: Engine,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Opens an engine with `engine_config` and serves it with `config`.
pub async fn serve_engine(
    config: ServerConfig,
    engine_config: EngineConfig,
) -> Result<Served, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(dir.path(), engine_config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(
        listener,
        Arc::new(engine.clone()),
        config,
        async move {
            let _ = stopped.await;
        },
    ));
    Ok(Served {
        endpoint,
        engine,
        stop: Some(stop),
        _dir: dir,
    })
}
