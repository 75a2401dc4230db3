//! Sound in and out: device discovery today; capture, decoding, resampling and playback
//! build on it. This module never knows about models.

pub mod devices;

/// Everything that can go wrong with audio devices.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The audio host could not enumerate its devices.
    #[error("cannot list audio devices: {0}; check that the sound server / ALSA is set up")]
    Enumerate(String),
}
