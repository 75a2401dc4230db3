//! The session: the one module that knows every stage and wires them together. Today it
//! holds the hearing stage (audio source → voice activity → utterances → transcripts);
//! the live loop with vision, need capture and speech joins it here.

pub mod hear;

use crate::audio::AudioError;
use crate::stt::SttError;
use crate::vad::VadError;

/// Everything that can stop a session stage.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The audio source failed.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// Voice activity detection failed.
    #[error(transparent)]
    Vad(#[from] VadError),
    /// Transcription failed.
    #[error(transparent)]
    Stt(#[from] SttError),
}
