//! The write path: group commit (one leader writes and syncs the log for a group of
//! writers), the memtable inserts, and switching to a new memtable when one is full.

use super::*;

impl DbInner {
    // ----- writes ------------------------------------------------------------------

    /// Queues `req` for group commit and waits for its outcome.
    pub fn submit(&self, req: WriteRequest) -> Result<WriteOutcome, DatabaseError> {
        self.refuse_in_bulk_thread()?;
        self.check_writable()?;
        self.check_space(req.payload.len() as u64)?;
        self.guarded(|| self.submit_now(req))
    }

    fn submit_now(&self, req: WriteRequest) -> Result<WriteOutcome, DatabaseError> {
        let req = Arc::new(req);
        let mut queue = self.queue.lock();
        queue.pending.push(Arc::clone(&req));
        loop {
            if let Some(result) = req.result.lock().take() {
                return result;
            }
            if !queue.leader_active {
                queue.leader_active = true;
                let mut bytes = 0;
                let mut take = 0;
                for r in &queue.pending {
                    if take > 0 && bytes + r.bytes() > MAX_GROUP_BYTES {
                        break;
                    }
                    bytes += r.bytes();
                    take += 1;
                }
                let group: Vec<Arc<WriteRequest>> = queue.pending.drain(..take).collect();
                drop(queue);
                self.write_group(&group);
                queue = self.queue.lock();
                queue.leader_active = false;
                self.queue_cv.notify_all();
                continue;
            }
            self.queue_cv.wait(&mut queue);
        }
    }

    pub(super) fn write_group(&self, group: &[Arc<WriteRequest>]) {
        let fail_all = |e: DatabaseError| {
            for r in group {
                r.set(Err(e.clone()));
            }
        };
        let mut wal = self.wal.lock();
        if let Err(e) = self.check_writable() {
            return fail_all(e);
        }
        if let Err(e) = self.make_room(&mut wal) {
            return fail_all(e);
        }
        let sv = self.super_version.load_full();
        let mut seq = self.last_sequence();
        let track_keys = group.iter().any(|r| r.check.is_some() || r.report_existing);
        // Keys written by earlier members of this group: (sequence, still has a value).
        let mut group_keys: HashMap<&[u8], (u64, bool)> = HashMap::new();
        let mut framed = Vec::new();
        let mut accepted: Vec<(&Arc<WriteRequest>, u64, bool)> = Vec::with_capacity(group.len());
        for req in group {
            if let Some(check) = &req.check {
                if let Err(e) = self.validate(check, &sv, &group_keys) {
                    req.set(Err(e));
                    continue;
                }
            }
            let existed = if req.report_existing {
                match req.ops().next() {
                    Some(op) => match group_keys.get(op.key) {
                        Some(&(_, present)) => present,
                        None => match sv.get_entry(op.key, u64::MAX) {
                            Ok(found) => found.is_some_and(|(_, v)| v.is_some()),
                            Err(e) => {
                                req.set(Err(e));
                                continue;
                            }
                        },
                    },
                    None => false,
                }
            } else {
                false
            };
            let count = req.count();
            if count == 0 {
                req.set(Ok(WriteOutcome { existed }));
                continue;
            }
            let first = seq + 1;
            // Sealing (an encrypted database) can fail before anything is written: the
            // whole group fails, as none of it reached the log.
            if let Err(e) = wal.frame_batch(&mut framed, &req.payload, first) {
                return fail_all(e);
            }
            seq += count;
            if track_keys {
                for (i, op) in req.ops().enumerate() {
                    group_keys.insert(op.key, (first + i as u64, op.value.is_some()));
                }
            }
            accepted.push((req, first, existed));
        }
        if accepted.is_empty() {
            return;
        }
        let durable = wal.append(&framed).and_then(|()| {
            if self.config.durability == Durability::Sync {
                self.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
                wal.sync()
            } else {
                Ok(())
            }
        });
        if let Err(e) = durable {
            self.poison(format!("writing the log failed: {e}"));
            for (req, _, _) in &accepted {
                req.set(Err(e.clone()));
            }
            return;
        }
        let mut bytes = 0u64;
        for (req, first, _) in &accepted {
            if req.count() >= SORTED_INSERT_MIN {
                let versions = internal_order(req.ops(), *first);
                bytes += versions
                    .iter()
                    .map(|(k, _, v)| (k.len() + v.map_or(0, <[u8]>::len)) as u64)
                    .sum::<u64>();
                sv.mem.insert_many(&versions);
                continue;
            }
            for (i, op) in req.ops().enumerate() {
                sv.mem.insert(op.key, first + i as u64, op.value);
                bytes += (op.key.len() + op.value.map_or(0, <[u8]>::len)) as u64;
            }
        }
        // Publishing after every insert makes each batch appear to readers all at once.
        self.last_seq.store(seq, Ordering::Release);
        self.counters.write_groups.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_written
            .fetch_add(bytes, Ordering::Relaxed);
        for (req, _, existed) in accepted {
            req.set(Ok(WriteOutcome { existed }));
        }
    }

