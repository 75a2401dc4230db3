//! Pictures: camera discovery today; frame capture, sketch selection and the vision model
//! build on it.

pub mod camera;

/// Everything that can go wrong with cameras.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// The camera backend could not enumerate cameras.
    #[error("cannot list cameras: {0}; check that /dev/video* exists and is readable")]
    Enumerate(String),
}
