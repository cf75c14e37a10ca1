//! Helpers of the `rill` binary's tests: a `rill serve` on port 0, stopped by PID.
#![allow(dead_code)]

pub mod dynalite;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A `rill serve` child (AWS limits on, the default), killed by PID when dropped.
pub struct Served {
    pub child: Child,
    pub endpoint: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `rill serve --addr 127.0.0.1:0` on `dir` and reads the real port back.
pub fn serve(dir: &Path, extra: &[&str]) -> TestResult<Served> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first)?;
    let mut served = Served {
        child,
        endpoint: String::new(),
    };
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("unexpected first line {first:?}"))?
        .to_string();
    served.endpoint = format!("http://{addr}");
    Ok(served)
}

/// Runs `rill ARGS` to completion.
pub fn rill(args: &[&str]) -> TestResult<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(args)
        .output()?)
}

/// Runs `rill ARGS` and fails unless it exits 0; returns stdout.
pub fn rill_ok(args: &[&str]) -> TestResult<String> {
    let out = rill(args)?;
    if !out.status.success() {
        return Err(format!(
            "rill {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The data of each line `rill tail` printed (`SHARD SEQ[:SUB] KEY: DATA`), with its shard.
pub fn tail_records(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let shard = l.split(' ').next()?.to_string();
            let (_, data) = l.split_once(": ")?;
            Some((shard, data.to_string()))
        })
        .collect()
}
