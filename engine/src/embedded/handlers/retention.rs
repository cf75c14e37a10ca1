//! IncreaseStreamRetentionPeriod and DecreaseStreamRetentionPeriod (24 to 8,760 hours).

use crate::api::*;
use crate::embedded::quotas::*;
use crate::embedded::{Engine, validate};
use crate::store::StoreError;
use std::sync::Arc;

impl Engine {
    async fn change_retention(
        &self,
        input: RetentionPeriodInput,
        increase: bool,
    ) -> Result<(), Error> {
        let mut v = ValidationErrors::new();
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        validate::range(
            &mut v,
            "retentionPeriodHours",
            Some(input.retention_period_hours),
            1,
            i32::MAX,
        );
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let hours = input.retention_period_hours;
        if hours < MIN_RETENTION_HOURS {
            return Err(Error::InvalidArgument(format!(
                "Minimum allowed retention period is {MIN_RETENTION_HOURS} hours. Requested retention period ({hours} hours) is too short."
            )));
        }
        if hours > MAX_RETENTION_HOURS {
            return Err(Error::InvalidArgument(format!(
                "Maximum allowed retention period is {MAX_RETENTION_HOURS} hours. Requested retention period ({hours} hours) is too long."
            )));
        }
        let hours = hours as u32;
        {
            let meta = stream.meta.read();
            Self::require_writable(self, &stream, &meta)?;
            let cur = meta.retention_hours;
            if increase && hours < cur {
                return Err(Error::InvalidArgument(format!(
                    "Requested retention period ({hours} hours) for stream {} can not be shorter than existing retention period ({cur} hours). Use DecreaseRetentionPeriod API.",
                    stream.name
                )));
            }
            if !increase && hours > cur {
                return Err(Error::InvalidArgument(format!(
                    "Requested retention period ({hours} hours) for stream {} can not be longer than existing retention period ({cur} hours). Use IncreaseRetentionPeriod API.",
                    stream.name
                )));
            }
        }
        let s = Arc::clone(&stream);
        self.catalog(move |catalog| {
            catalog
                .set_retention(s.epoch, hours)
                .map_err(StoreError::from)?;
            s.meta.write().retention_hours = hours;
            Ok(())
        })
        .await?;
        if !increase {
            let cutoff = self.now() - i64::from(hours) * 3_600_000;
            stream.log.enforce_retention(cutoff).await?;
        }
        Ok(())
    }
}

pub(crate) async fn increase_stream_retention_period(
    engine: &Engine,
    input: RetentionPeriodInput,
) -> Result<()> {
    engine.change_retention(input, true).await
}

pub(crate) async fn decrease_stream_retention_period(
    engine: &Engine,
    input: RetentionPeriodInput,
) -> Result<()> {
    engine.change_retention(input, false).await
}
