//! Write batches: many puts and deletes applied all or nothing.

use crate::config::LightningDbConfig;
use crate::error::DatabaseError;
use crate::storage::wal::{self, OpRef, BATCH_HEADER_LEN};

/// A group of puts and deletes that [`crate::Database::write_batch`] applies atomically:
/// after a crash either every operation is there or none is, and no reader ever sees
/// part of it. Later operations on the same key win.
///
/// `put` and `delete` check sizes at once against the batch's limits: those of
/// [`LightningDbConfig::default`] for [`WriteBatch::new`], the database's own for
/// [`crate::Database::new_batch`]. `write_batch` checks again against the database's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBatch {
    /// The operations, already in the log's batch encoding (header first), so applying
    /// the batch copies one buffer instead of every key and value.
    rep: Vec<u8>,
    count: u32,
    max_key_size: usize,
    max_value_size: usize,
    bytes: usize,
}

/// Largest encoded batch: the log frames a record's length in 32 bits.
pub(crate) const MAX_BATCH_BYTES: usize = (u32::MAX as usize) - 1024;

fn batch_too_large(size: usize) -> DatabaseError {
    DatabaseError::InvalidArgument {
        message: format!(
            "a batch may hold at most {MAX_BATCH_BYTES} bytes of keys and values; this one would hold {size}"
        ),
    }
}

impl Default for WriteBatch {
    fn default() -> Self {
        Self::new()
    }
}

/// Checks a key against a size limit.
pub(crate) fn check_key(key: &[u8], max_key_size: usize) -> Result<(), DatabaseError> {
    if key.is_empty() {
        return Err(DatabaseError::EmptyKey);
    }
    if key.len() > max_key_size {
        return Err(DatabaseError::KeyTooLarge {
            size: key.len(),
            max_size: max_key_size,
        });
    }
    Ok(())
}

/// Checks a value against a size limit.
pub(crate) fn check_value(value: &[u8], max_value_size: usize) -> Result<(), DatabaseError> {
    if value.len() > max_value_size {
        return Err(DatabaseError::ValueTooLarge {
            size: value.len(),
            max_size: max_value_size,
        });
    }
    Ok(())
}

impl WriteBatch {
    /// An empty batch checking sizes against the default configuration's limits.
    pub fn new() -> Self {
        let defaults = LightningDbConfig::default();
        Self::with_limits(defaults.max_key_size, defaults.max_value_size)
    }

    /// An empty batch checking sizes against the given limits.
    pub fn with_limits(max_key_size: usize, max_value_size: usize) -> Self {
        Self {
            rep: vec![0; BATCH_HEADER_LEN],
            count: 0,
            max_key_size,
            max_value_size,
            bytes: 0,
        }
    }

    /// Adds a put. An empty or oversized key or value is refused and nothing is added.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), DatabaseError> {
        check_key(key, self.max_key_size)?;
        check_value(value, self.max_value_size)?;
        self.push(OpRef {
            key,
            value: Some(value),
        })
    }

    /// Adds a delete. An empty or oversized key is refused and nothing is added.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        check_key(key, self.max_key_size)?;
        self.push(OpRef { key, value: None })
    }

    fn push(&mut self, op: OpRef<'_>) -> Result<(), DatabaseError> {
        let added = op.key.len() + op.value.map_or(0, <[u8]>::len);
        if self.rep.len() + added + 20 > MAX_BATCH_BYTES || self.count == u32::MAX {
            return Err(batch_too_large(self.rep.len() + added));
        }
        wal::encode_op(&mut self.rep, op);
        self.count += 1;
        self.bytes += added;
        Ok(())
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Removes every operation.
    pub fn clear(&mut self) {
        self.rep.truncate(BATCH_HEADER_LEN);
        self.count = 0;
        self.bytes = 0;
    }

    /// Total key and value bytes.
    pub fn size_in_bytes(&self) -> usize {
        self.bytes
    }

    /// Re-checks every operation against a database's limits.
    pub(crate) fn check_limits(
        &self,
        max_key_size: usize,
        max_value_size: usize,
    ) -> Result<(), DatabaseError> {
        // A batch built with the same or tighter limits needs no second look.
        if self.max_key_size <= max_key_size && self.max_value_size <= max_value_size {
            return Ok(());
        }
        for op in wal::BatchOps::new(&self.rep[BATCH_HEADER_LEN..]) {
            check_key(op.key, max_key_size)?;
            if let Some(v) = op.value {
                check_value(v, max_value_size)?;
            }
        }
        Ok(())
    }

    /// The batch as a log payload (sequence number still zero), ready to submit.
    pub(crate) fn to_payload(&self) -> Vec<u8> {
        let mut payload = self.rep.clone();
        wal::set_batch_count(&mut payload, self.count);
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_at_once_and_nothing_is_added() {
        let mut b = WriteBatch::with_limits(4, 8);
        assert!(matches!(b.put(b"", b"v"), Err(DatabaseError::EmptyKey)));
        assert!(matches!(
            b.put(b"12345", b"v"),
            Err(DatabaseError::KeyTooLarge {
                size: 5,
                max_size: 4
            })
        ));
        assert!(matches!(
            b.put(b"k", &[0; 9]),
            Err(DatabaseError::ValueTooLarge {
                size: 9,
                max_size: 8
            })
        ));
        assert!(b.delete(b"12345").is_err());
        assert!(b.is_empty());
        b.put(b"k", b"").expect("empty value is fine");
        b.delete(b"k").expect("delete");
        assert_eq!(b.len(), 2);
        assert_eq!(b.size_in_bytes(), 2);
        assert!(b.check_limits(4, 8).is_ok());
        assert!(b.check_limits(0, 8).is_err());
        b.clear();
        assert!(b.is_empty());
    }
}
