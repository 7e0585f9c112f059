//! Choosing and running compactions, and writing sorted runs (shared with flushes).
//!
//! Leveled: level 0 is merged into level 1 once it holds [`L0_COMPACTION_TRIGGER`]
//! files; a deeper level over its size target has one file merged into the next level.
//! Each level's target is ten times the one above, which bounds space amplification
//! to about 1.1x and write amplification to roughly ten per level.

use std::path::Path;
use std::sync::Arc;

use super::fs::FileSystem;
use super::iter::{MergingCursor, Source};
use super::table::builder::{BuildOptions, TableBuilder, TableMeta};
use super::table::reader::{Table, TableCursor};
use super::table::table_file_name;
use super::version::{Version, NUM_LEVELS};
use crate::error::DatabaseError;

/// Level-0 file count that triggers a level-0 compaction.
pub const L0_COMPACTION_TRIGGER: usize = 4;
/// Level-0 file count at which writers are slowed until compaction catches up.
pub const L0_STOP_WRITES: usize = 20;

/// Size targets that drive compaction.
#[derive(Debug, Clone, Copy)]
pub struct LevelTargets {
    /// Target bytes of level 1; each deeper level is ten times larger.
    pub level1_bytes: u64,
    /// Output files are cut near this size (at a user-key boundary).
    pub target_file_bytes: u64,
}

impl LevelTargets {
    /// Derives targets from the write buffer size.
    pub fn from_write_buffer(write_buffer_size: usize) -> Self {
        let wb = write_buffer_size as u64;
        Self {
            level1_bytes: (wb * 4).max(8 << 20),
            target_file_bytes: wb.clamp(2 << 20, 64 << 20),
        }
    }

    fn level_target(&self, level: usize) -> u64 {
        let mut t = self.level1_bytes;
        for _ in 1..level {
            t = t.saturating_mul(10);
        }
        t
    }
}

/// One planned compaction.
#[derive(Debug, Clone)]
pub struct CompactionJob {
    /// Input tables and the level each comes from.
    pub inputs: Vec<(usize, Arc<Table>)>,
    /// Where the output goes.
    pub output_level: usize,
    /// Rewrite every input even where relabelling would do (a key rotation re-seals
    /// every table under the new key).
    pub rewrite: bool,
}

impl CompactionJob {
    /// True when the inputs can simply be relabelled to the output level: they all come
    /// from the level above it and none overlaps another or anything already there (the
    /// picker adds every overlapping table of the output level to the inputs).
    pub fn is_trivial_move(&self) -> bool {
        if self.rewrite || self.inputs.iter().any(|(l, _)| *l + 1 != self.output_level) {
            return false;
        }
        let mut ranges: Vec<(&[u8], &[u8])> = self
            .inputs
            .iter()
            .map(|(_, t)| (t.props.smallest.as_slice(), t.props.largest.as_slice()))
            .collect();
        ranges.sort_unstable();
        ranges.windows(2).all(|w| w[0].1 < w[1].0)
    }
}

/// Picks the most urgent compaction, if any level needs one.
pub fn pick(version: &Version, targets: &LevelTargets) -> Option<CompactionJob> {
    if version.levels[0].len() >= L0_COMPACTION_TRIGGER {
        let l0 = &version.levels[0];
        let smallest = l0.iter().map(|t| t.props.smallest.as_slice()).min()?;
        let largest = l0.iter().map(|t| t.props.largest.as_slice()).max()?;
        let mut inputs: Vec<(usize, Arc<Table>)> = l0.iter().map(|t| (0, Arc::clone(t))).collect();
        inputs.extend(
            version
                .overlapping(1, smallest, largest)
                .into_iter()
                .map(|t| (1, t)),
        );
        return Some(CompactionJob {
            inputs,
            output_level: 1,
            rewrite: false,
        });
    }
    let mut best: Option<(f64, usize)> = None;
    for level in 1..NUM_LEVELS - 1 {
        let score = version.level_bytes(level) as f64 / targets.level_target(level) as f64;
        if score > 1.0 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, level));
        }
    }
    let (_, level) = best?;
    // The file with the most tombstones per entry goes first: it frees the most space;
    // ties go to the oldest data.
    let table = version.levels[level].iter().max_by(|a, b| {
        let da = a.props.tombstones as f64 / a.props.entries.max(1) as f64;
        let db = b.props.tombstones as f64 / b.props.entries.max(1) as f64;
        da.total_cmp(&db)
            .then(b.props.max_seq.cmp(&a.props.max_seq))
    })?;
    let mut inputs = vec![(level, Arc::clone(table))];
    inputs.extend(
        version
            .overlapping(level + 1, &table.props.smallest, &table.props.largest)
            .into_iter()
            .map(|t| (level + 1, t)),
    );
    Some(CompactionJob {
        inputs,
        output_level: level + 1,
        rewrite: false,
    })
}

/// A job that merges every table into one level (manual full compaction).
pub fn full(version: &Version) -> Option<CompactionJob> {
    let inputs: Vec<(usize, Arc<Table>)> = version
        .all_tables()
        .map(|(l, t)| (l, Arc::clone(t)))
        .collect();
    if inputs.is_empty() {
        return None;
    }
    let deepest = inputs.iter().map(|(l, _)| *l).max().unwrap_or(1).max(1);
    Some(CompactionJob {
        inputs,
        output_level: deepest,
        rewrite: false,
    })
}

/// [`full`], rewriting every table even where a move would do.
pub fn full_rewrite(version: &Version) -> Option<CompactionJob> {
    full(version).map(|job| CompactionJob {
        rewrite: true,
        ..job
    })
}

