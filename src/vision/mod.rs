//! Pictures: the camera (nokhwa) on its own thread with a ring of recent frames, the pure
//! frame measures that pick the one good picture of a held-up sketch (sharpness, sketch
//! presence), image files loaded in bounded memory, and the vision-language model that
//! describes the sketch.

pub mod camera;
pub mod describe;
pub mod frame;

use std::path::PathBuf;

/// Everything that can go wrong with cameras, images and the vision model.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// The camera backend could not enumerate cameras.
    #[error("cannot list cameras: {0}; check that /dev/video* exists and is readable")]
    Enumerate(String),
    /// No camera (or none at the index / with the name asked for).
    #[error("no camera{}; run `ideadesk devices`, or give sketches as image files", .0.as_ref().map(|c| format!(" {c:?}")).unwrap_or_default())]
    NoCamera(Option<String>),
    /// The camera could not be opened or stopped delivering frames.
    #[error("camera {camera:?}: {reason}; is another program using it?")]
    Camera {
        /// The camera's name or index.
        camera: String,
        /// What the backend said.
        reason: String,
    },
    /// An image file could not be read or decoded.
    #[error("cannot read image {}: {reason}", path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// What was wrong, in words.
        reason: String,
    },
    /// The vision model's files could not be loaded.
    #[error(
        "cannot load the vision model from {}: {reason}; re-fetch it with `ideadesk models fetch --role vision`",
        path.display()
    )]
    ModelLoad {
        /// The weights or tokenizer file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Running the vision model failed.
    #[error("the vision model failed: {0}")]
    Inference(String),
    /// The vision worker thread is gone.
    #[error("the vision worker has stopped")]
    WorkerGone,
}
