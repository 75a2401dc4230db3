//! Sound out: the assistant's spoken replies, on a thread of its own.
//!
//! The playback thread owns the output and is driven by [`PlaybackCommand`]s that a cheap
//! [`Playback`] handle sends: play a chunk (mono f32 samples at their sample rate; chunks
//! play gaplessly, one after another, as sentences are synthesised), stop now (barge-in:
//! everything queued is dropped and the output falls silent), and shut down. Dropping the
//! handle shuts the thread down and closes the output.
//!
//! Two outputs sit behind the same handle ([`OutputConfig`]):
//! - the speaker: rodio on the default output or one chosen by name. The thread writes the
//!   samples into a lock-free ring (rtrb); rodio's audio callback reads them through
//!   `RingSource`, which never blocks, locks or allocates. The callback stamps the moment
//!   it hands the first and the last sample of a stretch to the device and the moment it
//!   obeys a stop, so the events tell when sound really started and ended, not when it was
//!   queued.
//! - a WAV file: mono i16 or f32 at the chunks' rate, written as fast as possible or paced
//!   in real time so that scripted sessions behave like live ones. It is written as
//!   `NAME.partial`, flushed after every write (a killed process leaves a valid WAV of
//!   what was written) and renamed to `NAME` when the playback closes.
//!
//! What happens is reported as [`PlaybackEvent`]s, each with its `Instant`: sound
//! started, everything queued finished playing, stopped by a stop command, device error.
//! They feed latency measurements and the half-duplex gate (while the assistant speaks,
//! the microphone is not taken as the user). Every stop command is answered by exactly one
//! `Stopped`; every `Started` is followed by one `Finished` or one `Stopped`, unless the
//! playback shuts down first. Up to 64 unread events are kept; later ones are dropped, but
//! `is_playing` and `wait_until_drained` never depend on them.
//!
//! Sample rates: the first chunk fixes the rate for the lifetime of a [`Playback`] (or
//! [`WavFileConfig::sample_rate_hz`] does, for a file). A chunk at another rate is
//! rejected with [`AudioError::SampleRateChanged`], never resampled behind the caller's
//! back: one voice has one rate, and a second rate means a second voice that deserves its
//! own output. Bad samples are repaired, not refused: NaN and infinities become silence
//! and everything else is clamped to [-1, 1]. Empty chunks are ignored.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::num::NonZero;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::BufferSize;
use cpal::traits::{DeviceTrait, HostTrait};
use rodio::{DeviceSinkBuilder, MixerDeviceSink, Source};

use super::source::Pacing;
use super::{AudioError, PIPELINE_SAMPLE_RATE_HZ};

/// The lowest chunk sample rate accepted.
pub const MIN_SAMPLE_RATE_HZ: u32 = 1_000;
/// The highest chunk sample rate accepted.
pub const MAX_SAMPLE_RATE_HZ: u32 = 384_000;
/// The speaker's default ALSA period (the device buffer holds two of them).
pub const DEFAULT_PERIOD_MS: u32 = 10;

/// Events queued for the reader before further ones are dropped.
const EVENT_QUEUE_LEN: usize = 64;
/// Seconds of audio the speaker's ring holds; the thread tops it up as it drains.
const RING_SECONDS: usize = 2;
/// How often the thread looks at the device while something is queued or sounding.
const ACTIVE_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// How long a stop waits for the audio callback to confirm that it fell silent. A device
/// that does not call back within this time is not playing anything either.
const STOP_CONFIRM_TIMEOUT: Duration = Duration::from_millis(200);
/// How often a stop looks for the callback's confirmation.
const STOP_CONFIRM_POLL_INTERVAL: Duration = Duration::from_micros(250);
/// The device latency assumed when the device does not say how large its buffer is.
const UNKNOWN_DEVICE_LATENCY: Duration = Duration::from_millis(100);
/// How far ahead of the clock a paced WAV file is written (like a device buffer).
const PACED_WRITE_AHEAD: Duration = Duration::from_millis(10);
/// How long to wait for the thread to open the output.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the sound goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputConfig {
    /// A real output device, through rodio.
    Speaker(SpeakerConfig),
    /// A WAV file.
    WavFile(WavFileConfig),
}

/// Which speaker to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerConfig {
    /// Device name or id as `ideadesk devices` lists it; `None` is the default output.
    pub device: Option<String>,
    /// The device period in ms; the device buffers two periods, so a stop is heard
    /// within about three. 0 leaves the buffer to the device (often 100 ms or more).
    pub period_ms: u32,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        Self {
            device: None,
            period_ms: DEFAULT_PERIOD_MS,
        }
    }
}

/// How a WAV file is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavFileConfig {
    /// The final file; it is written as `<path>.partial` and renamed on close.
    pub path: PathBuf,
    /// The sample format of the file.
    pub sample_format: WavSampleFormat,
    /// As fast as possible, or no faster than real time like a speaker.
    pub pacing: Pacing,
    /// The file's sample rate; `None` takes the first chunk's. A file closed before any
    /// chunk arrived is an empty WAV at this rate or, when unset, 16 kHz.
    pub sample_rate_hz: Option<u32>,
}

impl WavFileConfig {
    /// A 16-bit file written as fast as possible at the first chunk's rate.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            sample_format: WavSampleFormat::I16,
            pacing: Pacing::AsFastAsPossible,
            sample_rate_hz: None,
        }
    }
}

/// The sample format of a WAV output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WavSampleFormat {
    /// 16-bit integer PCM.
    #[default]
    I16,
    /// 32-bit IEEE float.
    F32,
}

