//! The audit log's on-disk forms: entry lines, the state file, file names.
//!
//! An entry is one JSON line. Its body is `{"seq":N,"prev":"<hex>",...}` (the event's fields,
//! or `"sealed":"<hex>"` holding them encrypted), and the line is the body with
//! `,"hash":"<hex>"` added before its closing brace, where `hash = blake3(prev ‖ body)` and
//! `prev` is the previous entry's hash. The body is recovered byte for byte by cutting the
//! hash back off, so nothing depends on how JSON is re-serialized.
//!
//! The state file (`audit.state`) is one JSON object, a newline, the blake3 hash of that
//! object in hex and a newline. It holds the log's id, the chain's base (where the oldest kept
//! entry chains from, moved by retention), the files in use, and the end of the log before and
//! after the latest append with whether that append completed.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{AuditEvent, OperationResult, RiskLevel, SecurityEventType};

/// The state file's name in the log folder.
pub const STATE_FILE: &str = "audit.state";
/// The state file's format version.
pub const STATE_VERSION: u32 = 1;
/// The entry format version, part of every entry's associated data when sealed.
pub const ENTRY_VERSION: u32 = 1;
/// Bytes of the `,"hash":"<64 hex>"}` suffix of a line.
const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

/// The name of log file number `n`.
pub fn file_name(n: u32) -> String {
    format!("audit-{n:06}.log")
}

/// The number of a log file name, when it is one.
pub fn file_number(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("audit-")?.strip_suffix(".log")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The bytes of a hexadecimal string, or `None`.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let t = text.as_bytes();
    if !t.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    t.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// A 32-byte hash from hex.
pub fn hash_of(text: &str) -> Option<[u8; 32]> {
    unhex(text)?.try_into().ok()
}

/// The hash the chain starts from for log `log_id`.
pub fn genesis(log_id: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"lightning-audit-v1");
    h.update(log_id);
    *h.finalize().as_bytes()
}

/// `blake3(prev ‖ body)`.
pub fn chain(prev: &[u8; 32], body: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(body);
    *h.finalize().as_bytes()
}

/// The event's fields as stored (in plain entries, after `seq` and `prev`).
#[derive(Serialize, Deserialize)]
pub struct StoredEvent {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub event_type: SecurityEventType,
    pub resource: String,
    pub operation: String,
    pub result: OperationResult,
    pub risk_level: RiskLevel,
    pub metadata: BTreeMap<String, String>,
}

impl StoredEvent {
    pub fn of(event: &AuditEvent) -> StoredEvent {
        let ts_ns = event
            .timestamp
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        StoredEvent {
            ts_ns,
            event_type: event.event_type,
            resource: event.resource.clone(),
            operation: event.operation.clone(),
            result: event.result.clone(),
            risk_level: event.risk_level,
            metadata: event
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    pub fn into_event(self) -> AuditEvent {
        AuditEvent {
            event_type: self.event_type,
            resource: self.resource,
            operation: self.operation,
            result: self.result,
            risk_level: self.risk_level,
            timestamp: UNIX_EPOCH + Duration::from_nanos(self.ts_ns),
            metadata: self.metadata.into_iter().collect::<HashMap<_, _>>(),
        }
    }
}

/// A plain entry's body.
#[derive(Serialize)]
struct PlainBody<'a> {
    seq: u64,
    prev: String,
    #[serde(flatten)]
    event: &'a StoredEvent,
}

/// A sealed entry's body.
#[derive(Serialize)]
struct SealedBody {
    seq: u64,
    prev: String,
    sealed: String,
}

/// What every entry body holds, read back.
#[derive(Deserialize)]
struct BodyHead {
    seq: u64,
    prev: String,
    #[serde(default)]
    sealed: Option<String>,
}

/// The body of a plain entry.
pub fn plain_body(seq: u64, prev: &[u8; 32], event: &StoredEvent) -> Vec<u8> {
    serde_json::to_vec(&PlainBody {
        seq,
        prev: hex(prev),
        event,
    })
    .unwrap_or_default()
}

/// The body of a sealed entry.
pub fn sealed_body(seq: u64, prev: &[u8; 32], sealed: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&SealedBody {
        seq,
        prev: hex(prev),
        sealed: hex(sealed),
    })
    .unwrap_or_default()
}

/// What a sealed entry's ciphertext is bound to: the log, the format version, its place in
/// the chain (sequence number and previous hash), so it cannot be moved or relinked.
pub fn sealing_aad(log_id: &[u8], seq: u64, prev: &[u8; 32]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64);
    aad.extend_from_slice(b"lightning-audit");
    aad.extend_from_slice(&ENTRY_VERSION.to_le_bytes());
    aad.extend_from_slice(log_id);
    aad.extend_from_slice(&seq.to_le_bytes());
    aad.extend_from_slice(prev);
    aad
}

/// The line (with its newline) for `body`, whose hash is `hash`.
pub fn line_of(body: &[u8], hash: &[u8; 32]) -> Vec<u8> {
    let mut line = Vec::with_capacity(body.len() + HASH_SUFFIX_LEN + 1);
    line.extend_from_slice(&body[..body.len().saturating_sub(1)]);
    line.extend_from_slice(b",\"hash\":\"");
    line.extend_from_slice(hex(hash).as_bytes());
    line.extend_from_slice(b"\"}\n");
    line
}

