//! Microphone capture on a thread of its own.
//!
//! The capture thread owns the cpal stream (cpal streams may not cross threads) and is
//! driven by [`CaptureCommand`]s. The audio callback never blocks and never allocates: it
//! converts the device's native samples to f32 straight into a lock-free ring buffer
//! (rtrb) and, when the reader falls behind, counts the samples it had to drop. Device
//! errors (unplugged, busy) arrive as [`CaptureEvent`]s, never as panics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig};

use super::AudioError;

/// Seconds of audio the ring buffer holds before the callback starts dropping.
const RING_SECONDS: usize = 10;
/// Device errors queued for the reader before further ones are dropped.
const EVENT_QUEUE_LEN: usize = 16;
/// How long to wait for the backend to open the stream.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Which input to open and, optionally, in which format. Unset fields take the
/// device's default; a format the device lacks is an error, never a silent fallback.
#[derive(Debug, Clone, Default)]
pub struct CaptureConfig {
    /// Device name or id as `ideadesk devices` lists it; `None` is the default input.
    pub device: Option<String>,
    /// Sample rate to open the device at.
    pub sample_rate_hz: Option<u32>,
    /// Channel count to open the device with.
    pub n_channels: Option<u16>,
    /// Native sample format to open the device with.
    pub sample_format: Option<SampleFormat>,
}

/// The format the device was opened in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureFormat {
    /// The device's name.
    pub device: String,
    /// Frames per second.
    pub sample_rate_hz: u32,
    /// Interleaved channels.
    pub n_channels: u16,
    /// The native sample format (converted to f32 in the callback).
    pub sample_format: SampleFormat,
}

/// Commands to the capture thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureCommand {
    /// Stop delivering audio (the device stays open).
    Pause,
    /// Deliver audio again after a pause.
    Resume,
    /// Close the device and end the thread.
    Shutdown,
}

/// What the capture thread reports besides samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureEvent {
    /// The device failed mid-stream (unplugged, busy, server gone).
    DeviceError(String),
}

/// The reader's side of a running capture.
pub struct CaptureHandle {
    commands: Sender<CaptureCommand>,
    samples: rtrb::Consumer<f32>,
    events: Receiver<CaptureEvent>,
    n_dropped: Arc<AtomicU64>,
    format: CaptureFormat,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for CaptureHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureHandle")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl CaptureHandle {
    /// Opens the input on a new thread and starts capturing.
    pub fn start(config: &CaptureConfig) -> Result<Self, AudioError> {
        let (command_tx, command_rx) = mpsc::channel();
        let (event_tx, event_rx) = mpsc::sync_channel(EVENT_QUEUE_LEN);
        let (ready_tx, ready_rx) = mpsc::channel();
        let n_dropped = Arc::new(AtomicU64::new(0));
        let config = config.clone();
        let thread_dropped = Arc::clone(&n_dropped);
        let thread = std::thread::Builder::new()
            .name("ideadesk-capture".into())
            .spawn(move || {
                capture_thread(config, command_rx, event_tx, ready_tx, thread_dropped);
            })
            .map_err(|err| AudioError::OpenDevice {
                device: "(capture thread)".into(),
                reason: err.to_string(),
            })?;
        let opened = ready_rx.recv().unwrap_or_else(|_| {
            Err(AudioError::OpenDevice {
                device: "(capture thread)".into(),
                reason: "the capture thread ended before opening the device".into(),
            })
        });
        match opened {
            Ok((format, samples)) => Ok(Self {
                commands: command_tx,
                samples,
                events: event_rx,
                n_dropped,
                format,
                thread: Some(thread),
            }),
            Err(err) => {
                let _ = thread.join();
                Err(err)
            }
        }
    }

    /// The format the device was opened in.
    pub fn format(&self) -> &CaptureFormat {
        &self.format
    }

    /// Moves every captured sample (interleaved f32) into `out`; returns how many.
    pub fn read_available(&mut self, out: &mut Vec<f32>) -> usize {
        let n_ready = self.samples.slots();
        let Ok(chunk) = self.samples.read_chunk(n_ready) else {
            return 0;
        };
        let (first, second) = chunk.as_slices();
        out.extend_from_slice(first);
        out.extend_from_slice(second);
        chunk.commit_all();
        n_ready
    }

    /// Samples the callback dropped because the reader fell behind.
    pub fn n_dropped_samples(&self) -> u64 {
        self.n_dropped.load(Ordering::Relaxed)
    }

    /// The next device event, if any.
    pub fn try_event(&self) -> Option<CaptureEvent> {
        self.events.try_recv().ok()
    }

    /// Sends a command to the capture thread.
    pub fn send(&self, command: CaptureCommand) {
        // A thread that has already ended needs no command.
        let _ = self.commands.send(command);
    }
}

