//! StartStreamEncryption and StopStreamEncryption (KMS keys from the engine's key ring).

use crate::api::*;
use crate::embedded::{Engine, validate};
use crate::store::StoreError;
use std::sync::Arc;

impl Engine {
    async fn set_encryption(&self, input: StreamEncryptionInput, start: bool) -> Result<()> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        if input.encryption_type.is_none() {
            v.null("encryptionType");
        }
        validate::length(&mut v, "keyId", &input.key_id, 1, 2048);
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let kind = input.encryption_type.unwrap_or(EncryptionType::None);
        if kind != EncryptionType::Kms {
            return Err(Error::InvalidArgument(format!(
                "EncryptionType {kind} is not supported: use KMS."
            )));
        }
        {
            let meta = stream.meta.read();
            if meta.status != StreamStatus::Active {
                return Err(Error::ResourceInUse(format!(
                    "Stream {} under account {} not ACTIVE, instead in state {}",
                    stream.name,
                    self.account(),
                    meta.status
                )));
            }
        }
        if start && !self.inner.config.kms_keys.contains(&input.key_id) {
            return Err(Error::KmsNotFound(format!(
                "KMS key {} is not available to this engine (give it in the key file, rill serve --kms-keys FILE).",
                input.key_id
            )));
        }
        // Hold puts back while the setting changes, so each put is wholly before or after.
        // The guard moves into the blocking task, which releases it once the catalog and
        // the metadata both say the new setting (even if this call is cancelled).
        let gate = Arc::clone(&stream.gate).write_owned().await;
        let (kind, key) = if start {
            (EncryptionType::Kms, Some(input.key_id.clone()))
        } else {
            (EncryptionType::None, None)
        };
        let s = Arc::clone(&stream);
        self.catalog(move |catalog| {
            catalog
                .set_encryption(s.epoch, kind.as_str(), key.as_deref())
                .map_err(StoreError::from)?;
            let mut m = s.meta.write();
            m.encryption = kind;
            m.key_id = key;
            drop(gate);
            Ok(())
        })
        .await?;
        tracing::info!(stream = %stream.name, encryption = %kind, "stream encryption changed");
        Ok(())
    }
}

pub(crate) async fn start_stream_encryption(
    engine: &Engine,
    input: StreamEncryptionInput,
) -> Result<()> {
    engine.set_encryption(input, true).await
}

pub(crate) async fn stop_stream_encryption(
    engine: &Engine,
    input: StreamEncryptionInput,
) -> Result<()> {
    engine.set_encryption(input, false).await
}