/// An entry line read back.
#[derive(Debug, Clone)]
pub struct ParsedLine {
    pub seq: u64,
    pub prev: [u8; 32],
    pub hash: [u8; 32],
    pub body: Vec<u8>,
    /// The ciphertext of a sealed entry.
    pub sealed: Option<Vec<u8>>,
    /// `hash == blake3(prev ‖ body)`.
    pub consistent: bool,
}

/// The entry in `line` (without its newline), or `None` when it is not one.
pub fn parse_line(line: &[u8]) -> Option<ParsedLine> {
    if line.len() < HASH_SUFFIX_LEN + 2 {
        return None;
    }
    let (head, suffix) = line.split_at(line.len() - HASH_SUFFIX_LEN);
    if !suffix.starts_with(b",\"hash\":\"") || !suffix.ends_with(b"\"}") {
        return None;
    }
    let hash = hash_of(std::str::from_utf8(&suffix[9..73]).ok()?)?;
    let mut body = head.to_vec();
    body.push(b'}');
    let head: BodyHead = serde_json::from_slice(&body).ok()?;
    let prev = hash_of(&head.prev)?;
    let sealed = match head.sealed {
        Some(text) => Some(unhex(&text)?),
        None => {
            // A plain entry must hold a whole event.
            serde_json::from_slice::<StoredEvent>(&body).ok()?;
            None
        }
    };
    let consistent = chain(&prev, &body) == hash;
    Some(ParsedLine {
        seq: head.seq,
        prev,
        hash,
        body,
        sealed,
        consistent,
    })
}

/// The event of a plain entry's body.
pub fn event_of_body(body: &[u8]) -> Option<StoredEvent> {
    serde_json::from_slice(body).ok()
}

/// The state file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub version: u32,
    /// Random, fixed at creation: the chain's genesis and every sealed entry depend on it.
    pub log_id: String,
    /// Entries are sealed (`encrypt_logs`).
    pub sealed: bool,
    /// The oldest log file in use (older ones were removed by retention).
    pub first_file: u32,
    /// The file being appended to.
    pub last_file: u32,
    /// The oldest kept entry chains from entry `base_seq`, whose hash is `base_hash`
    /// (0 and the genesis hash until retention removes files).
    pub base_seq: u64,
    pub base_hash: String,
    /// The log's end before the latest append.
    pub prev_seq: u64,
    pub prev_hash: String,
    /// The log's end after the latest append.
    pub last_seq: u64,
    pub last_hash: String,
    /// The latest append completed (its lines are synced).
    pub committed: bool,
}

impl State {
    pub fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut out = json.clone();
        out.push(b'\n');
        out.extend_from_slice(hex(blake3::hash(&json).as_bytes()).as_bytes());
        out.push(b'\n');
        out
    }

    /// The state in `bytes`, or why it is not one.
    pub fn decode(bytes: &[u8]) -> Result<State, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not text".to_string())?;
        let mut parts = text.splitn(3, '\n');
        let json = parts.next().unwrap_or("");
        let sum = parts.next().unwrap_or("");
        if parts.next() != Some("") {
            return Err("not a state file (wrong layout)".into());
        }
        if hex(blake3::hash(json.as_bytes()).as_bytes()) != sum {
            return Err("its checksum does not match its content".into());
        }
        let state: State = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if state.version != STATE_VERSION {
            return Err(format!("unknown state format version {}", state.version));
        }
        Ok(state)
    }

    pub fn log_id_bytes(&self) -> Vec<u8> {
        unhex(&self.log_id).unwrap_or_default()
    }
}

/// `SystemTime` as nanoseconds since the epoch (0 before it).
pub fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_gives_back_its_body_and_hash() {
        let ev = StoredEvent {
            ts_ns: 5,
            event_type: SecurityEventType::DataAccess,
            resource: "r\"x".into(),
            operation: "read".into(),
            result: OperationResult::Success,
            risk_level: RiskLevel::Low,
            metadata: BTreeMap::from([("k".into(), "v\n".into())]),
        };
        let prev = [3u8; 32];
        let body = plain_body(9, &prev, &ev);
        let hash = chain(&prev, &body);
        let line = line_of(&body, &hash);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let p = parse_line(&line[..line.len() - 1]).unwrap();
        assert_eq!((p.seq, p.prev, p.hash, &p.body), (9, prev, hash, &body));
        assert!(p.consistent && p.sealed.is_none());
        assert!(parse_line(&line[..line.len() - 5]).is_none());
    }

    #[test]
    fn state_round_trip_and_damage() {
        let s = State {
            version: STATE_VERSION,
            log_id: hex(&[1; 16]),
            sealed: false,
            first_file: 1,
            last_file: 2,
            base_seq: 0,
            base_hash: hex(&[0; 32]),
            prev_seq: 3,
            prev_hash: hex(&[1; 32]),
            last_seq: 4,
            last_hash: hex(&[2; 32]),
            committed: true,
        };
        let bytes = s.encode();
        assert_eq!(State::decode(&bytes).unwrap(), s);
        let mut bad = bytes.clone();
        bad[12] ^= 1;
        assert!(State::decode(&bad).is_err());
        assert_eq!(file_number(&file_name(42)), Some(42));
        assert_eq!(file_number("audit-1.log"), None);
        assert_eq!(unhex(&hex(&[0, 255, 16])), Some(vec![0, 255, 16]));
    }
}
