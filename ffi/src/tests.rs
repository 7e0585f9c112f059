//! Unit tests of the C ABI, calling the exported functions from Rust. The C tests in
//! `tests/c/` (run by `tests/c/run.sh`) cover the same ground from C under sanitizers.

use std::ffi::{c_char, c_int, CStr};
use std::ptr;
use std::sync::Arc;

use ::lightning_db::{codes, ERROR_TABLE};

use crate::codes::*;
use crate::db::*;
use crate::error::{ffi_call, lightning_code_name, lightning_last_error, lightning_strerror, Fail};
use crate::handle::{self, Handle, Kind};
use crate::iter::*;
use crate::mem::{self, lightning_free};
use crate::options::*;
use crate::txn::*;
use crate::version::*;

fn last_error() -> String {
    let mut buf = vec![0 as c_char; 2048];
    let mut len = 0usize;
    lightning_last_error(buf.as_mut_ptr(), buf.len(), &mut len);
    // SAFETY: lightning_last_error NUL-terminates within the buffer.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn open_temp(dir: &tempfile::TempDir) -> *mut lightning_db {
    let path = std::ffi::CString::new(dir.path().join("db").to_str().expect("utf-8 path"))
        .expect("no NUL");
    let json = c"{\"durability\": \"NoSync\"}";
    let mut db = ptr::null_mut();
    assert_eq!(
        lightning_db_open_json(path.as_ptr(), json.as_ptr(), &mut db),
        LIGHTNING_OK,
        "{}",
        last_error()
    );
    db
}

