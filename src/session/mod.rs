//! The session: the one module that knows every stage and wires them together. It holds
//! the hearing stage (audio source → voice activity → utterances → transcripts) and the
//! understanding stage (utterances and sketches → stored needs and the next question);
//! the live loop with speech joins it here.

pub mod events;
pub mod hear;
pub mod live;
mod see;
mod turn;
pub mod understand;

use crate::audio::AudioError;
use crate::llm::LlmError;
use crate::llm::constrain::ConstraintError;
use crate::llm::schema::SchemaError;
use crate::needs::NeedsError;
use crate::store::StoreError;
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
    /// The language model failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// A schema given to constrained decoding was refused.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Constrained decoding could not start.
    #[error(transparent)]
    Constraint(#[from] ConstraintError),
    /// The domain refused a turn's update.
    #[error(transparent)]
    Needs(#[from] NeedsError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A session thread could not be started.
    #[error("could not start a session thread ({0}); the system may be out of resources")]
    Thread(String),
    /// A constrained answer did not read as the expected shape.
    #[error(
        "the {purpose} answer did not parse ({reason}); this is a bug, please report it with the text: {text}"
    )]
    Extraction {
        /// What was being extracted.
        purpose: String,
        /// The parser's complaint.
        reason: String,
        /// The model's text.
        text: String,
    },
}