/// Commands to the playback thread.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaybackCommand {
    /// Play mono samples after everything already queued, with no gap between chunks.
    Play {
        /// Mono samples in [-1, 1].
        samples: Vec<f32>,
        /// Their sample rate.
        sample_rate_hz: u32,
    },
    /// Barge-in: drop everything queued and silence the output now. Answered by one
    /// `Stopped` event.
    Stop,
    /// Drop whatever is still queued, close the output (a WAV file is completed under its
    /// final name) and end the thread.
    Shutdown,
}

/// What the playback thread reports. Instants are when it happened at the device, which
/// can be a few ms before the event is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybackEvent {
    /// The first sample after silence was handed to the device (for a file: written).
    Started {
        /// When.
        at: Instant,
    },
    /// Everything queued has been played: the last sample was handed to the device and
    /// the device's buffer has played out (for a file: written, or for a paced file,
    /// its time has passed).
    Finished {
        /// When the last sample was heard.
        at: Instant,
    },
    /// A stop command silenced the output. The device's own buffer (see
    /// [`OutputInfo::latency`]) may still sound after `at`.
    Stopped {
        /// When the output stopped taking samples from the queue.
        at: Instant,
        /// Samples played since the last `Started` (0 when nothing was sounding).
        n_samples_played: u64,
        /// Queued samples that will never play.
        n_samples_dropped: u64,
    },
    /// The device or the file failed. A failed file ends the playback thread.
    DeviceError {
        /// When it was noticed.
        at: Instant,
        /// What failed.
        message: String,
    },
}

impl PlaybackEvent {
    /// When the event happened.
    pub fn at(&self) -> Instant {
        match self {
            Self::Started { at }
            | Self::Finished { at }
            | Self::Stopped { at, .. }
            | Self::DeviceError { at, .. } => *at,
        }
    }
}

/// The output that was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputInfo {
    /// The device's name, or the WAV file's final path.
    pub name: String,
    /// How long the device takes to play what it was handed (its buffer); zero for a file.
    pub latency: Duration,
}

/// The handle to a running playback thread. It is `Send + Sync`, so one thread can play
/// while another stops (barge-in). Dropping it shuts the thread down.
pub struct Playback {
    commands: Sender<PlaybackCommand>,
    events: Mutex<Receiver<PlaybackEvent>>,
    pending: Arc<PendingChunks>,
    sample_rate_hz: AtomicU32,
    info: OutputInfo,
    thread: Option<JoinHandle<Result<(), AudioError>>>,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Playback {
    /// Opens the output on a new thread. A missing sound card is an
    /// [`AudioError::NoOutputDevice`] that says to write to a WAV file instead.
    pub fn open(config: &OutputConfig) -> Result<Self, AudioError> {
        let (command_tx, command_rx) = mpsc::channel();
        let (event_tx, event_rx) = mpsc::sync_channel(EVENT_QUEUE_LEN);
        let (ready_tx, ready_rx) = mpsc::channel();
        let pending = Arc::new(PendingChunks::default());
        let thread_pending = Arc::clone(&pending);
        let thread_config = config.clone();
        let thread = std::thread::Builder::new()
            .name("ideadesk-playback".into())
            .spawn(move || {
                playback_thread(
                    thread_config,
                    command_rx,
                    event_tx,
                    ready_tx,
                    thread_pending,
                )
            })
            .map_err(|err| AudioError::OpenOutputDevice {
                device: "(playback thread)".into(),
                reason: err.to_string(),
            })?;
        match ready_rx.recv_timeout(OPEN_TIMEOUT) {
            Ok(Ok(info)) => {
                let sample_rate_hz = match config {
                    OutputConfig::WavFile(wav) => wav.sample_rate_hz.unwrap_or(0),
                    OutputConfig::Speaker(_) => 0,
                };
                Ok(Self {
                    commands: command_tx,
                    events: Mutex::new(event_rx),
                    pending,
                    sample_rate_hz: AtomicU32::new(sample_rate_hz),
                    info,
                    thread: Some(thread),
                })
            }
            Ok(Err(err)) => {
                let _ = thread.join();
                Err(err)
            }
            // A thread stuck in the audio backend is left to end on its own.
            Err(_) => Err(AudioError::OpenOutputDevice {
                device: "(playback thread)".into(),
                reason: format!(
                    "the output did not open within {} s",
                    OPEN_TIMEOUT.as_secs()
                ),
            }),
        }
    }

    /// The output that was opened.
    pub fn info(&self) -> &OutputInfo {
        &self.info
    }

    /// The rate every chunk must have, once the first chunk (or the file's config) fixed it.
    pub fn sample_rate_hz(&self) -> Option<u32> {
        NonZero::new(self.sample_rate_hz.load(Ordering::Acquire)).map(NonZero::get)
    }

    /// Queues mono samples after everything already queued. Empty chunks are ignored;
    /// NaN and infinite samples become 0 and the rest are clamped to [-1, 1].
    pub fn play(&self, samples: Vec<f32>, sample_rate_hz: u32) -> Result<(), AudioError> {
        self.send(PlaybackCommand::Play {
            samples,
            sample_rate_hz,
        })
    }

    /// Barge-in: drops everything queued and silences the output. Returns at once; the
    /// `Stopped` event says when the output fell silent. A thread that has already ended
    /// plays nothing, so there is nothing to stop.
    pub fn stop(&self) {
        let _ = self.commands.send(PlaybackCommand::Stop);
    }

    /// Sends a command to the playback thread (chunks are checked as in [`Self::play`]).
    pub fn send(&self, command: PlaybackCommand) -> Result<(), AudioError> {
        let command = match command {
            PlaybackCommand::Play {
                mut samples,
                sample_rate_hz,
            } => {
                if !(MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&sample_rate_hz) {
                    return Err(AudioError::InvalidSampleRate { sample_rate_hz });
                }
                if samples.is_empty() {
                    return Ok(());
                }
                self.fix_sample_rate(sample_rate_hz)?;
                let n_repaired = sanitize(&mut samples);
                if n_repaired > 0 {
                    tracing::warn!(
                        "playback: {n_repaired} NaN or infinite samples played as silence"
                    );
                }
                self.pending.add_one();
                PlaybackCommand::Play {
                    samples,
                    sample_rate_hz,
                }
            }
            other => other,
        };
        let is_play = matches!(command, PlaybackCommand::Play { .. });
        self.commands.send(command).map_err(|_| {
            if is_play {
                self.pending.remove_one();
            }
            AudioError::PlaybackEnded
        })
    }

    /// True from `play` until that audio has finished playing or was stopped.
    pub fn is_playing(&self) -> bool {
        self.pending.lock().n_chunks > 0
    }

    /// Waits until everything queued has finished playing (or was stopped); false when
    /// `timeout` passed first. Returns true at once when the thread has ended.
    pub fn wait_until_drained(&self, timeout: Duration) -> bool {
        let state = self.pending.lock();
        let (state, _) = self
            .pending
            .changed
            .wait_timeout_while(state, timeout, |state| {
                state.n_chunks > 0 && !state.is_closed
            })
            .unwrap_or_else(PoisonError::into_inner);
        state.n_chunks == 0 || state.is_closed
    }

    /// The next event, if there is one.
    pub fn try_event(&self) -> Option<PlaybackEvent> {
        self.lock_events().try_recv().ok()
    }

    /// The next event, waiting at most `timeout` for it.
    pub fn wait_event(&self, timeout: Duration) -> Option<PlaybackEvent> {
        self.lock_events().recv_timeout(timeout).ok()
    }

    /// Shuts the thread down and closes the output, reporting what failed (for a file:
    /// the final write and the rename). Dropping the handle does the same silently.
    pub fn close(mut self) -> Result<(), AudioError> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<(), AudioError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let _ = self.commands.send(PlaybackCommand::Shutdown);
        thread.join().unwrap_or(Err(AudioError::PlaybackEnded))
    }

