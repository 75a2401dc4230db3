//! The speaker output of the playback thread: rodio on the default output device or one
//! chosen by name. The thread pushes samples into a lock-free ring (rtrb) that rodio's audio
//! callback reads through `RingSource`, which never blocks, locks or allocates; the
//! callback stamps when the first and the last sample of a stretch reach the device and
//! when it obeys a stop, through `SpeakerShared`.
//!
//! Kept apart from the handle and the thread (`mod.rs`) and from the WAV file output
//! (`wav.rs`), which share none of this device and callback machinery.

use std::num::NonZero;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use cpal::BufferSize;
use cpal::traits::{DeviceTrait, HostTrait};
use rodio::{DeviceSinkBuilder, MixerDeviceSink, Source};

use super::{ACTIVE_POLL_INTERVAL, Output, OutputInfo, PlaybackEvent, SampleQueue, SpeakerConfig};
use crate::audio::AudioError;

/// Seconds of audio the speaker's ring holds; the thread tops it up as it drains.
const RING_SECONDS: usize = 2;
/// How long a stop waits for the audio callback to confirm that it fell silent. A device
/// that does not call back within this time is not playing anything either.
const STOP_CONFIRM_TIMEOUT: Duration = Duration::from_millis(200);
/// How often a stop looks for the callback's confirmation.
const STOP_CONFIRM_POLL_INTERVAL: Duration = Duration::from_micros(250);
/// The device latency assumed when the device does not say how large its buffer is.
const UNKNOWN_DEVICE_LATENCY: Duration = Duration::from_millis(100);

/// State shared between the speaker's thread and rodio's audio callback. Instants are
/// stored as nanoseconds since `epoch` plus one, so that 0 means "not yet".
#[derive(Debug)]
struct SpeakerShared {
    epoch: Instant,
    /// Bumped by a stop; the callback empties the ring when it sees a new value.
    stop_generation: AtomicU64,
    /// The last stop generation the callback obeyed, and when.
    obeyed_generation: AtomicU64,
    obeyed_at: AtomicU64,
    /// Samples the callback has handed to the device since the ring was made.
    n_samples_played: AtomicU64,
    /// When `n_samples_played` reaches `start_mark`, the callback records the moment.
    start_mark: AtomicU64,
    start_hit: AtomicU64,
    started_at: AtomicU64,
    /// When `n_samples_played` reaches `end_mark`, the callback records the moment.
    end_mark: AtomicU64,
    end_hit: AtomicU64,
    ended_at: AtomicU64,
}

impl SpeakerShared {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            stop_generation: AtomicU64::new(0),
            obeyed_generation: AtomicU64::new(0),
            obeyed_at: AtomicU64::new(0),
            n_samples_played: AtomicU64::new(0),
            start_mark: AtomicU64::new(0),
            start_hit: AtomicU64::new(0),
            started_at: AtomicU64::new(0),
            end_mark: AtomicU64::new(0),
            end_hit: AtomicU64::new(0),
            ended_at: AtomicU64::new(0),
        }
    }

    fn now_stamp(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    fn instant(&self, stamp: u64) -> Option<Instant> {
        let nanos = stamp.checked_sub(1)?;
        self.epoch.checked_add(Duration::from_nanos(nanos))
    }

    /// The moment the mark at `index` was reached, if the callback recorded that mark.
    fn mark_instant(&self, hit: &AtomicU64, at: &AtomicU64, index: u64) -> Option<Instant> {
        if hit.load(Ordering::Acquire) == index {
            self.instant(at.load(Ordering::Relaxed))
        } else {
            None
        }
    }
}

/// The source rodio's audio callback pulls from: mono samples at the playback's rate,
/// read from a lock-free ring, silence when the ring is empty. It never ends, never
/// blocks, never locks and never allocates.
struct RingSource {
    consumer: rtrb::Consumer<f32>,
    shared: Arc<SpeakerShared>,
    sample_rate: NonZero<u32>,
    obeyed_generation: u64,
    n_samples_played: u64,
}

impl Iterator for RingSource {
    type Item = rodio::Sample;

