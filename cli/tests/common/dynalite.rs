//! dynalite (a DynamoDB implementation on Node, installed by `scripts/peers`) on a free
//! loopback port, for the DynamoDB lease table tests.
//!
//! The tests find its CLI through `RILL_PEERS_DYNALITE` (written to `.peers/env`); without it
//! they fail — never skip — with a message that says how to install it.

use std::io::{Read, Seek, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TestResult;

/// A running dynalite, stopped (by PID) when dropped.
#[derive(Debug)]
pub struct Dynalite {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

const HOW: &str = "run `scripts/peers && set -a && . .peers/env && set +a` in the workspace \
                   (scripts/test does this) so that RILL_PEERS_DYNALITE names dynalite's cli.js";

/// A port that was free a moment ago (bound on 127.0.0.1:0, then released).
fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Whether an HTTP GET / on `addr` answers dynalite's health check.
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

impl Dynalite {
    /// Starts dynalite (in memory, tables ACTIVE after 50 ms) and waits until it answers.
    /// Retries on a new port when the chosen one was taken in between.
    pub fn start() -> TestResult<Dynalite> {
        let cli = std::env::var_os("RILL_PEERS_DYNALITE")
            .ok_or_else(|| format!("RILL_PEERS_DYNALITE is not set: {HOW}"))?;
        if !std::path::Path::new(&cli).is_file() {
            return Err(format!(
                "RILL_PEERS_DYNALITE={} is not a file: {HOW}",
                cli.to_string_lossy()
            )
            .into());
        }
        let mut last_error = String::new();
        for _attempt in 0..5 {
            let port = free_port()?;
            // stderr to a file, not a pipe nobody drains while dynalite runs.
            let mut log = tempfile::tempfile()?;
            let mut child = Command::new("node")
                .arg(&cli)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--createTableMs", "50", "--deleteTableMs", "50"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log.try_clone()?))
                .spawn()
                .map_err(|e| format!("cannot run `node {}`: {e}", cli.to_string_lossy()))?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let start = Instant::now();
            loop {
                if let Some(status) = child.try_wait()? {
                    // Most likely the port was taken between our probe and dynalite's bind.
                    let mut err = String::new();
                    log.rewind()?;
                    let _ = log.read_to_string(&mut err);
                    last_error = format!("dynalite exited ({status}) on port {port}: {err}");
                    break;
                }
                if healthy(addr) {
                    return Ok(Dynalite {
                        child,
                        endpoint: format!("http://{addr}"),
                    });
                }
                if start.elapsed() > Duration::from_secs(20) {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("dynalite did not answer on {addr} within 20 s").into());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Err(format!("could not start dynalite: {last_error}").into())
    }
}

impl Drop for Dynalite {
    fn drop(&mut self) {
        // Child::kill signals exactly this PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
