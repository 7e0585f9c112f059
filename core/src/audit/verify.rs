//! Checking an audit log folder: the hash chain, the files, and the state file.
//!
//! The rule for an interrupted append: the state file is written *before* an append (marked
//! not committed, with the log's end before and after it) and again after the appended lines
//! are synced (committed). A log whose state says committed must end exactly where the state
//! says, with no stray bytes. A log whose state says not committed may end anywhere from the
//! end before the append to the end after it, and may carry a torn last line; the
//! verification then passes and reports the interruption ([`AuditReport::interrupted`]):
//! the missing entries and torn bytes are named, never silently accepted. The next writer
//! cuts the torn bytes off and records the interruption as an entry of its own.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Serialize;

use super::format::{self, hex, ParsedLine, State};
use super::key::AuditKey;
use crate::error::{DatabaseError, SecurityError};
use crate::storage::fs::FileSystem;

/// The kind of tampering [`AuditLogger::verify`](super::AuditLogger::verify) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TamperKind {
    /// An entry's content changed (its hash no longer matches, it no longer parses or, when
    /// sealed, no longer authenticates; or its hash was recomputed and the next entry still
    /// links to the original).
    Edited,
    /// Entries are missing from inside the log.
    Removed,
    /// An entry that is not part of the chain was added (inside the log or after its end).
    Inserted,
    /// Entries are out of order.
    Reordered,
    /// Entries at the end of the log, recorded in the state file, are missing.
    TruncatedTail,
    /// A whole log file is missing.
    FileDeleted,
    /// The state file is missing, damaged, or does not match the log.
    StateMismatch,
}

impl TamperKind {
    /// The kind's name, as in reports (`"edited"`, `"removed"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TamperKind::Edited => "edited",
            TamperKind::Removed => "removed",
            TamperKind::Inserted => "inserted",
            TamperKind::Reordered => "reordered",
            TamperKind::TruncatedTail => "truncated_tail",
            TamperKind::FileDeleted => "file_deleted",
            TamperKind::StateMismatch => "state_mismatch",
        }
    }
}

/// The first tampering found: its kind and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tampering {
    /// What was done.
    pub kind: TamperKind,
    /// The sequence number of the first entry concerned, when there is one.
    pub seq: Option<u64>,
    /// The log file concerned, when there is one.
    pub file: Option<String>,
    /// The line (from 1) in that file, when there is one.
    pub line: Option<u64>,
    /// What was found, in words.
    pub details: String,
}

impl fmt::Display for Tampering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.name())?;
        if let Some(seq) = self.seq {
            write!(f, " at entry {seq}")?;
        }
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, " ({file} line {line})")?,
            (Some(file), None) => write!(f, " ({file})")?,
            _ => {}
        }
        write!(f, ": {}", self.details)
    }
}

/// An append that a crash interrupted: allowed by the state file, and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterruptedAppend {
    /// The last entry the interrupted append was to write.
    pub expected_last_seq: u64,
    /// The last whole entry present.
    pub present_last_seq: u64,
    /// Bytes of a torn last line after it.
    pub torn_bytes: u64,
}

/// What verifying an audit log found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// The log files checked, oldest first.
    pub files: Vec<String>,
    /// Entries checked.
    pub entries: u64,
    /// The oldest kept entry's sequence number (entries before it were removed by retention).
    pub first_seq: u64,
    /// The last entry's sequence number.
    pub last_seq: u64,
    /// The last entry's hash, in hex.
    pub last_hash: String,
    /// Entries are sealed (`encrypt_logs`).
    pub sealed: bool,
    /// Sealed entries were opened and authenticated with the key (false without a key: then
    /// only the chain was checked).
    pub authenticated: bool,
    /// An append interrupted by a crash (see the module documentation), when there is one.
    pub interrupted: Option<InterruptedAppend>,
    /// Files older than the state's first file: retention had not removed them yet.
    pub stale_files: Vec<String>,
    /// The first tampering found; `None` when the log is intact.
    pub tampering: Option<Tampering>,
}