    fn next(&mut self) -> Option<Self::Item> {
        let generation = self.shared.stop_generation.load(Ordering::Acquire);
        if generation != self.obeyed_generation {
            let n_queued = self.consumer.slots();
            if let Ok(chunk) = self.consumer.read_chunk(n_queued) {
                chunk.commit_all();
            }
            self.obeyed_generation = generation;
            let now = self.shared.now_stamp();
            self.shared.obeyed_at.store(now, Ordering::Relaxed);
            self.shared
                .obeyed_generation
                .store(generation, Ordering::Release);
        }
        let Ok(sample) = self.consumer.pop() else {
            return Some(0.0);
        };
        self.n_samples_played += 1;
        let n_played = self.n_samples_played;
        self.shared
            .n_samples_played
            .store(n_played, Ordering::Release);
        if n_played == self.shared.start_mark.load(Ordering::Relaxed) {
            let now = self.shared.now_stamp();
            self.shared.started_at.store(now, Ordering::Relaxed);
            self.shared.start_hit.store(n_played, Ordering::Release);
        }
        if n_played == self.shared.end_mark.load(Ordering::Relaxed) {
            let now = self.shared.now_stamp();
            self.shared.ended_at.store(now, Ordering::Relaxed);
            self.shared.end_hit.store(n_played, Ordering::Release);
        }
        Some(sample)
    }
}

impl Source for RingSource {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> rodio::ChannelCount {
        NonZero::<u16>::MIN
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        self.sample_rate
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

/// A stretch of sound on the speaker: from the first sample after silence to the end of
/// the queue (or a stop).
#[derive(Debug, Clone, Copy)]
struct Stretch {
    /// `n_samples_played` when the stretch began.
    first_index: u64,
    is_started: bool,
}

/// The real output device, through rodio.
pub(super) struct Speaker {
    device_sink: MixerDeviceSink,
    shared: Arc<SpeakerShared>,
    producer: Option<rtrb::Producer<f32>>,
    queue: SampleQueue,
    /// Samples pushed into the ring since it was made (less those a stop discarded).
    n_written: u64,
    stretch: Option<Stretch>,
    /// A stop the callback has not yet obeyed; nothing new enters the ring until it has.
    unobeyed_stop: Option<u64>,
    latency: Duration,
}

impl Speaker {
    pub(super) fn open(
        config: &SpeakerConfig,
        events: SyncSender<PlaybackEvent>,
    ) -> Result<(Self, OutputInfo), AudioError> {
        let device = find_output_device(config.device.as_deref())?;
        let name = device
            .description()
            .map(|description| description.name().to_string())
            .unwrap_or_else(|_| "(unnamed output)".into());
        let open_error = |reason: String| AudioError::OpenOutputDevice {
            device: name.clone(),
            reason,
        };
        let default_config = device.default_output_config().map_err(|err| {
            // ALSA's "default" exists on every Linux machine, sound card or not; it only
            // fails here.
            match err.kind() {
                cpal::ErrorKind::DeviceNotAvailable | cpal::ErrorKind::HostUnavailable => {
                    AudioError::NoOutputDevice(config.device.clone())
                }
                _ => open_error(err.to_string()),
            }
        })?;
        let mut builder =
            DeviceSinkBuilder::from_device(device).map_err(|err| open_error(error_chain(&err)))?;
        if config.period_ms > 0 {
            let period_frames =
                (u64::from(default_config.sample_rate()) * u64::from(config.period_ms) / 1000)
                    .max(1);
            let period_frames = u32::try_from(period_frames).unwrap_or(u32::MAX);
            builder = builder.with_buffer_size(BufferSize::Fixed(period_frames));
        }
        let error_callback = move |err: cpal::Error| {
            // Not the audio callback: cpal reports errors from its own thread.
            let _ = events.try_send(PlaybackEvent::DeviceError {
                at: Instant::now(),
                message: format!("audio output failed: {err}"),
            });
        };
        let mut device_sink = builder
            .with_error_callback(error_callback)
            .open_sink_or_fallback()
            .map_err(|err| open_error(error_chain(&err)))?;
        device_sink.log_on_drop(false);
        let device_config = *device_sink.config();
        let latency = match device_config.buffer_size() {
            BufferSize::Fixed(period_frames) => Duration::from_secs_f64(
                2.0 * f64::from(*period_frames) / f64::from(device_config.sample_rate().get()),
            ),
            BufferSize::Default => UNKNOWN_DEVICE_LATENCY,
        };
        tracing::debug!(
            "playback: {name} at {} Hz, {} ch, {:?}",
            device_config.sample_rate(),
            device_config.channel_count(),
            device_config.buffer_size()
        );
        let speaker = Self {
            device_sink,
            shared: Arc::new(SpeakerShared::new()),
            producer: None,
            queue: SampleQueue::default(),
            n_written: 0,
            stretch: None,
            unobeyed_stop: None,
            latency,
        };
        Ok((speaker, OutputInfo { name, latency }))
    }

