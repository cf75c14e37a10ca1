//! The DynamoDB peer (dynalite, installed by `scripts/peers`) stopped and restarted under a
//! running fleet: the workers outlive the outage, get their leases back and go on; every
//! record is processed at least once.
//!
//! dynalite keeps its tables in a LevelDB directory (`--path`) here, so a restart on the
//! same port finds the lease table as it was, as a DynamoDB outage would.

mod common;

use common::*;
use rill_kcl::*;
use std::io::{Read, Seek, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOW: &str = "run `scripts/peers && set -a && . .peers/env && set +a` in the workspace \
                   (scripts/test does this) so that RILL_PEERS_DYNALITE names dynalite's cli.js";

/// A dynalite process on a fixed port and data directory; killed (by PID) when dropped.
struct Peer {
    child: Option<Child>,
    cli: PathBuf,
    port: u16,
    data: PathBuf,
    log: PathBuf,
}

fn healthy(addr: SocketAddr) -> bool {
    let probe = || -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
        s.set_read_timeout(Some(Duration::from_millis(500)))?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        Ok(body)
    };
    probe().is_ok_and(|b| b.contains("healthy"))
}

impl Peer {
    fn new(dir: &Path) -> TestResult<Peer> {
        let cli = std::env::var_os("RILL_PEERS_DYNALITE")
            .ok_or_else(|| format!("RILL_PEERS_DYNALITE is not set: {HOW}"))?;
        let cli = PathBuf::from(cli);
        if !cli.is_file() {
            return Err(
                format!("RILL_PEERS_DYNALITE={} is not a file: {HOW}", cli.display()).into(),
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        Ok(Peer {
            child: None,
            cli,
            port,
            data: dir.join("dynalite"),
            log: dir.join("dynalite.log"),
        })
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts dynalite on the port and data directory, and waits until it answers.
    fn start(&mut self) -> TestResult {
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&self.log)?;
        let mut child = Command::new("node")
            .arg(&self.cli)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--path")
            .arg(&self.data)
            .args(["--createTableMs", "50", "--deleteTableMs", "50"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log.try_clone()?))
            .spawn()
            .map_err(|e| format!("cannot run `node {}`: {e}", self.cli.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                let mut err = String::new();
                log.rewind()?;
                let _ = log.read_to_string(&mut err);
                return Err(
                    format!("dynalite exited ({status}) on port {}: {err}", self.port).into(),
                );
            }
            if healthy(addr) {
                self.child = Some(child);
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("dynalite did not answer on {addr} within 20 s").into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process (SIGKILL to its PID) and reaps it.
    fn kill(&mut self) -> TestResult {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dynalite: run scripts/test"]
async fn fleet_outlives_a_dynamodb_restart() -> TestResult {
    let (dir, kinesis) = engine(4).await?;
    let mut peer = Peer::new(dir.path())?;
    peer.start()?;
    let endpoint = peer.endpoint();
    let admin = DynamoLeaseTable::from_endpoint(&endpoint, "app")?;
    assert!(admin.create_table_if_not_exists().await?);
    let log = Log::default();
    put(kinesis.as_ref(), 0, 2000).await?;
    let mut workers = Vec::new();
    for w in ["w0", "w1"] {
        // Each worker its own client, as on separate hosts.
        let table: Arc<dyn LeaseTable> =
            Arc::new(DynamoLeaseTable::from_endpoint(&endpoint, "app")?);
        let s = scheduler(kinesis.clone(), table, w, &log, true, &FAST)?;
        let handle = s.shutdown_handle();
        workers.push((handle, tokio::spawn(s.run())));
    }
    wait_until(Duration::from_secs(30), "2000 processed, 2/2", || async {
        let m = owners(&admin).await;
        log.distinct_data().len() == 2000 && m.get("w0") == Some(&2) && m.get("w1") == Some(&2)
    })
    .await?;
    let before = admin.list_leases().await?;

    put(kinesis.as_ref(), 2000, 3000).await?;
    peer.kill()?;
    // The outage: longer than the failover time, so that every worker gives its leases
    // up (their renewals fail for that long) while records keep arriving.
    put(kinesis.as_ref(), 3000, 3500).await?;
    tokio::time::sleep(FAST.failover * 2).await;
    for (i, (_, task)) in workers.iter().enumerate() {
        assert!(!task.is_finished(), "worker w{i} stopped during the outage");
    }
    peer.start()?;
    // The table survived (dynalite's data directory).
    let after = admin.list_leases().await?;
    assert_eq!(
        after.len(),
        before.len(),
        "the lease table survived the restart"
    );
    put(kinesis.as_ref(), 3500, 4000).await?;

    if let Err(e) = wait_until(
        Duration::from_secs(30),
        "recovered: all shards leased, all 4000 processed, checkpoints at the end",
        || async {
            let leases = admin.list_leases().await.unwrap_or_default();
            let mut last: std::collections::HashMap<String, ExtendedSequenceNumber> =
                std::collections::HashMap::new();
            for d in log.snapshot() {
                let e = ExtendedSequenceNumber::new(d.seq, d.sub);
                let v = last.entry(d.shard).or_insert(e.clone());
                if e > *v {
                    *v = e;
                }
            }
            leases.len() == 4
                && leases.iter().all(|l| l.lease_owner.is_some())
                && log.distinct_data().len() == 4000
                && leases
                    .iter()
                    .all(|l| last.get(&l.lease_key) == Some(&l.checkpoint()))
        },
    )
    .await
    {
        return Err(format!(
            "{e}; processed {} distinct; leases {:?}",
            log.distinct_data().len(),
            owners(&admin).await
        )
        .into());
    }
    assert_eq!(log.distinct_data(), (0..4000).collect());
    for (i, (_, task)) in workers.iter().enumerate() {
        assert!(!task.is_finished(), "worker w{i} stopped");
    }
    // Both workers process again (each holds leases).
    let m = owners(&admin).await;
    assert_eq!(m.values().sum::<usize>(), 4, "{m:?}");
    for (handle, _) in &workers {
        handle.shutdown().await;
    }
    for (_, task) in workers {
        task.await??;
    }
    peer.kill()?;
    Ok(())
}
