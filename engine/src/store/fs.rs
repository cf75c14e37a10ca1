//! The file operations the log uses, behind a trait: the store's I/O seam.
//!
//! Every byte the log reads or writes, every sync, truncation, rename and directory listing
//! goes through [`Fs`] and [`FileIo`]. [`StdFs`] is the real filesystem; a test can supply
//! its own implementation (see `engine/tests/store_model.rs`, which simulates short writes,
//! `EIO` on write and on `fdatasync`, `ENOSPC`, and a crash or power loss after any call)
//! to check the log's recovery without root or a special device.
//!
//! # Contract
//!
//! An implementation behaves as a POSIX filesystem does for one process:
//!
//! * [`FileIo::write_at`] may write fewer bytes than asked (a short write) and reports how
//!   many; the log retries the rest. Written bytes are visible to reads at once.
//! * Written bytes are durable (survive a power loss) only after [`FileIo::sync_data`] or
//!   [`FileIo::sync_all`] returned `Ok`; a file's length change (`set_len`, growth by a
//!   write) only after `sync_all`, or `sync_data` when the data needs it.
//! * A directory entry (a created, renamed or removed file) is durable only after
//!   [`Fs::sync_dir`] on its directory returned `Ok`.
//! * After a failed sync, nothing is known about the unsynced bytes: they may be on disk, in
//!   the cache, or gone. The log never assumes a later sync saves them.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// One open file of the log.
pub trait FileIo: Send + Sync + std::fmt::Debug {
    /// The file's current length in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Reads into `buf` at `offset`; returns how many bytes were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes `buf` at `offset`; returns how many bytes were written, possibly fewer.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;
    /// Makes the written data (and the length, where it changed) durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Makes the data and every attribute durable (`fsync`).
    fn sync_all(&self) -> io::Result<()>;
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
}

/// The filesystem operations of the log.
pub trait Fs: Send + Sync + std::fmt::Debug {
    /// Creates `dir` and its parents if they are missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the entries of `dir` (files and directories, not `.` or `..`).
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates `path` for reading and writing, empty (truncating a file that exists).
    fn create(&self, path: &Path) -> io::Result<Arc<dyn FileIo>>;
    /// Opens the existing file `path` for reading and writing.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn FileIo>>;
    /// Renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the file `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the entries of `dir` durable (`fsync` of the directory).
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// The length of the file `path`, without opening it where the filesystem allows (the
    /// default opens it).
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.open(path)?.size()
    }
}

/// The real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

impl FileIo for File {
    fn size(&self) -> io::Result<u64> {
        self.metadata().map(|m| m.len())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        FileExt::write_at(self, buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn sync_all(&self) -> io::Result<()> {
        File::sync_all(self)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}

impl Fs for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Arc::new(f))
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let f = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Arc::new(f))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        std::fs::metadata(path).map(|m| m.len())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// Writes all of `buf` at `offset`, going on after short writes; a write of zero bytes is
/// an error (`WriteZero`).
pub(crate) fn write_all_at(file: &dyn FileIo, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write_at(buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "write returned 0 bytes",
                ));
            }
            Ok(n) => {
                let n = n.min(buf.len());
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Fills `buf` from `offset`; reaching the end of the file first is `UnexpectedEof`.
pub(crate) fn read_exact_at(
    file: &dyn FileIo,
    mut buf: &mut [u8],
    mut offset: u64,
) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file ends before the bytes read",
                ));
            }
            Ok(n) => {
                let n = n.min(buf.len());
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads a whole file of `len` bytes.
pub(crate) fn read_all(file: &dyn FileIo, len: u64) -> io::Result<Vec<u8>> {
    let len = usize::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large to read"))?;
    let mut buf = vec![0u8; len];
    read_exact_at(file, &mut buf, 0)?;
    Ok(buf)
}