    fn n_played(&self) -> u64 {
        self.shared.n_samples_played.load(Ordering::Acquire)
    }

    /// True once the callback obeyed the last stop (then the ring is empty and
    /// `n_written` is brought back to what was played).
    fn stop_obeyed(&mut self) -> bool {
        let Some(generation) = self.unobeyed_stop else {
            return true;
        };
        if self.shared.obeyed_generation.load(Ordering::Acquire) != generation {
            return false;
        }
        self.unobeyed_stop = None;
        self.n_written = self.n_played();
        true
    }

    /// Moves queued samples into the ring, as many as fit.
    fn fill(&mut self) {
        if self.queue.is_empty() || !self.stop_obeyed() {
            return;
        }
        let Some(producer) = self.producer.as_mut() else {
            return;
        };
        let n_free = producer.slots() as u64;
        let n_fill = n_free.min(self.queue.n_samples);
        if n_fill == 0 {
            return;
        }
        if self.stretch.is_none() {
            self.stretch = Some(Stretch {
                first_index: self.n_written,
                is_started: false,
            });
            self.shared
                .start_mark
                .store(self.n_written + 1, Ordering::Relaxed);
        }
        // The mark is set before the samples are visible, so the callback cannot pass
        // it unseen.
        self.shared
            .end_mark
            .store(self.n_written + n_fill, Ordering::Relaxed);
        let mut n_left = n_fill;
        while n_left > 0 {
            let front = self.queue.front();
            let n_take = front
                .len()
                .min(usize::try_from(n_left).unwrap_or(usize::MAX));
            let (pushed, _) = producer.push_partial_slice(&front[..n_take]);
            let n_pushed = pushed.len();
            if n_pushed == 0 {
                break;
            }
            self.queue.consume(n_pushed);
            self.n_written += n_pushed as u64;
            n_left -= n_pushed as u64;
        }
    }

    /// Reports `Started` for the current stretch once its first sample was played.
    fn report_start(&mut self, events: &mut Vec<PlaybackEvent>) {
        let Some(stretch) = self.stretch.as_mut() else {
            return;
        };
        if stretch.is_started
            || self.shared.n_samples_played.load(Ordering::Acquire) <= stretch.first_index
        {
            return;
        }
        stretch.is_started = true;
        let at = self
            .shared
            .mark_instant(
                &self.shared.start_hit,
                &self.shared.started_at,
                stretch.first_index + 1,
            )
            .unwrap_or_else(Instant::now);
        events.push(PlaybackEvent::Started { at });
    }
}

impl Output for Speaker {
    fn append(
        &mut self,
        samples: Vec<f32>,
        sample_rate_hz: u32,
        events: &mut Vec<PlaybackEvent>,
    ) -> Result<(), AudioError> {
        if self.producer.is_none() {
            let sample_rate = NonZero::new(sample_rate_hz)
                .ok_or(AudioError::InvalidSampleRate { sample_rate_hz })?;
            let capacity = sample_rate_hz as usize * RING_SECONDS;
            let (producer, consumer) = rtrb::RingBuffer::new(capacity);
            self.device_sink.mixer().add(RingSource {
                consumer,
                shared: Arc::clone(&self.shared),
                sample_rate,
                obeyed_generation: 0,
                n_samples_played: 0,
            });
            self.producer = Some(producer);
        }
        self.queue.push(samples);
        self.fill();
        self.report_start(events);
        Ok(())
    }

