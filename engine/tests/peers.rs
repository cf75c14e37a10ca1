//! Conformance with clients nobody here wrote: boto3, the AWS CLI and the AWS SDK for
//! JavaScript v3, each driving `rill serve` started on port 0. The peers are installed by
//! `scripts/peers` (called by `scripts/test`); under plain `cargo test` these tests are
//! ignored with the reason below.
