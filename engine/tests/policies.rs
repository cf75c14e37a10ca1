//! Access policies and the audit log of `rill serve --auth FILE --audit-log FILE`.

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::{BehaviorVersion, Region};
use aws_sdk_kinesis::primitives::Blob;
use rill_engine::embedded::ThroughputLimits;
use rill_engine::server::audit::AuditLog;
use rill_engine::server::auth::Credentials;
use rill_engine::server::{self, ServerConfig};
use rill_engine::{Engine, EngineConfig};
use std::sync::Arc;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn client(endpoint: &str, key: &str, secret: &str) -> Client {
    let conf = aws_sdk_kinesis::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            key, secret, None, None, "test",
        ))
        .retry_config(RetryConfig::disabled())
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(conf)
}

const CREDS: &str = r#"{"keys": [
  {"access_key_id": "ADMIN", "secret_access_key": "admin-secret"},
  {"access_key_id": "WRITER", "secret_access_key": "writer-secret",
   "policy": {"Statement": [{"Effect": "Allow", "Action": "kinesis:PutRecord*",
                             "Resource": "arn:aws:kinesis:*:*:stream/orders"}]}}
]}"#;

async fn count_records(c: &Client, stream: &str) -> TestResult<usize> {
    let it = c
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id("shardId-000000000000")
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await?
        .shard_iterator
        .ok_or("iterator")?;
    Ok(c.get_records()
        .shard_iterator(it)
        .send()
        .await?
        .records()
        .len())
}

fn denied<T, E, R>(r: Result<T, aws_sdk_kinesis::error::SdkError<E, R>>) -> String
where
    T: std::fmt::Debug,
    E: std::fmt::Debug + aws_sdk_kinesis::error::ProvideErrorMetadata,
    R: std::fmt::Debug,
{
    match r {
        Ok(v) => panic!("expected AccessDeniedException, got {v:?}"),
        Err(e) => {
            use aws_sdk_kinesis::error::ProvideErrorMetadata;
            assert_eq!(e.code(), Some("AccessDeniedException"), "{e:?}");
            e.message().unwrap_or_default().to_string()
        }
    }
}

#[tokio::test]
async fn identity_and_resource_policies_are_enforced_and_audited() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(
        dir.path().join("data"),
        EngineConfig {
            limits: ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?;
    let audit_path = dir.path().join("audit.jsonl");
    let audit = AuditLog::open(&audit_path, true).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let srv = tokio::spawn(server::serve(
        listener,
        Arc::new(engine.clone()),
        ServerConfig {
            auth: Some(Arc::new(Credentials::parse(CREDS)?)),
            audit: Some(Arc::clone(&audit)),
            ..Default::default()
        },
        async move {
            let _ = stopped.await;
        },
    ));
    let admin = client(&endpoint, "ADMIN", "admin-secret");
    let writer = client(&endpoint, "WRITER", "writer-secret");
    let mut calls = 0;

    for s in ["orders", "other"] {
        admin
            .create_stream()
            .stream_name(s)
            .shard_count(1)
            .send()
            .await?;
        calls += 1;
    }
    // The writer may put to orders, and do nothing else.
    writer
        .put_record()
        .stream_name("orders")
        .partition_key("k")
        .data(Blob::new("a"))
        .send()
        .await?;
    writer
        .put_records()
        .stream_name("orders")
        .records(
            aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                .partition_key("k")
                .data(Blob::new("b"))
                .build()?,
        )
        .send()
        .await?;
    calls += 2;
    let m = denied(writer.describe_stream().stream_name("orders").send().await);
    assert!(
        m.starts_with("User: arn:aws:iam::000000000000:user/WRITER is not authorized to perform: kinesis:DescribeStream on resource: arn:aws:kinesis:us-east-1:000000000000:stream/orders"),
        "{m}"
    );
    let m = denied(
        writer
            .put_record()
            .stream_name("other")
            .partition_key("k")
            .data(Blob::new("x"))
            .send()
            .await,
    );
    assert!(m.contains("stream/other"), "{m}");
    denied(writer.delete_stream().stream_name("orders").send().await);
    calls += 3;
    // Denied requests changed nothing.
    assert_eq!(count_records(&admin, "other").await?, 0);
    assert_eq!(count_records(&admin, "orders").await?, 2);
    admin.describe_stream().stream_name("orders").send().await?;
    calls += 5; // 2 x (GetShardIterator + GetRecords) + DescribeStream

    // A resource policy's Deny beats the writer's identity Allow (for PutRecord only).
    let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/orders";
    admin
        .put_resource_policy()
        .resource_arn(arn)
        .policy(
            r#"{"Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:user/WRITER"},"Action":"kinesis:PutRecord","Resource":"*"}]}"#,
        )
        .send()
        .await?;
    calls += 1;
    let m = denied(
        writer
            .put_record()
            .stream_name("orders")
            .partition_key("k")
            .data(Blob::new("c"))
            .send()
            .await,
    );
    assert!(
        m.contains("explicit deny in a resource-based policy"),
        "{m}"
    );
    writer
        .put_records()
        .stream_name("orders")
        .records(
            aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                .partition_key("k")
                .data(Blob::new("d"))
                .build()?,
        )
        .send()
        .await?;
    calls += 2;
    assert_eq!(
        count_records(&admin, "orders").await?,
        3,
        "the denied PutRecord wrote nothing"
    );
    calls += 2;

    // The audit log: one line per call, the denied ones marked.
    let _ = stop.send(());
    srv.await??;
    audit.close().await?;
    let text = std::fs::read_to_string(&audit_path)?;
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), calls, "{text}");
    let denied_lines: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["denied"] == true).collect();
    assert_eq!(denied_lines.len(), 4);
    for l in &denied_lines {
        assert_eq!(l["errorCode"], "AccessDeniedException");
        assert_eq!(l["accessKeyId"], "WRITER");
        assert_eq!(l["sourceIPAddress"], "127.0.0.1");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["eventName"] == "CreateStream" && l["resources"][0] == arn)
    );
    assert!(
        lines
            .iter()
            .all(|l| l["requestID"].as_str().is_some_and(|r| r.len() == 36))
    );
    Ok(())
}
