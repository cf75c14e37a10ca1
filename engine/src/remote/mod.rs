//! [`Remote`]: the [`Kinesis`] trait over [aws-sdk-kinesis](aws_sdk_kinesis), so that code
//! written against `dyn Kinesis` (the producer, the consumer, your own) runs unchanged against
//! any service that speaks the Kinesis Data Streams wire protocol: `rill serve`, Amazon
//! Kinesis Data Streams, kinesalite, LocalStack.
//!
//! Each of the trait's methods sends one request through the SDK client and converts both
//! ways between rill's [`api`](crate::api) types and the SDK's: every field the two share is
//! copied, timestamps are converted between [`Timestamp`](crate::api::Timestamp) (epoch milliseconds) and
//! [`DateTime`](aws_sdk_kinesis::primitives::DateTime) (rounded to the nearest millisecond on the way back), blobs between [`Bytes`](bytes::Bytes)
//! and [`Blob`](aws_sdk_kinesis::primitives::Blob) without copying, enums through their wire spelling. Errors the service sends
//! become the [`Error`](crate::api::Error) variant of their exception name (`ResourceNotFoundException` becomes
//! [`Error::ResourceNotFound`](crate::api::Error::ResourceNotFound) with the service's message); failures below the protocol
//! (connection refused, timeouts, unreadable responses) become [`Error::Internal`](crate::api::Error::Internal) with the
//! SDK error kept as the source.
//!
//! # Building one
//!
//! * For `rill serve`, kinesalite or any local server: [`Remote::from_endpoint`] with the
//!   server's URL. It uses region `us-east-1` and static dummy credentials, reads nothing
//!   from the environment and needs no `async`. [`Remote::local`] does the same with the
//!   credentials to sign with (for `rill serve --auth`) and the certificates to trust (for
//!   `https://`, e.g. the file `rill serve --tls-self-signed` writes); [`LocalOptions::from_env`]
//!   reads both from the variables the AWS CLI uses.
//! * For Amazon Kinesis Data Streams: load an [`aws_config::SdkConfig`] (region and
//!   credentials from the environment, profile or instance role) and call
//!   [`Remote::from_conf`].
//! * For anything else (custom retry policy, timeouts, HTTP client, interceptors): build the
//!   [`aws_sdk_kinesis::Client`] yourself and call [`Remote::new`].
//!
//! The SDK's own retry policy applies below the trait: by default it makes up to three
//! attempts, and it retries throttling (`ProvisionedThroughputExceededException`,
//! `LimitExceededException`) and transient failures before [`Remote`] sees an error. Callers
//! that retry by themselves may want to pass a client built with
//! `aws_sdk_kinesis::config::retry::RetryConfig::disabled()` to [`Remote::new`].
//!
//! ```no_run
//! use rill_engine::Remote;
//! use rill_engine::api::*;
//!
//! # async fn demo() -> Result<(), Error> {
//! // A `rill serve` (or kinesalite) listening on this machine.
//! let kinesis: Box<dyn Kinesis> = Box::new(Remote::from_endpoint("http://127.0.0.1:4567"));
//! kinesis
//!     .create_stream(CreateStreamInput {
//!         stream_name: "orders".into(),
//!         shard_count: Some(1),
//!         ..Default::default()
//!     })
//!     .await?;
//! let put = kinesis
//!     .put_record(PutRecordInput {
//!         stream_name: Some("orders".into()),
//!         partition_key: "customer-1".into(),
//!         data: "hello".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! println!("{} {}", put.shard_id, put.sequence_number);
//!
//! // Amazon Kinesis Data Streams, with the region and credentials of the environment.
//! let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
//!     .load()
//!     .await;
//! let aws: Box<dyn Kinesis> = Box::new(Remote::from_conf(&conf));
//! let streams = aws.list_streams(ListStreamsInput::default()).await?;
//! println!("{:?}", streams.stream_names);
//! # Ok(())
//! # }
//! ```

mod account;
mod calls;
mod channels;
mod convert;
mod local;

pub use local::{LocalError, LocalOptions};

use crate::api::{Kinesis, Result};
use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sdk_kinesis::config::{BehaviorVersion, Region};

/// The [`Kinesis`] trait over an [`aws_sdk_kinesis::Client`]: every call is a request to a
/// Kinesis-compatible service (`rill serve`, Amazon Kinesis Data Streams, kinesalite).
///
/// Cheap to clone: clones share the SDK client and its connection pool.
#[derive(Debug, Clone)]
pub struct Remote {
    client: aws_sdk_kinesis::Client,
}

impl Remote {
    /// Wraps an SDK client built by the caller, with whatever region, credentials, endpoint,
    /// retry policy and timeouts it was configured with.
    pub fn new(client: aws_sdk_kinesis::Client) -> Remote {
        Remote { client }
    }

    /// A client for the service an [`aws_config::SdkConfig`] describes, usually Amazon Kinesis
    /// Data Streams with the region and credentials `aws_config` loaded from the environment
    /// (an `endpoint_url` in the configuration, for example from `AWS_ENDPOINT_URL`, is
    /// honoured).
    ///
    /// # Panics
    ///
    /// As [`aws_sdk_kinesis::Client::new`]: when the configuration lacks what the SDK needs to
    /// run (a sleep implementation when retries or timeouts are enabled). Configurations made
    /// by `aws_config::defaults(..).load()` always have it.
    pub fn from_conf(conf: &aws_config::SdkConfig) -> Remote {
        Remote::new(aws_sdk_kinesis::Client::new(conf))
    }

    /// A client for a local Kinesis-compatible server at `url` (for example
    /// `http://127.0.0.1:4567` for `rill serve` or kinesalite).
    ///
    /// Uses region `us-east-1` and static dummy credentials (access key id `rill`, secret key
    /// `rill`): requests are still signed with SigV4, which local servers accept or ignore.
    /// Nothing is read from the environment, so `AWS_*` variables and profiles have no effect.
    /// The SDK's default retry policy and timeouts apply.
    pub fn from_endpoint(url: &str) -> Remote {
        let conf = aws_sdk_kinesis::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::from_static("us-east-1"))
            .credentials_provider(Credentials::new("rill", "rill", None, None, "rill-static"))
            .endpoint_url(url)
            .build();
        Remote::new(aws_sdk_kinesis::Client::from_conf(conf))
    }

    /// The underlying SDK client, for operations the [`Kinesis`] trait does not cover
    /// (the channel operations and UpdateStreamRecordDistributionStrategy of newer SDKs), or
    /// for members it does not carry (`StreamId`).
    pub fn client(&self) -> &aws_sdk_kinesis::Client {
        &self.client
    }
}

/// `impl Kinesis for Remote`, from the operation table: each method is the function of the
/// same name in [`calls`].
macro_rules! remote_impl {
    (required { $($required:tt)* } provided { $($provided:tt)* }) => {
        remote_impl!(@lines $($required)* $($provided)*);
    };
    (@lines $((
        $op:ident, $method:ident, $input:ty, $output:ty,
        $plane:ident, [$($member:ident),*], $doc:literal
    ))*) => {
        #[async_trait]
        impl Kinesis for Remote {
            $(
                async fn $method(&self, input: $input) -> Result<$output> {
                    calls::$method(&self.client, input).await
                }
            )*
        }
    };
}

crate::kinesis_operations!(remote_impl);
