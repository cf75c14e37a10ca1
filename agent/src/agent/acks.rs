//! Acknowledgements and checkpoints: per file generation, which sent lines are
//! acknowledged; the checkpoint writer's thread, which records the committed offsets (see
//! the parent module, "Checkpoints and acknowledgements").

use super::*;

/// Acknowledgement state of one file generation (a copy-truncate starts a new one), shared
/// by the reader, the tasks awaiting acks and the checkpoint writer.
#[derive(Debug)]
pub(super) struct Acks {
    /// Index, in the generation, of the first line of `lines`.
    pub(super) base: u64,
    /// (offset after the line, acknowledged) of each line sent and not yet committed.
    pub(super) lines: VecDeque<(u64, bool)>,
    /// Every line before this offset is acknowledged.
    pub(super) committed: u64,
}

pub(super) type SharedAcks = Arc<Mutex<Acks>>;

impl Acks {
    pub(super) fn new(offset: u64) -> SharedAcks {
        Arc::new(Mutex::new(Acks {
            base: 0,
            lines: VecDeque::new(),
            committed: offset,
        }))
    }

    /// Queues a line ending at `end` (`done`: nothing to wait for); returns its index.
    pub(super) fn push(&mut self, end: u64, done: bool) -> u64 {
        let index = self.base + self.lines.len() as u64;
        self.lines.push_back((end, done));
        self.advance();
        index
    }

    /// Marks line `index` acknowledged.
    pub(super) fn ack(&mut self, index: u64) {
        if let Some(line) = index
            .checked_sub(self.base)
            .and_then(|i| self.lines.get_mut(i as usize))
        {
            line.1 = true;
        }
        self.advance();
    }

    pub(super) fn advance(&mut self) {
        while let Some(&(end, true)) = self.lines.front() {
            self.committed = end;
            self.lines.pop_front();
            self.base += 1;
        }
    }
}

/// A tailed file as the checkpoint writer sees it.
pub(super) struct Entry {
    pub(super) stream: Arc<str>,
    pub(super) path: PathBuf,
    pub(super) acks: SharedAcks,
    /// The checkpoint last written (`None`: never).
    pub(super) saved: Option<u64>,
}

/// The checkpoint store and every tailed file, keyed by (flow key, file id).
pub(super) struct Registry {
    pub(super) store: CheckpointStore,
    pub(super) entries: HashMap<(String, FileId), Entry>,
}

#[derive(Default)]
pub(super) struct Signal {
    pub(super) dirty: bool,
    pub(super) stop: bool,
}

/// Writes checkpoints as acknowledgements arrive, on a thread of its own.
pub(super) struct Checkpointer {
    pub(super) registry: Mutex<Registry>,
    pub(super) signal: Mutex<Signal>,
    pub(super) wakeup: Condvar,
    pub(super) stats: Arc<Stats>,
}

impl Checkpointer {
    pub(super) fn new(store: CheckpointStore, stats: Arc<Stats>) -> Checkpointer {
        Checkpointer {
            registry: Mutex::new(Registry {
                store,
                entries: HashMap::new(),
            }),
            signal: Mutex::new(Signal::default()),
            wakeup: Condvar::new(),
            stats,
        }
    }

    pub(super) fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    /// Asks for a write pass.
    pub(super) fn wake(&self) {
        lock(&self.signal).dirty = true;
        self.wakeup.notify_one();
    }

    /// Asks the writer to make a last pass and return.
    pub(super) fn stop(&self) {
        lock(&self.signal).stop = true;
        self.wakeup.notify_one();
    }

    /// Writes every changed checkpoint in one transaction; false if that failed.
    pub(super) fn write_pass(&self) -> bool {
        let mut registry = self.registry();
        let Registry { store, entries } = &mut *registry;
        let batch: Vec<Checkpoint> = entries
            .iter()
            .filter_map(|((flow, id), e)| {
                let committed = lock(&e.acks).committed;
                (e.saved != Some(committed)).then(|| Checkpoint {
                    flow: flow.clone(),
                    id: *id,
                    path: e.path.to_string_lossy().into_owned(),
                    offset: committed,
                })
            })
            .collect();
        if batch.is_empty() {
            return true;
        }
        match store.put_all(&batch) {
            Ok(()) => {
                for c in batch {
                    if let Some(e) = entries.get_mut(&(c.flow, c.id)) {
                        e.saved = Some(c.offset);
                        count(
                            &self.stats.checkpoints_written,
                            "CheckpointsWritten",
                            &e.stream,
                            1,
                        );
                    }
                }
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "writing checkpoints");
                false
            }
        }
    }

    /// The writer thread: a pass per wake-up (wake-ups during a pass fold into the next).
    pub(super) fn run(&self) {
        loop {
            let stop = {
                let mut signal = lock(&self.signal);
                while !signal.dirty && !signal.stop {
                    signal = self
                        .wakeup
                        .wait(signal)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                signal.dirty = false;
                signal.stop
            };
            let written = self.write_pass();
            if stop {
                return;
            }
            if !written {
                // The disk may be full or the file locked: try again, not in a tight loop.
                lock(&self.signal).dirty = true;
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}