impl AuditReport {
    /// True when no tampering was found.
    pub fn is_intact(&self) -> bool {
        self.tampering.is_none()
    }

    /// The report as one JSON object (what the C API and the command line print).
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            intact: bool,
            #[serde(flatten)]
            report: &'a AuditReport,
        }
        serde_json::to_string(&Out {
            intact: self.is_intact(),
            report: self,
        })
        .unwrap_or_default()
    }

    /// `Ok(self)` when intact, otherwise `SecurityError::AuditLogTampered` naming the kind of
    /// tampering and the first entry concerned.
    pub fn into_result(self) -> Result<AuditReport, DatabaseError> {
        match &self.tampering {
            None => Ok(self),
            Some(t) => Err(SecurityError::AuditLogTampered {
                details: t.to_string(),
            }
            .into()),
        }
    }
}

/// One log file's place in the chain, for the writer and retention.
#[derive(Debug, Clone)]
pub(crate) struct FileIndex {
    pub number: u32,
    /// Bytes up to the end of its last whole entry.
    pub valid_len: u64,
    /// Its last entry's sequence number and hash (its first entry's predecessor's when it
    /// holds none).
    pub last_seq: u64,
    pub last_hash: [u8; 32],
    /// Its newest entry's timestamp, in nanoseconds since the epoch (0 when unknown).
    pub newest_ns: u64,
}

/// Everything a check of a folder found.
pub(crate) struct Inspection {
    pub report: AuditReport,
    pub state: Option<State>,
    pub files: Vec<FileIndex>,
    pub end_seq: u64,
    pub end_hash: [u8; 32],
}

struct Item {
    file: usize,
    line: u64,
    len: u64,
    parsed: Option<ParsedLine>,
}

fn tamper(
    kind: TamperKind,
    seq: Option<u64>,
    at: Option<(&str, u64)>,
    details: String,
) -> Tampering {
    Tampering {
        kind,
        seq,
        file: at.map(|(f, _)| f.to_string()),
        line: at.map(|(_, l)| l),
        details,
    }
}

