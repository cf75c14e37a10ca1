//! Conformance with clients nobody here wrote: boto3, the AWS CLI and the AWS SDK for
//! JavaScript v3, each driving `rill serve` started on port 0. The peers are installed by
//! `scripts/peers` (called by `scripts/test`); under plain `cargo test` these tests are
//! ignored with the reason below.
//!
//! Each test starts its own `rill serve` (its own temporary data directory), runs one peer
//! against it and stops it by PID. The peers' locations come from the variables that
//! `scripts/peers` writes to `.peers/env` (`RILL_PEERS_PYTHON`, `RILL_PEERS_AWS`,
//! `RILL_PEERS_NODE_DIR`); a test whose variable is missing fails, saying to run
//! `scripts/peers`. The peers run with a cleared environment: fixed test credentials,
//! `us-east-1`, and empty AWS config and credentials files, so that nothing configured on the
//! machine leaks in. The Python and JavaScript peers are `tests/peers/boto3_check.py` (with
//! `tests/peers/boto3_fanout.py` for enhanced fan-out) and `tests/peers/js_check.mjs`; the AWS
//! CLI is driven from here, one command at a time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest, Md5};
use serde_json::Value;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const ACCESS_KEY: &str = "AKIDRILLPEERS";
const SECRET_KEY: &str = "rill-peers-secret-key";
const ACCOUNT: &str = "000000000000";
const PEER_TIMEOUT: Duration = Duration::from_secs(300);

/// A peer's location from the environment `.peers/env` sets up; fails the test without it.
fn peer_var(name: &str) -> PathBuf {
    let value = std::env::var_os(name).filter(|v| !v.is_empty());
    let Some(value) = value else {
        panic!(
            "{name} is not set. These tests need the peers that scripts/peers installs: run \
             `scripts/peers && set -a && . .peers/env && set +a` first (scripts/test does both)"
        );
    };
    let path = PathBuf::from(value);
    assert!(
        path.exists(),
        "{name}={} does not exist: run scripts/peers again",
        path.display()
    );
    path
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("peers")
        .join(name)
}

/// A `rill serve` of this test, on port 0 with its own data directory; stopped by PID on drop.
struct Server {
    child: Child,
    endpoint: String,
    /// The certificate to trust, when the server is on HTTPS.
    ca: Option<PathBuf>,
    log: PathBuf,
    dir: tempfile::TempDir,
    // Kept open so that the server never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start(auth: Option<&str>) -> Server {
        Server::start_with(auth, false, "off")
    }

    /// A server on HTTPS with a certificate it generates (`--tls-self-signed`), which the
    /// peers are told to trust (`AWS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS`); the endpoint is
    /// `https://localhost:PORT`, a name the certificate carries.
    fn start_tls() -> Server {
        Server::start_with(None, true, "off")
    }

    /// A server with AWS's per-shard throughput limits (`--limits aws`).
    fn start_limited() -> Server {
        Server::start_with(None, false, "aws")
    }

    fn start_with(auth: Option<&str>, tls: bool, limits: &str) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("server.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
        // Most peers check behaviour, reading shards many times a second: AWS's per-shard
        // read limit (5 calls/s) would throttle them, so they run with `off`. Throttling has
        // tests of its own.
        cmd.args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--limits",
            limits,
            "--data-dir",
        ])
        .arg(dir.path().join("data"));
        let ca = tls.then(|| dir.path().join("rill-cert.pem"));
        if let Some(ca) = &ca {
            cmd.arg("--tls-self-signed").arg(ca);
        }
        if let Some(creds) = auth {
            let file = dir.path().join("credentials");
            std::fs::write(&file, creds).expect("write the credentials file");
            cmd.arg("--auth").arg(file);
        }
        let mut child = cmd
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("server log"))
            .spawn()
            .expect("start rill serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("first line");
        let Some(addr) = first.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "unexpected first line {first:?}; server log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        assert!(!addr.ends_with(":0"), "the real port is printed: {addr}");
        let endpoint = match &ca {
            Some(_) => {
                let port = addr.rsplit(':').next().unwrap_or_default();
                format!("https://localhost:{port}")
            }
            None => format!("http://{addr}"),
        };
        Server {
            endpoint,
            ca,
            child,
            log,
            dir,
            _stdout: stdout,
        }
    }

    /// The end of the server's log, for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// A fresh directory under the test's temporary directory.
    fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).expect("scratch dir");
        p
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Stop what we started, by its PID: SIGTERM, then SIGKILL if it lingers.
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY-free: kill(2) through libc is the only way to send SIGTERM to a child.
            #[allow(unsafe_code)]
            let _ = unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A cleared environment for a peer: test credentials, us-east-1, empty AWS config files.
