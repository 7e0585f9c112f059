//! Checksums and, later, validation and repair of a database's files.

pub mod checksum;
