//! The model worker skeleton. Each model (language, vision, embedding, voice) runs on a
//! thread that owns it: the thread is spawned, loads the model, reports ready (or the load
//! error) and then serves requests, each of which carries its own reply channel, until
//! every handle is dropped. [`spawn_worker`] is that handshake, written once; a panic
//! inside candle or a tokenizer becomes an error reply to the caller rather than a dead
//! worker ([`catch_panic`]).
//!
//! Silero VAD is the one model that does not run on a worker: it runs on the hearing
//! thread itself, frame by frame (see ARCHITECTURE.md).

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::sync::mpsc::{self, Receiver, Sender};

/// How a worker's failures become its module's error type.
pub(crate) struct WorkerErrors<E> {
    /// The loader panicked, with this message.
    pub load_panicked: Box<dyn FnOnce(String) -> E + Send>,
    /// The thread could not be started, with this reason.
    pub no_thread: fn(String) -> E,
    /// The thread stopped before it reported.
    pub gone: fn() -> E,
}

/// Spawns a model worker thread named `name`: it runs `load`, reports `ready(&model)` to
/// the caller (or the load error), then runs `serve(model, requests)`. Returns the request
/// sender and what `ready` reported, once loading succeeded or failed.
pub(crate) fn spawn_worker<M, I, R, E>(
    name: &str,
    load: impl FnOnce() -> Result<M, E> + Send + 'static,
    ready: impl FnOnce(&M) -> I + Send + 'static,
    serve: impl FnOnce(M, Receiver<R>) + Send + 'static,
    errors: WorkerErrors<E>,
) -> Result<(Sender<R>, I), E>
where
    M: 'static,
    I: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
{
    let (request_tx, request_rx) = mpsc::channel::<R>();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<I, E>>();
    let load_panicked = errors.load_panicked;
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let loaded = catch_panic(load).unwrap_or_else(|message| Err(load_panicked(message)));
            match loaded {
                Ok(model) => {
                    let _ = ready_tx.send(Ok(ready(&model)));
                    serve(model, request_rx);
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                }
            }
        })
        .map_err(|err| (errors.no_thread)(err.to_string()))?;
    let info = ready_rx.recv().map_err(|_| (errors.gone)())??;
    Ok((request_tx, info))
}

/// Runs `work`, turning a panic into its message.
pub(crate) fn catch_panic<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(work)).map_err(|payload| panic_message(&*payload))
}

thread_local! {
    /// Whether this thread is inside [`catch_panic_quietly`], so a panic's default report
    /// ("thread … panicked at …") is not printed: the caller turns it into an error.
    static PANIC_IS_EXPECTED: Cell<bool> = const { Cell::new(false) };
}

/// Installs, once per process, a panic hook that stays silent on threads inside
/// [`catch_panic_quietly`] and hands every other panic to the hook that was there before.
fn install_quiet_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !PANIC_IS_EXPECTED.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Like [`catch_panic`], for code that parses untrusted input through a library that may
/// panic on it (a decoder): the panic becomes an error message and nothing is printed, so
/// the person sees one clear error instead of a panic report.
pub(crate) fn catch_panic_quietly<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_panic_hook();
    let was_expected = PANIC_IS_EXPECTED.with(|flag| flag.replace(true));
    let result = catch_panic(work);
    PANIC_IS_EXPECTED.with(|flag| flag.set(was_expected));
    result
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum TestError {
        Load(String),
        Panicked(String),
        NoThread,
        Gone,
    }

    fn errors() -> WorkerErrors<TestError> {
        WorkerErrors {
            load_panicked: Box::new(TestError::Panicked),
            no_thread: |_| TestError::NoThread,
            gone: || TestError::Gone,
        }
    }

    /// A worker that doubles numbers, each request with its reply channel.
    /// A request to the doubling worker: a number and where its double goes.
    type Doubling = (i32, Sender<i32>);

    fn doubler(load: Result<i32, TestError>) -> Result<(Sender<Doubling>, i32), TestError> {
        spawn_worker(
            "test-worker",
            move || load,
            |factor: &i32| *factor * 10,
            |factor, requests: Receiver<Doubling>| {
                for (value, reply) in requests {
                    let _ = reply.send(value * factor);
                }
            },
            errors(),
        )
    }

    #[test]
    fn a_worker_loads_reports_and_serves() {
        let (requests, info) = doubler(Ok(2)).expect("the worker starts");
        assert_eq!(info, 20);
        let (reply_tx, reply_rx) = mpsc::channel();
        requests.send((21, reply_tx)).expect("the worker listens");
        assert_eq!(reply_rx.recv(), Ok(42));
    }

    #[test]
    fn load_errors_and_panics_reach_the_caller() {
        assert_eq!(
            doubler(Err(TestError::Load("no file".into()))).err(),
            Some(TestError::Load("no file".into()))
        );
        let panicked = spawn_worker(
            "test-worker",
            || -> Result<i32, TestError> { panic!("corrupt weights") },
            |_: &i32| (),
            |_, _: Receiver<()>| {},
            errors(),
        );
        assert_eq!(
            panicked.err(),
            Some(TestError::Panicked("corrupt weights".into()))
        );
    }

    #[test]
    fn panics_become_their_messages() {
        assert_eq!(catch_panic(|| 7), Ok(7));
        assert_eq!(
            catch_panic(|| -> u8 { panic!("boom") }),
            Err("boom".to_string())
        );
        let owned = String::from("owned boom");
        assert_eq!(
            catch_panic(move || -> u8 { panic!("{owned}") }),
            Err("owned boom".to_string())
        );
    }
}
