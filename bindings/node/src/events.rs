//! `onEvent`: the engine's events handed to a JavaScript function on the JS thread.
//!
//! The engine calls listeners on its own threads (background flush and compaction threads,
//! the opening thread, a stalled writer). Each event is queued, as its JSON, on a napi
//! threadsafe function in non-blocking mode, so an engine thread never waits for
//! JavaScript; the JS thread turns it into a plain object (`{ kind, ...fields }`, keys in
//! camelCase as in the other reports) and calls `onEvent` with it. The threadsafe function
//! is weak (it never keeps the event loop alive) and is released when the database closes;
//! events still queued then are delivered, and events queued while the environment is
//! exiting are dropped. A throwing `onEvent` never reaches Node's uncaught-exception path:
//! the exception is caught and reported with `process.emitWarning`.

use std::sync::Arc;

use lightning_db::{Event, EventFn, EventListener};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{
    ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode,
};
use napi::JsError;
use parking_lot::RwLock;

use crate::convert::report_to_js;

/// The JavaScript `onEvent` function, as napi takes it from the options object.
pub(crate) type OnEvent<'a> = Function<'a, Unknown<'static>, Unknown<'static>>;

/// Queued with the event's JSON, called with the event object; weak (unreferenced).
type Tsfn = ThreadsafeFunction<String, Unknown<'static>, Unknown<'static>, Status, false, true>;

/// The `type` of the warning a throwing `onEvent` is reported with.
const WARNING_TYPE: &str = "LightningEventWarning";
/// Its `code`.
const WARNING_CODE: &str = "LIGHTNING_EVENT_LISTENER_ERROR";

/// One database's `onEvent`.
pub(crate) struct EventSink {
    /// `None` once the database closed (the threadsafe function is released then).
    tsfn: RwLock<Option<Tsfn>>,
}

impl EventSink {
    /// Wraps `on_event` (on the JS thread).
    pub(crate) fn new(on_event: &OnEvent<'_>) -> Result<Arc<Self>> {
        let tsfn: Tsfn = on_event
            .build_threadsafe_function::<String>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx: ThreadsafeCallContext<String>| {
                report_to_js(&ctx.env, &ctx.value)
            })?;
        Ok(Arc::new(EventSink {
            tsfn: RwLock::new(Some(tsfn)),
        }))
    }

    /// The listener to register with the engine.
    pub(crate) fn listener(self: &Arc<Self>) -> Arc<dyn EventListener> {
        let sink = Arc::clone(self);
        Arc::new(EventFn::new(move |event: &Event| sink.deliver(event)))
    }

    /// Queues `event` for the JS thread; never waits for it.
    fn deliver(&self, event: &Event) {
        let guard = self.tsfn.read();
        if let Some(tsfn) = guard.as_ref() {
            // A refused call (queue closing at exit) drops the event.
            let _ = tsfn.call_with_return_value(
                event.to_json(),
                ThreadsafeFunctionCallMode::NonBlocking,
                warn_if_thrown,
            );
        }
    }

    /// Releases the threadsafe function: nothing more is queued (what is already queued is
    /// still delivered).
    pub(crate) fn stop(&self) {
        let taken = self.tsfn.write().take();
        drop(taken);
    }
}

/// Runs on the JS thread after `onEvent` returned: reports an exception it threw.
fn warn_if_thrown(returned: Result<Unknown<'static>>, env: Env) -> Result<()> {
    warn_if_thrown_by("onEvent")(returned, env)
}

/// What runs on the JS thread after the callback `what` (`onEvent`, `onProgress`)
/// returned: reports an exception it threw with `process.emitWarning`.
pub(crate) fn warn_if_thrown_by(
    what: &'static str,
) -> impl FnOnce(Result<Unknown<'static>>, Env) -> Result<()> {
    move |returned, env| {
        if let Err(thrown) = returned {
            // A warning that cannot be emitted (the environment is exiting) is dropped:
            // the exception must not become an uncaught one.
            let _ = emit_warning(&env, what, thrown);
        }
        Ok(())
    }
}

/// `process.emitWarning('<what> threw: ...', { type, code, detail: stack })`.
fn emit_warning(env: &Env, what: &str, thrown: Error) -> Result<()> {
    let message = format!("{what} threw: {}", thrown.reason);
    let value = JsError::from(thrown).into_unknown(*env);
    // `into_unknown` gives back the thrown object when it is an `Error` (else a new `Error`
    // carrying its text), whose `stack` is a plain string.
    let stack = value
        .coerce_to_object()
        .ok()
        .and_then(|o| o.get_named_property::<String>("stack").ok());
    let process: Object = env.get_global()?.get_named_property("process")?;
    let emit: Function<FnArgs<(String, Object)>, Unknown> =
        process.get_named_property("emitWarning")?;
    let mut options = Object::new(env)?;
    options.set_named_property("type", WARNING_TYPE)?;
    options.set_named_property("code", WARNING_CODE)?;
    if let Some(stack) = stack {
        options.set_named_property("detail", stack)?;
    }
    emit.call(FnArgs::from((message, options)))?;
    Ok(())
}
