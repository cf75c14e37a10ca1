//! A worker's start: transient failures of the first shard sync are retried until they pass
//! (or the worker is shut down); permanent ones end `Scheduler::run` with the error. And a
//! service that stops answering GetRecords does not stall a shard: the polling request
//! timeout gives the call up and retries it. A lease table that stops answering renewals
//! makes the worker give its leases up after the failover time, as if the renewals failed.

mod common;

use common::*;
use rill_kcl::*;
use rill_testkit::{
    FaultConfig, FaultyKinesis, InjectedError, Operation, OperationFaults, Timeout,
};
use std::sync::Arc;
use std::time::Duration;

fn sqlite(dir: &tempfile::TempDir) -> TestResult<Arc<dyn LeaseTable>> {
    Ok(Arc::new(SqliteLeaseTable::open(
        dir.path().join("leases.sqlite"),
        "app",
    )?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_during_an_outage_waits_it_out_then_consumes() -> TestResult {
    let (dir, engine) = engine(2).await?;
    put(engine.as_ref(), 0, 200).await?;
    // Every shard listing fails with a 503 until the outage ends.
    let faulty = Arc::new(FaultyKinesis::new(
        Arc::clone(&engine),
        FaultConfig::new(7).for_operations(
            [Operation::ListShards, Operation::DescribeStreamSummary],
            OperationFaults::none().with_errors(1.0, [InjectedError::ServiceUnavailable]),
        ),
    ));
    let log = Log::default();
    let worker = scheduler(faulty.clone(), sqlite(&dir)?, "w1", &log, true, &FAST)?;
    let stop = worker.shutdown_handle();
    let run = tokio::spawn(worker.run());
    wait_until(
        Duration::from_secs(10),
        "three failed start attempts",
        || {
            let calls = faulty.counts().errors;
            async move { calls >= 3 }
        },
    )
    .await?;
    assert!(!run.is_finished(), "the worker gave up during the outage");
    assert_eq!(log.len(), 0);
    faulty.set_enabled(false);
    wait_until(Duration::from_secs(20), "every record processed", || {
        let n = log.distinct_data().len();
        async move { n == 200 }
    })
    .await?;
    stop.shutdown().await;
    run.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_for_a_missing_stream_fails_at_once() -> TestResult {
    let (dir, engine) = engine(1).await?;
    let log = Log::default();
    let worker = builder(engine, sqlite(&dir)?, "w1", &log, true, &FAST)
        .stream_name("no-such-stream")
        .build()?;
    let result = tokio::time::timeout(Duration::from_secs(10), worker.run()).await?;
    match result {
        Err(e @ KclError::Kinesis(rill_engine::api::Error::ResourceNotFound(_))) => {
            assert!(!e.is_transient());
            Ok(())
        }
        other => Err(format!("expected ResourceNotFound, got {other:?}").into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_shut_down_while_it_waits_to_start_returns() -> TestResult {
    let (dir, engine) = engine(1).await?;
    let faulty = Arc::new(FaultyKinesis::new(
        Arc::clone(&engine),
        FaultConfig::new(1)
            .for_all(OperationFaults::none().with_errors(1.0, [InjectedError::ServiceUnavailable])),
    ));
    let log = Log::default();
    let worker = scheduler(faulty.clone(), sqlite(&dir)?, "w1", &log, true, &FAST)?;
    let stop = worker.shutdown_handle();
    let run = tokio::spawn(worker.run());
    wait_until(Duration::from_secs(10), "a failed start attempt", || {
        let calls = faulty.counts().errors;
        async move { calls >= 1 }
    })
    .await?;
    stop.shutdown().await;
    tokio::time::timeout(Duration::from_secs(10), run).await???;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_records_calls_that_never_answer_are_given_up_and_retried() -> TestResult {
    let (dir, engine) = engine(2).await?;
    put(engine.as_ref(), 0, 300).await?;
    // A third of GetRecords calls hang forever.
    let faulty = Arc::new(FaultyKinesis::new(
        Arc::clone(&engine),
        FaultConfig::new(11).for_operation(
            Operation::GetRecords,
            OperationFaults::none().with_timeouts(0.34, Timeout::forever()),
        ),
    ));
    let log = Log::default();
    let worker = builder(faulty.clone(), sqlite(&dir)?, "w1", &log, true, &FAST)
        .polling(PollingConfig {
            request_timeout: Duration::from_millis(200),
            max_records: 50,
            ..polling()
        })
        .build()?;
    let stop = worker.shutdown_handle();
    let run = tokio::spawn(worker.run());
    wait_until(Duration::from_secs(30), "every record processed", || {
        let n = log.distinct_data().len();
        async move { n == 300 }
    })
    .await?;
    assert!(faulty.counts().timeouts > 0, "no call was hung");
    stop.shutdown().await;
    run.await??;
    Ok(())
}

/// Counts the leases a worker's processors were told they lost.
struct LossCounter {
    lost: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl RecordProcessor for LossCounter {
    async fn initialize(&mut self, _input: InitializationInput) {}
    async fn process_records(&mut self, _input: ProcessRecordsInput<'_>) {}
    async fn lease_lost(&mut self) {
        self.lost.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    async fn shard_ended(&mut self, input: ShardEndedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_renewals_hang_gives_its_leases_up() -> TestResult {
    use rill_testkit::{FaultyLeaseTable, LeaseFaultConfig, LeaseFaults, LeaseOperation, Timeout};
    let (dir, engine) = engine(2).await?;
    let table = sqlite(&dir)?;
    let faulty = Arc::new(FaultyLeaseTable::new(
        Arc::clone(&table),
        LeaseFaultConfig::new(5),
    ));
    let lost = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let log = Log::default();
    let a = {
        let lost = Arc::clone(&lost);
        builder(Arc::clone(&engine), faulty.clone(), "a", &log, true, &FAST)
            .processor_factory(move |_shard: &str| {
                Box::new(LossCounter {
                    lost: Arc::clone(&lost),
                }) as Box<dyn RecordProcessor>
            })
            .build()?
    };
    let stop_a = a.shutdown_handle();
    let run_a = tokio::spawn(a.run());
    wait_until(
        Duration::from_secs(10),
        "worker a holding both leases",
        || {
            let t = Arc::clone(&table);
            async move { owners(t.as_ref()).await.get("a") == Some(&2) }
        },
    )
    .await?;
    // From now on every renewal by a hangs forever.
    faulty.set_config(LeaseFaultConfig::new(5).for_operation(
        LeaseOperation::RenewLease,
        LeaseFaults::none().with_timeouts(1.0, Timeout::forever()),
    ));
    // It must notice on its own: its renewals time out, and after the failover time without
    // a renewal it tells its processors the leases are lost.
    wait_until(Duration::from_secs(15), "both leases lost by a", || {
        let n = lost.load(std::sync::atomic::Ordering::SeqCst);
        async move { n == 2 }
    })
    .await?;
    // And another worker takes them.
    let b = scheduler(
        Arc::clone(&engine),
        Arc::clone(&table),
        "b",
        &log,
        true,
        &FAST,
    )?;
    let stop_b = b.shutdown_handle();
    let run_b = tokio::spawn(b.run());
    wait_until(
        Duration::from_secs(15),
        "worker b holding both leases",
        || {
            let t = Arc::clone(&table);
            async move { owners(t.as_ref()).await.get("b") == Some(&2) }
        },
    )
    .await?;
    faulty.set_enabled(false);
    stop_b.shutdown().await;
    stop_a.shutdown().await;
    run_b.await??;
    run_a.await??;
    Ok(())
}
