//! Log segments: the header and every record, with the torn tail a crash leaves.

use super::*;

/// The next offset after `pos` where a good record starts.
pub(crate) fn next_good_record(data: &[u8], pos: usize, algo: ChecksumAlgorithm) -> Option<usize> {
    (pos + 1..data.len()).find(|&p| matches!(read_record(data, p, algo), RecordRead::Ok(..)))
}

/// Reads the file at `path`, or with `settled` only its first `settled` bytes (what a live
/// database's appends have finished; anything after may be an append in progress).
pub(super) fn read_settled(
    fs: &dyn FileSystem,
    path: &Path,
    settled: Option<u64>,
) -> io::Result<Vec<u8>> {
    let mut data = fs.read_all(path)?;
    if let Some(limit) = settled {
        data.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Ok(data)
}

/// What a log segment check found.
#[derive(Debug, Default)]
pub(crate) struct WalScan {
    /// Length of the intact prefix (up to the first bad record).
    pub valid_len: u64,
    /// Damage before intact records (not a torn tail).
    pub damaged: bool,
    /// Bytes of a torn tail at the end.
    pub torn_tail: u64,
    /// Records after the first damage that are intact, and their sequence range.
    pub records_after_damage: u64,
    pub seqs_after_damage: Option<(u64, u64)>,
}

/// Verifies log segment `path`. `last` says it is the newest segment, whose torn tail (a
/// crash mid-append, or an append in progress) is expected. `next_seq` carries the
/// sequence number the next record must not go below. `settled`, for a live database's
/// active segment, is how much of it appends have finished: only that much is read.
pub(crate) fn scan_wal(
    ck: &mut Checker,
    path: &Path,
    last: bool,
    next_seq: &mut Option<u64>,
    settled: Option<u64>,
) -> WalScan {
    let mut out = WalScan::default();
    let data = match read_settled(ck.fs.as_ref(), path, settled) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            ck.note(format!("{}: removed during validation", path.display()));
            return out;
        }
        Err(e) => {
            ck.problem(
                Component::Wal,
                path,
                None,
                CheckKind::Io,
                e.to_string(),
                false,
            );
            return out;
        }
    };
    ck.report.files_checked += 1;
    ck.report.wal_segments_checked += 1;
    ck.report.bytes_checked += data.len() as u64;
    let header = match decode_file_header(&data, WAL_MAGIC) {
        Ok(h) => h,
        Err(_) if last && data.len() <= FILE_HEADER_LEN => {
            ck.note(format!(
                "{}: header incomplete ({} bytes), a crash while creating it; recovery ignores it",
                path.display(),
                data.len()
            ));
            out.torn_tail = data.len() as u64;
            return out;
        }
        Err(e) => {
            ck.problem(
                Component::Wal,
                path,
                Some(0),
                CheckKind::Checksum,
                format!("bad segment header: {e:?}"),
                false,
            );
            out.damaged = true;
            return out;
        }
    };
    if header.version == 0 || header.version > wal::NEWEST_WAL_VERSION {
        ck.problem(
            Component::Wal,
            path,
            Some(4),
            CheckKind::Structure,
            format!("unsupported format version {}", header.version),
            false,
        );
        out.damaged = true;
        return out;
    }
    let algo = header.checksum;
    let sealed = header.version == wal::WAL_SEALED_VERSION;
    if ck.keys.is_some() && !sealed {
        // An encrypted database writes only sealed segments (the engine refuses this one).
        ck.problem(
            Component::Wal,
            path,
            Some(4),
            CheckKind::Authentication,
            "an unencrypted log segment in an encrypted database",
            false,
        );
        out.damaged = true;
        return out;
    }
    let number = file_number(path, ".log").unwrap_or(header.number);
    let mut pos = FILE_HEADER_LEN;
    let mut in_damage = false;
    loop {
        if ck.stopped() {
            break;
        }
        match read_record(&data, pos, algo) {
            RecordRead::End => break,
            RecordRead::Ok(payload, next) => {
                ck.report.records_checked += 1;
                let place = wal::log_place(number, pos as u64);
                let opened = ck.open_record(path, sealed, place, payload);
                let batch = match &opened {
                    Ok(p) => wal::decode_batch(p).ok_or((
                        CheckKind::Structure,
                        "record checksum ok but batch malformed",
                    )),
                    Err((kind, _)) => Err((*kind, "")),
                };
                match batch {
                    Err((kind, what)) => {
                        let what = match &opened {
                            Err((_, why)) => why.clone(),
                            Ok(_) => what.to_string(),
                        };
                        ck.problem(Component::Wal, path, Some(pos as u64), kind, what, false);
                        if !in_damage {
                            out.valid_len = pos as u64;
                        }
                        in_damage = true;
                        out.damaged = true;
                    }
                    Ok((first, ops)) => {
                        ck.report.entries_checked += ops.len() as u64;
                        let end = first.saturating_add(ops.len() as u64);
                        if in_damage {
                            out.records_after_damage += 1;
                            let r = out.seqs_after_damage.get_or_insert((first, end));
                            r.1 = r.1.max(end);
                        }
                        if ck.at_least(ValidationLevel::Standard)
                            && ops.iter().any(|op| op.key.is_empty())
                        {
                            ck.problem(
                                Component::Wal,
                                path,
                                Some(pos as u64),
                                CheckKind::Structure,
                                "batch holds an empty key",
                                false,
                            );
                        }
                        if ck.at_least(ValidationLevel::Comprehensive) {
                            if let Some(min) = *next_seq {
                                if first < min {
                                    ck.problem(
                                        Component::Wal,
                                        path,
                                        Some(pos as u64),
                                        CheckKind::Logical,
                                        format!(
                                            "sequence numbers go backwards: batch starts at \
                                             {first}, expected at least {min}"
                                        ),
                                        false,
                                    );
                                }
                            }
                        }
                        *next_seq = Some(next_seq.unwrap_or(0).max(end));
                    }
                }
                pos = next;
            }
            RecordRead::Bad(why) => {
                if !in_damage {
                    out.valid_len = pos as u64;
                }
                // Zeros written ahead of the records (log format 2): a clean end.
                if crate::storage::wal::is_preextension_tail(header.version, &data, pos) {
                    break;
                }
                let next = next_good_record(&data, pos, algo);
                match next {
                    None if last => {
                        out.torn_tail = (data.len() - pos) as u64;
                        ck.note(format!(
                            "{}: torn tail of {} bytes at offset {pos} (an append cut short by a \
                             crash, or in progress); recovery cuts it off",
                            path.display(),
                            data.len() - pos
                        ));
                        break;
                    }
                    _ => {
                        ck.problem(
                            Component::Wal,
                            path,
                            Some(pos as u64),
                            CheckKind::Checksum,
                            why,
                            false,
                        );
                        out.damaged = true;
                        in_damage = true;
                        match next {
                            Some(p) => pos = p,
                            None => break,
                        }
                    }
                }
            }
        }
    }
    if !in_damage {
        out.valid_len = pos.min(data.len()) as u64;
    }
    out
}