fn peer_env(cmd: &mut Command, server: &Server, secret: &str) {
    let home = server.scratch("home");
    let config = home.join("aws-config");
    let credentials = home.join("aws-credentials");
    std::fs::write(&config, "").expect("empty AWS config file");
    std::fs::write(&credentials, "").expect("empty AWS credentials file");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("LANG", "C.UTF-8")
        .env("PYTHONUTF8", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null());
    if let Some(ca) = &server.ca {
        // botocore (boto3 and the AWS CLI) and Node.js trust the server's certificate.
        cmd.env("AWS_CA_BUNDLE", ca).env("NODE_EXTRA_CA_CERTS", ca);
    }
}

/// Runs a peer to completion (at most [`PEER_TIMEOUT`]) with stdout and stderr interleaved.
fn run(mut cmd: Command, server: &Server, out_name: &str) -> (ExitStatus, String) {
    let out_path = server.dir.path().join(out_name);
    let out = File::create(&out_path).expect("peer output file");
    let err = out.try_clone().expect("clone");
    let mut child = cmd
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let deadline = Instant::now() + PEER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the peer") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {PEER_TIMEOUT:?}; its output:\n{}\nserver log:\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                server.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        std::fs::read_to_string(&out_path).unwrap_or_default(),
    )
}

fn assert_peer_passed(what: &str, status: ExitStatus, output: &str, server: &Server) {
    assert!(
        status.success(),
        "{what} failed ({status}); its output:\n{output}\n--- server log (tail):\n{}",
        server.log_tail()
    );
    println!("{output}");
}

fn boto3(server: &Server, secret: &str, extra: &[&str]) -> (ExitStatus, String) {
    let mut cmd = Command::new(peer_var("RILL_PEERS_PYTHON"));
    cmd.arg(script("boto3_check.py"))
        .arg(&server.endpoint)
        .args(extra);
    peer_env(&mut cmd, server, secret);
    run(cmd, server, "boto3.out")
}

#[test]
#[ignore = "needs boto3/awscli/node peers: run scripts/test"]
fn boto3_drives_every_operation() {
    let python = peer_var("RILL_PEERS_PYTHON");
    let server = Server::start(None);
    let (status, output) = boto3(&server, SECRET_KEY, &[]);
    assert_peer_passed(
        &format!("{} boto3_check.py", python.display()),
        status,
        &output,
        &server,
    );
    assert!(output.contains("checks passed"), "{output}");
}

#[test]
#[ignore = "needs boto3/awscli/node peers: run scripts/test"]
fn boto3_with_sigv4_auth() {
    let python = peer_var("RILL_PEERS_PYTHON");
    let server = Server::start(Some(&format!(
        "# written by the peers test\n{ACCESS_KEY} {SECRET_KEY}\nAKIDOTHER other-secret\n"
    )));
    // The matching keys: every operation, signed by botocore and verified by rill.
    let (status, output) = boto3(&server, SECRET_KEY, &[]);
    assert_peer_passed(
        &format!("{} boto3_check.py (signed)", python.display()),
        status,
        &output,
        &server,
    );
    // A wrong secret: refused with AWS's InvalidSignatureException.
    let (status, output) = boto3(
        &server,
        "not-the-secret",
        &["--expect-error", "InvalidSignatureException"],
    );
    assert_peer_passed(
        "boto3_check.py --expect-error InvalidSignatureException (wrong secret)",
        status,
        &output,
        &server,
    );
}

/// Enhanced fan-out through boto3 (`tests/peers/boto3_fanout.py`): a registered consumer,
/// SubscribeToShard read from botocore's event stream while a thread puts records, continuation
/// from ContinuationSequenceNumber after the 5-second rule, ChildShards at the shard's end.
#[test]
#[ignore = "needs boto3/awscli/node peers: run scripts/test"]
fn boto3_enhanced_fan_out() {
    let python = peer_var("RILL_PEERS_PYTHON");
    let server = Server::start(None);
    let mut cmd = Command::new(&python);
    cmd.arg(script("boto3_fanout.py")).arg(&server.endpoint);
    peer_env(&mut cmd, &server, SECRET_KEY);
    let (status, output) = run(cmd, &server, "boto3_fanout.out");
    assert_peer_passed(
        &format!("{} boto3_fanout.py", python.display()),
        status,
        &output,
        &server,
    );
    assert!(output.contains("checks passed"), "{output}");
}

