//! The JSON-schema subset constrained decoding understands.
