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
//!
//! The module is split by output so that no file outgrows the project's size limit: this
//! file holds the handle, the commands and events, the configs and the thread that drives
//! either output; `speaker.rs` holds the rodio speaker with its ring and audio callback;
//! `wav.rs` holds the WAV file output.

mod speaker;
mod wav;

use std::collections::VecDeque;
use std::num::NonZero;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::AudioError;
use super::source::Pacing;
use speaker::Speaker;
use wav::WavOutput;

/// The lowest chunk sample rate accepted.
pub const MIN_SAMPLE_RATE_HZ: u32 = 1_000;
/// The highest chunk sample rate accepted.
pub const MAX_SAMPLE_RATE_HZ: u32 = 384_000;
/// The speaker's default ALSA period (the device buffer holds two of them).
pub const DEFAULT_PERIOD_MS: u32 = 10;

/// Events queued for the reader before further ones are dropped.
const EVENT_QUEUE_LEN: usize = 64;
/// How often the thread looks at the device while something is queued or sounding.
const ACTIVE_POLL_INTERVAL: Duration = Duration::from_millis(5);
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
                    // A caller that only plays (`say`) never reads the events; that
                    // is normal, so this is no warning.
                    tracing::debug!(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Playback>();
    }
}
