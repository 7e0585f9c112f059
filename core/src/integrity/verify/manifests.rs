//! `CURRENT` and the manifest: the header, every edit, and the state they describe.

use super::*;

/// The live state a manifest describes.
#[derive(Debug, Clone, Default)]
pub(crate) struct ManifestState {
    pub number: u64,
    pub live: Vec<(usize, TableMeta)>,
    pub log_number: u64,
    pub last_sequence: u64,
    pub next_file: u64,
    /// Damage was found: the state is the replay of the intact records before it.
    pub damaged: bool,
}

/// Verifies `CURRENT` and the manifest it names, replaying the edits. `record` says whether
/// problems go into the report (the manifest may be read only for the table list).
/// `extent`, for an open database, says how much of the manifest appends have finished:
/// only that much is read.
pub(crate) fn scan_manifest(
    ck: &mut Checker,
    record: bool,
    extent: Option<&FinishedExtent>,
) -> Option<ManifestState> {
    let before = ck.report.problems.len();
    let state = scan_manifest_inner(ck, extent);
    if !record {
        ck.report.problems.truncate(before);
    }
    state
}

pub(super) fn scan_manifest_inner(
    ck: &mut Checker,
    extent: Option<&FinishedExtent>,
) -> Option<ManifestState> {
    let current = ck.dir.join(manifest::CURRENT_FILE);
    let number = match manifest::read_current(ck.fs.as_ref(), &ck.dir) {
        Ok(Some(n)) => n,
        Ok(None) => {
            let has_tables = ck
                .fs
                .list_dir(&ck.dir)
                .map(|names| names.iter().any(|n| n.ends_with(".sst")))
                .unwrap_or(false);
            if has_tables {
                ck.problem(
                    Component::Manifest,
                    &current,
                    None,
                    CheckKind::Missing,
                    "no CURRENT file, yet the directory holds table files",
                    true,
                );
            } else {
                ck.note("no CURRENT file: an empty or never-opened database");
            }
            return None;
        }
        Err(e) => {
            ck.problem(
                Component::Manifest,
                &current,
                None,
                CheckKind::Structure,
                e.to_string(),
                true,
            );
            return None;
        }
    };
    ck.report.files_checked += 1;
    let path = ck.dir.join(manifest::manifest_file_name(number));
    // An open database replaces its manifest only while opening, when no check runs, so
    // the file named here is the one the mark is for. (A live rotation would have to skip
    // a manifest newer than the mark, as a log segment's check does.)
    let settled = extent.and_then(|x| x.settled(number)).flatten();
    let data = match read_settled(ck.fs.as_ref(), &path, settled) {
        Ok(d) => d,
        Err(e) => {
            ck.problem(
                Component::Manifest,
                &path,
                None,
                io_check(&e),
                e.to_string(),
                true,
            );
            return None;
        }
    };
    ck.report.files_checked += 1;
    ck.report.bytes_checked += data.len() as u64;
    let header = match decode_file_header(&data, MANIFEST_MAGIC) {
        Ok(h) => h,
        Err(e) => {
            ck.problem(
                Component::Manifest,
                &path,
                Some(0),
                CheckKind::Checksum,
                format!("bad header: {e:?}"),
                true,
            );
            return None;
        }
    };
    let mut st = ManifestState {
        number,
        ..Default::default()
    };
    let sealed = header.version == manifest::MANIFEST_SEALED_VERSION;
    if ck.keys.is_some() && !sealed {
        // An encrypted database writes only sealed manifests (the engine refuses this one).
        ck.problem(
            Component::Manifest,
            &path,
            Some(4),
            CheckKind::Authentication,
            "an unencrypted manifest in an encrypted database",
            true,
        );
        return None;
    }
    let mut pos = FILE_HEADER_LEN;
    let mut edits = 0u64;
    loop {
        match read_record(&data, pos, header.checksum) {
            RecordRead::End => break,
            RecordRead::Ok(payload, next) => {
                ck.report.records_checked += 1;
                let place = manifest::manifest_place(number, pos as u64);
                let edit = match ck.open_record(&path, sealed, place, payload) {
                    Ok(p) => VersionEdit::decode(&p)
                        .ok_or((CheckKind::Structure, "malformed version edit".to_string())),
                    Err(e) => Err(e),
                };
                match edit {
                    Ok(edit) if !st.damaged => {
                        edits += 1;
                        apply_checked(ck, &path, pos as u64, &mut st, &edit);
                    }
                    Ok(_) => {}
                    Err((kind, what)) => {
                        // A manifest record that fails authentication was tampered
                        // with: the manifest is rebuilt from the tables, like a damaged one.
                        ck.problem(
                            Component::Manifest,
                            &path,
                            Some(pos as u64),
                            kind,
                            what,
                            true,
                        );
                        st.damaged = true;
                    }
                }
                pos = next;
            }
            RecordRead::Bad(why) => {
                let next = next_good_record(&data, pos, header.checksum);
                if next.is_none() && edits > 0 {
                    ck.note(format!(
                        "{}: torn last record at offset {pos} (an append cut short by a crash); \
                         ignored",
                        path.display()
                    ));
                    break;
                }
                ck.problem(
                    Component::Manifest,
                    &path,
                    Some(pos as u64),
                    CheckKind::Checksum,
                    why,
                    true,
                );
                st.damaged = true;
                match next {
                    Some(p) => pos = p,
                    None => break,
                }
            }
        }
    }
    if edits == 0 && !st.damaged {
        ck.problem(
            Component::Manifest,
            &path,
            Some(FILE_HEADER_LEN as u64),
            CheckKind::Structure,
            "no snapshot record",
            true,
        );
        st.damaged = true;
    }
    Some(st)
}

pub(super) fn apply_checked(
    ck: &mut Checker,
    path: &Path,
    pos: u64,
    st: &mut ManifestState,
    e: &VersionEdit,
) {
    if let Some(n) = e.log_number {
        st.log_number = n;
    }
    if let Some(n) = e.next_file_number {
        st.next_file = st.next_file.max(n);
    }
    if let Some(n) = e.last_sequence {
        st.last_sequence = st.last_sequence.max(n);
    }
    let standard = ck.at_least(ValidationLevel::Standard);
    for &(level, number) in &e.deleted {
        let before = st.live.len();
        st.live
            .retain(|(l, m)| !(m.number == number && *l == level));
        if standard && st.live.len() == before {
            ck.problem(
                Component::Manifest,
                path,
                Some(pos),
                CheckKind::Structure,
                format!("an edit deletes table {number} at level {level}, which is not live"),
                true,
            );
        }
    }
    for (level, meta) in &e.added {
        if *level >= NUM_LEVELS {
            ck.problem(
                Component::Manifest,
                path,
                Some(pos),
                CheckKind::Structure,
                format!(
                    "table {} placed at level {level}, beyond the last level",
                    meta.number
                ),
                true,
            );
            st.damaged = true;
            continue;
        }
        if standard && st.live.iter().any(|(_, m)| m.number == meta.number) {
            ck.problem(
                Component::Manifest,
                path,
                Some(pos),
                CheckKind::Structure,
                format!("table {} added twice", meta.number),
                true,
            );
        }
        if standard && (meta.smallest > meta.largest || meta.min_seq > meta.max_seq) {
            ck.problem(
                Component::Manifest,
                path,
                Some(pos),
                CheckKind::Structure,
                format!(
                    "table {} has an inverted key or sequence range",
                    meta.number
                ),
                true,
            );
        }
        st.live.push((*level, meta.clone()));
    }
}