#[test]
#[ignore = "needs boto3/awscli/node peers: run scripts/test"]
fn boto3_drives_every_operation_over_https() {
    let python = peer_var("RILL_PEERS_PYTHON");
    let server = Server::start_tls();
    let (status, output) = boto3(&server, SECRET_KEY, &[]);
    assert_peer_passed(
        &format!("{} boto3_check.py {}", python.display(), server.endpoint),
        status,
        &output,
        &server,
    );
    assert!(output.contains("checks passed"), "{output}");
}

#[test]
#[ignore = "needs boto3/awscli/node peers: run scripts/test"]
fn js_sdk_v3_over_http1_and_h2c() {
    js_sdk_v3(&Server::start(None));
}

/// The same checks over HTTPS: NodeHttp2Handler negotiates `h2` by ALPN, NodeHttpHandler
/// HTTP/1.1.
#[test]
#[ignore = "needs boto3/awscli/node peers: run scripts/test"]
fn js_sdk_v3_over_https_h2_and_http1() {
    js_sdk_v3(&Server::start_tls());
}

fn js_sdk_v3(server: &Server) {
    let node_dir = peer_var("RILL_PEERS_NODE_DIR");
    let mut cmd = Command::new("node");
    cmd.arg(script("js_check.mjs")).arg(&server.endpoint);
    peer_env(&mut cmd, server, SECRET_KEY);
    cmd.env("RILL_PEERS_NODE_DIR", &node_dir);
    let (status, output) = run(cmd, server, "js.out");
    assert_peer_passed(
        &format!("node js_check.mjs {}", server.endpoint),
        status,
        &output,
        server,
    );
    assert!(output.contains("checks passed"), "{output}");
}

// ---------------------------------------------------------------- the AWS CLI

/// The AWS CLI against one server, keeping a transcript of the checks for failure messages.
struct AwsCli<'a> {
    aws: PathBuf,
    server: &'a Server,
    files: PathBuf,
    transcript: String,
}

impl AwsCli<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.aws);
        peer_env(&mut cmd, self.server, SECRET_KEY);
        cmd.args(["--endpoint-url", &self.server.endpoint, "--output", "json"])
            .args(args);
        cmd
    }

    fn fail(&self, name: &str, detail: &str) -> ! {
        panic!(
            "{}FAIL {name}: {detail}\n--- server log (tail):\n{}",
            self.transcript,
            self.server.log_tail()
        );
    }

    fn check(&mut self, name: &str, ok: bool, detail: impl std::fmt::Debug) {
        if !ok {
            self.fail(name, &format!("{detail:?}"));
        }
        let _ = writeln!(self.transcript, "ok   {name}");
    }

    /// Runs `aws kinesis ARGS`, which must succeed; its JSON output (Null when empty).
    fn ok(&mut self, args: &[&str]) -> Value {
        let args: Vec<&str> = std::iter::once("kinesis")
            .chain(args.iter().copied())
            .collect();
        let (status, stdout, stderr) = self.exec(&args);
        if !status.success() {
            self.fail(
                &format!("aws {}", args.join(" ")),
                &format!("{status}\nstdout: {stdout}\nstderr: {stderr}"),
            );
        }
        if stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&stdout).unwrap_or_else(|e| {
                self.fail(
                    &format!("aws {}", args.join(" ")),
                    &format!("{e}: {stdout}"),
                )
            })
        }
    }

    /// Runs `aws kinesis ARGS`, which must fail with `code` when calling `op` (and the message).
    fn err(&mut self, name: &str, args: &[&str], op: &str, code: &str, message: Option<&str>) {
        let args: Vec<&str> = std::iter::once("kinesis")
            .chain(args.iter().copied())
            .collect();
        let (status, stdout, stderr) = self.exec(&args);
        let head = format!("An error occurred ({code}) when calling the {op} operation");
        let ok = !status.success()
            && stderr.contains(&head)
            && message.is_none_or(|m| stderr.contains(&format!("operation: {m}")));
        self.check(
            name,
            ok,
            format!("{status}, stdout {stdout:?}, stderr {stderr:?}"),
        );
    }

    fn exec(&mut self, args: &[&str]) -> (ExitStatus, String, String) {
        let out = self
            .command(args)
            .output()
            .unwrap_or_else(|e| self.fail(&format!("aws {}", args.join(" ")), &e.to_string()));
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.files.join(name);
        std::fs::write(&p, bytes).expect("write a CLI input file");
        p.to_str().expect("utf-8 path").to_string()
    }
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x[key].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn shard_for(shards: &Value, key: &str) -> Option<String> {
    let hash = u128::from_be_bytes(Md5::digest(key.as_bytes()).into());
    shards.as_array()?.iter().find_map(|s| {
        let lo: u128 = s["HashKeyRange"]["StartingHashKey"]
            .as_str()?
            .parse()
            .ok()?;
        let hi: u128 = s["HashKeyRange"]["EndingHashKey"].as_str()?.parse().ok()?;
        (lo..=hi)
            .contains(&hash)
            .then(|| s["ShardId"].as_str().unwrap_or_default().to_string())
    })
}

