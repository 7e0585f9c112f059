//! Background work: flushes, compactions, memtable seek-index builds and periodic log
//! syncs, and the calls that wait for them.

use super::*;

impl DbInner {
    /// Moves the current memtable to disk and waits until every memtable is flushed.
    pub fn flush(&self) -> Result<(), DatabaseError> {
        self.refuse_in_bulk_thread()?;
        self.check_writable()?;
        self.guarded(|| {
            {
                let mut wal = self.wal.lock();
                if !self.super_version.load().mem.is_empty() {
                    self.switch_memtable(&mut wal)?;
                }
            }
            // A flush being retried behind an open breaker is not waited for.
            self.wait_for_flushes(|| {
                self.check_open()?;
                self.refuse_if_breaker_open()
            })
        })
    }

    /// Waits until every immutable memtable is flushed, failing when background work
    /// failed for good or when `still_allowed` says the caller may not go on waiting.
    pub(super) fn wait_for_flushes(
        &self,
        still_allowed: impl Fn() -> Result<(), DatabaseError>,
    ) -> Result<(), DatabaseError> {
        let mut bg = self.bg.lock();
        loop {
            if let Some(err) = bg.error.clone() {
                return Err(DatabaseError::Poisoned { reason: err });
            }
            // A flush counts as done once its listeners were told (so a caller of
            // `flush` finds their effects).
            if self.super_version.load().imms.is_empty() && !bg.flush_running {
                return Ok(());
            }
            still_allowed()?;
            self.bg_cv.notify_all();
            self.bg_cv.wait_for(&mut bg, Duration::from_millis(20));
        }
    }

    /// Flushes, then merges every table into one level, dropping every overwritten
    /// version and tombstone that no snapshot needs.
    pub fn compact_all(&self) -> Result<(), DatabaseError> {
        self.flush()?;
        self.guarded(|| self.compact_all_now())
    }

    /// Merges every table into one level without flushing first (self-healing reclaiming
    /// disk space: a flush would need room).
    pub(crate) fn compact_tables(&self) -> Result<(), DatabaseError> {
        self.check_writable()?;
        self.guarded(|| self.compact_all_now())
    }