#[test]
fn version_is_packed_from_the_crate_version() {
    let part = |s: &str| s.parse::<u32>().expect("numeric");
    let packed = (part(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
        | (part(env!("CARGO_PKG_VERSION_MINOR")) << 8)
        | part(env!("CARGO_PKG_VERSION_PATCH"));
    assert_eq!(LIGHTNING_VERSION, packed);
    assert_eq!(crate::lightning_version(), packed);
    assert_eq!(
        LIGHTNING_VERSION_MAJOR,
        part(env!("CARGO_PKG_VERSION_MAJOR"))
    );
    // SAFETY: a static NUL-terminated string.
    let s = unsafe { CStr::from_ptr(crate::lightning_version_string()) };
    assert_eq!(s.to_str(), Ok(env!("CARGO_PKG_VERSION")));
}

#[test]
fn every_code_has_its_static_text() {
    assert_eq!(LIGHTNING_NOT_FOUND, codes::KEY_NOT_FOUND);
    assert_eq!(LIGHTNING_INVALID_ARGUMENT, codes::INVALID_ARGUMENT);
    for info in ERROR_TABLE {
        // SAFETY: static NUL-terminated strings.
        let text = unsafe { CStr::from_ptr(lightning_strerror(info.code)) };
        // SAFETY: as above.
        let name = unsafe { CStr::from_ptr(lightning_code_name(info.code)) };
        assert_eq!(text.to_str(), Ok(info.description));
        assert_eq!(name.to_str(), Ok(info.name));
        assert_eq!(lightning_strerror(info.code), lightning_strerror(info.code));
    }
    // SAFETY: as above.
    let unknown = unsafe { CStr::from_ptr(lightning_strerror(-7)) };
    assert_eq!(unknown.to_str(), Ok("unknown status code"));
}

#[test]
fn panics_become_internal_errors() {
    let rc = ffi_call("lightning_test_panic", |_| -> Result<c_int, Fail> {
        panic!("deliberate test panic")
    });
    assert_eq!(rc, LIGHTNING_INTERNAL);
    let text = last_error();
    assert!(text.contains("lightning_test_panic"), "{text}");
    assert!(text.contains("deliberate test panic"), "{text}");
}

struct Dummy;
impl Handle for Dummy {
    const KIND: Kind = Kind::Options;
}

#[test]
fn registry_detects_stale_forged_and_wrong_handles() {
    let token = handle::insert(Arc::new(Dummy)).expect("insert");
    assert_eq!(token & 0xf, Kind::Options as usize);
    assert!(handle::get::<Dummy>(token, "h").is_ok());
    // Wrong kind: the same token asked for as a database.
    let wrong = handle::get::<DbHandle>(token, "db")
        .err()
        .expect("wrong kind");
    assert_eq!(wrong.code, LIGHTNING_INVALID_ARGUMENT);
    assert!(
        wrong.message.contains("lightning_options"),
        "{}",
        wrong.message
    );
    assert!(handle::remove::<Dummy>(token, "h").is_ok());
    // Stale: removed twice, used after removal.
    assert_eq!(
        handle::remove::<Dummy>(token, "h").err().map(|f| f.code),
        Some(LIGHTNING_INVALID_ARGUMENT)
    );
    assert!(handle::get::<Dummy>(token, "h").is_err());
    // NULL and forged tokens.
    assert!(handle::get::<Dummy>(0, "h")
        .err()
        .is_some_and(|f| f.message.contains("NULL")));
    assert!(handle::get::<Dummy>(usize::MAX, "h").is_err());
    assert!(handle::get::<Dummy>(0x1234_5670, "h").is_err());
}

#[test]
fn buffers_are_freed_once() {
    let (p, len) = mem::give(b"abc".to_vec()).expect("give");
    assert_eq!(len, 3);
    // SAFETY: `give` returned 4 readable bytes (contents and NUL).
    let bytes = unsafe { std::slice::from_raw_parts(p, 4) };
    assert_eq!(bytes, b"abc\0");
    let before = mem::live_count();
    assert!(before >= 1);
    lightning_free(p.cast(), len);
    lightning_free(p.cast(), len); // ignored
    lightning_free(ptr::null_mut(), 0);
    let mut local = 0u8;
    lightning_free(ptr::from_mut(&mut local).cast(), 1); // not ours: ignored
    assert!(last_error().contains("lightning_free"));
}

#[test]
fn last_error_copies_like_snprintf() {
    let _ = ffi_call("lightning_test_fail", |_| Err(Fail::invalid("0123456789")));
    let mut len = 0usize;
    assert_eq!(
        lightning_last_error(ptr::null_mut(), 0, &mut len),
        LIGHTNING_BUFFER_TOO_SMALL
    );
    let full = len;
    let mut small = [1 as c_char; 6];
    assert_eq!(
        lightning_last_error(small.as_mut_ptr(), small.len(), &mut len),
        LIGHTNING_BUFFER_TOO_SMALL
    );
    assert_eq!(len, full);
    assert_eq!(small[5], 0);
    let mut big = vec![1 as c_char; full + 1];
    assert_eq!(
        lightning_last_error(big.as_mut_ptr(), big.len(), ptr::null_mut()),
        LIGHTNING_OK
    );
    assert_eq!(big[full], 0);
    assert_eq!(
        lightning_last_error(ptr::null_mut(), 3, &mut len),
        LIGHTNING_INVALID_ARGUMENT
    );
}

#[test]
fn database_round_trip_and_closed_handle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_temp(&dir);
    assert_eq!(
        lightning_put(db, b"k".as_ptr(), 1, b"value".as_ptr(), 5),
        LIGHTNING_OK
    );
    let mut out: *mut u8 = ptr::null_mut();
    let mut len = 0usize;
    assert_eq!(
        lightning_get(db, b"k".as_ptr(), 1, &mut out, &mut len),
        LIGHTNING_OK
    );
    // SAFETY: the library returned `len` readable bytes at `out`.
    assert_eq!(unsafe { std::slice::from_raw_parts(out, len) }, b"value");
    lightning_free(out.cast(), len);
    assert_eq!(
        lightning_get(db, b"x".as_ptr(), 1, &mut out, &mut len),
        LIGHTNING_NOT_FOUND
    );
    assert_eq!(lightning_delete(db, b"x".as_ptr(), 1), LIGHTNING_NOT_FOUND);
    assert_eq!(
        lightning_put(db, ptr::null(), 1, b"v".as_ptr(), 1),
        LIGHTNING_INVALID_ARGUMENT
    );

    // An iterator over a range keeps its pointers until the next call.
    let mut it = ptr::null_mut();
    let range = lightning_range {
        start: b"a".as_ptr(),
        start_len: 1,
        end: ptr::null(),
        end_len: 0,
        start_exclusive: 0,
        end_inclusive: 0,
    };
    assert_eq!(lightning_iter_new(db, &range, 0, &mut it), LIGHTNING_OK);
    let (mut k, mut v) = (ptr::null(), ptr::null());
    let (mut kl, mut vl) = (0usize, 0usize);
    assert_eq!(
        lightning_iter_next(it, &mut k, &mut kl, &mut v, &mut vl),
        LIGHTNING_OK
    );
    // SAFETY: borrowed from the iterator until the next call.
    assert_eq!(unsafe { std::slice::from_raw_parts(k, kl) }, b"k");
    assert_eq!(
        lightning_iter_next(it, &mut k, &mut kl, &mut v, &mut vl),
        LIGHTNING_DONE
    );
    lightning_iter_free(it);

    let mut txn = ptr::null_mut();
    assert_eq!(lightning_txn_begin(db, &mut txn), LIGHTNING_OK);
    assert_eq!(lightning_txn_commit(txn), LIGHTNING_OK);
    assert_eq!(lightning_txn_commit(txn), LIGHTNING_INVALID_ARGUMENT);

    lightning_db_close(db);
    assert_eq!(
        lightning_put(db, b"k".as_ptr(), 1, b"v".as_ptr(), 1),
        LIGHTNING_DATABASE_CLOSED
    );
    lightning_db_close(db); // harmless
    assert!(last_error().contains("already closed"));
}

#[test]
fn options_reject_unknown_enum_values() {
    let mut opts = ptr::null_mut();
    assert_eq!(lightning_options_new(&mut opts), LIGHTNING_OK);
    assert_eq!(
        lightning_options_set_durability(opts, 3),
        LIGHTNING_INVALID_ARGUMENT
    );
    assert_eq!(
        lightning_options_set_durability(opts, lightning_durability::Periodic as c_int),
        LIGHTNING_OK
    );
    assert_eq!(
        lightning_options_set_checksum_algorithm(
            opts,
            lightning_checksum_algorithm::Blake3 as c_int
        ),
        LIGHTNING_OK
    );
    assert_eq!(lightning_options_validate(opts), LIGHTNING_OK);
    lightning_options_free(opts);
    assert_eq!(lightning_options_validate(opts), LIGHTNING_INVALID_ARGUMENT);
}

/// What `record_event` hears: (kind, json) pairs.
type Heard = std::sync::Mutex<Vec<(String, String)>>;

unsafe extern "C" fn record_event(
    user_data: *mut std::ffi::c_void,
    kind: *const c_char,
    json: *const c_char,
    json_len: usize,
) {
    // SAFETY: the tests pass a `Heard` that outlives the database as `user_data`, and the
    // library passes two NUL-terminated strings, `json` of `json_len` bytes.
    let (heard, kind, json) = unsafe {
        (
            &*user_data.cast::<Heard>(),
            CStr::from_ptr(kind).to_string_lossy().into_owned(),
            std::slice::from_raw_parts(json.cast::<u8>(), json_len),
        )
    };
    let json = String::from_utf8_lossy(json).into_owned();
    heard.lock().expect("lock").push((kind, json));
}

#[test]
fn events_reach_the_c_callback_until_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = std::ffi::CString::new(dir.path().join("db").to_str().expect("utf-8 path"))
        .expect("no NUL");
    let heard: Heard = std::sync::Mutex::new(Vec::new());
    let user_data = ptr::from_ref(&heard).cast_mut().cast::<std::ffi::c_void>();
    let mut db = ptr::null_mut();
    assert_eq!(
        lightning_db_open_with_events(
            path.as_ptr(),
            ptr::null(),
            Some(record_event),
            user_data,
            &mut db
        ),
        LIGHTNING_OK,
        "{}",
        last_error()
    );
    {
        let heard = heard.lock().expect("lock");
        let stages: Vec<&(String, String)> = heard
            .iter()
            .filter(|(kind, _)| kind == "recovery_stage")
            .collect();
        assert!(stages.len() >= 12, "{heard:?}");
        assert!(
            stages[0].1.contains("\"stage\":\"lock\""),
            "{}",
            stages[0].1
        );
        assert!(stages[0].1.contains("\"phase\":\"started\""));
        let last = &stages[stages.len() - 1].1;
        assert!(last.contains("\"stage\":\"start\"") && last.contains("\"finished\""));
        assert!(heard.iter().all(|(kind, json)| {
            json.starts_with('{') && json.contains(&format!("\"kind\":\"{kind}\""))
        }));
    }
    assert_eq!(
        lightning_put(db, b"k".as_ptr(), 1, b"v".as_ptr(), 1),
        LIGHTNING_OK
    );
    assert_eq!(lightning_db_flush(db), LIGHTNING_OK);
    assert!(heard
        .lock()
        .expect("lock")
        .iter()
        .any(|(kind, json)| kind == "flush_completed" && json.contains("\"entries\":1")));
    lightning_db_close(db);
    let count = heard.lock().expect("lock").len();
    assert_eq!(lightning_db_flush(db), LIGHTNING_DATABASE_CLOSED);
    assert_eq!(heard.lock().expect("lock").len(), count);

    // A NULL callback opens without a listener.
    let mut db = ptr::null_mut();
    assert_eq!(
        lightning_db_open_with_events(path.as_ptr(), ptr::null(), None, ptr::null_mut(), &mut db),
        LIGHTNING_OK
    );
    lightning_db_close(db);
    assert_eq!(
        lightning_db_open_with_events(
            ptr::null(),
            ptr::null(),
            Some(record_event),
            user_data,
            &mut db
        ),
        LIGHTNING_INVALID_ARGUMENT
    );
}

