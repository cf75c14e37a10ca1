//! `impl Kinesis for Engine`, generated from the [operation table](crate::api::ops): every
//! method checks that the engine is open (`ResourceInUseException` after
//! [`Engine::close`]), checks its input against the service model (see `conform`; the
//! write path's handlers do so themselves) and calls the handler of the same name in
//! `embedded::handlers`.

use super::{Engine, conform, handlers};
use crate::api::*;
use async_trait::async_trait;

macro_rules! engine_impl {
    (required { $($required:tt)* } provided { $($provided:tt)* }) => {
        engine_impl!(@lines $($required)* $($provided)*);
    };
    (@lines $((
        $op:ident, $method:ident, $input:ty, $output:ty,
        $plane:ident, [$($member:ident),*], $doc:literal
    ))*) => {
        #[async_trait]
        impl Kinesis for Engine {
            $(
                async fn $method(&self, input: $input) -> Result<$output> {
                    self.check_open()?;
                    let op = Operation::$op;
                    if conform::checked_before_handler(op)
                        && let Some(e) = conform::violations(op, &input)
                    {
                        return Err(e);
                    }
                    handlers::$method(self, input).await
                }
            )*
        }
    };
}

crate::kinesis_operations!(engine_impl);