    fn fix_sample_rate(&self, sample_rate_hz: u32) -> Result<(), AudioError> {
        match self.sample_rate_hz.compare_exchange(
            0,
            sample_rate_hz,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            Err(fixed_hz) if fixed_hz == sample_rate_hz => Ok(()),
            Err(fixed_hz) => Err(AudioError::SampleRateChanged {
                expected_hz: fixed_hz,
                got_hz: sample_rate_hz,
            }),
        }
    }

    fn lock_events(&self) -> MutexGuard<'_, Receiver<PlaybackEvent>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        if let Err(err) = self.shut_down() {
            tracing::warn!("playback: closing the output failed: {err}");
        }
    }
}

/// Replaces non-finite samples with silence and clamps the rest; returns how many were
/// not finite.
fn sanitize(samples: &mut [f32]) -> usize {
    let mut n_repaired = 0;
    for sample in samples {
        if sample.is_finite() {
            *sample = sample.clamp(-1.0, 1.0);
        } else {
            *sample = 0.0;
            n_repaired += 1;
        }
    }
    n_repaired
}

/// Chunks handed to the thread and not yet played or stopped, for `is_playing` and
/// `wait_until_drained`.
#[derive(Debug, Default)]
struct PendingChunks {
    state: Mutex<PendingState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct PendingState {
    n_chunks: u64,
    is_closed: bool,
}

impl PendingChunks {
    fn lock(&self) -> MutexGuard<'_, PendingState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add_one(&self) {
        let mut state = self.lock();
        // A thread that has ended plays nothing; counting the chunk would leave
        // `is_playing` true for ever.
        if !state.is_closed {
            state.n_chunks += 1;
        }
    }

    fn remove_one(&self) {
        self.settle(1);
    }

    fn settle(&self, n_chunks: u64) {
        let mut state = self.lock();
        state.n_chunks = state.n_chunks.saturating_sub(n_chunks);
        drop(state);
        self.changed.notify_all();
    }

    fn close(&self) {
        let mut state = self.lock();
        state.n_chunks = 0;
        state.is_closed = true;
        drop(state);
        self.changed.notify_all();
    }
}

/// What both outputs do for the playback thread. Each call may report events by pushing
/// them to `events`, in order.
trait Output {
    /// Queues validated mono samples behind everything queued.
    fn append(
        &mut self,
        samples: Vec<f32>,
        sample_rate_hz: u32,
        events: &mut Vec<PlaybackEvent>,
    ) -> Result<(), AudioError>;
    /// Drops everything queued, silences the output and reports `Stopped`.
    fn stop(&mut self, events: &mut Vec<PlaybackEvent>) -> Result<(), AudioError>;
    /// Does the work that is due and reports `Started` and `Finished`.
    fn poll(&mut self, events: &mut Vec<PlaybackEvent>) -> Result<(), AudioError>;
    /// When `poll` should run next without a command; `None` while idle.
    fn next_poll(&self) -> Option<Instant>;
    /// Closes the output.
    fn close(self: Box<Self>) -> Result<(), AudioError>;
}

type Opened = Result<OutputInfo, AudioError>;

fn open_output(
    config: &OutputConfig,
    events: &SyncSender<PlaybackEvent>,
) -> Result<(Box<dyn Output>, OutputInfo), AudioError> {
    match config {
        OutputConfig::Speaker(speaker) => {
            let (output, info) = Speaker::open(speaker, events.clone())?;
            Ok((Box::new(output), info))
        }
        OutputConfig::WavFile(wav) => {
            let output = WavOutput::open(wav)?;
            let info = OutputInfo {
                name: wav.path.display().to_string(),
                latency: Duration::ZERO,
            };
            Ok((Box::new(output), info))
        }
    }
}