#[test]
fn the_encryption_key_option_opens_only_with_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = std::ffi::CString::new(dir.path().join("db").to_str().expect("utf-8 path"))
        .expect("no NUL");
    let open = |key: Option<&[u8]>| {
        let mut opts = ptr::null_mut();
        assert_eq!(lightning_options_new(&mut opts), LIGHTNING_OK);
        if let Some(k) = key {
            assert_eq!(
                lightning_options_set_encryption_key(opts, k.as_ptr(), k.len()),
                LIGHTNING_OK
            );
        }
        let mut db = ptr::null_mut();
        let rc = lightning_db_open(path.as_ptr(), opts, &mut db);
        lightning_options_free(opts);
        (rc, db)
    };
    // Bad key material is refused by the setter.
    let mut opts = ptr::null_mut();
    assert_eq!(lightning_options_new(&mut opts), LIGHTNING_OK);
    assert_eq!(
        lightning_options_set_encryption_key(opts, [1u8; 31].as_ptr(), 31),
        LIGHTNING_INVALID_KEY_MATERIAL
    );
    assert_eq!(
        lightning_options_set_encryption_key(opts, ptr::null(), 32),
        LIGHTNING_INVALID_ARGUMENT
    );
    // The key never shows in the options' JSON.
    assert_eq!(
        lightning_options_set_encryption_key(opts, [0xabu8; 32].as_ptr(), 32),
        LIGHTNING_OK
    );
    let mut json: *mut c_char = ptr::null_mut();
    let mut len = 0usize;
    assert_eq!(
        lightning_options_to_json(opts, &mut json, &mut len),
        LIGHTNING_OK
    );
    // SAFETY: the library returned a NUL-terminated string.
    let text = unsafe { CStr::from_ptr(json) }
        .to_string_lossy()
        .into_owned();
    lightning_free(json.cast(), len);
    assert!(text.contains("\"enable_encryption\": true"), "{text}");
    assert!(!text.contains("171"), "{text}");
    lightning_options_free(opts);

    let (rc, db) = open(Some(&[7u8; 32]));
    assert_eq!(rc, LIGHTNING_OK, "{}", last_error());
    assert_eq!(
        lightning_put(db, b"k".as_ptr(), 1, b"secret".as_ptr(), 6),
        LIGHTNING_OK
    );
    lightning_db_close(db);
    let (rc, _) = open(None);
    assert_eq!(rc, LIGHTNING_CONFIGURATION_ERROR);
    assert!(
        last_error().contains("security.encryption_key"),
        "{}",
        last_error()
    );
    let (rc, _) = open(Some(&[8u8; 32]));
    assert_eq!(rc, LIGHTNING_WRONG_KEY);
    let (rc, db) = open(Some(&[7u8; 32]));
    assert_eq!(rc, LIGHTNING_OK, "{}", last_error());
    let mut out: *mut u8 = ptr::null_mut();
    assert_eq!(
        lightning_get(db, b"k".as_ptr(), 1, &mut out, &mut len),
        LIGHTNING_OK
    );
    // SAFETY: the library returned `len` readable bytes at `out`.
    assert_eq!(unsafe { std::slice::from_raw_parts(out, len) }, b"secret");
    lightning_free(out.cast(), len);

    // Rotation and re-wrapping.
    let mut generation = 0u32;
    assert_eq!(lightning_db_rotate_key(db, &mut generation), LIGHTNING_OK);
    assert_eq!(generation, 2);
    let mut retired = usize::MAX;
    assert_eq!(
        lightning_db_rotate_key_now(db, &mut generation, &mut retired),
        LIGHTNING_OK
    );
    assert_eq!((generation, retired), (3, 2));
    assert_eq!(
        lightning_db_rotate_key_now(db, ptr::null_mut(), ptr::null_mut()),
        LIGHTNING_OK
    );
    assert_eq!(lightning_db_rotate_key(db, &mut generation), LIGHTNING_OK);
    assert_eq!(generation, 5);
    assert_eq!(
        lightning_db_rewrap_key(db, [1u8; 5].as_ptr(), 5),
        LIGHTNING_INVALID_KEY_MATERIAL
    );
    assert_eq!(
        lightning_db_rewrap_key(db, [9u8; 32].as_ptr(), 32),
        LIGHTNING_OK
    );
    lightning_db_close(db);
    let (rc, _) = open(Some(&[7u8; 32]));
    assert_eq!(rc, LIGHTNING_WRONG_KEY);
    let (rc, db) = open(Some(&[9u8; 32]));
    assert_eq!(rc, LIGHTNING_OK, "{}", last_error());
    assert_eq!(
        lightning_get(db, b"k".as_ptr(), 1, &mut out, &mut len),
        LIGHTNING_OK
    );
    lightning_free(out.cast(), len);
    lightning_db_close(db);
}