    fn compact_all_now(&self) -> Result<(), DatabaseError> {
        let _c = self.compaction_lock.lock();
        let version = self.versions.lock().current.clone();
        if let Some(job) = compaction::full(&version) {
            let started = Instant::now();
            match self.run_compaction(&job, &version) {
                Ok(outputs) => {
                    let info = compaction_info(&job, outputs, started.elapsed());
                    drop((job, version, _c));
                    self.report_compaction(info);
                }
                Err(e) => {
                    let poisoned = self.is_poisoned.load(Ordering::Acquire);
                    self.report_background_error(BackgroundJob::Compaction, &e, poisoned);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    // ----- background work -----------------------------------------------------------

    /// What a memtable calls when its searches want a seek index: the flush thread
    /// builds it, so no reader waits for the walk.
    pub(super) fn index_waker(&self) -> crate::storage::skiplist::IndexWaker {
        let me = self.weak_self.get().cloned().unwrap_or_default();
        Box::new(move || {
            if let Some(inner) = me.upgrade() {
                inner.bg.lock().index_requested = true;
                inner.bg_cv.notify_all();
            }
        })
    }

    /// Builds the active memtable's seek index if its searches asked for one, or (with
    /// `quiet`) if its index missed inserts that raced the build and none came since the
    /// last tick, so a rebuild now is exact. Immutable memtables are not indexed: they
    /// are about to be flushed. A build gives way when a memtable waits to be flushed or
    /// the database closes. Returns whether an index was built.
    pub(super) fn build_memtable_index(&self, quiet: bool) -> bool {
        let mem = Arc::clone(&self.super_version.load().mem);
        let give_way =
            || self.closed.load(Ordering::Acquire) || !self.super_version.load().imms.is_empty();
        if quiet {
            mem.refresh_index_if_quiet(&give_way)
        } else {
            mem.build_index_if_wanted(&give_way)
        }
    }

    pub(super) fn flush_loop(self: Arc<Self>) {
        enum Work {
            Flush,
            Index,
            Tick,
        }
        // Index builds are paced to take at most a tenth of this thread's time, so a
        // workload that writes fast and reads now and then does not rebuild endlessly.
        let mut index_not_before = Instant::now();
        loop {
            let work = {
                let mut bg = self.bg.lock();
                loop {
                    if bg.shutdown || bg.error.is_some() {
                        return;
                    }
                    if !self.super_version.load().imms.is_empty() {
                        bg.flush_running = true;
                        break Work::Flush;
                    }
                    let now = Instant::now();
                    if bg.index_requested {
                        if now >= index_not_before {
                            bg.index_requested = false;
                            break Work::Index;
                        }
                        self.bg_cv.wait_for(&mut bg, index_not_before - now);
                        continue;
                    }
                    if self
                        .bg_cv
                        .wait_for(&mut bg, Duration::from_millis(200))
                        .timed_out()
                        && now >= index_not_before
                    {
                        break Work::Tick;
                    }
                }
            };
            match work {
                Work::Index | Work::Tick => {
                    let started = Instant::now();
                    if self.build_memtable_index(matches!(work, Work::Tick)) {
                        index_not_before = Instant::now() + started.elapsed() * 9;
                    }
                    continue;
                }
                Work::Flush => {}
            }
            let mut attempt = 0;
            let flushed = loop {
                let result = self.flush_oldest();
                self.observe_background(&result);
                match result {
                    Err(e) if self.may_retry(&e, attempt) => {
                        self.counters
                            .background_errors
                            .fetch_add(1, Ordering::Relaxed);
                        if !self.back_off(BackgroundJob::Flush, &e, attempt) {
                            // Closing: the log still holds the memtable.
                            self.bg.lock().flush_running = false;
                            return;
                        }
                        attempt += 1;
                    }
                    other => break other,
                }
            };
            self.bg.lock().flush_running = false;
            if let Err(e) = flushed {
                self.counters
                    .background_errors
                    .fetch_add(1, Ordering::Relaxed);
                let reason = format!("flushing a memtable failed: {e}");
                self.poison(reason.clone());
                self.report_background_error(BackgroundJob::Flush, &e, true);
                self.bg.lock().error = Some(reason);
                self.bg_cv.notify_all();
                return;
            }
            let mut bg = self.bg.lock();
            bg.compaction_requested = true;
            self.bg_cv.notify_all();
        }
    }

    pub(super) fn flush_oldest(&self) -> Result<(), DatabaseError> {
        let Some(imm) = self.super_version.load().imms.last().cloned() else {
            return Ok(());
        };
        let started = Instant::now();
        let smallest_snapshot = self.smallest_snapshot();
        let never_bottom = |_: &[u8]| false;
        let new_number = || self.new_file_number();
        let ctx = RunContext {
            fs: self.fs.as_ref(),
            dir: &self.path,
            build: build_options(&self.config, &self.cache),
            target_file_bytes: u64::MAX,
            smallest_snapshot,
            next_file_number: &new_number,
        };
        let mut writer = RunWriter::new(ctx, &never_bottom);
        for (key, seq, value) in imm.entries() {
            if let Err(e) = writer.add(key, seq, value) {
                writer.abandon();
                return Err(e);
            }
        }
        let metas = writer.finish()?;
        let tables = self.open_tables(&metas)?;

        let _guard = self.sv_update.lock();
        let sv = self.super_version.load_full();
        let imms: Vec<Arc<MemTable>> = sv
            .imms
            .iter()
            .filter(|m| !Arc::ptr_eq(m, &imm))
            .cloned()
            .collect();
        let log_number = imms
            .iter()
            .map(|m| m.wal_number)
            .chain(std::iter::once(sv.mem.wal_number))
            .min()
            .unwrap_or(sv.mem.wal_number);
        let edit = VersionEdit {
            log_number: Some(log_number),
            next_file_number: Some(self.next_file.load(Ordering::SeqCst)),
            last_sequence: Some(self.last_sequence()),
            deleted: Vec::new(),
            added: metas.iter().map(|m| (0, m.clone())).collect(),
        };
        let version = self.install_edit(&edit, tables, &[])?;
        self.super_version.store(Arc::new(SuperVersion {
            mem: Arc::clone(&sv.mem),
            imms,
            version,
        }));
        drop(_guard);
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        self.remove_logs_below(log_number);
        let waiting = self.super_version.load().imms.len();
        self.listeners.emit(|l| {
            l.on_flush_completed(&FlushInfo {
                tables: metas.iter().map(|m| m.number).collect(),
                entries: metas.iter().map(|m| m.entries).sum(),
                bytes_written: metas.iter().map(|m| m.file_size).sum(),
                duration: started.elapsed(),
                memtables_waiting: waiting,
            })
        });
        Ok(())
    }

    pub(super) fn open_tables(
        &self,
        metas: &[TableMeta],
    ) -> Result<Vec<Arc<Table>>, DatabaseError> {
        metas
            .iter()
            .map(|m| {
                Table::open(
                    Arc::clone(&self.fs),
                    &self.path,
                    m.number,
                    Arc::clone(&self.cache),
                )
                .map(Arc::new)
            })
            .collect()
    }

    /// Records `edit` in the manifest and makes the resulting version current.
    /// Callers hold `sv_update`. A manifest that cannot be written poisons the database.
    pub(super) fn install_edit(
        &self,
        edit: &VersionEdit,
        added: Vec<Arc<Table>>,
        removed: &[Arc<Table>],
    ) -> Result<Arc<Version>, DatabaseError> {
        let mut versions = self.versions.lock();
        if let Err(e) = versions.manifest.append(edit) {
            self.poison(format!("writing the manifest failed: {e}"));
            return Err(e);
        }
        let mut next = (*versions.current).clone();
        for level in next.levels.iter_mut() {
            level.retain(|t| !removed.iter().any(|r| r.number == t.number));
        }
        let levels_of: HashMap<u64, usize> =
            edit.added.iter().map(|(l, m)| (m.number, *l)).collect();
        for table in added {
            let level = levels_of.get(&table.number).copied().unwrap_or(0);
            next.levels[level].push(table);
        }
        next.normalize();
        for t in removed {
            // A moved table is removed from one level and added to another: still live.
            if !levels_of.contains_key(&t.number) {
                t.mark_obsolete();
            }
        }
        let next = Arc::new(next);
        versions.current = Arc::clone(&next);
        Ok(next)
    }

    /// Deletes log segments whose records are all in tables. `log_number` comes from
    /// the oldest live memtable, so the segment being written is never below it (and
    /// this must not take the `wal` lock: an ingesting writer holds it while waiting
    /// for flushes).
    pub(super) fn remove_logs_below(&self, log_number: u64) {
        if let Ok(names) = self.fs.list_dir(&self.path) {
            for name in names {
                if let Some(n) = parse_number(&name, ".log") {
                    if n < log_number {
                        let _ = self.fs.remove_file(&self.path.join(name));
                    }
                }
            }
        }
    }

    pub(super) fn compaction_loop(self: Arc<Self>) {
        let mut failures = 0usize;
        let mut give_ups = 0u64;
        loop {
            {
                let mut bg = self.bg.lock();
                while !bg.shutdown && bg.error.is_none() && !bg.compaction_requested {
                    self.bg_cv.wait_for(&mut bg, Duration::from_millis(500));
                }
                if bg.shutdown || bg.error.is_some() {
                    return;
                }
                bg.compaction_requested = false;
            }
            loop {
                let _c = self.compaction_lock.lock();
                let version = self.versions.lock().current.clone();
                let Some(job) = compaction::pick(&version, &self.targets) else {
                    break;
                };
                let started = Instant::now();
                let outcome = if job.is_trivial_move() {
                    self.move_tables(&job)
                } else {
                    self.run_compaction(&job, &version)
                };
                self.observe_background(&outcome);
                match outcome {
                    Ok(outputs) => {
                        failures = 0;
                        give_ups = 0;
                        let info = compaction_info(&job, outputs, started.elapsed());
                        drop((job, version, _c));
                        self.report_compaction(info);
                    }
                    Err(e) => {
                        self.counters
                            .background_errors
                            .fetch_add(1, Ordering::Relaxed);
                        drop(_c);
                        // A failed compaction loses nothing (its inputs stay live): a
                        // transient failure is retried after a backoff (the job is picked
                        // again, as the version may have moved on); once the retries are
                        // spent, the next request tries again.
                        if self.may_retry(&e, failures) {
                            if !self.back_off(BackgroundJob::Compaction, &e, failures) {
                                return;
                            }
                            failures += 1;
                            continue;
                        }
                        failures = 0;
                        give_ups += 1;
                        let poisoned = self.is_poisoned.load(Ordering::Acquire);
                        self.report_background_error(BackgroundJob::Compaction, &e, poisoned);
                        if poisoned {
                            return;
                        }
                        // Stalled writers request compactions often: a compaction that
                        // keeps failing waits longer each time before the next request
                        // is served.
                        if !self.pause(Duration::from_millis(100 * give_ups.min(50))) {
                            return;
                        }
                        break;
                    }
                }
                if self.bg.lock().shutdown {
                    return;
                }
            }
        }
    }

    /// Makes `version` the one readers see, keeping the current memtables. Callers hold
    /// `sv_update`, so no other change to the super version can interleave.
    pub(super) fn publish_version(&self, version: Arc<Version>) {
        let sv = self.super_version.load_full();
        self.super_version.store(Arc::new(SuperVersion {
            mem: Arc::clone(&sv.mem),
            imms: sv.imms.clone(),
            version,
        }));
    }

    /// Tells the listeners a compaction was installed. Callers have dropped the job and
    /// the version it was picked from first: those hold the replaced tables, whose files
    /// are removed only when the last holder lets go, and a listener may take its time.
    pub(super) fn report_compaction(&self, info: CompactionInfo) {
        self.listeners.emit(|l| l.on_compaction_completed(&info));
    }

    /// Counts nothing (callers do) and tells the listeners that background work failed.
    pub(super) fn report_background_error(
        &self,
        job: BackgroundJob,
        error: &DatabaseError,
        poisoned: bool,
    ) {
        self.listeners.emit(|l| {
            l.on_background_error(&BackgroundErrorInfo {
                job,
                code: error.error_code(),
                message: error.to_string(),
                poisoned,
            })
        });
    }

    /// Carries out a trivial-move job: the manifest relabels the input files to the output
    /// level, and no byte of table data is rewritten.
    pub(super) fn move_tables(
        &self,
        job: &compaction::CompactionJob,
    ) -> Result<Option<Vec<TableMeta>>, DatabaseError> {
        let moved: Vec<Arc<Table>> = job.inputs.iter().map(|(_, t)| Arc::clone(t)).collect();
        let edit = VersionEdit {
            log_number: None,
            next_file_number: None,
            last_sequence: None,
            deleted: job.inputs.iter().map(|(l, t)| (*l, t.number)).collect(),
            added: moved
                .iter()
                .map(|t| (job.output_level, meta_of(t)))
                .collect(),
        };
        let _guard = self.sv_update.lock();
        let version = self.install_edit(&edit, moved.clone(), &moved)?;
        self.publish_version(version);
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(None)
    }

    /// Merges the job's inputs into new tables at its output level and installs them.
    pub(super) fn run_compaction(
        &self,
        job: &compaction::CompactionJob,
        version: &Version,
    ) -> Result<Option<Vec<TableMeta>>, DatabaseError> {
        let new_number = || self.new_file_number();
        let ctx = RunContext {
            fs: self.fs.as_ref(),
            dir: &self.path,
            build: build_options(&self.config, &self.cache),
            target_file_bytes: self.targets.target_file_bytes,
            smallest_snapshot: self.smallest_snapshot(),
            next_file_number: &new_number,
        };
        let metas = compaction::run(job, version, ctx)?;
        let tables = self.open_tables(&metas)?;
        let removed: Vec<Arc<Table>> = job.inputs.iter().map(|(_, t)| Arc::clone(t)).collect();
        let edit = VersionEdit {
            log_number: None,
            next_file_number: Some(self.next_file.load(Ordering::SeqCst)),
            last_sequence: None,
            deleted: job.inputs.iter().map(|(l, t)| (*l, t.number)).collect(),
            added: metas
                .iter()
                .map(|m| (job.output_level, m.clone()))
                .collect(),
        };
        let _guard = self.sv_update.lock();
        let version = self.install_edit(&edit, tables, &removed)?;
        self.publish_version(version);
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        self.counters
            .compaction_bytes_written
            .fetch_add(metas.iter().map(|m| m.file_size).sum(), Ordering::Relaxed);
        Ok(Some(metas))
    }

    pub(super) fn periodic_sync_loop(self: Arc<Self>, ms: u64) {
        let period = Duration::from_millis(ms.max(1));
        loop {
            {
                let mut bg = self.bg.lock();
                if !bg.shutdown {
                    self.bg_cv.wait_for(&mut bg, period);
                }
                if bg.shutdown {
                    return;
                }
            }
            let mut wal = self.wal.lock();
            if let Err(e) = wal.sync() {
                self.poison(format!("periodic log sync failed: {e}"));
                drop(wal);
                self.report_background_error(BackgroundJob::PeriodicSync, &e, true);
                return;
            }
        }
    }
}

/// What the listeners hear of an installed compaction; `outputs` are its new tables
/// (`None` for a move, whose outputs are its inputs).
pub(super) fn compaction_info(
    job: &compaction::CompactionJob,
    outputs: Option<Vec<TableMeta>>,
    duration: Duration,
) -> CompactionInfo {
    CompactionInfo {
        inputs: job.inputs.iter().map(|(lv, t)| (*lv, t.number)).collect(),
        output_level: job.output_level,
        outputs: match &outputs {
            Some(metas) => metas.iter().map(|m| m.number).collect(),
            None => job.inputs.iter().map(|(_, t)| t.number).collect(),
        },
        bytes_read: job.inputs.iter().map(|(_, t)| t.file_size).sum(),
        bytes_written: outputs.iter().flatten().map(|m| m.file_size).sum(),
        trivial_move: outputs.is_none(),
        duration,
    }
}