/// Where and how a run writer makes its files.
pub struct RunContext<'a> {
    /// The file system.
    pub fs: &'a dyn FileSystem,
    /// The database directory.
    pub dir: &'a Path,
    /// Table options.
    pub build: BuildOptions,
    /// Output files are cut near this size.
    pub target_file_bytes: u64,
    /// No snapshot older than this exists: older shadowed versions may go.
    pub smallest_snapshot: u64,
    /// Hands out file numbers.
    pub next_file_number: &'a dyn Fn() -> u64,
}

/// Writes versions given in internal order into one or more tables, dropping versions
/// no snapshot can see and, where `bottommost` says no deeper data exists, tombstones.
pub struct RunWriter<'a> {
    ctx: RunContext<'a>,
    bottommost: &'a dyn Fn(&[u8]) -> bool,
    builder: Option<TableBuilder>,
    outputs: Vec<TableMeta>,
    prev_key: Vec<u8>,
    have_prev: bool,
    shadow_seq: Option<u64>,
    /// Versions dropped as invisible.
    pub dropped_versions: u64,
    /// Tombstones dropped at the bottom.
    pub dropped_tombstones: u64,
}

impl<'a> RunWriter<'a> {
    /// A writer with the given context and bottommost test.
    pub fn new(ctx: RunContext<'a>, bottommost: &'a dyn Fn(&[u8]) -> bool) -> Self {
        Self {
            ctx,
            bottommost,
            builder: None,
            outputs: Vec::new(),
            prev_key: Vec::new(),
            have_prev: false,
            shadow_seq: None,
            dropped_versions: 0,
            dropped_tombstones: 0,
        }
    }

    /// Offers the next version.
    pub fn add(&mut self, key: &[u8], seq: u64, value: Option<&[u8]>) -> Result<(), DatabaseError> {
        let new_key = !self.have_prev || self.prev_key != key;
        if new_key {
            self.prev_key.clear();
            self.prev_key.extend_from_slice(key);
            self.have_prev = true;
            self.shadow_seq = None;
        }
        if self
            .shadow_seq
            .is_some_and(|s| s <= self.ctx.smallest_snapshot)
        {
            self.dropped_versions += 1;
            return Ok(());
        }
        self.shadow_seq = Some(seq);
        if value.is_none() && seq <= self.ctx.smallest_snapshot && (self.bottommost)(key) {
            self.dropped_tombstones += 1;
            return Ok(());
        }
        if new_key
            && self
                .builder
                .as_ref()
                .is_some_and(|b| b.file_size() >= self.ctx.target_file_bytes)
        {
            self.finish_current()?;
        }
        if self.builder.is_none() {
            let number = (self.ctx.next_file_number)();
            let path = self.ctx.dir.join(table_file_name(number));
            self.builder = Some(TableBuilder::create(
                self.ctx.fs,
                &path,
                number,
                self.ctx.build.clone(),
            )?);
        }
        if let Some(b) = self.builder.as_mut() {
            b.add(key, seq, value)?;
        }
        Ok(())
    }

    fn finish_current(&mut self) -> Result<(), DatabaseError> {
        if let Some(b) = self.builder.take() {
            if let Some(meta) = b.finish(self.ctx.fs)? {
                self.outputs.push(meta);
            }
        }
        Ok(())
    }

    /// Finishes the last table and syncs the directory so every output's name is durable.
    pub fn finish(mut self) -> Result<Vec<TableMeta>, DatabaseError> {
        self.finish_current()?;
        if !self.outputs.is_empty() && self.ctx.build.durable {
            self.ctx
                .fs
                .sync_dir(self.ctx.dir)
                .map_err(|e| DatabaseError::io("sync directory", self.ctx.dir, &e))?;
        }
        Ok(self.outputs)
    }

    /// Removes whatever was written, after a failure.
    pub fn abandon(mut self) {
        if let Some(b) = self.builder.take() {
            b.abandon(self.ctx.fs);
        }
        for meta in &self.outputs {
            let _ = self
                .ctx
                .fs
                .remove_file(&self.ctx.dir.join(table_file_name(meta.number)));
        }
    }
}

/// Runs `job`, returning the new tables. Inputs are merged in internal order.
pub fn run(
    job: &CompactionJob,
    version: &Version,
    ctx: RunContext<'_>,
) -> Result<Vec<TableMeta>, DatabaseError> {
    let input_numbers: Vec<u64> = job.inputs.iter().map(|(_, t)| t.number).collect();
    let bottommost = |key: &[u8]| {
        version.levels.iter().enumerate().all(|(level, tables)| {
            level <= job.output_level
                || tables.iter().all(|t| {
                    input_numbers.contains(&t.number)
                        || key < t.props.smallest.as_slice()
                        || key > t.props.largest.as_slice()
                })
        })
    };
    let children: Vec<Source> = job
        .inputs
        .iter()
        .map(|(_, t)| Source::Table(TableCursor::rechecking(Arc::clone(t))))
        .collect();
    let mut merged = MergingCursor::new(children, false);
    let mut writer = RunWriter::new(ctx, &bottommost);
    let result = (|| {
        merged.start(None)?;
        while let Some((key, seq, value)) = merged.entry() {
            writer.add(key, seq, value)?;
            merged.advance()?;
        }
        Ok::<(), DatabaseError>(())
    })();
    match result {
        Ok(()) => writer.finish(),
        Err(e) => {
            writer.abandon();
            Err(e)
        }
    }
}
