//! Point reads at a sequence number, through the current super-version.

use super::*;

impl DbInner {
    // ----- reads -------------------------------------------------------------------

    /// The value of `key` as of `snapshot`.
    pub fn get_at(&self, key: &[u8], snapshot: u64) -> Result<Option<Vec<u8>>, DatabaseError> {
        self.check_open()?;
        self.counters.gets.add(1);
        let sv = self.super_version.load();
        Ok(self
            .read_entry(&sv, key, snapshot)?
            .and_then(|(_, v)| v)
            .map(PinnedValue::into_vec))
    }

    /// The newest value of `key` (see [`Self::read_view`]).
    pub fn get_latest(&self, key: &[u8]) -> Result<Option<Vec<u8>>, DatabaseError> {
        Ok(self.get_latest_pinned(key)?.map(PinnedValue::into_vec))
    }

    /// The newest value of `key`, left in its cached block when it comes from a table.
    pub fn get_latest_pinned(&self, key: &[u8]) -> Result<Option<PinnedValue>, DatabaseError> {
        self.check_open()?;
        self.counters.gets.add(1);
        let (sv, seq) = self.read_view();
        Ok(self.read_entry(&sv, key, seq)?.and_then(|(_, v)| v))
    }

    /// `sv.get_entry`, through the breaker when the database has one (a read the
    /// memtables answer does not count for it: it did not touch the device).
    fn read_entry(
        &self,
        sv: &SuperVersion,
        key: &[u8],
        snapshot: u64,
    ) -> Result<Option<crate::storage::FoundVersion>, DatabaseError> {
        if self.breaker.is_none() {
            return sv.get_entry(key, snapshot);
        }
        self.guarded_with(
            || match sv.get_in_memory(key, snapshot) {
                Some(found) => Ok((Some(found), false)),
                None => Ok((sv.get_from_tables(key, snapshot)?, true)),
            },
            |&(_, from_tables)| from_tables,
        )
        .map(|(found, _)| found)
    }

    /// The newest value of `key` if it can be read without waiting for the disk;
    /// `Err(NeedsIo)` otherwise (nothing is counted then: the caller reads again).
    pub fn get_latest_cached(
        &self,
        key: &[u8],
    ) -> Result<Result<Option<PinnedValue>, crate::storage::NeedsIo>, DatabaseError> {
        self.check_open()?;
        let (sv, seq) = self.read_view();
        let found = sv.get_entry_cached(key, seq)?;
        if found.is_ok() {
            self.counters.gets.add(1);
        }
        Ok(found.map(|f| f.and_then(|(_, v)| v)))
    }
}
