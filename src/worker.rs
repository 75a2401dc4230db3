//! Shared pieces of the model worker threads. Each model (language, vision, embedding)
//! runs on a thread that owns it; a panic inside candle or a tokenizer must become an
//! error reply to the caller rather than a dead worker.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

/// Runs `work`, turning a panic into its message.
pub(crate) fn catch_panic<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(work)).map_err(|payload| panic_message(&*payload))
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
    use super::catch_panic;

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
