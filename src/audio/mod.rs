//! Sound in and out, up to 16 kHz mono f32 and no further: device discovery, microphone
//! capture (cpal), file decoding (symphonia), resampling (rubato), and the `AudioSource`
//! trait that lets the same pipeline run on a microphone or a file; and the way back out,
//! playback of spoken replies to a speaker (rodio) or a WAV file. This module never knows
//! about models.

pub mod capture;
pub mod decode;
pub mod devices;
pub mod playback;
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
    /// The path names a folder (or another thing that is not a file).
    #[error("{} is {kind}, not an audio file; give the path of a WAV, FLAC, MP3 or OGG/Vorbis file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is instead ("a folder").
        kind: &'static str,
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
    /// No output device (or none with the given name).
    #[error("no audio output device{}; run `ideadesk devices` to see what there is, or write the speech to a WAV file instead (`say --out F.wav`, `listen --reply-wav F.wav`)", .0.as_ref().map(|name| format!(" named {name:?}")).unwrap_or_default())]
    NoOutputDevice(Option<String>),
    /// The output device exists but could not be opened.
    #[error(
        "cannot open audio output {device:?}: {reason}; is another program using it? Or write the speech to a WAV file instead (`say --out F.wav`, `listen --reply-wav F.wav`)"
    )]
    OpenOutputDevice {
        /// The device's name.
        device: String,
        /// What the host said.
        reason: String,
    },
    /// An audio file could not be written.
    #[error("cannot write audio file {}: {reason}; check that its folder exists, is writable and has space", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A chunk's sample rate is outside what playback accepts.
    #[error("cannot play audio at {sample_rate_hz} Hz; chunks must be between 1000 and 384000 Hz")]
    InvalidSampleRate {
        /// The chunk's rate.
        sample_rate_hz: u32,
    },
    /// A chunk's sample rate differs from the rate the output was fixed to.
    #[error(
        "a chunk at {got_hz} Hz cannot follow audio at {expected_hz} Hz on the same output; resample it to {expected_hz} Hz first (audio::resample) or open a second output"
    )]
    SampleRateChanged {
        /// The output's rate (its first chunk's).
        expected_hz: u32,
        /// The chunk's rate.
        got_hz: u32,
    },
    /// The playback thread is gone.
    #[error("the audio output has closed (after a device error or a shutdown); open it again")]
    PlaybackEnded,
}
