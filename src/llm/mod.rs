//! The local language model: a candle GGUF engine on its own worker thread, its
//! tokenizer and chat templates, and schema-constrained decoding so that every structured
//! answer parses. It knows nothing about needs; callers bring the prompts.

pub mod constrain;
pub mod schema;