    fn stop(&mut self, events: &mut Vec<PlaybackEvent>) -> Result<(), AudioError> {
        let n_dropped_queued = self.queue.clear();
        if self.stop_obeyed() && self.n_written > self.n_played() {
            let generation = self.shared.stop_generation.fetch_add(1, Ordering::AcqRel) + 1;
            self.unobeyed_stop = Some(generation);
            let deadline = Instant::now() + STOP_CONFIRM_TIMEOUT;
            while self.shared.obeyed_generation.load(Ordering::Acquire) != generation
                && Instant::now() < deadline
            {
                std::thread::sleep(STOP_CONFIRM_POLL_INTERVAL);
            }
        }
        let n_written = self.n_written;
        let obeyed_at = self.unobeyed_stop.and_then(|generation| {
            (self.shared.obeyed_generation.load(Ordering::Acquire) == generation)
                .then(|| {
                    self.shared
                        .instant(self.shared.obeyed_at.load(Ordering::Relaxed))
                })
                .flatten()
        });
        let n_played = self.n_played();
        let n_dropped_in_ring = n_written.saturating_sub(n_played);
        self.stop_obeyed();
        let at = obeyed_at.unwrap_or_else(Instant::now);
        self.report_start(events);
        let n_samples_played = match self.stretch.take() {
            Some(stretch) if stretch.is_started => n_played.saturating_sub(stretch.first_index),
            _ => 0,
        };
        events.push(PlaybackEvent::Stopped {
            at,
            n_samples_played,
            n_samples_dropped: n_dropped_queued + n_dropped_in_ring,
        });
        Ok(())
    }

    fn poll(&mut self, events: &mut Vec<PlaybackEvent>) -> Result<(), AudioError> {
        self.fill();
        self.report_start(events);
        let Some(stretch) = self.stretch else {
            return Ok(());
        };
        let is_drained = stretch.is_started
            && self.queue.is_empty()
            && self.unobeyed_stop.is_none()
            && self.n_played() >= self.n_written;
        if !is_drained {
            return Ok(());
        }
        let handed_over_at = self
            .shared
            .mark_instant(&self.shared.end_hit, &self.shared.ended_at, self.n_written)
            .unwrap_or_else(Instant::now);
        let heard_at = handed_over_at + self.latency;
        if Instant::now() >= heard_at {
            self.stretch = None;
            events.push(PlaybackEvent::Finished { at: heard_at });
        }
        Ok(())
    }

    fn next_poll(&self) -> Option<Instant> {
        let is_active =
            self.stretch.is_some() || !self.queue.is_empty() || self.unobeyed_stop.is_some();
        is_active.then(|| Instant::now() + ACTIVE_POLL_INTERVAL)
    }

    fn close(self: Box<Self>) -> Result<(), AudioError> {
        // Dropping the device sink stops the stream and closes the device.
        Ok(())
    }
}

fn find_output_device(name: Option<&str>) -> Result<cpal::Device, AudioError> {
    let host = cpal::default_host();
    let Some(name) = name else {
        return host
            .default_output_device()
            .ok_or(AudioError::NoOutputDevice(None));
    };
    let devices = host
        .output_devices()
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
    Err(AudioError::NoOutputDevice(Some(name.to_string())))
}

/// An error and its sources, as one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::playback::{OutputConfig, Playback};

    #[test]
    fn a_missing_speaker_says_to_write_a_file() {
        let config = SpeakerConfig {
            device: Some("no speaker has this name".into()),
            ..SpeakerConfig::default()
        };
        let err = Playback::open(&OutputConfig::Speaker(config)).expect_err("no such speaker");
        assert!(
            matches!(
                err,
                AudioError::NoOutputDevice(Some(_)) | AudioError::Enumerate(_)
            ),
            "{err:?}"
        );
        if matches!(err, AudioError::NoOutputDevice(_)) {
            assert!(err.to_string().contains("--reply-wav"), "{err}");
        }
    }

    #[test]
    fn the_default_speaker_opens_or_says_to_write_a_file() {
        // Machines without a sound card (CI, this project's build machines) must get an
        // error that names the way out; machines with one simply open it.
        match Playback::open(&OutputConfig::Speaker(SpeakerConfig::default())) {
            Ok(playback) => playback.close().expect("the speaker closes"),
            Err(err) => {
                println!("no speaker: {err}");
                assert!(err.to_string().contains("--reply-wav"), "{err}");
            }
        }
    }
}
