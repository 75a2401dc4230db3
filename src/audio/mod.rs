//! Sound in and out, up to 16 kHz mono f32 and no further: device discovery, microphone
//! capture (cpal), file decoding (symphonia), resampling (rubato), and the `AudioSource`
//! trait that lets the same pipeline run on a microphone or a file. This module never
//! knows about models.

pub mod capture;
pub mod decode;
pub mod devices;
pub mod resample;
pub mod source;

use std::path::PathBuf;

/// The sample rate the pipeline runs at (what Whisper and Silero VAD expect).
pub const PIPELINE_SAMPLE_RATE_HZ: u32 = 16_000;

/// Everything that can go wrong with audio devices and files.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The audio host could not enumerate its devices.
    #[error("cannot list audio devices: {0}; check that the sound server / ALSA is set up")]
    Enumerate(String),
    /// No input device (or none with the given name).
    #[error("no audio input device{}; run `ideadesk devices` to see what there is, or use --audio FILE", .0.as_ref().map(|name| format!(" named {name:?}")).unwrap_or_default())]
    NoInputDevice(Option<String>),
    /// The device exists but could not be opened in any usable format.
    #[error("cannot open audio input {device:?}: {reason}; is another program using it?")]
    OpenDevice {
        /// The device's name.
        device: String,
        /// What the host said.
        reason: String,
    },
    /// The file could not be opened.
    #[error("cannot read audio file {}: {source}", path.display())]
    OpenFile {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not audio in a format we can decode.
    #[error("{} is not a readable audio file ({reason}); use WAV, FLAC, MP3 or OGG/Vorbis", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The file is audio but decoding failed part-way.
    #[error("decoding {} failed: {reason}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The resampler could not be built for these rates.
    #[error("cannot resample from {from_hz} Hz to {to_hz} Hz: {reason}")]
    Resample {
        /// Input rate.
        from_hz: u32,
        /// Output rate.
        to_hz: u32,
        /// What rubato said.
        reason: String,
    },
}
