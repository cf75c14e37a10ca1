//! The fuzz harnesses: the body each cargo-fuzz target in `fuzz/fuzz_targets/` runs on one
//! input.
//!
//! This file is compiled twice: as `rill_fuzz::harness` for the fuzz targets, and into the
//! workspace test `engine/tests/fuzz_corpus.rs` (by `#[path]`), which replays every committed
//! corpus and regression input through the same functions on the stable toolchain. It uses
//! only rill-engine's public API and the crates both builds have.
//!
//! A harness returns normally for every input that rill handles correctly, including inputs
//! it rejects with an error; it panics only when an invariant of rill is broken.
//!
//! One module per family of targets: `input` (the input reader), `aggregate`, `requests`,
//! `eventstream`, `store`, and `seeds` (the seed inputs).

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use rill_engine::api::agg::{self, AggError, UserRecord};
use rill_engine::api::*;
use rill_engine::server::codec::Codec;
use rill_engine::store::{AppendRecord, FsyncPolicy, LogConfig, StoreError, StreamLog};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

mod aggregate;
mod eventstream;
mod input;
mod requests;
mod seeds;
mod store;

pub use aggregate::agg;
pub use eventstream::{eventstream_decode, eventstream_roundtrip};
use input::Input;
pub use requests::{request_cbor, request_json};
pub use seeds::seeds;
pub use store::store_recovery;

/// A harness: runs one fuzz input.
pub type Harness = fn(&[u8]);

/// The fuzz targets, each the name of a directory under `fuzz/corpus/` and
/// `fuzz/regressions/`, with its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("agg", agg),
    ("request_json", request_json),
    ("request_cbor", request_cbor),
    ("eventstream_roundtrip", eventstream_roundtrip),
    ("eventstream_decode", eventstream_decode),
    ("store_recovery", store_recovery),
];
