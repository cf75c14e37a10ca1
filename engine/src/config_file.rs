//! Errors of the small configuration files `rill serve` reads at start (credentials for
//! `--auth`, keys for `--kms-keys`).
//!
//! Reading a file and parsing its text fail differently: a [`LoadError`] keeps the path and
//! either the I/O error or the file kind's own parse error (for example
//! `rill_engine::embedded::KeyRingError`) as its [`source`](std::error::Error::source).

use std::path::PathBuf;

/// A configuration file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError<E: std::error::Error + 'static> {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it reported.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but its text is not valid.
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with its text.
        #[source]
        source: E,
    },
}

/// Reads `path` and parses its text with `parse`. (Its callers, the credentials and key
/// files, are in the `embedded` and `server` features.)
#[cfg_attr(not(feature = "embedded"), allow(dead_code))]
pub(crate) fn load<T, E: std::error::Error + 'static>(
    path: &std::path::Path,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, LoadError<E>> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|source| LoadError::Parse {
        path: path.to_path_buf(),
        source,
    })
}
