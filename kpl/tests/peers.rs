//! Interop with the reference implementation of the KPL aggregate format: aggregates that
//! rill's producer put are deaggregated by PyPI `aws_kinesis_agg` (installed by
//! `scripts/peers` into `.peers/venv`; `RILL_PEERS_PYTHON` from `.peers/env` names its
//! interpreter), and every user record must come back with its partition key, explicit hash
//! key and data at the sub-sequence number its ack gave. Run by `scripts/test`.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rill_engine::api::Kinesis;
use rill_kpl::{Producer, ProducerConfig, Record};

fn python() -> PathBuf {
    let value = std::env::var_os("RILL_PEERS_PYTHON").filter(|v| !v.is_empty());
    let Some(value) = value else {
        panic!(
            "RILL_PEERS_PYTHON is not set. This test needs aws_kinesis_agg, which scripts/peers \
             installs: run `scripts/peers && set -a && . .peers/env && set +a` first \
             (scripts/test does both)"
        );
    };
    let path = PathBuf::from(value);
    assert!(
        path.exists(),
        "RILL_PEERS_PYTHON={} does not exist: run scripts/peers again",
        path.display()
    );
    path
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
#[ignore = "needs aws_kinesis_agg: run scripts/test"]
async fn aws_kinesis_agg_deaggregates_what_rill_produced() -> TestResult {
    let python = python();
    let (engine, _dir) = engine(&[("peer", 3)]).await?;
    let kinesis: Arc<dyn Kinesis> = Arc::new(engine);
    let producer = Producer::new(
        Arc::clone(&kinesis),
        ProducerConfig::builder()
            .record_max_buffered_time(Duration::from_millis(20))
            .build()?,
    );
    let stream: Arc<str> = "peer".into();
    let mut sent = Vec::new();
    for i in 0..2000u32 {
        let data: Vec<u8> = (0..(i % 300))
            .map(|j| (i as u8).wrapping_mul(31) ^ j as u8)
            .collect();
        let mut record = Record::new(Arc::clone(&stream), format!("ключ-{}", i % 41), data);
        if i % 5 == 0 {
            record = record
                .with_explicit_hash_key((u128::MAX / 1000 * u128::from(i % 1000)).to_string());
        }
        let fut = producer.send(record.clone()).await?;
        sent.push((record, fut));
    }
    producer.flush().await;
    let mut expected: HashMap<(String, String), Record> = HashMap::new();
    let mut aggregated = 0;
    for (record, fut) in sent {
        let ack = fut.await?;
        let sub = if ack.is_aggregated() {
            aggregated += 1;
            ack.sub_sequence_number().to_string()
        } else {
            "-".to_string()
        };
        expected.insert((ack.sequence_number().to_string(), sub), record);
    }
    assert!(
        aggregated > 1900,
        "most records were aggregated: {aggregated}"
    );

    let mut input = String::new();
    for stored in read_all(&*kinesis, "peer").await? {
        input.push_str(&format!(
            "{}\t{}\t{}\n",
            stored.sequence_number,
            stored.partition_key,
            hex(&stored.data)
        ));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/agg_deaggregate.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output()?;
    writer.join().map_err(|_| "writer panicked")??;
    assert!(
        out.status.success(),
        "{} {} failed: {}",
        python.display(),
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout)?;
    let mut seen = 0;
    for line in stdout.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 5, "{line}");
        let key = (f[0].to_string(), f[1].to_string());
        let record = expected.remove(&key).ok_or_else(|| {
            format!("aws_kinesis_agg returned an unexpected or repeated record at {key:?}")
        })?;
        assert_eq!(f[2], record.partition_key, "{key:?}");
        // Explicit hash keys: compared for records that have one. For a sub-record without
        // one, aws_kinesis_agg 1.2.3 reads the absent optional index as 0 and reports the
        // first entry of the aggregate's table when the table is not empty (a quirk of the
        // reference; the field is absent on the wire, as the KPL writes it), and it reports
        // none for plain records.
        if let (Some(ehk), true) = (&record.explicit_hash_key, f[1] != "-") {
            assert_eq!(f[3], ehk, "{key:?}");
        }
        assert_eq!(f[4], hex(&record.data), "{key:?}");
        seen += 1;
    }
    assert!(
        expected.is_empty(),
        "{} records not returned by aws_kinesis_agg",
        expected.len()
    );
    assert_eq!(seen, 2000);
    producer.shutdown().await;
    Ok(())
}
