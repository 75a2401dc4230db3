//! Speech to text: Whisper through whisper-rs on a worker thread of its own, with guards
//! against the text Whisper invents on silence and noise. This module never touches a
//! device; it is handed 16 kHz mono utterances and returns timed transcripts.

pub mod guards;
pub mod whisper;

use std::path::PathBuf;

use serde::Serialize;

pub use whisper::{EncoderWindow, Transcriber, WhisperConfig};

/// Everything that can go wrong transcribing.
#[derive(Debug, thiserror::Error)]
pub enum SttError {
    /// whisper.cpp could not load the model file.
    #[error(
        "whisper.cpp cannot load {}: {reason}; re-fetch it with `ideadesk models fetch --role stt`",
        path.display()
    )]
    Load {
        /// The model file.
        path: PathBuf,
        /// What whisper.cpp said.
        reason: String,
    },
    /// The language asked for does not fit the model.
    #[error("{0}")]
    Language(String),
    /// Decoding failed.
    #[error("transcription failed: {0}")]
    Decode(String),
    /// The worker thread is gone (it panicked or was shut down).
    #[error("the speech-to-text worker has stopped")]
    WorkerGone,
}

/// One timed piece of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranscriptSegment {
    /// Start on the session clock, in seconds.
    pub start_s: f64,
    /// End on the session clock, in seconds.
    pub end_s: f64,
    /// The words.
    pub text: String,
}

/// What Whisper heard in one utterance (or, for a partial, in its first part).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transcript {
    /// The utterance this belongs to.
    pub utterance_id: u64,
    /// Start of the utterance on the session clock, in seconds.
    pub start_s: f64,
    /// End of the audio transcribed, in seconds.
    pub end_s: f64,
    /// The text after the hallucination guards (may be empty).
    pub text: String,
    /// Timed segments after the guards.
    pub segments: Vec<TranscriptSegment>,
    /// True while the utterance is still open.
    pub is_partial: bool,
    /// The detected or requested language.
    pub language: Option<String>,
    /// Time whisper.cpp took, in milliseconds.
    pub decode_ms: f64,
}
