//! Camera discovery through nokhwa's native backend (V4L2 on Linux, AVFoundation on
//! macOS, Media Foundation on Windows).

use serde::Serialize;

use super::VisionError;

/// One camera as the backend reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraInfo {
    /// Index to pass as `--index`.
    pub index: String,
    /// Human-readable name.
    pub name: String,
    /// The backend's description (driver, bus).
    pub description: String,
    /// True for the camera used when none is named (the first one).
    pub is_default: bool,
}

/// The cameras of this machine; none is an empty list, not an error.
pub fn list() -> Result<Vec<CameraInfo>, VisionError> {
    let cameras = match nokhwa::query(nokhwa::utils::ApiBackend::Auto) {
        Ok(cameras) => cameras,
        // V4L2 reports a machine without /dev/video* as an error; that is simply no camera.
        Err(err) if no_camera_error(&err.to_string()) => Vec::new(),
        Err(err) => return Err(VisionError::Enumerate(err.to_string())),
    };
    Ok(cameras
        .into_iter()
        .enumerate()
        .map(|(camera_idx, camera)| CameraInfo {
            index: camera.index().to_string(),
            name: camera.human_name(),
            description: camera.description().to_string(),
            is_default: camera_idx == 0,
        })
        .collect())
}

fn no_camera_error(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["no such file", "not found", "no device", "/dev/video"]
        .iter()
        .any(|needle| message.contains(needle))
}
