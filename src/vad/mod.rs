//! Voice activity detection: which 32 ms frames of 16 kHz mono audio hold speech, and the
//! segmenter that turns those frames into utterances.
//!
//! Two detectors share one trait: Silero VAD ported to candle (the default), and an
//! energy detector with an adaptive noise floor for when no VAD weights are present. The
//! segmenter is a pure state machine over frame probabilities; this module does no IO
//! beyond loading weights.

pub mod energy;
pub mod segmenter;
pub mod silero;

use std::path::PathBuf;

/// Sample rate every detector works at.
pub const VAD_SAMPLE_RATE_HZ: u32 = 16_000;
/// Samples per detector frame (32 ms at 16 kHz), as Silero VAD v5 requires.
pub const VAD_FRAME_SAMPLES: usize = 512;

/// Everything that can go wrong detecting voice.
#[derive(Debug, thiserror::Error)]
pub enum VadError {
    /// The weights could not be read or do not fit the model.
    #[error(
        "cannot load the VAD model {}: {reason}; re-fetch it with `ideadesk models fetch --role vad`, \
         or run with `--vad energy`",
        path.display()
    )]
    Load {
        /// The weights file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A tensor operation failed.
    #[error("VAD inference failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// A frame of the wrong length was passed.
    #[error("a VAD frame must hold {expected} samples, got {got}")]
    FrameSize {
        /// Samples required.
        expected: usize,
        /// Samples given.
        got: usize,
    },
}

/// A detector that scores frames of [`VAD_FRAME_SAMPLES`] samples at 16 kHz, in order.
/// Detectors keep state across frames (context, recurrent state, noise floor).
pub trait VoiceDetector: Send {
    /// The probability, in [0, 1], that the frame holds speech.
    fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, VadError>;
    /// Forgets all state, as at the start of a new stream.
    fn reset(&mut self);
    /// A short name for logs and `--vad`.
    fn name(&self) -> &'static str;
}