/// Verifies the log in `dir`; `key` opens sealed entries (without it only the chain of a
/// sealed log is checked). Errors: I/O, and `WrongKey` when no sealed entry opens with `key`.
pub(crate) fn inspect(
    fs: &dyn FileSystem,
    dir: &Path,
    key: Option<&AuditKey>,
) -> Result<Inspection, DatabaseError> {
    let mut report = AuditReport {
        files: Vec::new(),
        entries: 0,
        first_seq: 0,
        last_seq: 0,
        last_hash: String::new(),
        sealed: false,
        authenticated: false,
        interrupted: None,
        stale_files: Vec::new(),
        tampering: None,
    };
    let names = if fs.exists(dir) {
        fs.list_dir(dir)?
    } else {
        Vec::new()
    };
    let mut numbers: Vec<u32> = names
        .iter()
        .filter_map(|n| format::file_number(n))
        .collect();
    numbers.sort_unstable();
    let state_path = dir.join(format::STATE_FILE);
    let state = if fs.exists(&state_path) {
        match State::decode(&fs.read_all(&state_path)?) {
            Ok(s) => Some(s),
            Err(why) => {
                report.tampering = Some(tamper(
                    TamperKind::StateMismatch,
                    None,
                    None,
                    format!("the state file {} is damaged: {why}", format::STATE_FILE),
                ));
                return Ok(failed(report));
            }
        }
    } else {
        None
    };
    let Some(state) = state else {
        if !numbers.is_empty() {
            report.tampering = Some(tamper(
                TamperKind::StateMismatch,
                None,
                None,
                format!(
                    "the state file {} is missing while {} log files exist",
                    format::STATE_FILE,
                    numbers.len()
                ),
            ));
        }
        return Ok(failed(report));
    };
    report.sealed = state.sealed;
    let log_id = state.log_id_bytes();
    let bad_state = |what: &str| {
        tamper(
            TamperKind::StateMismatch,
            None,
            None,
            format!("the state file holds an invalid {what}"),
        )
    };
    let (Some(base_hash), Some(prev_hash), Some(last_hash)) = (
        format::hash_of(&state.base_hash),
        format::hash_of(&state.prev_hash),
        format::hash_of(&state.last_hash),
    ) else {
        report.tampering = Some(bad_state("hash"));
        return Ok(failed(report));
    };
    if log_id.len() != 16 || state.first_file == 0 || state.first_file > state.last_file {
        report.tampering = Some(bad_state("log id or file range"));
        return Ok(failed(report));
    }

    // Which files are in use: first_file..=last_file, each present.
    let mut in_use = Vec::new();
    for &n in &numbers {
        if n < state.first_file {
            report.stale_files.push(format::file_name(n));
        } else if n <= state.last_file {
            in_use.push(n);
        } else {
            let name = format::file_name(n);
            // A rotation that a crash cut short leaves the next file empty.
            if n == state.last_file + 1 && fs.file_size(&dir.join(&name))? == 0 {
                continue;
            }
            report.tampering = Some(tamper(
                TamperKind::Inserted,
                None,
                Some((&name, 1)),
                format!(
                    "log file {name} is not part of the log (the state file's last file is {})",
                    format::file_name(state.last_file)
                ),
            ));
            return Ok(failed(report));
        }
    }
    for n in state.first_file..=state.last_file {
        if in_use.binary_search(&n).is_err() {
            report.tampering = Some(tamper(
                TamperKind::FileDeleted,
                None,
                None,
                format!("log file {} is missing", format::file_name(n)),
            ));
            return Ok(failed(report));
        }
    }
    report.files = in_use.iter().map(|&n| format::file_name(n)).collect();

    // Every line of every file, in order.
    let mut items: Vec<Item> = Vec::new();
    let mut lens = Vec::new();
    for (fi, &n) in in_use.iter().enumerate() {
        let bytes = fs.read_all(&dir.join(format::file_name(n)))?;
        lens.push(bytes.len() as u64);
        let mut line_no = 0;
        let mut rest: &[u8] = &bytes;
        while !rest.is_empty() {
            line_no += 1;
            let (line, len, whole) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], i + 1, true),
                None => (rest, rest.len(), false),
            };
            items.push(Item {
                file: fi,
                line: line_no,
                len: len as u64,
                parsed: if whole {
                    format::parse_line(line)
                } else {
                    None
                },
            });
            rest = &rest[len..];
        }
    }
    let valid = |it: &Item| it.parsed.as_ref().is_some_and(|p| p.consistent);
    let last_file = in_use.len().saturating_sub(1);
    // A torn region: invalid lines after the last valid entry, all in the last file.
    let last_valid = items.iter().rposition(valid);
    let tail_start = last_valid.map_or(0, |i| i + 1);
    let torn_region = items[tail_start..].iter().all(|it| it.file == last_file);
    let walk_end = if torn_region { tail_start } else { items.len() };
    let torn_bytes: u64 = if torn_region {
        items[tail_start..].iter().map(|it| it.len).sum()
    } else {
        0
    };

    let name_of = |it: &Item| (report.files[it.file].as_str(), it.line);
    let mut s = state.base_seq + 1;
    let mut h = base_hash;
    let mut hash_at_prev = (state.prev_seq == state.base_seq).then_some(base_hash);
    let mut seen: HashMap<u64, [u8; 32]> = HashMap::new();
    let mut file_index: Vec<FileIndex> = in_use
        .iter()
        .map(|&n| FileIndex {
            number: n,
            valid_len: 0,
            last_seq: 0,
            last_hash: [0; 32],
            newest_ns: 0,
        })
        .collect();
    let mut offsets = vec![0u64; in_use.len()];
    let mut opened = 0u64;
    let mut failed_open = 0u64;
    let mut problem: Option<Tampering> = None;
    for i in 0..walk_end {
        let it = &items[i];
        offsets[it.file] += it.len;
        let Some(p) = it.parsed.as_ref().filter(|p| p.consistent) else {
            problem = Some(tamper(
                TamperKind::Edited,
                Some(s),
                Some(name_of(it)),
                "the entry was changed: it no longer parses or its hash does not match its \
                 content"
                    .into(),
            ));
            break;
        };
        if p.seq != s || p.prev != h {
            problem = Some(diagnose(
                &items[i..walk_end],
                s,
                h,
                state.base_seq,
                &seen,
                name_of(it),
            ));
            break;
        }
        // Sealed entries authenticate under the key, bound to their place in the chain.
        let mut ts = 0;
        match (&p.sealed, key) {
            (Some(sealed), Some(key)) => {
                match key.open(sealed, &format::sealing_aad(&log_id, p.seq, &p.prev)) {
                    Some(plain) => {
                        opened += 1;
                        ts = format::event_of_body(&plain).map_or(0, |e| e.ts_ns);
                    }
                    None => {
                        failed_open += 1;
                        if opened > 0 {
                            problem = Some(tamper(
                                TamperKind::Edited,
                                Some(s),
                                Some(name_of(it)),
                                "the sealed entry does not authenticate under the key".into(),
                            ));
                            break;
                        }
                    }
                }
            }
            (None, _) if state.sealed => {
                problem = Some(tamper(
                    TamperKind::Inserted,
                    Some(s),
                    Some(name_of(it)),
                    "a plain entry in a sealed log".into(),
                ));
                break;
            }
            (None, _) => ts = format::event_of_body(&p.body).map_or(0, |e| e.ts_ns),
            (Some(_), None) => {}
        }
        seen.insert(p.seq, p.hash);
        h = p.hash;
        if p.seq == state.prev_seq {
            hash_at_prev = Some(h);
        }
        let fx = &mut file_index[it.file];
        fx.valid_len = offsets[it.file];
        fx.last_seq = p.seq;
        fx.last_hash = p.hash;
        fx.newest_ns = fx.newest_ns.max(ts);
        s += 1;
        report.entries += 1;
    }
    if key.is_some() && state.sealed && failed_open > 0 && opened == 0 {
        return Err(SecurityError::WrongKey.into());
    }
    report.authenticated = key.is_some() && state.sealed;
    // Files holding no entry chain through from the one before.
    let mut carry = (state.base_seq, base_hash);
    for fx in &mut file_index {
        if fx.last_seq == 0 && fx.valid_len == 0 {
            fx.last_seq = carry.0;
            fx.last_hash = carry.1;
        }
        carry = (fx.last_seq, fx.last_hash);
    }
    let n = s - 1;
    let end_at = items[..walk_end].last().map(&name_of);
    if problem.is_none() {
        let torn_at = items.get(tail_start).map(&name_of);
        problem = if state.committed {
            if torn_bytes > 0 {
                Some(tamper(
                    if n < state.last_seq {
                        TamperKind::Edited
                    } else {
                        TamperKind::Inserted
                    },
                    Some(n + 1),
                    torn_at,
                    "bytes that are not an entry follow the last whole entry, and the state \
                     file records no interrupted append"
                        .into(),
                ))
            } else {
                end_check(n, h, state.last_seq, last_hash, state.last_seq, end_at)
            }
        } else if n < state.prev_seq {
            end_check(n, h, state.prev_seq, prev_hash, state.last_seq, end_at)
        } else if hash_at_prev != Some(prev_hash) {
            Some(tamper(
                TamperKind::Edited,
                Some(state.prev_seq),
                None,
                "the entry differs from the hash the state file recorded for it".into(),
            ))
        } else if n > state.last_seq || (n == state.last_seq && h != last_hash) {
            end_check(n, h, state.last_seq, last_hash, state.last_seq, end_at)
        } else {
            if n < state.last_seq || torn_bytes > 0 {
                report.interrupted = Some(InterruptedAppend {
                    expected_last_seq: state.last_seq,
                    present_last_seq: n,
                    torn_bytes,
                });
            }
            None
        };
    }
    if let Some(p) = problem {
        report.tampering = Some(p);
    }
    report.first_seq = state.base_seq + 1;
    report.last_seq = n;
    report.last_hash = hex(&h);
    Ok(Inspection {
        report,
        state: Some(state),
        files: file_index,
        end_seq: n,
        end_hash: h,
    })
}

