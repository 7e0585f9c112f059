//! The handle registry: what a `lightning_db *` (or any other handle) stands for.
//!
//! A handle given to C is a token, not an address: `(id << 4) | kind`, where `id` counts up
//! from 1 and is never reused. The registry maps live tokens to the objects. The library
//! never dereferences a handle, so a closed, freed, forged or wrong-kind handle is only a
//! failed lookup: an error code, never undefined behaviour. Looking an object up clones its
//! `Arc` under the registry lock, so a concurrent close cannot free it under a caller.
//!
//! The registry keeps each object as its `Arc` pointer bit-inverted. LeakSanitizer does not
//! recognise that as a pointer, so a handle a program forgets to close or free is reported
//! as a leak instead of being hidden by the registry.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::codes::{LIGHTNING_DATABASE_CLOSED, LIGHTNING_INTERNAL};
use crate::error::Fail;

/// The kinds of handle; the value is the token's low four bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Db = 1,
    Options = 2,
    Batch = 3,
    Txn = 4,
    Snapshot = 5,
    Iter = 6,
}

impl Kind {
    fn from_tag(tag: usize) -> Option<Kind> {
        Some(match tag {
            1 => Kind::Db,
            2 => Kind::Options,
            3 => Kind::Batch,
            4 => Kind::Txn,
            5 => Kind::Snapshot,
            6 => Kind::Iter,
            _ => return None,
        })
    }

    /// The C type name.
    pub(crate) fn c_name(self) -> &'static str {
        match self {
            Kind::Db => "lightning_db",
            Kind::Options => "lightning_options",
            Kind::Batch => "lightning_batch",
            Kind::Txn => "lightning_txn",
            Kind::Snapshot => "lightning_snapshot",
            Kind::Iter => "lightning_iter",
        }
    }
}

/// An object that a handle of one kind stands for. Each kind has exactly one type.
pub(crate) trait Handle: Send + Sync + 'static {
    /// The kind of handle that names this type.
    const KIND: Kind;
}

const TAG_BITS: u32 = 4;
const TAG_MASK: usize = (1 << TAG_BITS) - 1;
const SHARDS: usize = 16;

struct Slot {
    kind: Kind,
    /// `!(Arc::into_raw(..) as usize)` for the `Arc<T>` of the type of `kind`.
    hidden: usize,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
static REGISTRY: [Mutex<BTreeMap<usize, Slot>>; SHARDS] =
    [const { parking_lot::const_mutex(BTreeMap::new()) }; SHARDS];

fn shard(token: usize) -> &'static Mutex<BTreeMap<usize, Slot>> {
    &REGISTRY[(token >> TAG_BITS) % SHARDS]
}

/// Registers `object` and returns its new token.
pub(crate) fn insert<T: Handle>(object: Arc<T>) -> Result<usize, Fail> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    if id > (usize::MAX >> TAG_BITS) {
        return Err(Fail::with_code(
            LIGHTNING_INTERNAL,
            "handle ids are exhausted",
        ));
    }
    let token = (id << TAG_BITS) | T::KIND as usize;
    let hidden = !Arc::into_raw(object).expose_provenance();
    shard(token).lock().insert(
        token,
        Slot {
            kind: T::KIND,
            hidden,
        },
    );
    Ok(token)
}

/// Why `token` does not name a live `T`.
fn lookup_error<T: Handle>(token: usize, name: &str, found: Option<Kind>) -> Fail {
    let want = T::KIND.c_name();
    if token == 0 {
        return Fail::invalid(format!("`{name}` is NULL"));
    }
    if let Some(kind) = found {
        return Fail::invalid(format!(
            "`{name}` is a {} handle, not a {want}",
            kind.c_name()
        ));
    }
    let issued = (token >> TAG_BITS) < NEXT_ID.load(Ordering::Relaxed) && (token >> TAG_BITS) > 0;
    match Kind::from_tag(token & TAG_MASK) {
        Some(Kind::Db) if T::KIND == Kind::Db && issued => Fail::with_code(
            LIGHTNING_DATABASE_CLOSED,
            format!("`{name}` is a {want} handle that was already closed"),
        ),
        Some(kind) if kind == T::KIND && issued => Fail::invalid(format!(
            "`{name}` is a {want} handle that was already freed (or committed / rolled back)"
        )),
        _ => Fail::invalid(format!("`{name}` is not a {want} handle")),
    }
}

fn revive<T: Handle>(hidden: usize) -> Arc<T> {
    let raw: *const T = std::ptr::with_exposed_provenance(!hidden);
    // SAFETY: `raw` came from `Arc::into_raw` of an `Arc<T>` (each kind has exactly one type
    // and the slot's kind was checked), and the registry still owns that strong reference
    // while the caller holds the shard lock, so the allocation is alive: taking one more
    // reference and wrapping it in an `Arc` is sound.
    unsafe {
        Arc::increment_strong_count(raw);
        Arc::from_raw(raw)
    }
}

/// The live object named by `token`, or why there is none. `name` is the argument's name,
/// for the message.
pub(crate) fn get<T: Handle>(token: usize, name: &str) -> Result<Arc<T>, Fail> {
    let map = shard(token).lock();
    match map.get(&token) {
        Some(slot) if slot.kind == T::KIND => Ok(revive::<T>(slot.hidden)),
        Some(slot) => Err(lookup_error::<T>(token, name, Some(slot.kind))),
        None => Err(lookup_error::<T>(token, name, None)),
    }
}

/// Unregisters the object named by `token` and returns it: afterwards the token is stale.
pub(crate) fn remove<T: Handle>(token: usize, name: &str) -> Result<Arc<T>, Fail> {
    let mut map = shard(token).lock();
    match map.get(&token) {
        Some(slot) if slot.kind == T::KIND => {}
        Some(slot) => return Err(lookup_error::<T>(token, name, Some(slot.kind))),
        None => return Err(lookup_error::<T>(token, name, None)),
    }
    let slot = map
        .remove(&token)
        .ok_or_else(|| Fail::with_code(LIGHTNING_INTERNAL, "registry slot vanished"))?;
    let raw: *const T = std::ptr::with_exposed_provenance(!slot.hidden);
    // SAFETY: as in `revive`: `raw` came from `Arc::into_raw::<T>` and the registry owned that
    // strong reference; removing the slot hands that reference over to the returned `Arc`.
    Ok(unsafe { Arc::from_raw(raw) })
}

/// A handle pointer as a token.
pub(crate) fn token<P>(ptr: *const P) -> usize {
    ptr.addr()
}

/// A token as a handle pointer: it has no provenance and is never dereferenced.
pub(crate) fn pointer<P>(token: usize) -> *mut P {
    std::ptr::without_provenance_mut(token)
}
