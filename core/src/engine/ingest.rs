//! Ingestion: batches and bulk loads written straight to table files and installed with
//! one manifest edit.

use super::*;

impl DbInner {
    /// Writes a large batch straight into tables instead of through the log
    /// and memtable (ingestion). The table is durable before the manifest names it, and
    /// the manifest edit is one record, so the batch is all or nothing after a crash.
    ///
    /// Memtables are flushed first: reads look in memory before tables, so no older
    /// version of an ingested key may remain in a memtable.
    pub fn ingest_batch(&self, payload: &[u8]) -> Result<(), DatabaseError> {
        let count = u64::from(wal::batch_count(payload));
        if count == 0 {
            self.check_writable()?;
            return Ok(());
        }
        // Refused before anything is written while the disk is nearly full (self-healing).
        self.check_space(payload.len() as u64)?;
        let (wal, first) = self.begin_ingest()?;
        let last = first + count - 1;
        let (metas, bytes) = self.write_ops_run(
            payload.get(BATCH_HEADER_LEN..).unwrap_or_default(),
            first,
            true,
        )?;
        self.install_ingested(&metas, last, bytes)?;
        drop(wal);
        Ok(())
    }

    /// Writes encoded batch operations (operation `i` taking sequence `first + i`) as a
    /// sorted run, keeping the last operation on each key; returns the run and the key and
    /// value bytes kept.
    pub(crate) fn write_ops_run(
        &self,
        ops: &[u8],
        first: u64,
        durable: bool,
    ) -> Result<(Vec<TableMeta>, u64), DatabaseError> {
        // Later operations on a key win: in internal order the newest version of each key
        // comes first, and only it is kept.
        let mut ops = internal_order(BatchOps::new(ops), first);
        ops.dedup_by(|later, earlier| later.0 == earlier.0);
        let metas = self.write_run(durable, |add| {
            for &(key, seq, value) in &ops {
                add(key, seq, value)?;
            }
            Ok(())
        })?;
        let bytes = ops
            .iter()
            .map(|(key, _, value)| (key.len() + value.map_or(0, <[u8]>::len)) as u64)
            .sum();
        Ok((metas, bytes))
    }

    /// Takes the log lock for an ingestion (a batch or a bulk load) and returns it with
    /// the first sequence number the ingestion may use. Memtables are flushed first:
    /// reads look in memory before tables, so no older version of an ingested key may
    /// remain in a memtable.
    pub(crate) fn begin_ingest(
        &self,
    ) -> Result<(parking_lot::MutexGuard<'_, WalWriter>, u64), DatabaseError> {
        self.refuse_in_bulk_thread()?;
        self.check_writable()?;
        self.check_space(0)?;
        // Holding the log lock keeps every other writer out until the data is visible.
        let mut wal = self.wal.lock();
        self.check_writable()?;
        if !self.super_version.load().mem.is_empty() {
            self.switch_memtable(&mut wal)?;
        }
        self.wait_for_flushes(|| self.check_writable())?;
        Ok((wal, self.last_sequence() + 1))
    }

    /// Marks the calling thread as the holder of an open bulk load (`true`) or clears it.
    pub(crate) fn set_bulk_owner(&self, held: bool) {
        *self.bulk_owner.lock() = held.then(|| std::thread::current().id());
        self.bulk_active.store(held, Ordering::Release);
    }

    /// Writes the versions `feed` hands over (in internal order, one per key) as a sorted
    /// run of new table files, not yet part of any version. Tombstones are kept: older
    /// versions of their keys may sit in deeper levels.
    pub(crate) fn write_run(
        &self,
        durable: bool,
        feed: impl FnOnce(
            &mut dyn FnMut(&[u8], u64, Option<&[u8]>) -> Result<(), DatabaseError>,
        ) -> Result<(), DatabaseError>,
    ) -> Result<Vec<TableMeta>, DatabaseError> {
        let never_bottom = |_: &[u8]| false;
        let new_number = || self.new_file_number();
        let ctx = RunContext {
            fs: self.fs.as_ref(),
            dir: &self.path,
            build: BuildOptions {
                durable,
                ..build_options(&self.config, &self.cache)
            },
            target_file_bytes: self.targets.target_file_bytes.max(64 << 20),
            smallest_snapshot: 0,
            next_file_number: &new_number,
        };
        let mut writer = RunWriter::new(ctx, &never_bottom);
        let fed = feed(&mut |key, seq, value| writer.add(key, seq, value));
        match fed {
            Ok(()) => writer.finish(),
            Err(e) => {
                writer.abandon();
                Err(e)
            }
        }
    }

    /// Makes the tables of an ingestion (written by [`Self::write_run`], holding
    /// sequence numbers up to `last`) part of the database in one manifest edit. The
    /// caller holds the log lock taken by [`Self::begin_ingest`].
    pub(crate) fn install_ingested(
        &self,
        metas: &[TableMeta],
        last: u64,
        bytes: u64,
    ) -> Result<(), DatabaseError> {
        let tables = self.open_tables(metas)?;
        // Each table goes to the deepest level nothing at or above overlaps (as RocksDB
        // places ingested files), so bulk-loaded data is read as one sorted run rather
        // than as level-0 files every read must probe. Only while no compaction runs: one
        // could otherwise write overlapping output behind the choice.
        let compaction_idle = self.compaction_lock.try_lock();
        let _guard = self.sv_update.lock();
        let current = self.versions.lock().current.clone();
        let placed = metas
            .iter()
            .map(|m| {
                let level = match compaction_idle {
                    Some(_) => current.deepest_free_level(&m.smallest, &m.largest),
                    None => 0,
                };
                (level, m.clone())
            })
            .collect();
        let edit = VersionEdit {
            log_number: None,
            next_file_number: Some(self.next_file.load(Ordering::SeqCst)),
            last_sequence: Some(last),
            deleted: Vec::new(),
            added: placed,
        };
        let version = self.install_edit(&edit, tables, &[])?;
        self.publish_version(version);
        self.last_seq.store(last, Ordering::Release);
        drop(_guard);
        drop(compaction_idle);
        self.counters
            .bytes_written
            .fetch_add(bytes, Ordering::Relaxed);
        self.counters
            .ingested_batches
            .fetch_add(1, Ordering::Relaxed);
        let mut bg = self.bg.lock();
        bg.compaction_requested = true;
        self.bg_cv.notify_all();
        Ok(())
    }
}