/// The AWS CLI over HTTPS, trusting the server's generated certificate through
/// `AWS_CA_BUNDLE` (the same as `--ca-bundle`): a stream created, written and read back.
#[test]
#[ignore = "needs boto3/awscli/node peers: run scripts/test"]
fn aws_cli_v1_over_https() {
    let aws = peer_var("RILL_PEERS_AWS");
    let server = Server::start_tls();
    let mut cli = AwsCli {
        aws,
        files: server.scratch("cli-files"),
        server: &server,
        transcript: String::new(),
    };
    cli.ok(&[
        "create-stream",
        "--stream-name",
        "tls",
        "--shard-count",
        "1",
    ]);
    cli.ok(&["wait", "stream-exists", "--stream-name", "tls"]);
    let data = cli.file("record", b"over https");
    let put = cli.ok(&[
        "put-record",
        "--stream-name",
        "tls",
        "--partition-key",
        "k",
        "--data",
        &format!("fileb://{data}"),
    ]);
    let shard = put["ShardId"].as_str().unwrap_or_default().to_string();
    let it = cli.ok(&[
        "get-shard-iterator",
        "--stream-name",
        "tls",
        "--shard-id",
        &shard,
        "--shard-iterator-type",
        "TRIM_HORIZON",
    ]);
    let it = it["ShardIterator"].as_str().unwrap_or_default().to_string();
    let got = cli.ok(&["get-records", "--shard-iterator", &it]);
    let data: Vec<String> = got["Records"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r["Data"].as_str())
                .filter_map(|d| B64.decode(d).ok())
                .map(|d| String::from_utf8_lossy(&d).into_owned())
                .collect()
        })
        .unwrap_or_default();
    cli.check(
        "put-record then get-records over HTTPS",
        data == ["over https"],
        &data,
    );
    // Without the certificate the CLI refuses the server.
    let mut cmd = cli.command(&["kinesis", "list-streams"]);
    cmd.env_remove("AWS_CA_BUNDLE");
    let out = cmd.output().expect("run aws");
    let stderr = String::from_utf8_lossy(&out.stderr);
    cli.check(
        "without AWS_CA_BUNDLE: certificate verify failed",
        !out.status.success()
            && (stderr.contains("CERTIFICATE_VERIFY_FAILED") || stderr.contains("SSL validation")),
        &stderr,
    );
}