fn playback_thread(
    config: OutputConfig,
    commands: Receiver<PlaybackCommand>,
    events: SyncSender<PlaybackEvent>,
    ready: Sender<Opened>,
    pending: Arc<PendingChunks>,
) -> Result<(), AudioError> {
    let mut output = match open_output(&config, &events) {
        Ok((output, info)) => {
            if ready.send(Ok(info)).is_err() {
                pending.close();
                return output.close();
            }
            output
        }
        Err(err) => {
            pending.close();
            let _ = ready.send(Err(err));
            return Ok(());
        }
    };
    let mut reporter = Reporter {
        events,
        pending: Arc::clone(&pending),
        n_chunks_unsettled: 0,
        n_events_dropped: 0,
    };
    let mut batch = Vec::new();
    let result = loop {
        let waited = match output.next_poll() {
            None => commands.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(due) => commands.recv_timeout(due.saturating_duration_since(Instant::now())),
        };
        let mut next = match waited {
            Ok(command) => Some(command),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(PlaybackCommand::Shutdown),
        };
        let mut is_shutdown = false;
        let mut step = Ok(());
        // Everything already waiting is handled before the next poll, so a burst of
        // chunks is one stretch of sound.
        while let Some(command) = next.take() {
            step = match command {
                PlaybackCommand::Play {
                    samples,
                    sample_rate_hz,
                } => {
                    reporter.n_chunks_unsettled += 1;
                    output.append(samples, sample_rate_hz, &mut batch)
                }
                PlaybackCommand::Stop => output.stop(&mut batch),
                PlaybackCommand::Shutdown => {
                    is_shutdown = true;
                    Ok(())
                }
            };
            reporter.report(&mut batch);
            if is_shutdown || step.is_err() {
                break;
            }
            next = commands.try_recv().ok();
        }
        if step.is_ok() && !is_shutdown {
            step = output.poll(&mut batch);
            reporter.report(&mut batch);
        }
        if let Err(err) = step {
            reporter.send(PlaybackEvent::DeviceError {
                at: Instant::now(),
                message: err.to_string(),
            });
            break Err(err);
        }
        if is_shutdown {
            break Ok(());
        }
    };
    pending.close();
    let closed = output.close();
    result.and(closed)
}

/// Forwards events and settles chunks when a stretch of sound ends.
struct Reporter {
    events: SyncSender<PlaybackEvent>,
    pending: Arc<PendingChunks>,
    n_chunks_unsettled: u64,
    n_events_dropped: u64,
}

impl Reporter {
    fn report(&mut self, batch: &mut Vec<PlaybackEvent>) {
        for event in batch.drain(..) {
            if matches!(
                event,
                PlaybackEvent::Finished { .. } | PlaybackEvent::Stopped { .. }
            ) {
                self.pending.settle(self.n_chunks_unsettled);
                self.n_chunks_unsettled = 0;
            }
            self.send(event);
        }
    }

    fn send(&mut self, event: PlaybackEvent) {
        match self.events.try_send(event) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(event)) => {
                if self.n_events_dropped == 0 {
                    tracing::warn!(
                        "playback: nobody reads the events; dropping {event:?} and later ones"
                    );
                }
                self.n_events_dropped += 1;
            }
        }
    }
}

/// Chunks waiting to be played, consumed from the front.
#[derive(Debug, Default)]
struct SampleQueue {
    chunks: VecDeque<Vec<f32>>,
    n_used_in_front: usize,
    n_samples: u64,
}

impl SampleQueue {
    fn push(&mut self, samples: Vec<f32>) {
        if !samples.is_empty() {
            self.n_samples += samples.len() as u64;
            self.chunks.push_back(samples);
        }
    }

    fn is_empty(&self) -> bool {
        self.n_samples == 0
    }

    /// Empties the queue; returns how many samples it held.
    fn clear(&mut self) -> u64 {
        let n_samples = self.n_samples;
        self.chunks.clear();
        self.n_used_in_front = 0;
        self.n_samples = 0;
        n_samples
    }

    /// The unplayed part of the front chunk.
    fn front(&self) -> &[f32] {
        self.chunks
            .front()
            .map_or(&[][..], |chunk| &chunk[self.n_used_in_front..])
    }