    pub(super) fn validate(
        &self,
        check: &ConflictCheck,
        sv: &SuperVersion,
        group_keys: &HashMap<&[u8], (u64, bool)>,
    ) -> Result<(), DatabaseError> {
        for (key, since) in &check.keys {
            let latest = match group_keys.get(key.as_slice()) {
                Some(&(seq, _)) => Some(seq),
                None => sv.get_entry(key, u64::MAX)?.map(|(seq, _)| seq),
            };
            if let Some(seq) = latest.filter(|s| s > since) {
                self.counters.conflicts.fetch_add(1, Ordering::Relaxed);
                return Err(DatabaseError::TransactionConflict {
                    key: key.clone(),
                    conflicting_tx: seq,
                });
            }
        }
        Ok(())
    }

    /// Switches to a fresh memtable when the current one is full, first waiting
    /// (a write stall) while too many are queued for flushing or level 0 is too deep.
    pub(super) fn make_room(&self, wal: &mut WalWriter) -> Result<(), DatabaseError> {
        let mut stalled: Option<(Instant, StallCause)> = None;
        loop {
            let sv = self.super_version.load();
            let full = sv.mem.approximate_bytes() >= self.config.write_buffer_size;
            let l0_stop = sv.version.levels[0].len() >= L0_STOP_WRITES;
            if !full && !l0_stop {
                break;
            }
            if full && !l0_stop && sv.imms.len() < MAX_IMMUTABLE_MEMTABLES {
                self.switch_memtable(wal)?;
                break;
            }
            self.check_writable()?;
            if self.closed.load(Ordering::Acquire) {
                return Err(DatabaseError::DatabaseClosed);
            }
            if stalled.is_none() {
                let cause = if l0_stop {
                    StallCause::Level0Backlog
                } else {
                    StallCause::MemtablesWaiting
                };
                stalled = Some((Instant::now(), cause));
                self.report_stall(cause, None);
            }
            let mut bg = self.bg.lock();
            bg.compaction_requested = true;
            self.bg_cv.notify_all();
            self.bg_cv.wait_for(&mut bg, Duration::from_millis(50));
            if let Some(err) = bg.error.clone() {
                return Err(DatabaseError::Poisoned { reason: err });
            }
        }
        if let Some((start, cause)) = stalled {
            let waited = start.elapsed();
            self.counters
                .stall_micros
                .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
            self.report_stall(cause, Some(waited));
        }
        Ok(())
    }

    /// Tells the listeners a stall began (`waited` is `None`) or ended. Called with the
    /// log lock held (the stalled writer is the group's leader); a listener that writes
    /// would wait for it, which the listener documentation warns against.
    fn report_stall(&self, cause: StallCause, waited: Option<Duration>) {
        self.listeners.emit(|l| {
            l.on_write_stall(&WriteStallInfo {
                cause,
                ended: waited.is_some(),
                duration: waited.unwrap_or_default(),
            })
        });
    }

    pub(super) fn switch_memtable(&self, wal: &mut WalWriter) -> Result<(), DatabaseError> {
        // The finished segment is made durable whatever the durability mode, and its
        // unused pre-extension zeros are cut off, before the next one exists: only the
        // newest segment can ever end in a torn record or in zeros.
        if let Err(e) = wal.seal() {
            self.poison(format!("syncing the log failed: {e}"));
            return Err(e);
        }
        let number = self.new_file_number();
        // Creating a segment syncs its header and the directory: a failure there is a
        // failed fsync like any other, so it poisons (never retried and trusted).
        let mut new_wal = WalWriter::create_keyed(
            self.fs.as_ref(),
            &self.path,
            number,
            self.config.checksum_algorithm,
            self.format_version.log_format_version(),
            self.cache.keys(),
        )
        .inspect_err(|e| self.poison(format!("creating a log segment failed: {e}")))?;
        new_wal.publish_to(Arc::clone(&self.wal_extent));
        *wal = new_wal;
        let _guard = self.sv_update.lock();
        let sv = self.super_version.load_full();
        let mut imms = Vec::with_capacity(sv.imms.len() + 1);
        imms.push(Arc::clone(&sv.mem));
        imms.extend(sv.imms.iter().cloned());
        let mem = Arc::new(MemTable::with_filter(
            number,
            self.config.write_buffer_size,
            self.config.memtable_index_min_versions,
        ));
        mem.set_index_waker(self.index_waker());
        self.super_version.store(Arc::new(SuperVersion {
            mem,
            imms,
            version: Arc::clone(&sv.version),
        }));
        self.bg_cv.notify_all();
        Ok(())
    }

    /// Makes every acknowledged write durable now.
    pub fn sync_wal(&self) -> Result<(), DatabaseError> {
        self.check_open()?;
        self.refuse_in_bulk_thread()?;
        let mut wal = self.wal.lock();
        wal.sync()
            .inspect_err(|e| self.poison(format!("syncing the log failed: {e}")))
    }
}