/// The log ended at entry `n` with hash `h`; it should end at `want` with `want_hash`.
fn end_check(
    n: u64,
    h: [u8; 32],
    want: u64,
    want_hash: [u8; 32],
    recorded_last: u64,
    at: Option<(&str, u64)>,
) -> Option<Tampering> {
    if n < want {
        Some(tamper(
            TamperKind::TruncatedTail,
            Some(n + 1),
            None,
            format!(
                "entries {}..={recorded_last} recorded in the state file are missing from the end",
                n + 1
            ),
        ))
    } else if n > recorded_last {
        Some(tamper(
            TamperKind::Inserted,
            Some(recorded_last + 1),
            None,
            format!(
                "entries {}..={n} follow the end the state file recorded",
                recorded_last + 1
            ),
        ))
    } else if h != want_hash {
        Some(tamper(
            TamperKind::Edited,
            Some(n),
            at,
            "the last entry differs from the hash the state file recorded for it (its hash \
             was recomputed)"
                .into(),
        ))
    } else {
        None
    }
}

/// Names what broke the chain at `rest[0]`, where entry `s` (following hash `h`) was expected.
fn diagnose(
    rest: &[Item],
    s: u64,
    h: [u8; 32],
    base_seq: u64,
    seen: &HashMap<u64, [u8; 32]>,
    at: (&str, u64),
) -> Tampering {
    let p = rest[0].parsed.as_ref().expect("diagnosed lines parse");
    let later = || rest[1..].iter().filter_map(|it| it.parsed.as_ref());
    if p.seq == s {
        if later().next().is_some_and(|q| q.seq == s && q.prev == h) {
            return tamper(
                TamperKind::Inserted,
                Some(s),
                Some(at),
                format!("an entry that is not part of the chain was inserted before entry {s}"),
            );
        }
        if s - 1 > base_seq {
            return tamper(
                TamperKind::Edited,
                Some(s - 1),
                None,
                format!(
                    "entry {} was changed and its hash recomputed: entry {s} still links to \
                     the original",
                    s - 1
                ),
            );
        }
        return tamper(
            TamperKind::Edited,
            Some(s),
            Some(at),
            "the entry does not chain from the log's base".into(),
        );
    }
    if p.seq > s {
        if later().any(|q| q.seq == s) {
            return tamper(
                TamperKind::Reordered,
                Some(s),
                Some(at),
                format!("entry {s} appears after entry {}", p.seq),
            );
        }
        return tamper(
            TamperKind::Removed,
            Some(s),
            Some(at),
            format!("entries {s}..={} are missing", p.seq - 1),
        );
    }
    let what = if seen.get(&p.seq) == Some(&p.hash) {
        format!("a copy of entry {} was inserted before entry {s}", p.seq)
    } else {
        format!("an entry numbered {} was inserted before entry {s}", p.seq)
    };
    tamper(TamperKind::Inserted, Some(s), Some(at), what)
}

fn failed(report: AuditReport) -> Inspection {
    Inspection {
        report,
        state: None,
        files: Vec::new(),
        end_seq: 0,
        end_hash: [0; 32],
    }
}
