//! The Kinesis behaviour suite of `rill_testkit::suite` through the wire: `Remote` (the
//! trait over aws-sdk-kinesis) pointed at an in-process `rill serve` on 127.0.0.1:0, over a
//! fresh engine per test. The same tests run against the embedded engine in `tests/api.rs`;
//! passing both shows the server, its codec and `Remote` add no difference of their own,
//! down to the exact error messages.

use rill_engine::api::Kinesis;
use rill_engine::server::{self, ServerConfig};
use rill_engine::{Engine, EngineConfig, Remote};
use rill_testkit::kinesis_suite;
use rill_testkit::suite::TestResult;
use std::ops::Deref;
use std::sync::Arc;

/// `Remote` talking to a server over a fresh engine; the server stops when this is dropped.
struct Served {
    remote: Remote,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Deref for Served {
    type Target = dyn Kinesis;

    fn deref(&self) -> &Self::Target {
        &self.remote
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn served_engine() -> TestResult<Served> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(
        dir.path(),
        EngineConfig {
            limits: rill_engine::embedded::ThroughputLimits::off(),
            ..EngineConfig::default()
        },
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(
        listener,
        Arc::new(engine),
        ServerConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    Ok(Served {
        remote: Remote::from_endpoint(&endpoint),
        stop: Some(stop),
        _dir: dir,
    })
}

kinesis_suite!(served_engine());