impl Drop for CaptureHandle {
    fn drop(&mut self) {
        self.send(CaptureCommand::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Opened = Result<(CaptureFormat, rtrb::Consumer<f32>), AudioError>;

fn capture_thread(
    config: CaptureConfig,
    commands: Receiver<CaptureCommand>,
    events: SyncSender<CaptureEvent>,
    ready: Sender<Opened>,
    n_dropped: Arc<AtomicU64>,
) {
    let stream = match open_stream(&config, events, n_dropped) {
        Ok((stream, format, consumer)) => {
            if let Err(err) = stream.play() {
                let _ = ready.send(Err(AudioError::OpenDevice {
                    device: format.device,
                    reason: err.to_string(),
                }));
                return;
            }
            let _ = ready.send(Ok((format, consumer)));
            stream
        }
        Err(err) => {
            let _ = ready.send(Err(err));
            return;
        }
    };
    while let Ok(command) = commands.recv() {
        let result = match command {
            CaptureCommand::Pause => stream.pause(),
            CaptureCommand::Resume => stream.play(),
            CaptureCommand::Shutdown => break,
        };
        if let Err(err) = result {
            tracing::warn!("capture: {command:?} failed: {err}");
        }
    }
    drop(stream);
}

fn find_device(name: Option<&str>) -> Result<cpal::Device, AudioError> {
    let host = cpal::default_host();
    let Some(name) = name else {
        return host
            .default_input_device()
            .ok_or(AudioError::NoInputDevice(None));
    };
    let devices = host
        .input_devices()
        .map_err(|err| AudioError::Enumerate(err.to_string()))?;
    for device in devices {
        let matches_name = device
            .description()
            .is_ok_and(|description| description.name() == name);
        let matches_id = device.id().is_ok_and(|id| id.to_string() == name);
        if matches_name || matches_id {
            return Ok(device);
        }
    }
    Err(AudioError::NoInputDevice(Some(name.to_string())))
}

fn choose_config(
    device: &cpal::Device,
    config: &CaptureConfig,
    device_name: &str,
) -> Result<(StreamConfig, SampleFormat), AudioError> {
    let open_error = |reason: String| AudioError::OpenDevice {
        device: device_name.to_string(),
        reason,
    };
    let default = device
        .default_input_config()
        .map_err(|err| open_error(err.to_string()))?;
    if config.sample_rate_hz.is_none()
        && config.n_channels.is_none()
        && config.sample_format.is_none()
    {
        return Ok((default.config(), default.sample_format()));
    }
    let wanted_rate = config.sample_rate_hz.unwrap_or(default.sample_rate());
    let wanted_channels = config.n_channels.unwrap_or(default.channels());
    let wanted_format = config.sample_format.unwrap_or(default.sample_format());
    let ranges = device
        .supported_input_configs()
        .map_err(|err| open_error(err.to_string()))?;
    for range in ranges {
        if range.channels() == wanted_channels
            && range.sample_format() == wanted_format
            && (range.min_sample_rate()..=range.max_sample_rate()).contains(&wanted_rate)
        {
            let supported = range.with_sample_rate(wanted_rate);
            return Ok((supported.config(), supported.sample_format()));
        }
    }
    Err(open_error(format!(
        "it does not offer {wanted_rate} Hz, {wanted_channels} ch, {wanted_format}"
    )))
}

type OpenedStream = (cpal::Stream, CaptureFormat, rtrb::Consumer<f32>);

fn open_stream(
    config: &CaptureConfig,
    events: SyncSender<CaptureEvent>,
    n_dropped: Arc<AtomicU64>,
) -> Result<OpenedStream, AudioError> {
    let device = find_device(config.device.as_deref())?;
    let device_name = device
        .description()
        .map(|description| description.name().to_string())
        .unwrap_or_else(|_| "(unnamed input)".into());
    let (stream_config, sample_format) = choose_config(&device, config, &device_name)?;
    let capacity =
        stream_config.sample_rate as usize * usize::from(stream_config.channels) * RING_SECONDS;
    let (producer, consumer) = rtrb::RingBuffer::new(capacity);
    let format = CaptureFormat {
        device: device_name.clone(),
        sample_rate_hz: stream_config.sample_rate,
        n_channels: stream_config.channels,
        sample_format,
    };
    let parts = StreamParts {
        device: &device,
        config: stream_config,
        producer,
        events,
        n_dropped,
    };
    let stream = match sample_format {
        SampleFormat::I16 => build::<i16>(parts),
        SampleFormat::I32 => build::<i32>(parts),
        SampleFormat::F32 => build::<f32>(parts),
        SampleFormat::F64 => build::<f64>(parts),
        SampleFormat::U8 => build::<u8>(parts),
        SampleFormat::U16 => build::<u16>(parts),
        other => {
            return Err(AudioError::OpenDevice {
                device: device_name,
                reason: format!("its sample format {other} is not supported"),
            });
        }
    }
    .map_err(|err| AudioError::OpenDevice {
        device: device_name,
        reason: err.to_string(),
    })?;
    Ok((stream, format, consumer))
}

struct StreamParts<'a> {
    device: &'a cpal::Device,
    config: StreamConfig,
    producer: rtrb::Producer<f32>,
    events: SyncSender<CaptureEvent>,
    n_dropped: Arc<AtomicU64>,
}

fn build<T>(parts: StreamParts<'_>) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let StreamParts {
        device,
        config,
        mut producer,
        events,
        n_dropped,
    } = parts;
    let data_callback = move |data: &[T], _: &cpal::InputCallbackInfo| {
        // Real-time path: no locks, no allocation, no blocking.
        let n_fit = data.len().min(producer.slots());
        if let Ok(chunk) = producer.write_chunk_uninit(n_fit) {
            chunk.fill_from_iter(
                data[..n_fit]
                    .iter()
                    .map(|&sample| sample.to_sample::<f32>()),
            );
        }
        let n_lost = data.len() - n_fit;
        if n_lost > 0 {
            n_dropped.fetch_add(n_lost as u64, Ordering::Relaxed);
        }
    };
    let error_callback = move |err: cpal::Error| {
        let _ = events.try_send(CaptureEvent::DeviceError(err.to_string()));
    };
    device.build_input_stream::<T, _, _>(config, data_callback, error_callback, Some(OPEN_TIMEOUT))
}
