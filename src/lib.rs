//! ideadesk: a fully local voice-and-vision assistant for people who turn ideas into products.
//!
//! The crate is laid out as the pipeline it runs. This foundation holds the parts every
//! later stage stands on: the model manifest and resolver (`models`), device discovery
//! (`audio`, `vision`) and the compute backend report (`compute`). The binary's
//! command-line front end lives in `cli`.

pub mod audio;
pub mod cli;
pub mod compute;
pub mod files;
pub mod llm;
pub mod models;
pub mod needs;
pub mod session;
pub mod store;
pub mod stt;
pub mod tts;
pub mod vad;
pub mod vision;
mod worker;
