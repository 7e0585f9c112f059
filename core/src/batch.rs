//! Write batches: many puts and deletes applied all or nothing.

use crate::config::LightningDbConfig;
use crate::error::DatabaseError;
use crate::storage::wal::OpRef;

/// One operation in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchOp {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

impl BatchOp {
    pub(crate) fn as_ref(&self) -> OpRef<'_> {
        OpRef {
            key: &self.key,
            value: self.value.as_deref(),
        }
    }
}

/// A group of puts and deletes that [`crate::Database::write_batch`] applies atomically:
/// after a crash either every operation is there or none is, and no reader ever sees
/// part of it. Later operations on the same key win.
///
/// `put` and `delete` check sizes at once against the batch's limits: those of
/// [`LightningDbConfig::default`] for [`WriteBatch::new`], the database's own for
/// [`crate::Database::new_batch`]. `write_batch` checks again against the database's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBatch {
    pub(crate) ops: Vec<BatchOp>,
    max_key_size: usize,
    max_value_size: usize,
    bytes: usize,
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
            ops: Vec::new(),
            max_key_size,
            max_value_size,
            bytes: 0,
        }
    }

    /// Adds a put. An empty or oversized key or value is refused and nothing is added.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), DatabaseError> {
        check_key(key, self.max_key_size)?;
        check_value(value, self.max_value_size)?;
        self.bytes += key.len() + value.len();
        self.ops.push(BatchOp {
            key: key.to_vec(),
            value: Some(value.to_vec()),
        });
        Ok(())
    }

    /// Adds a delete. An empty or oversized key is refused and nothing is added.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), DatabaseError> {
        check_key(key, self.max_key_size)?;
        self.bytes += key.len();
        self.ops.push(BatchOp {
            key: key.to_vec(),
            value: None,
        });
        Ok(())
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Removes every operation.
    pub fn clear(&mut self) {
        self.ops.clear();
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
        for op in &self.ops {
            check_key(&op.key, max_key_size)?;
            if let Some(v) = &op.value {
                check_value(v, max_value_size)?;
            }
        }
        Ok(())
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
