//! Audio files decoded in blocks, so memory stays bounded however long the file is:
//! WAV, FLAC, MP3 and OGG/Vorbis through symphonia, at any sample rate and channel count.

use std::fs::File;
use std::path::{Path, PathBuf};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::AudioError;

/// An open audio file, decoded on demand.
pub struct AudioFile {
    path: PathBuf,
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    sample_rate_hz: u32,
    n_channels: usize,
    n_frames: Option<u64>,
    sample_buffer: Option<SampleBuffer<f32>>,
    n_skipped_packets: usize,
}

impl std::fmt::Debug for AudioFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioFile")
            .field("path", &self.path)
            .field("sample_rate_hz", &self.sample_rate_hz)
            .field("n_channels", &self.n_channels)
            .finish_non_exhaustive()
    }
}

impl AudioFile {
    /// Opens a file and reads its format; fails clearly on anything that is not audio.
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let file = File::open(path).map_err(|source| AudioError::OpenFile {
            path: path.to_path_buf(),
            source,
        })?;
        let unsupported = |reason: String| AudioError::Unsupported {
            path: path.to_path_buf(),
            reason,
        };
        let length = file.metadata().map(|m| m.len()).unwrap_or(0);
        if length == 0 {
            return Err(unsupported("the file is empty".into()));
        }
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(extension) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(extension);
        }
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                stream,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
            .map_err(|err| unsupported(err.to_string()))?;
        let reader = probed.format;
        let track = reader
            .tracks()
            .iter()
            .find(|track| track.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| unsupported("no audio track".into()))?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let sample_rate_hz = params
            .sample_rate
            .filter(|&rate| rate > 0)
            .ok_or_else(|| unsupported("the header gives no sample rate".into()))?;
        let n_channels = params
            .channels
            .map(|channels| channels.count())
            .unwrap_or(0);
        if n_channels == 0 {
            return Err(unsupported("the header claims 0 channels".into()));
        }
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|err| unsupported(err.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            decoder,
            track_id,
            sample_rate_hz,
            n_channels,
            n_frames: params.n_frames,
            sample_buffer: None,
            n_skipped_packets: 0,
        })
    }

    /// The file's sample rate.
    pub fn sample_rate_hz(&self) -> u32 {
        self.sample_rate_hz
    }

    /// The file's channel count.
    pub fn n_channels(&self) -> usize {
        self.n_channels
    }

    /// Frames in the file, when the header says.
    pub fn n_frames(&self) -> Option<u64> {
        self.n_frames
    }

    /// Packets that failed to decode and were skipped (damaged data).
    pub fn n_skipped_packets(&self) -> usize {
        self.n_skipped_packets
    }

    /// Replaces `out` with the next block of interleaved samples; `false` at the end. A
    /// file cut short ends early instead of failing: what was decoded is kept.
    pub fn read_block(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        out.clear();
        loop {
            let packet = match self.reader.next_packet() {
                Ok(packet) => packet,
                Err(SymphoniaError::IoError(err))
                    if err.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(false);
                }
                Err(SymphoniaError::ResetRequired) => return Ok(false),
                Err(err) => {
                    return Err(AudioError::Decode {
                        path: self.path.clone(),
                        reason: err.to_string(),
                    });
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(decoded) => decoded,
                Err(SymphoniaError::DecodeError(reason)) => {
                    // A damaged packet: skip it, as players do.
                    self.n_skipped_packets += 1;
                    tracing::debug!(
                        "{}: skipped a damaged packet: {reason}",
                        self.path.display()
                    );
                    continue;
                }
                Err(SymphoniaError::IoError(err))
                    if err.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(false);
                }
                Err(err) => {
                    return Err(AudioError::Decode {
                        path: self.path.clone(),
                        reason: err.to_string(),
                    });
                }
            };
            if decoded.frames() == 0 {
                continue;
            }
            let spec = *decoded.spec();
            if spec.channels.count() != self.n_channels {
                return Err(AudioError::Decode {
                    path: self.path.clone(),
                    reason: "the channel count changes mid-stream".into(),
                });
            }
            let capacity = decoded.capacity() as u64;
            let fits = self
                .sample_buffer
                .as_ref()
                .is_some_and(|buffer| buffer.capacity() >= decoded.capacity() * self.n_channels);
            if !fits {
                self.sample_buffer = Some(SampleBuffer::new(capacity, spec));
            }
            let Some(buffer) = self.sample_buffer.as_mut() else {
                continue;
            };
            buffer.copy_interleaved_ref(decoded);
            out.extend_from_slice(buffer.samples());
            return Ok(true);
        }
    }
}
