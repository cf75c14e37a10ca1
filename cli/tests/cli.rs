//! The `rill` binary: `rill serve` on port 0 prints its real address first, serves the
//! Kinesis API to client subcommands, and stops gracefully on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Served {
    child: Child,
    endpoint: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        // Stop what we started, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &std::path::Path) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rill serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    assert!(!addr.ends_with(":0"), "the real port is printed: {addr}");
    Served {
        child,
        endpoint: format!("http://{addr}"),
    }
}

fn rill(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(args)
        .output()
        .expect("run rill");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn serve_stream_put_tail_and_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut served = serve(&dir.path().join("data"));
    let ep = served.endpoint.clone();
    let e = ["--endpoint", ep.as_str()];
    let (ok, out) = rill(&[&["stream", "create", "cli-s", "--shards", "3"][..], &e].concat());
    assert!(ok, "{out}");
    let (ok, out) = rill(&[&["stream", "list"][..], &e].concat());
    assert!(ok && out.lines().any(|l| l == "cli-s"), "{out}");
    let (ok, out) = rill(&[&["put", "cli-s", "--partition-key", "k", "hello"][..], &e].concat());
    assert!(ok && out.starts_with("shardId-"), "{out}");
    let (ok, out) = rill(&[&["tail", "cli-s"][..], &e].concat());
    assert!(ok && out.contains("k: hello"), "{out}");
    let (ok, out) = rill(&[&["stream", "describe", "cli-s"][..], &e].concat());
    assert!(ok && out.contains("\"OpenShardCount\": 3"), "{out}");
    let (ok, out) = rill(&[&["stream", "describe", "missing"][..], &e].concat());
    assert!(!ok && out.contains("ResourceNotFoundException"), "{out}");

    // SIGTERM: a graceful stop with exit status 0.
    let pid = libc::pid_t::try_from(served.child.id()).expect("pid");
    // SAFETY-free: kill(2) through libc is the only way to send SIGTERM to a child we started.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let status = served.child.wait().expect("wait");
    assert!(status.success(), "graceful stop: {status}");

    // The data survives: the embedded engine opens the same directory.
    let (ok, out) = rill(&[
        "tail",
        "cli-s",
        "--data-dir",
        dir.path().join("data").to_str().unwrap_or_default(),
    ]);
    assert!(ok && out.contains("k: hello"), "{out}");
}

/// The segment files under a data directory.
fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "seg") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn serve_refuses_a_damaged_store_naming_the_file_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap_or_default();
    let d = ["--data-dir", data_arg];
    let (ok, out) = rill(&[&["stream", "create", "s", "--shards", "1"][..], &d].concat());
    assert!(ok, "{out}");
    let (ok, out) = rill(&[&["put", "s", "--partition-key", "k", "hello"][..], &d].concat());
    assert!(ok, "{out}");
    let seg = segments(&data).pop().expect("a segment");
    let mut bytes = std::fs::read(&seg).expect("read segment");
    bytes[9] ^= 0x01; // the format version
    std::fs::write(&seg, &bytes).expect("write segment");
    let out = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir", data_arg])
        .stdin(Stdio::null())
        .output()
        .expect("run rill serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "rill serve must fail: {stderr}");
    assert!(stderr.contains(&seg.display().to_string()), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
    assert_eq!(
        std::fs::read(&seg).expect("read segment"),
        bytes,
        "untouched"
    );
}

#[test]
fn serve_exits_non_zero_naming_a_catalog_value_it_cannot_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        use rill_engine::api::{CreateStreamInput, Kinesis};
        let engine = rill_engine::Engine::open(&data, Default::default())
            .await
            .expect("open");
        engine
            .create_stream(CreateStreamInput {
                stream_name: "orders".into(),
                shard_count: Some(1),
                ..Default::default()
            })
            .await
            .expect("create");
        engine.close().await.expect("close");
    });
    rusqlite::Connection::open(data.join("catalog.sqlite"))
        .and_then(|c| c.execute("UPDATE streams SET status = 'ACTIVATING'", []))
        .expect("write a status no rill knows");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rill serve");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("stdout");
    if !first.is_empty() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("rill serve started despite the bad catalog: {first:?}");
    }
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit status {:?}", out.status);
    for part in ["streams", "orders", "status", "ACTIVATING"] {
        assert!(stderr.contains(part), "stderr names {part:?}: {stderr}");
    }
}

