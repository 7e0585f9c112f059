//! On-disk format details and internal readers that the crash, bit-flip and fuzz tests
//! aim at: where a header ends, how long a trailer is, how a block is framed. Not a
//! stable API; the format is documented in `core/src/storage`.

pub use crate::checksum::checksum64;
pub use crate::storage::cache::BlockCache;
pub use crate::storage::record::{FILE_HEADER_LEN, RECORD_HEADER_LEN};
pub use crate::storage::table::block::{encode_for_disk, BLOCK_TRAILER_LEN};
pub use crate::storage::table::reader::Table;
pub use crate::storage::table::FOOTER_LEN;
pub use crate::storage::wal::{replay_segment, SegmentReplay, PREEXTEND_ALIGN};