#[test]
#[ignore = "needs boto3/awscli/node peers: run scripts/test"]
fn aws_cli_v1_drives_every_operation() {
    let aws = peer_var("RILL_PEERS_AWS");
    let server = Server::start(None);
    let mut cli = AwsCli {
        aws,
        files: server.scratch("cli-files"),
        server: &server,
        transcript: String::new(),
    };
    let (status, version, err) = cli.exec(&["--version"]);
    cli.check(
        &format!(
            "aws --version: {}",
            (version.trim().to_string() + err.trim())
        ),
        status.success() && (version + &err).contains("aws-cli/1."),
        status,
    );
    let tag = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            % 0xffff_ffff
    );
    let name = format!("cli-{tag}");
    let other = format!("cli-{tag}-other");
    let arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}");
    let ids = [
        "shardId-000000000000",
        "shardId-000000000001",
        "shardId-000000000002",
    ];
    let n = name.as_str();

    // ---- create-stream, wait, describe-stream
    cli.ok(&["create-stream", "--stream-name", n, "--shard-count", "3"]);
    cli.ok(&[
        "create-stream",
        "--stream-name",
        &other,
        "--shard-count",
        "1",
    ]);
    cli.ok(&["wait", "stream-exists", "--stream-name", n]);
    cli.check("create-stream x2, wait stream-exists", true, ());
    cli.err(
        "create-stream of an existing name -> ResourceInUseException",
        &["create-stream", "--stream-name", n, "--shard-count", "1"],
        "CreateStream",
        "ResourceInUseException",
        None,
    );
    // --no-paginate: the CLI's merged pages drop HasMoreShards.
    let d = cli.ok(&["describe-stream", "--stream-name", n, "--no-paginate"]);
    let d = &d["StreamDescription"];
    cli.check(
        "describe-stream: name, ARN, ACTIVE, retention 24, HasMoreShards false",
        d["StreamName"] == n
            && d["StreamARN"] == arn.as_str()
            && d["StreamStatus"] == "ACTIVE"
            && d["RetentionPeriodHours"] == 24
            && d["HasMoreShards"] == false,
        d,
    );
    let shards = d["Shards"].clone();
    cli.check(
        "describe-stream: shard ids",
        strs(&shards, "ShardId") == ids,
        &shards,
    );
    // The CLI pages through describe-stream by itself (ExclusiveStartShardId).
    let paged = cli.ok(&["describe-stream", "--stream-name", n, "--page-size", "1"]);
    cli.check(
        "describe-stream --page-size 1: the CLI pages to all three shards",
        strs(&paged["StreamDescription"]["Shards"], "ShardId") == ids,
        &paged,
    );
    let first = cli.ok(&["describe-stream", "--stream-name", n, "--max-items", "1"]);
    let token = first["NextToken"].as_str().unwrap_or_default().to_string();
    cli.check(
        "describe-stream --max-items 1: one shard and a NextToken",
        strs(&first["StreamDescription"]["Shards"], "ShardId") == ids[..1] && !token.is_empty(),
        &first,
    );
    let rest = cli.ok(&[
        "describe-stream",
        "--stream-name",
        n,
        "--starting-token",
        &token,
    ]);
    cli.check(
        "describe-stream --starting-token: the rest",
        strs(&rest["StreamDescription"]["Shards"], "ShardId") == ids[1..],
        &rest,
    );
    let s = cli.ok(&["describe-stream-summary", "--stream-arn", &arn]);
    cli.check(
        "describe-stream-summary --stream-arn: OpenShardCount 3",
        s["StreamDescriptionSummary"]["OpenShardCount"] == 3
            && s["StreamDescriptionSummary"]["StreamName"] == n,
        &s,
    );

    // ---- list-streams
    let all = cli.ok(&["list-streams"]);
    let names: Vec<String> = all["StreamNames"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    cli.check(
        "list-streams: both streams",
        names.contains(&name) && names.contains(&other),
        &names,
    );
    let paged = cli.ok(&["list-streams", "--page-size", "1"]);
    cli.check(
        "list-streams --page-size 1: the CLI pages through NextToken",
        paged["StreamNames"] == all["StreamNames"],
        &paged,
    );
    let one = cli.ok(&["list-streams", "--max-items", "1"]);
    let token = one["NextToken"].as_str().unwrap_or_default().to_string();
    let rest = cli.ok(&["list-streams", "--starting-token", &token]);
    let mut joined = one["StreamNames"].as_array().cloned().unwrap_or_default();
    joined.extend(rest["StreamNames"].as_array().cloned().unwrap_or_default());
    cli.check(
        "list-streams --max-items 1, --starting-token: both pages",
        !token.is_empty() && Value::Array(joined) == all["StreamNames"],
        (&one, &rest),
    );

    // ---- list-shards
    let l = cli.ok(&["list-shards", "--stream-name", n]);
    cli.check(
        "list-shards: three shards",
        strs(&l["Shards"], "ShardId") == ids,
        &l,
    );
    let l1 = cli.ok(&[
        "list-shards",
        "--stream-name",
        n,
        "--max-results",
        "1",
        "--no-paginate",
    ]);
    let token = l1["NextToken"].as_str().unwrap_or_default().to_string();
    cli.check(
        "list-shards --max-results 1 --no-paginate: one shard and a NextToken",
        strs(&l1["Shards"], "ShardId") == ids[..1] && !token.is_empty(),
        &l1,
    );
    let l2 = cli.ok(&["list-shards", "--next-token", &token, "--no-paginate"]);
    cli.check(
        "list-shards --next-token: the rest",
        strs(&l2["Shards"], "ShardId") == ids[1..] && l2.get("NextToken").is_none(),
        &l2,
    );
    // The CLI's own paging sends StreamName beside NextToken, which AWS refuses
    // (boto/botocore#2009); so does rill, with AWS's message.
    cli.err(
        "list-shards --page-size 1 -> InvalidArgumentException, as AWS",
        &["list-shards", "--stream-name", n, "--page-size", "1"],
        "ListShards",
        "InvalidArgumentException",
        Some("NextToken and StreamName cannot be provided together."),
    );

    // ---- put-record, put-records
    let mut put: Vec<(Vec<u8>, String, String, String)> = Vec::new(); // data, key, shard, seq
    let binary: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
    let bin_file = format!("fileb://{}", cli.file("binary.bin", &binary));
    for (data_arg, bytes, key) in [
        (bin_file.as_str(), binary.clone(), "binary-key"),
        // The CLI v1 sends a text --data as its UTF-8 bytes (no base64 decoding).
        (
            "hello from the aws cli \u{2713}",
            "hello from the aws cli \u{2713}".as_bytes().to_vec(),
            "\u{43a}\u{43b}\u{44e}\u{447}",
        ),
    ] {
        let r = cli.ok(&[
            "put-record",
            "--stream-name",
            n,
            "--data",
            data_arg,
            "--partition-key",
            key,
        ]);
        let shard = r["ShardId"].as_str().unwrap_or_default().to_string();
        let seq = r["SequenceNumber"].as_str().unwrap_or_default().to_string();
        cli.check(
            &format!(
                "put-record ({} bytes): shard by MD5 of the key",
                bytes.len()
            ),
            Some(shard.clone()) == shard_for(&shards, key)
                && !seq.is_empty()
                && seq.bytes().all(|b| b.is_ascii_digit()),
            &r,
        );
        put.push((bytes, key.to_string(), shard, seq));
    }
    let r = cli.ok(&[
        "put-record",
        "--stream-name",
        n,
        "--data",
        "ehk",
        "--partition-key",
        "p",
        "--explicit-hash-key",
        "340282366920938463463374607431768211455",
    ]);
    cli.check(
        "put-record --explicit-hash-key 2^128-1: the last shard",
        r["ShardId"] == ids[2],
        &r,
    );
    put.push((
        b"ehk".to_vec(),
        "p".into(),
        ids[2].into(),
        r["SequenceNumber"].as_str().unwrap_or_default().into(),
    ));
    let entries: Vec<Value> = (0..10)
        .map(|i| serde_json::json!({"Data": format!("batch-{i}"), "PartitionKey": format!("pk-{i}")}))
        .collect();
    let recs = format!(
        "file://{}",
        cli.file(
            "records.json",
            Value::Array(entries.clone()).to_string().as_bytes()
        )
    );
    let pr = cli.ok(&["put-records", "--stream-name", n, "--records", &recs]);
    cli.check(
        "put-records: FailedRecordCount 0, ten results",
        pr["FailedRecordCount"] == 0 && pr["Records"].as_array().map(Vec::len) == Some(10),
        &pr,
    );
    for (i, (e, r)) in entries
        .iter()
        .zip(pr["Records"].as_array().cloned().unwrap_or_default())
        .enumerate()
    {
        let key = e["PartitionKey"].as_str().unwrap_or_default();
        let shard = r["ShardId"].as_str().unwrap_or_default().to_string();
        if Some(shard.clone()) != shard_for(&shards, key) {
            cli.check(&format!("put-records entry {i}"), false, &r);
        }
        put.push((
            format!("batch-{i}").into_bytes(),
            key.to_string(),
            shard,
            r["SequenceNumber"].as_str().unwrap_or_default().into(),
        ));
    }
    cli.check(
        "put-records: every entry on the shard its key hashes to",
        true,
        (),
    );

    // ---- get-shard-iterator, get-records: byte-exact
    for id in ids {
        let want: Vec<&(Vec<u8>, String, String, String)> =
            put.iter().filter(|p| p.2 == id).collect();
        let it = cli.ok(&[
            "get-shard-iterator",
            "--stream-name",
            n,
            "--shard-id",
            id,
            "--shard-iterator-type",
            "TRIM_HORIZON",
        ]);
        let mut it = it["ShardIterator"].as_str().unwrap_or_default().to_string();
        let mut got: Vec<(Vec<u8>, String, String)> = Vec::new();
        loop {
            let out = cli.ok(&["get-records", "--shard-iterator", &it, "--limit", "4"]);
            let records = out["Records"].as_array().cloned().unwrap_or_default();
            if records.is_empty() {
                cli.check(
                    &format!("get-records {id}: MillisBehindLatest 0 at the tip"),
                    out["MillisBehindLatest"] == 0 && out["NextShardIterator"].is_string(),
                    &out,
                );
                break;
            }
            for r in records {
                let data = B64
                    .decode(r["Data"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                got.push((
                    data,
                    r["PartitionKey"].as_str().unwrap_or_default().into(),
                    r["SequenceNumber"].as_str().unwrap_or_default().into(),
                ));
            }
            it = out["NextShardIterator"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        let want: Vec<(Vec<u8>, String, String)> = want
            .iter()
            .map(|(d, k, _, s)| (d.clone(), k.clone(), s.clone()))
            .collect();
        cli.check(
            &format!(
                "get-records {id} (--limit 4, following NextShardIterator): {} records byte-exact",
                want.len()
            ),
            got == want,
            (got.len(), want.len()),
        );
    }
    let (_, key, sid, seq) = put[0].clone();
    let it = cli.ok(&[
        "get-shard-iterator",
        "--stream-name",
        n,
        "--shard-id",
        &sid,
        "--shard-iterator-type",
        "AT_SEQUENCE_NUMBER",
        "--starting-sequence-number",
        &seq,
    ]);
    let out = cli.ok(&[
        "get-records",
        "--shard-iterator",
        it["ShardIterator"].as_str().unwrap_or_default(),
        "--limit",
        "1",
    ]);
    cli.check(
        "get-shard-iterator AT_SEQUENCE_NUMBER",
        out["Records"][0]["SequenceNumber"] == seq.as_str()
            && out["Records"][0]["PartitionKey"] == key.as_str(),
        &out,
    );
    let it = cli.ok(&[
        "get-shard-iterator",
        "--stream-arn",
        &arn,
        "--shard-id",
        &sid,
        "--shard-iterator-type",
        "AT_TIMESTAMP",
        "--timestamp",
        "2000-01-01T00:00:00Z",
    ]);
    let out = cli.ok(&[
        "get-records",
        "--shard-iterator",
        it["ShardIterator"].as_str().unwrap_or_default(),
    ]);
    cli.check(
        "get-shard-iterator --stream-arn AT_TIMESTAMP (ISO 8601): from the start",
        out["Records"][0]["SequenceNumber"] == seq.as_str()
            && out["Records"][0]["ApproximateArrivalTimestamp"].is_number(),
        &out,
    );

    // ---- tags
    cli.ok(&[
        "add-tags-to-stream",
        "--stream-name",
        n,
        "--tags",
        "team=rill,env=test,b=2",
    ]);
    let t = cli.ok(&["list-tags-for-stream", "--stream-name", n]);
    cli.check(
        "add-tags-to-stream, list-tags-for-stream: sorted by key",
        strs(&t["Tags"], "Key") == ["b", "env", "team"]
            && strs(&t["Tags"], "Value") == ["2", "test", "rill"]
            && t["HasMoreTags"] == false,
        &t,
    );
    let t = cli.ok(&["list-tags-for-stream", "--stream-name", n, "--limit", "1"]);
    cli.check(
        "list-tags-for-stream --limit 1: HasMoreTags",
        strs(&t["Tags"], "Key") == ["b"] && t["HasMoreTags"] == true,
        &t,
    );
    cli.ok(&[
        "remove-tags-from-stream",
        "--stream-name",
        n,
        "--tag-keys",
        "b",
        "env",
    ]);
    let t = cli.ok(&["list-tags-for-stream", "--stream-arn", &arn]);
    cli.check(
        "remove-tags-from-stream",
        strs(&t["Tags"], "Key") == ["team"],
        &t,
    );

    // ---- retention
    cli.ok(&[
        "increase-stream-retention-period",
        "--stream-name",
        n,
        "--retention-period-hours",
        "168",
    ]);
    let s = cli.ok(&["describe-stream-summary", "--stream-name", n]);
    cli.check(
        "increase-stream-retention-period to 168",
        s["StreamDescriptionSummary"]["RetentionPeriodHours"] == 168,
        &s,
    );
    cli.ok(&[
        "decrease-stream-retention-period",
        "--stream-name",
        n,
        "--retention-period-hours",
        "24",
    ]);
    let s = cli.ok(&["describe-stream-summary", "--stream-name", n]);
    cli.check(
        "decrease-stream-retention-period to 24",
        s["StreamDescriptionSummary"]["RetentionPeriodHours"] == 24,
        &s,
    );
    cli.err(
        "decrease-stream-retention-period below 24 -> InvalidArgumentException",
        &[
            "decrease-stream-retention-period",
            "--stream-name",
            n,
            "--retention-period-hours",
            "23",
        ],
        "DecreaseStreamRetentionPeriod",
        "InvalidArgumentException",
        None,
    );

    // ---- error paths
    let missing = format!("cli-missing-{tag}");
    cli.err(
        "describe-stream of an unknown stream -> ResourceNotFoundException",
        &["describe-stream", "--stream-name", &missing],
        "DescribeStream",
        "ResourceNotFoundException",
        Some(&format!(
            "Stream {missing} under account {ACCOUNT} not found."
        )),
    );
    let forged = B64.encode([7u8; 96]);
    cli.err(
        "get-records with a forged iterator -> InvalidArgumentException",
        &["get-records", "--shard-iterator", &forged],
        "GetRecords",
        "InvalidArgumentException",
        None,
    );
    let too_many: Vec<Value> = (0..501)
        .map(|_| serde_json::json!({"Data": "x", "PartitionKey": "k"}))
        .collect();
    let too_many = format!(
        "file://{}",
        cli.file("501.json", Value::Array(too_many).to_string().as_bytes())
    );
    cli.err(
        "put-records with 501 entries -> ValidationException",
        &["put-records", "--stream-name", n, "--records", &too_many],
        "PutRecords",
        "ValidationException",
        None,
    );

    // ---- delete-stream
    cli.ok(&["delete-stream", "--stream-name", n]);
    cli.ok(&["delete-stream", "--stream-name", &other]);
    cli.ok(&["wait", "stream-not-exists", "--stream-name", n]);
    let after = cli.ok(&["list-streams"]);
    cli.check(
        "delete-stream, wait stream-not-exists, list-streams: both gone",
        !after["StreamNames"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == n || x == other.as_str())),
        &after,
    );
    cli.err(
        "delete-stream of a deleted stream -> ResourceNotFoundException",
        &["delete-stream", "--stream-name", n],
        "DeleteStream",
        "ResourceNotFoundException",
        Some(&format!("Stream {name} under account {ACCOUNT} not found.")),
    );
    println!("{}aws_cli: all checks passed", cli.transcript);
}

/// The `/ui/` page in Debian's chromium (driven by playwright-core,
/// `tests/peers/ui_check.mjs`) against a `rill serve` under traffic: the figures it shows
/// against the API's, write rates, a split followed on the lineage tree, and a screenshot
/// saved to `target/ui-screenshot.png`.
#[test]
#[ignore = "needs boto3/awscli/node peers: run scripts/test"]
fn ui_page_in_chromium() {
    let node_dir = peer_var("RILL_PEERS_NODE_DIR");
    let chromium = peer_var("RILL_PEERS_CHROMIUM");
    // AWS's limits: the page draws them and counts the throttled writes.
    let server = Server::start_limited();
    let shot = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("ui-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let mut cmd = Command::new("node");
    cmd.arg(script("ui_check.mjs"))
        .arg(&server.endpoint)
        .arg(&shot);
    peer_env(&mut cmd, &server, SECRET_KEY);
    cmd.env("RILL_PEERS_NODE_DIR", &node_dir)
        .env("RILL_PEERS_CHROMIUM", &chromium);
    let (status, output) = run(cmd, &server, "ui.out");
    assert_peer_passed("node ui_check.mjs", status, &output, &server);
    assert!(output.contains("checks passed"), "{output}");
    let png = std::fs::read(&shot).expect("the screenshot is written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
}