#[test]
fn serve_over_https_with_a_cleartext_port_beside_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("rill-cert.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--plain-addr",
            "127.0.0.1:0",
        ])
        .arg("--tls-self-signed")
        .arg(&cert)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rill serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (mut first, mut second) = (String::new(), String::new());
    stdout.read_line(&mut first).expect("first line");
    stdout.read_line(&mut second).expect("second line");
    let served = Served {
        child,
        endpoint: format!(
            "http://{}",
            second
                .trim()
                .strip_prefix("cleartext on ")
                .unwrap_or_else(|| panic!("unexpected second line {second:?}"))
        ),
    };
    assert!(first.starts_with("listening on 127.0.0.1:"), "{first:?}");
    let pem = std::fs::read_to_string(&cert).expect("the certificate is written");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    // The cleartext port serves the same engine.
    let e = ["--endpoint", served.endpoint.as_str()];
    let (ok, out) = rill(&[&["stream", "create", "both", "--shards", "1"][..], &e].concat());
    assert!(ok, "{out}");
    let (ok, out) = rill(&[&["stream", "list"][..], &e].concat());
    assert!(ok && out.lines().any(|l| l == "both"), "{out}");
}

#[test]
fn serve_refuses_incomplete_tls_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8 path");
    let (ok, out) = rill(&["serve", "--data-dir", data, "--tls-cert", "c.pem"]);
    assert!(!ok && out.contains("--tls-key"), "{out}");
    let (ok, out) = rill(&["serve", "--data-dir", data, "--plain-addr", "127.0.0.1:0"]);
    assert!(!ok && out.contains("--plain-addr goes with"), "{out}");
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().expect("utf-8 path");
    let (ok, out) = rill(&[
        "serve",
        "--data-dir",
        data,
        "--addr",
        "127.0.0.1:0",
        "--tls-cert",
        missing,
        "--tls-key",
        missing,
    ]);
    assert!(!ok && out.contains("missing.pem"), "{out}");
}

/// Runs `rill` with exactly the given `AWS_*` variables (the others removed).
fn rill_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_CA_BUNDLE",
    ] {
        cmd.env_remove(k);
    }
    let out = cmd
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run rill");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The client commands reach `rill serve --auth` over HTTPS: they sign with the
/// environment's credentials and trust the certificate of `--ca-bundle` or `AWS_CA_BUNDLE`.
#[test]
fn client_commands_sign_with_the_environment_and_trust_the_ca_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("rill-cert.pem");
    let creds = dir.path().join("credentials");
    std::fs::write(&creds, "AKIDCLI SECRETCLI\n").expect("credentials file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["serve", "--addr", "127.0.0.1:0", "--tls-self-signed"])
        .arg(&cert)
        .arg("--auth")
        .arg(&creds)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rill serve");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    let port = first
        .trim()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let _served = Served {
        child,
        endpoint: String::new(),
    };
    let endpoint = format!("https://localhost:{port}");
    let cert = cert.to_str().expect("utf-8 path");
    let e = ["--endpoint", endpoint.as_str()];
    let keys = [
        ("AWS_ACCESS_KEY_ID", "AKIDCLI"),
        ("AWS_SECRET_ACCESS_KEY", "SECRETCLI"),
    ];
    let list = [&["stream", "list"][..], &e].concat();

    // Not trusted: the system's roots do not hold the generated certificate.
    let (ok, out) = rill_env(&list, &keys);
    assert!(!ok && out.contains("UnknownIssuer"), "{out}");
    // Trusted, but signed with the default `rill` key, which the file does not hold.
    let (ok, out) = rill_env(&[&list[..], &["--ca-bundle", cert]].concat(), &[]);
    assert!(!ok && out.contains("UnrecognizedClient"), "{out}");
    // A CA bundle that is not one is a clear error.
    let (ok, out) = rill_env(&[&list[..], &["--ca-bundle", "/dev/null"]].concat(), &keys);
    assert!(!ok && out.contains("CA bundle"), "{out}");

    // Trusted and signed: every client command works.
    let ca = ["--ca-bundle", cert];
    let (ok, out) = rill_env(
        &[&["stream", "create", "tls-s", "--shards", "1"][..], &e, &ca].concat(),
        &keys,
    );
    assert!(ok, "{out}");
    let (ok, out) = rill_env(
        &[
            &["put", "tls-s", "--partition-key", "k", "over-https"][..],
            &e,
            &ca,
        ]
        .concat(),
        &keys,
    );
    assert!(ok && out.starts_with("shardId-"), "{out}");
    // AWS_CA_BUNDLE instead of the flag.
    let with_bundle = [keys[0], keys[1], ("AWS_CA_BUNDLE", cert)];
    let (ok, out) = rill_env(&[&["tail", "tls-s"][..], &e].concat(), &with_bundle);
    assert!(ok && out.contains("k: over-https"), "{out}");
}
