//! Where the pipeline's audio comes from: the microphone or a file, behind one trait, so
//! the same loop runs live and in tests. Every source delivers 16 kHz mono f32 blocks.

use std::path::Path;
use std::time::{Duration, Instant};

use super::capture::{CaptureConfig, CaptureEvent, CaptureHandle};
use super::decode::AudioFile;
use super::resample::MonoResampler;
use super::{AudioError, PIPELINE_SAMPLE_RATE_HZ};

/// How long a microphone read waits for audio before returning an empty block.
const MIC_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A stream of 16 kHz mono audio.
pub trait AudioSource: Send {
    /// The next block (possibly empty while a live source waits), or `None` at the end.
    fn next_block(&mut self) -> Result<Option<Vec<f32>>, AudioError>;

    /// Samples lost so far because the reader fell behind the device (0 for a file).
    fn n_dropped_samples(&self) -> u64 {
        0
    }
}

/// How fast a file source delivers its audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// As fast as it decodes (tests, batch transcription).
    AsFastAsPossible,
    /// No faster than real time, as a microphone would (demos, latency measurements).
    Realtime,
}

/// A decoded, resampled audio file.
#[derive(Debug)]
pub struct FileSource {
    file: AudioFile,
    resampler: MonoResampler,
    pacing: Pacing,
    decoded: Vec<f32>,
    started: Option<Instant>,
    n_samples_out: u64,
    finished: bool,
}

impl FileSource {
    /// Opens a file for streaming.
    pub fn open(path: &Path, pacing: Pacing) -> Result<Self, AudioError> {
        Self::new(AudioFile::open(path)?, pacing)
    }

    /// Streams audio held in memory as fast as it decodes; `name` stands for its path in
    /// messages (see [`AudioFile::from_bytes`]).
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Self, AudioError> {
        Self::new(
            AudioFile::from_bytes(name, bytes)?,
            Pacing::AsFastAsPossible,
        )
    }

    fn new(file: AudioFile, pacing: Pacing) -> Result<Self, AudioError> {
        let resampler = MonoResampler::new(
            file.sample_rate_hz(),
            file.n_channels(),
            PIPELINE_SAMPLE_RATE_HZ,
        )?;
        Ok(Self {
            file,
            resampler,
            pacing,
            decoded: Vec::new(),
            started: None,
            n_samples_out: 0,
            finished: false,
        })
    }

    /// The decoded file's own rate and channels.
    pub fn file(&self) -> &AudioFile {
        &self.file
    }

    fn pace(&mut self) {
        if self.pacing != Pacing::Realtime {
            return;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let audio_time =
            Duration::from_secs_f64(self.n_samples_out as f64 / f64::from(PIPELINE_SAMPLE_RATE_HZ));
        if let Some(ahead) = audio_time.checked_sub(started.elapsed()) {
            std::thread::sleep(ahead);
        }
    }
}

impl AudioSource for FileSource {
    fn next_block(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        if self.finished {
            return Ok(None);
        }
        let mut out = Vec::new();
        while out.is_empty() {
            match self.file.read_block(&mut self.decoded)? {
                true => self.resampler.push(&self.decoded, &mut out),
                false => {
                    self.resampler.finish(&mut out);
                    self.finished = true;
                    break;
                }
            }
        }
        self.pace();
        self.n_samples_out += out.len() as u64;
        if out.is_empty() && self.finished {
            return Ok(None);
        }
        Ok(Some(out))
    }
}

/// The microphone, resampled to 16 kHz mono.
#[derive(Debug)]
pub struct MicSource {
    capture: CaptureHandle,
    resampler: MonoResampler,
    raw: Vec<f32>,
}

impl MicSource {
    /// Opens an input device (see [`CaptureConfig`]).
    pub fn open(config: &CaptureConfig) -> Result<Self, AudioError> {
        let capture = CaptureHandle::start(config)?;
        let format = capture.format();
        let resampler = MonoResampler::new(
            format.sample_rate_hz,
            usize::from(format.n_channels),
            PIPELINE_SAMPLE_RATE_HZ,
        )?;
        Ok(Self {
            capture,
            resampler,
            raw: Vec::new(),
        })
    }

    /// The capture behind this source (format, dropped-sample count, commands).
    pub fn capture(&self) -> &CaptureHandle {
        &self.capture
    }
}

impl AudioSource for MicSource {
    fn next_block(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        if let Some(CaptureEvent::DeviceError(reason)) = self.capture.try_event() {
            return Err(AudioError::OpenDevice {
                device: self.capture.format().device.clone(),
                reason: format!("the device failed mid-stream: {reason}"),
            });
        }
        self.raw.clear();
        if self.capture.read_available(&mut self.raw) == 0 {
            std::thread::sleep(MIC_POLL_INTERVAL);
            self.capture.read_available(&mut self.raw);
        }
        let mut out = Vec::new();
        self.resampler.push(&self.raw, &mut out);
        Ok(Some(out))
    }

    fn n_dropped_samples(&self) -> u64 {
        self.capture.n_dropped_samples()
    }
}
