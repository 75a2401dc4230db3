//! Speech out: text → sentences → speech, sentence by sentence so the first one can play
//! while the rest is still being made. `text.rs` cuts a reply (whole or streamed) into
//! cleaned sentences.
//!
//! The natural voice is a Piper (VITS) voice run on candle (`vits.rs` is the network,
//! `piper.rs` the voice around it: its `.onnx.json`, phoneme ids, scales and seed).
//! Phonemes come from espeak-ng run as an external program (`phonemize.rs`), and the
//! espeak-ng voice itself is the fallback when no Piper voice is present (`espeak.rs`).
//! espeak-ng is GPL: it is only ever started as a separate process, never linked.
//! This module never touches an audio device; `audio::playback` plays what it makes.

pub mod conv;
pub mod espeak;
pub mod phonemize;
pub mod piper;
pub mod synth;
pub mod text;
pub mod vits;

use std::path::PathBuf;

/// Everything that can go wrong turning text into speech.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// The text has nothing that can be spoken (empty, or only symbols).
    #[error("nothing to say: the text has no words or numbers in it")]
    NothingToSay,
    /// The espeak-ng program is not on PATH (or not at the path given), or cannot be started.
    #[error(
        "espeak-ng was not found on PATH or could not be started (it turns text into phonemes and is the fallback voice); install it with `apt install espeak-ng` or run `make deps`"
    )]
    EspeakMissing,
    /// espeak-ng does not know the voice (or the name is not a voice name at all).
    #[error(
        "espeak-ng has no voice called {0:?}; list the installed voices with `espeak-ng --voices` and use one of their names (e.g. en-us)"
    )]
    UnknownEspeakVoice(String),
    /// espeak-ng ran but failed.
    #[error("espeak-ng failed: {0}")]
    Espeak(String),
    /// A voice file could not be read or does not describe a Piper voice.
    #[error("cannot load the Piper voice {}: {reason}; run `ideadesk models fetch --role tts` or pass --voice espeak", path.display())]
    LoadVoice {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The voice network failed while synthesising.
    #[error("the Piper voice failed while synthesising: {0}")]
    Synthesis(#[from] candle_core::Error),
    /// The synthesis worker thread has stopped.
    #[error("the speech worker has stopped: {0}")]
    WorkerGone(String),
}
