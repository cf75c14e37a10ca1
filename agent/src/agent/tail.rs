//! One tailed file: reading complete lines from its offset, and noticing rotation and
//! truncation (see the parent module, "Files").

use super::*;

/// A tailed file.
pub(super) struct Tail {
    pub(super) path: PathBuf,
    pub(super) file: File,
    /// Offset of the next byte to read.
    pub(super) read_pos: u64,
    /// Bytes of an incomplete line, starting at `line_start`.
    pub(super) buf: Vec<u8>,
    pub(super) line_start: u64,
    /// The current generation's acknowledgements.
    pub(super) acks: SharedAcks,
    /// The file's first bytes as read (up to [`HEAD_BYTES`]).
    pub(super) head: Vec<u8>,
    /// Set when the path no longer names this file: when it last grew.
    pub(super) rotated: Option<Instant>,
    /// A rotated file read to its end and closed for reading.
    pub(super) finished: bool,
}

impl Tail {
    pub(super) fn open(path: &Path, offset: u64) -> std::io::Result<Tail> {
        let mut file = File::open(path)?;
        let mut head = vec![0u8; HEAD_BYTES.min(offset as usize)];
        file.read_exact_at(&mut head, 0)?;
        file.seek(SeekFrom::Start(offset))?;
        Ok(Tail {
            path: path.to_owned(),
            file,
            read_pos: offset,
            buf: Vec::new(),
            line_start: offset,
            acks: Acks::new(offset),
            head,
            rotated: None,
            finished: false,
        })
    }

    /// Whether the file was truncated since the last read: shorter than the read offset,
    /// or its first bytes changed.
    pub(super) fn was_truncated(&self, len: u64) -> std::io::Result<bool> {
        if len < self.read_pos {
            return Ok(true);
        }
        if self.head.is_empty() {
            return Ok(false);
        }
        let mut now = vec![0u8; self.head.len()];
        self.file.read_exact_at(&mut now, 0)?;
        Ok(now != self.head)
    }

    /// Restarts at 0 after a copy-truncate, in a new generation (returned, for the
    /// checkpoint writer).
    pub(super) fn truncated(&mut self) -> std::io::Result<SharedAcks> {
        self.file.seek(SeekFrom::Start(0))?;
        self.read_pos = 0;
        self.buf.clear();
        self.line_start = 0;
        self.head.clear();
        // The old lines' records are still delivered; they no longer gate the checkpoint.
        self.acks = Acks::new(0);
        Ok(Arc::clone(&self.acks))
    }

    /// Reads complete lines: (line without newline, offset after it). Returns whether the
    /// file grew.
    pub(super) fn read_lines(&mut self, out: &mut Vec<(Bytes, u64)>) -> std::io::Result<bool> {
        let mut chunk = vec![0u8; 64 << 10];
        let mut total = 0;
        while total < READ_BUDGET {
            let n = match self.file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            total += n;
            if let Some(want) = HEAD_BYTES.checked_sub(self.head.len())
                && self.read_pos == self.head.len() as u64
            {
                self.head.extend_from_slice(&chunk[..n.min(want)]);
            }
            self.read_pos += n as u64;
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let mut consumed = 0;
        while let Some(i) = self.buf[consumed..].iter().position(|&b| b == b'\n') {
            let end = consumed + i;
            let mut line = &self.buf[consumed..end];
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            out.push((
                Bytes::copy_from_slice(line),
                self.line_start + end as u64 + 1,
            ));
            consumed = end + 1;
        }
        self.buf.drain(..consumed);
        self.line_start += consumed as u64;
        Ok(total > 0)
    }
}