    /// Marks `n` samples of the front chunk (at most its length) as played.
    fn consume(&mut self, n: usize) {
        let n_front = self.front().len();
        let n = n.min(n_front);
        self.n_samples -= n as u64;
        if n == n_front {
            self.chunks.pop_front();
            self.n_used_in_front = 0;
        } else {
            self.n_used_in_front += n;
        }
    }
}

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
struct Speaker {
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
    fn open(
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

/// A stretch of sound in a WAV file.
#[derive(Debug, Clone, Copy)]
struct FileStretch {
    started_at: Instant,
    n_samples_written: u64,
}

/// A WAV file as an output.
struct WavOutput {
    path: PathBuf,
    partial_path: PathBuf,
    /// The open `.partial` file, until the first chunk tells the rate.
    file: Option<File>,
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    sample_format: WavSampleFormat,
    pacing: Pacing,
    sample_rate_hz: Option<u32>,
    queue: SampleQueue,
    stretch: Option<FileStretch>,
}

impl WavOutput {
    fn open(config: &WavFileConfig) -> Result<Self, AudioError> {
        if let Some(sample_rate_hz) = config.sample_rate_hz
            && !(MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&sample_rate_hz)
        {
            return Err(AudioError::InvalidSampleRate { sample_rate_hz });
        }
        let mut partial_path = config.path.clone().into_os_string();
        partial_path.push(".partial");
        let partial_path = PathBuf::from(partial_path);
        let file = File::create(&partial_path).map_err(|err| AudioError::WriteFile {
            path: partial_path.clone(),
            reason: err.to_string(),
        })?;
        let mut output = Self {
            path: config.path.clone(),
            partial_path,
            file: Some(file),
            writer: None,
            sample_format: config.sample_format,
            pacing: config.pacing,
            sample_rate_hz: config.sample_rate_hz,
            queue: SampleQueue::default(),
            stretch: None,
        };
        if let Some(sample_rate_hz) = config.sample_rate_hz {
            output.start_writer(sample_rate_hz)?;
        }
        Ok(output)
    }

    fn write_error(&self, err: impl std::fmt::Display) -> AudioError {
        AudioError::WriteFile {
            path: self.partial_path.clone(),
            reason: err.to_string(),
        }
    }

    fn start_writer(&mut self, sample_rate_hz: u32) -> Result<(), AudioError> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let spec = match self.sample_format {
            WavSampleFormat::I16 => hound::WavSpec {
                channels: 1,
                sample_rate: sample_rate_hz,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            },
            WavSampleFormat::F32 => hound::WavSpec {
                channels: 1,
                sample_rate: sample_rate_hz,
                bits_per_sample: 32,
                sample_format: hound::SampleFormat::Float,
            },
        };
        let mut writer = hound::WavWriter::new(BufWriter::new(file), spec)
            .map_err(|err| self.write_error(err))?;
        writer.flush().map_err(|err| self.write_error(err))?;
        self.writer = Some(writer);
        self.sample_rate_hz = Some(sample_rate_hz);
        Ok(())
    }

    /// Writes up to `n_max` queued samples and flushes; returns how many were written.
    fn write_queued(&mut self, n_max: u64) -> Result<u64, AudioError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(0);
        };
        let mut n_written = 0u64;
        let mut failure = None;
        'chunks: while n_written < n_max && !self.queue.is_empty() {
            let front = self.queue.front();
            let n_take = front
                .len()
                .min(usize::try_from(n_max - n_written).unwrap_or(usize::MAX));
            for &sample in &front[..n_take] {
                let written = match self.sample_format {
                    WavSampleFormat::I16 => writer.write_sample(to_i16(sample)),
                    WavSampleFormat::F32 => writer.write_sample(sample),
                };
                if let Err(err) = written {
                    failure = Some(err);
                    break 'chunks;
                }
            }
            self.queue.consume(n_take);
            n_written += n_take as u64;
        }
        let flushed = match failure {
            Some(err) => Err(err),
            None if n_written > 0 => writer.flush(),
            None => Ok(()),
        };
        flushed.map_err(|err| self.write_error(err))?;
        if n_written > 0
            && let Some(stretch) = self.stretch.as_mut()
        {
            stretch.n_samples_written += n_written;
        }
        Ok(n_written)
    }

    fn begin_stretch(&mut self, events: &mut Vec<PlaybackEvent>) {
        if self.stretch.is_none() && !self.queue.is_empty() {
            let now = Instant::now();
            self.stretch = Some(FileStretch {
                started_at: now,
                n_samples_written: 0,
            });
            events.push(PlaybackEvent::Started { at: now });
        }
    }

    fn rate_hz(&self) -> f64 {
        f64::from(self.sample_rate_hz.unwrap_or(PIPELINE_SAMPLE_RATE_HZ))
    }
}

impl Output for WavOutput {
    fn append(
        &mut self,
        samples: Vec<f32>,
        sample_rate_hz: u32,
        events: &mut Vec<PlaybackEvent>,
    ) -> Result<(), AudioError> {
        if self.writer.is_none() {
            self.start_writer(sample_rate_hz)?;
        }
        self.queue.push(samples);
        if self.pacing == Pacing::AsFastAsPossible {
            self.begin_stretch(events);
            self.write_queued(u64::MAX)?;
        }
        Ok(())
    }

    fn stop(&mut self, events: &mut Vec<PlaybackEvent>) -> Result<(), AudioError> {
        let n_samples_dropped = self.queue.clear();
        let n_samples_played = self
            .stretch
            .take()
            .map_or(0, |stretch| stretch.n_samples_written);
        events.push(PlaybackEvent::Stopped {
            at: Instant::now(),
            n_samples_played,
            n_samples_dropped,
        });
        Ok(())
    }

    fn poll(&mut self, events: &mut Vec<PlaybackEvent>) -> Result<(), AudioError> {
        match self.pacing {
            Pacing::AsFastAsPossible => {
                self.write_queued(u64::MAX)?;
                if self.stretch.take().is_some() {
                    events.push(PlaybackEvent::Finished { at: Instant::now() });
                }
            }
            Pacing::Realtime => {
                self.begin_stretch(events);
                let Some(stretch) = self.stretch else {
                    return Ok(());
                };
                let rate_hz = self.rate_hz();
                let elapsed = stretch.started_at.elapsed() + PACED_WRITE_AHEAD;
                let n_due = (elapsed.as_secs_f64() * rate_hz) as u64;
                self.write_queued(n_due.saturating_sub(stretch.n_samples_written))?;
                if self.queue.is_empty()
                    && let Some(stretch) = self.stretch
                {
                    let ends_at = stretch.started_at
                        + Duration::from_secs_f64(stretch.n_samples_written as f64 / rate_hz);
                    if Instant::now() >= ends_at {
                        self.stretch = None;
                        events.push(PlaybackEvent::Finished { at: ends_at });
                    }
                }
            }
        }
        Ok(())
    }

    fn next_poll(&self) -> Option<Instant> {
        let stretch = self.stretch?;
        let now = Instant::now();
        if !self.queue.is_empty() {
            return Some(now + ACTIVE_POLL_INTERVAL);
        }
        let ends_at = stretch.started_at
            + Duration::from_secs_f64(stretch.n_samples_written as f64 / self.rate_hz());
        Some(ends_at.max(now))
    }

