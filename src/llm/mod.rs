//! The local language model: a candle GGUF engine on its own worker thread, its
//! tokenizer and chat templates, and schema-constrained decoding so that every structured
//! answer parses. It knows nothing about needs; callers bring the prompts.

use std::path::PathBuf;

pub mod chat;
pub mod constrain;
pub mod engine;
pub mod packed;
pub mod schema;
pub mod tokenizer;
pub mod transformer;

pub use chat::{ChatMessage, ChatTemplate, Role};
pub use engine::{
    EngineOptions, GenerateRequest, Generation, GenerationStats, GgufSummary, LlmEngine, LlmHandle,
    LlmInfo, Prompt, Sampling, StopReason, inspect_gguf,
};
pub use tokenizer::LlmTokenizer;
pub use transformer::{Architecture, Config};

/// What went wrong in the language model, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The GGUF file is not there.
    #[error(
        "no language model at {path}; run `ideadesk models fetch --role llm` or pass the path of a GGUF file"
    )]
    ModelMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The GGUF file could not be read or is not a model we can run.
    #[error(
        "cannot load the language model {path}: {reason}; re-download it with `ideadesk models fetch --role llm`"
    )]
    ModelLoad {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file given as the language model (`--llm`) is not a GGUF ideadesk can run.
    #[error(
        "{path} is not a language model ideadesk can run: {reason}; pass a llama, qwen2 or qwen3 GGUF file (for example a Q4_K_M quantisation)"
    )]
    NotAModel {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The GGUF holds an architecture this engine does not implement.
    #[error(
        "{path} is a `{architecture}` model; ideadesk runs llama, qwen2 and qwen3 GGUFs, so choose one of those"
    )]
    UnsupportedArchitecture {
        /// The file.
        path: PathBuf,
        /// Its `general.architecture`.
        architecture: String,
    },
    /// The manifest entry lists no `.gguf` file.
    #[error("the llm model entry has no .gguf file; fix models/models.toml or pass a GGUF path")]
    NoGgufInEntry,
    /// The tokenizer could not be built or used.
    #[error("tokenizer: {reason}")]
    Tokenizer {
        /// Why.
        reason: String,
    },
    /// The prompt rendered to no tokens.
    #[error("the prompt is empty; give the model at least one message")]
    EmptyPrompt,
    /// The prompt does not fit the context.
    #[error(
        "the prompt has {n_tokens} tokens but the context holds {max_context_tokens}; shorten the conversation or raise max_context_tokens"
    )]
    ContextFull {
        /// Tokens in the prompt.
        n_tokens: usize,
        /// The most positions the cache holds.
        max_context_tokens: usize,
    },
    /// The token constraint refused or allowed nothing.
    #[error("constrained decoding failed: {0}")]
    Constraint(String),
    /// The model failed while running.
    #[error("language model inference failed: {0}")]
    Inference(String),
    /// The request was cancelled before it finished (the session is stopping).
    #[error("the language model's work was cancelled because the session is stopping")]
    Cancelled,
    /// The worker thread has stopped.
    #[error("the language model worker has stopped; restart ideadesk")]
    WorkerGone,
}
