//! Encryption at rest: StartStreamEncryption / StopStreamEncryption with keys from a key ring.

use rill_engine::api::*;
use rill_engine::embedded::{KeyRing, ThroughputLimits};
use rill_engine::{Engine, EngineConfig};
use std::sync::Arc;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn open(dir: &std::path::Path, keys: KeyRing) -> TestResult<Engine> {
    Ok(Engine::open(
        dir,
        EngineConfig {
            kms_keys: Arc::new(keys),
            limits: ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?)
}

fn ring() -> KeyRing {
    KeyRing::new([("alias/rill-test".to_string(), [42u8; 32])])
}

async fn put(k: &Engine, data: &str) -> TestResult<PutRecordOutput> {
    Ok(k.put_record(PutRecordInput {
        stream_name: Some("enc".into()),
        partition_key: format!("pk-{}", data.len()),
        data: data.to_string().into(),
        ..Default::default()
    })
    .await?)
}

async fn read_all(k: &Engine) -> Result<Vec<Record>, Error> {
    let it = k
        .get_shard_iterator(GetShardIteratorInput {
            stream_name: Some("enc".into()),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
            ..Default::default()
        })
        .await?
        .shard_iterator
        .unwrap_or_default();
    Ok(k.get_records(GetRecordsInput {
        shard_iterator: it,
        ..Default::default()
    })
    .await?
    .records)
}

fn segment_bytes(dir: &std::path::Path) -> TestResult<Vec<u8>> {
    let mut all = Vec::new();
    for stream in std::fs::read_dir(dir.join("streams"))? {
        for seg in std::fs::read_dir(stream?.path())? {
            all.extend(std::fs::read(seg?.path())?);
        }
    }
    Ok(all)
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn records_written_while_encryption_is_on_are_encrypted_at_rest() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let k = open(dir.path(), ring()).await?;
        k.create_stream(CreateStreamInput {
            stream_name: "enc".into(),
            shard_count: Some(1),
            ..Default::default()
        })
        .await?;
        put(&k, "CLEAR-BEFORE").await?;
        let enc = |key: &str| StreamEncryptionInput {
            stream_name: Some("enc".into()),
            encryption_type: Some(EncryptionType::Kms),
            key_id: key.into(),
            ..Default::default()
        };
        let e = k.start_stream_encryption(enc("alias/unknown")).await;
        assert!(matches!(e, Err(Error::KmsNotFound(_))), "{e:?}");
        k.start_stream_encryption(enc("alias/rill-test")).await?;
        let d = k
            .describe_stream_summary(DescribeStreamSummaryInput {
                stream_name: Some("enc".into()),
                ..Default::default()
            })
            .await?
            .stream_description_summary;
        assert_eq!(d.encryption_type, Some(EncryptionType::Kms));
        assert_eq!(d.key_id.as_deref(), Some("alias/rill-test"));
        let ack = put(&k, "SECRET-ONE").await?;
        assert_eq!(ack.encryption_type, Some(EncryptionType::Kms));
        k.put_records(PutRecordsInput {
            stream_name: Some("enc".into()),
            records: vec![PutRecordsRequestEntry {
                data: "SECRET-TWO".into(),
                partition_key: "pk-two".into(),
                explicit_hash_key: None,
            }],
            ..Default::default()
        })
        .await?;
        k.stop_stream_encryption(enc("alias/rill-test")).await?;
        put(&k, "CLEAR-AFTER").await?;
        let got = read_all(&k).await?;
        let texts: Vec<String> = got
            .iter()
            .map(|r| String::from_utf8_lossy(&r.data).into_owned())
            .collect();
        assert_eq!(
            texts,
            ["CLEAR-BEFORE", "SECRET-ONE", "SECRET-TWO", "CLEAR-AFTER"]
        );
        let kinds: Vec<Option<EncryptionType>> = got.iter().map(|r| r.encryption_type).collect();
        assert_eq!(
            kinds,
            [
                Some(EncryptionType::None),
                Some(EncryptionType::Kms),
                Some(EncryptionType::Kms),
                Some(EncryptionType::None)
            ]
        );
        k.close().await?;
    }
    // On disk: the clear records are there, the encrypted ones are not.
    let bytes = segment_bytes(dir.path())?;
    assert!(contains(&bytes, "CLEAR-BEFORE") && contains(&bytes, "CLEAR-AFTER"));
    assert!(
        !contains(&bytes, "SECRET"),
        "no plaintext of an encrypted record on disk"
    );
    // After a restart with the key: read back correctly.
    {
        let k = open(dir.path(), ring()).await?;
        let got = read_all(&k).await?;
        assert_eq!(&got[1].data[..], b"SECRET-ONE");
        k.close().await?;
    }
    // Without the key: a clear error, never garbage.
    let k = open(dir.path(), KeyRing::default()).await?;
    match read_all(&k).await {
        Err(Error::KmsNotFound(m)) => assert!(m.contains("alias/rill-test"), "{m}"),
        other => panic!("expected KMSNotFoundException, got {other:?}"),
    }
    Ok(())
}