    fn close(mut self: Box<Self>) -> Result<(), AudioError> {
        if self.writer.is_none() {
            let sample_rate_hz = self.sample_rate_hz.unwrap_or(PIPELINE_SAMPLE_RATE_HZ);
            self.start_writer(sample_rate_hz)?;
        }
        if let Some(writer) = self.writer.take() {
            writer.finalize().map_err(|err| self.write_error(err))?;
        }
        let synced = File::open(&self.partial_path).and_then(|file| file.sync_all());
        synced.map_err(|err| self.write_error(err))?;
        std::fs::rename(&self.partial_path, &self.path).map_err(|err| AudioError::WriteFile {
            path: self.path.clone(),
            reason: format!("cannot rename {} to it: {err}", self.partial_path.display()),
        })
    }
}

fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const RATE_HZ: u32 = 22_050;

    fn sine(frequency_hz: f32, n_seconds: f32, amplitude: f32) -> Vec<f32> {
        let n_samples = (n_seconds * RATE_HZ as f32).round() as usize;
        (0..n_samples)
            .map(|i| {
                let t = i as f32 / RATE_HZ as f32;
                amplitude * (std::f32::consts::TAU * frequency_hz * t).sin()
            })
            .collect()
    }

    /// One thing a case does to the playback.
    enum Step {
        /// Plays a chunk at a rate; it must be accepted.
        Play(Vec<f32>, u32),
        /// Plays a chunk at a rate; it must be refused with a message containing the text.
        PlayFails(Vec<f32>, u32, &'static str),
        /// Sends a stop (its latency is checked against the `Stopped` event).
        Stop,
        Sleep(Duration),
        /// Waits until drained; it must take between the two durations.
        Drain(Duration, Duration),
        /// `is_playing()` must say this.
        ExpectPlaying(bool),
        /// While open, only `NAME.partial` exists, and it is a valid WAV of this many samples.
        ExpectPartialHolds(usize),
    }

    /// What the file must hold once closed.
    enum Expected {
        /// Exactly these samples (after quantisation to the file's format).
        Samples(Vec<f32>),
        /// A prefix of the first samples, between the two lengths in seconds, then exactly
        /// the second samples.
        PrefixThen(Vec<f32>, f64, f64, Vec<f32>),
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Started,
        Finished,
        Stopped,
    }

    struct Case {
        name: &'static str,
        sample_format: WavSampleFormat,
        pacing: Pacing,
        sample_rate_hz: Option<u32>,
        steps: Vec<Step>,
        file_rate_hz: u32,
        expected: Expected,
        events: Vec<Kind>,
    }

    impl Case {
        fn new(name: &'static str, steps: Vec<Step>, expected: Expected, events: &[Kind]) -> Self {
            Self {
                name,
                sample_format: WavSampleFormat::I16,
                pacing: Pacing::AsFastAsPossible,
                sample_rate_hz: None,
                steps,
                file_rate_hz: RATE_HZ,
                expected,
                events: events.to_vec(),
            }
        }

        fn f32(mut self) -> Self {
            self.sample_format = WavSampleFormat::F32;
            self
        }

        fn paced(mut self) -> Self {
            self.pacing = Pacing::Realtime;
            self
        }

        fn rate(mut self, file_rate_hz: u32, fixed: bool) -> Self {
            self.file_rate_hz = file_rate_hz;
            self.sample_rate_hz = fixed.then_some(file_rate_hz);
            self
        }
    }

    fn read_wav(path: &Path, case: &Case) -> Vec<f32> {
        let mut reader = hound::WavReader::open(path)
            .unwrap_or_else(|err| panic!("{}: {} is no WAV: {err}", case.name, path.display()));
        let spec = reader.spec();
        assert_eq!(spec.channels, 1, "{}", case.name);
        assert_eq!(spec.sample_rate, case.file_rate_hz, "{}", case.name);
        match case.sample_format {
            WavSampleFormat::I16 => {
                assert_eq!(spec.bits_per_sample, 16, "{}", case.name);
                reader
                    .samples::<i16>()
                    .map(|s| f32::from(s.expect("a 16-bit sample")) / f32::from(i16::MAX))
                    .collect()
            }
            WavSampleFormat::F32 => {
                assert_eq!(
                    spec.sample_format,
                    hound::SampleFormat::Float,
                    "{}",
                    case.name
                );
                reader
                    .samples::<f32>()
                    .map(|s| s.expect("a float sample"))
                    .collect()
            }
        }
    }

    fn quantised(samples: &[f32], format: WavSampleFormat) -> Vec<f32> {
        match format {
            WavSampleFormat::I16 => samples
                .iter()
                .map(|&s| f32::from(to_i16(s)) / f32::from(i16::MAX))
                .collect(),
            WavSampleFormat::F32 => samples.to_vec(),
        }
    }

    /// Runs a case against a WAV output and checks the file, the events and stop latency.
    fn check(case: &Case) {
        let name = case.name;
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("reply.wav");
        let partial = dir.path().join("reply.wav.partial");
        let playback = Playback::open(&OutputConfig::WavFile(WavFileConfig {
            path: path.clone(),
            sample_format: case.sample_format,
            pacing: case.pacing,
            sample_rate_hz: case.sample_rate_hz,
        }))
        .unwrap_or_else(|err| panic!("{name}: the WAV output opens: {err}"));
        let mut stops_sent = Vec::new();
        for step in &case.steps {
            match step {
                Step::Play(samples, rate_hz) => playback
                    .play(samples.clone(), *rate_hz)
                    .unwrap_or_else(|err| panic!("{name}: play refused: {err}")),
                Step::PlayFails(samples, rate_hz, why) => {
                    let err = playback
                        .play(samples.clone(), *rate_hz)
                        .expect_err("the chunk is refused");
                    assert!(err.to_string().contains(why), "{name}: {err}");
                }
                Step::Stop => {
                    stops_sent.push(Instant::now());
                    playback.stop();
                }
                Step::Sleep(duration) => std::thread::sleep(*duration),
                Step::Drain(min, max) => {
                    let started = Instant::now();
                    assert!(
                        playback.wait_until_drained(Duration::from_secs(10)),
                        "{name}: never drained"
                    );
                    let took = started.elapsed();
                    assert!(
                        (*min..=*max).contains(&took),
                        "{name}: draining took {took:?}, not {min:?}..={max:?}"
                    );
                }
                Step::ExpectPlaying(expected) => {
                    assert_eq!(playback.is_playing(), *expected, "{name}: is_playing");
                }
                Step::ExpectPartialHolds(n_samples) => {
                    assert!(!path.exists(), "{name}: the final name exists too early");
                    let reader = hound::WavReader::open(&partial)
                        .unwrap_or_else(|err| panic!("{name}: the partial file is no WAV: {err}"));
                    assert_eq!(reader.len() as usize, *n_samples, "{name}: partial length");
                }
            }
        }
        // Events: wait for the one answering the last stop, then take what is there.
        let mut events = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match playback.wait_event(Duration::from_millis(50)) {
                Some(event) => events.push(event),
                None => {
                    let n_stopped = events
                        .iter()
                        .filter(|e| matches!(e, PlaybackEvent::Stopped { .. }))
                        .count();
                    if n_stopped >= stops_sent.len() {
                        break;
                    }
                }
            }
        }
        playback
            .close()
            .unwrap_or_else(|err| panic!("{name}: close failed: {err}"));
        assert!(!partial.exists(), "{name}: the partial file is left");

        // The file.
        let written = read_wav(&path, case);
        match &case.expected {
            Expected::Samples(expected) => {
                let expected = quantised(expected, case.sample_format);
                assert_eq!(written.len(), expected.len(), "{name}: length");
                let n_wrong = written
                    .iter()
                    .zip(&expected)
                    .filter(|(a, b)| a != b)
                    .count();
                assert_eq!(n_wrong, 0, "{name}: {n_wrong} samples differ");
            }
            Expected::PrefixThen(prefix_of, min_seconds, max_seconds, then) => {
                let n_prefix = written.len().saturating_sub(then.len());
                let n_seconds = n_prefix as f64 / f64::from(case.file_rate_hz);
                assert!(
                    (*min_seconds..=*max_seconds).contains(&n_seconds),
                    "{name}: {n_seconds:.3} s of the first sound written, not {min_seconds}..={max_seconds}"
                );
                assert!(
                    n_prefix <= prefix_of.len(),
                    "{name}: more written than played"
                );
                let expected = quantised(
                    &[&prefix_of[..n_prefix], &then[..]].concat(),
                    case.sample_format,
                );
                assert_eq!(written, expected, "{name}: not what was played");
            }
        }

        // The events: kinds in order (a burst may split into several stretches where the
        // thread caught up with the sender, so "Finished, Started" gaps are removed) and
        // instants that never go back.
        let mut kinds: Vec<Kind> = Vec::new();
        for event in &events {
            let kind = match event {
                PlaybackEvent::Started { .. } => Kind::Started,
                PlaybackEvent::Finished { .. } => Kind::Finished,
                PlaybackEvent::Stopped { .. } => Kind::Stopped,
                PlaybackEvent::DeviceError { message, .. } => panic!("{name}: {message}"),
            };
            if kind == Kind::Started && kinds.last() == Some(&Kind::Finished) {
                kinds.pop();
            } else {
                kinds.push(kind);
            }
        }
        assert_eq!(kinds, case.events, "{name}: events {events:?}");
        for pair in events.windows(2) {
            assert!(
                pair[0].at() <= pair[1].at(),
                "{name}: events out of order {events:?}"
            );
        }

        // Barge-in: each stop silenced the output within 50 ms.
        let stopped_at: Vec<Instant> = events
            .iter()
            .filter(|e| matches!(e, PlaybackEvent::Stopped { .. }))
            .map(PlaybackEvent::at)
            .collect();
        assert_eq!(
            stopped_at.len(),
            stops_sent.len(),
            "{name}: one Stopped per stop"
        );
        for (sent, stopped) in stops_sent.iter().zip(&stopped_at) {
            let latency = stopped.saturating_duration_since(*sent);
            assert!(
                latency < Duration::from_millis(50),
                "{name}: stop took {latency:?}"
            );
        }
    }

    fn cases() -> Vec<Case> {
        use Kind::{Finished, Started, Stopped};
        let quick = (Duration::ZERO, Duration::from_secs(2));
        let tone = sine(440.0, 0.5, 0.5);
        let long_tone = sine(440.0, 2.0, 0.5);
        let short_tone = sine(440.0, 0.3, 0.8);
        let ramp = |value: f32, n: usize| vec![value; n];
        vec![
            Case::new(
                "a sine is written sample for sample, under .partial until closed",
                vec![
                    Step::Play(tone.clone(), RATE_HZ),
                    Step::Drain(quick.0, quick.1),
                    Step::ExpectPlaying(false),
                    Step::ExpectPartialHolds(tone.len()),
                ],
                Expected::Samples(tone.clone()),
                &[Started, Finished],
            ),
            Case::new(
                "silence in f32",
                vec![
                    Step::Play(vec![0.0; RATE_HZ as usize], RATE_HZ),
                    Step::Drain(quick.0, quick.1),
                ],
                Expected::Samples(vec![0.0; RATE_HZ as usize]),
                &[Started, Finished],
            )
            .f32(),
            Case::new(
                "chunks play in the order they were sent",
                vec![
                    Step::Play(ramp(0.1, 100), RATE_HZ),
                    Step::Play(ramp(-0.2, 50), RATE_HZ),
                    Step::Play(tone[..300].to_vec(), RATE_HZ),
                    Step::Play(ramp(0.3, 10), RATE_HZ),
                    Step::Drain(quick.0, quick.1),
                ],
                Expected::Samples(
                    [
                        ramp(0.1, 100),
                        ramp(-0.2, 50),
                        tone[..300].to_vec(),
                        ramp(0.3, 10),
                    ]
                    .concat(),
                ),
                &[Started, Finished],
            ),
            Case::new(
                "NaN and infinities become silence, overloads are clamped",
                vec![
                    Step::Play(
                        vec![
                            f32::NAN,
                            f32::INFINITY,
                            f32::NEG_INFINITY,
                            2.0,
                            -2.0,
                            0.5,
                            -0.25,
                        ],
                        RATE_HZ,
                    ),
                    Step::Drain(quick.0, quick.1),
                ],
                Expected::Samples(vec![0.0, 0.0, 0.0, 1.0, -1.0, 0.5, -0.25]),
                &[Started, Finished],
            )
            .f32(),
            Case::new(
                "empty chunks are ignored",
                vec![
                    Step::Play(Vec::new(), RATE_HZ),
                    Step::ExpectPlaying(false),
                    Step::Play(tone.clone(), RATE_HZ),
                    Step::Play(Vec::new(), RATE_HZ),
                    Step::Drain(quick.0, quick.1),
                ],
                Expected::Samples(tone.clone()),
                &[Started, Finished],
            ),
            Case::new(
                "a paced file takes real time and reports playing until then",
                vec![
                    Step::Play(short_tone.clone(), RATE_HZ),
                    Step::ExpectPlaying(true),
                    Step::Sleep(Duration::from_millis(100)),
                    Step::ExpectPlaying(true),
                    Step::Drain(Duration::from_millis(150), Duration::from_millis(400)),
                    Step::ExpectPlaying(false),
                ],
                Expected::Samples(short_tone.clone()),
                &[Started, Finished],
            )
            .paced(),
            Case::new(
                "a stop truncates a paced file within 50 ms",
                vec![
                    Step::Play(long_tone.clone(), RATE_HZ),
                    Step::Sleep(Duration::from_millis(200)),
                    Step::Stop,
                    Step::Drain(Duration::ZERO, Duration::from_millis(50)),
                    Step::ExpectPlaying(false),
                ],
                Expected::PrefixThen(long_tone.clone(), 0.15, 0.35, Vec::new()),
                &[Started, Stopped],
            )
            .paced(),
            Case::new(
                "playing resumes after a stop",
                vec![
                    Step::Play(long_tone.clone(), RATE_HZ),
                    Step::Sleep(Duration::from_millis(50)),
                    Step::Stop,
                    Step::Play(short_tone.clone(), RATE_HZ),
                    Step::Drain(Duration::from_millis(200), Duration::from_millis(500)),
                ],
                Expected::PrefixThen(long_tone.clone(), 0.03, 0.15, short_tone.clone()),
                &[Started, Stopped, Started, Finished],
            )
            .paced(),
            Case::new(
                "a stop while idle is answered and changes nothing",
                vec![
                    Step::Play(tone.clone(), RATE_HZ),
                    Step::Drain(quick.0, quick.1),
                    Step::Stop,
                ],
                Expected::Samples(tone.clone()),
                &[Started, Finished, Stopped],
            ),
            Case::new(
                "shutting down mid-sentence completes the file with what was played",
                vec![
                    Step::Play(long_tone.clone(), RATE_HZ),
                    Step::Sleep(Duration::from_millis(100)),
                ],
                Expected::PrefixThen(long_tone.clone(), 0.05, 0.25, Vec::new()),
                &[Started],
            )
            .paced(),
            Case::new(
                "a chunk at a second rate is refused",
                vec![
                    Step::Play(tone.clone(), RATE_HZ),
                    Step::PlayFails(
                        vec![0.1; 100],
                        16_000,
                        "16000 Hz cannot follow audio at 22050 Hz",
                    ),
                    Step::Drain(quick.0, quick.1),
                ],
                Expected::Samples(tone.clone()),
                &[Started, Finished],
            ),
            Case::new(
                "a configured rate is fixed before the first chunk",
                vec![
                    Step::PlayFails(
                        tone.clone(),
                        RATE_HZ,
                        "22050 Hz cannot follow audio at 16000 Hz",
                    ),
                    Step::Play(tone.clone(), 16_000),
                    Step::Drain(quick.0, quick.1),
                ],
                Expected::Samples(tone.clone()),
                &[Started, Finished],
            )
            .rate(16_000, true),
            Case::new(
                "impossible rates are refused and an unused file is an empty 16 kHz WAV",
                vec![
                    Step::PlayFails(vec![0.1; 10], 0, "between 1000 and 384000 Hz"),
                    Step::PlayFails(vec![0.1; 10], 1_000_000, "between 1000 and 384000 Hz"),
                    Step::ExpectPlaying(false),
                ],
                Expected::Samples(Vec::new()),
                &[],
            )
            .rate(PIPELINE_SAMPLE_RATE_HZ, false),
        ]
    }

    #[test]
    fn wav_output_cases() {
        for case in cases() {
            check(&case);
        }
    }

    #[test]
    fn the_handle_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Playback>();
    }

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

    #[test]
    fn an_unwritable_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = WavFileConfig::new(dir.path().join("no/such/folder/reply.wav"));
        let err = Playback::open(&OutputConfig::WavFile(config)).expect_err("no folder");
        assert!(
            err.to_string().contains("check that its folder exists"),
            "{err}"
        );
    }
}
