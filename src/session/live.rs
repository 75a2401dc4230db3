//! The live session: the loop behind `ideadesk listen`. It wires the stages together —
//! hearing (microphone or audio file) on its own thread, seeing (camera or image files) on
//! another, answering turns on a third — around one closed [`Event`] enum, which it hands
//! to the caller in order.
//!
//! The session thread owns one store connection and writes every transcript and sketch
//! the moment it arrives, so a crash loses nothing already transcribed; the turn thread
//! has its own connection for the needs. A turn is every stored utterance not answered
//! yet: while one turn is answered, new utterances queue for the next.
//!
//! Two rules keep the conversation honest:
//! - half-duplex (the default): while the reply plays, and briefly after, the microphone
//!   hears silence, so ideadesk never answers its own voice; with barge-in the person may
//!   talk over the reply, which then stops;
//! - a scripted audio file is a person who waits for the answer: after each utterance the
//!   file pauses until the reply has been played, whatever the pacing.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::SessionError;
use super::events::{Control, DeviceKind, DeviceStatus, Event, EventRecord};
use super::hear::{Hear, HearConfig, HearEvent, HearSummary, TalkCommand};
use super::see::{SeeCommand, SeeReport, SeeStage};
use super::turn::{TurnJob, TurnReport, TurnStages};
use super::understand::{Understand, discovery_from};
use crate::audio::AudioError;
use crate::audio::capture::CaptureConfig;
use crate::audio::playback::{OutputConfig, Playback};
use crate::audio::source::{AudioSource, FileSource, MicSource, Pacing};
use crate::needs::{BriefInfo, UtteranceId, render_brief};
use crate::store::{SessionId, Store, UtteranceInput};
use crate::stt::Transcriber;
use crate::tts::synth::{SpeechOptions, Synthesizer};
use crate::vad::VoiceDetector;
use crate::vision::camera::{CameraHandle, CameraSelector};
use crate::vision::describe::SketchDescriber;
use crate::vision::frame::{DEFAULT_SKETCH_CUES, has_sketch_cue};

/// How long the microphone stays deaf after the reply stops playing (room echo and the
/// sink's own buffer), in ms.
const ECHO_TAIL_MS: u64 = 300;
/// How often the session loop wakes up without news, in ms.
const LOOP_TICK_MS: u64 = 20;
/// How long a paused file source sleeps before handing back an empty block, in ms.
const PAUSED_POLL_MS: u64 = 5;
/// How long a quit waits for the turn in progress before writing the brief without it:
/// its model work is cancelled at the next token, but a long prompt's prefill cannot be cut
/// (Qwen2.5-1.5B prefills about 120 tokens a second on 2 cores). With the brief and the
/// process's exit, Ctrl-C ends a session within 0.5 s.
const QUIT_GRACE_MS: u64 = 250;
/// The default token budget of the spoken acknowledgement.
pub const DEFAULT_ACKNOWLEDGEMENT_MAX_TOKENS: usize = 40;

/// Shared flags between the session, hearing and the turn thread.
#[derive(Debug, Default)]
pub struct Gate {
    /// Set when the person talked over the reply: the turn stops speaking.
    pub interrupt: AtomicBool,
    /// Set while a scripted file waits for the reply.
    pub paused: AtomicBool,
    /// Set to end hearing.
    pub stop: AtomicBool,
}

/// Where the person's voice comes from.
#[derive(Debug, Clone)]
pub enum AudioInput {
    /// An audio file standing in for the microphone.
    File {
        /// The file.
        path: PathBuf,
        /// As fast as possible, or in real time.
        pacing: Pacing,
    },
    /// A microphone.
    Microphone(CaptureConfig),
}

/// Where sketches come from.
#[derive(Debug, Clone)]
pub enum FrameInput {
    /// Nowhere.
    None,
    /// Image files, taken as sketches at the start.
    Images(Vec<PathBuf>),
    /// A camera; a spoken cue or the snapshot key takes a sketch.
    Camera(CameraSelector),
}

/// Where replies go.
#[derive(Debug, Clone)]
pub enum ReplyOutput {
    /// Nowhere: replies are text only.
    None,
    /// A speaker or a WAV file.
    Sink(OutputConfig),
}

/// Where the session's inputs come from and its replies go.
#[derive(Debug, Clone)]
pub struct LiveIo {
    /// The person's voice.
    pub audio: AudioInput,
    /// Sketches.
    pub frames: FrameInput,
    /// Replies.
    pub output: ReplyOutput,
}

/// How the live session runs.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Hearing's settings.
    pub hear: HearConfig,
    /// True lets the person talk over the reply (headphones).
    pub barge_in: bool,
    /// True replaces voice activity detection with push-to-talk.
    pub push_to_talk: bool,
    /// The voice's settings.
    pub speech: SpeechOptions,
    /// The spoken acknowledgement's token budget; 0 skips it.
    pub acknowledgement_max_tokens: usize,
    /// The store's file (each thread opens its own connection).
    pub store_path: PathBuf,
    /// Where sketches are saved.
    pub sketch_dir: PathBuf,
    /// Where the brief is written at the end and on request.
    pub brief_path: PathBuf,
    /// Warnings from setting up (a model that could not be had, a fallback taken),
    /// reported as `warning` events once the session starts.
    pub warnings: Vec<String>,
}

/// The models the session runs.
pub struct LiveStages {
    /// Voice activity detection; `None` treats all audio as speech.
    pub detector: Option<Box<dyn VoiceDetector>>,
    /// Whisper.
    pub transcriber: Transcriber,
    /// The language model's stage.
    pub understand: Understand,
    /// The voice; `None` answers in text only.
    pub synthesizer: Option<Synthesizer>,
    /// The vision model; `None` stores sketches undescribed.
    pub describer: Option<Box<dyn SketchDescriber>>,
}

/// What a session did.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSummary {
    /// The session.
    pub session: SessionId,
    /// Why it ended.
    pub reason: String,
    /// Turns answered.
    pub n_turns: usize,
    /// Utterances stored.
    pub n_utterances: usize,
    /// Where the brief is, when it was written.
    pub brief_path: Option<PathBuf>,
    /// Why hearing stopped before its source ended (a file that failed to decode part-way,
    /// a microphone that failed), when it did. What was heard before is stored.
    pub hearing_error: Option<String>,
}

/// Everything the session thread hears from the other threads.
enum Message {
    Heard(HearEvent),
    HearEnded(Result<HearSummary, SessionError>),
    Seen(SeeReport),
    Turn(TurnReport),
}

/// An audio source behind the session's rules: a scripted file pauses while its turn is
/// answered; a microphone hears silence while the reply plays (half-duplex).
struct GatedSource {
    inner: Box<dyn AudioSource>,
    gate: Arc<Gate>,
    /// The sink, for half-duplex; `None` when the person may talk over the reply.
    deaf_while_playing: Option<Arc<Playback>>,
    pause_for_turns: bool,
    last_playing: Option<Instant>,
}

impl AudioSource for GatedSource {
    fn next_block(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        if self.pause_for_turns
            && self.gate.paused.load(Ordering::SeqCst)
            && !self.gate.stop.load(Ordering::SeqCst)
        {
            std::thread::sleep(Duration::from_millis(PAUSED_POLL_MS));
            return Ok(Some(Vec::new()));
        }
        let mut block = self.inner.next_block()?;
        if let Some(playback) = &self.deaf_while_playing {
            if playback.is_playing() {
                self.last_playing = Some(Instant::now());
            }
            let deaf = self
                .last_playing
                .is_some_and(|at| at.elapsed() < Duration::from_millis(ECHO_TAIL_MS));
            if deaf && let Some(block) = block.as_mut() {
                block.fill(0.0);
            }
        }
        Ok(block)
    }

    fn n_dropped_samples(&self) -> u64 {
        self.inner.n_dropped_samples()
    }
}

/// The utterance times hearing reported before its transcript.
#[derive(Debug, Clone, Copy)]
struct Closed {
    utterance_id: u64,
    closed_at: Instant,
    end_of_turn_wait_ms: f64,
}

/// A stored utterance waiting for its turn.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    utterance_id: UtteranceId,
    closed_at: Instant,
    end_of_turn_wait_ms: f64,
    stt_ms: f64,
}

/// The session thread's state.
struct Live<F: FnMut(&EventRecord)> {
    started: Instant,
    on_event: F,
    store: Store,
    session: SessionId,
    gate: Arc<Gate>,
    config: LiveConfig,
    playback: Option<Arc<Playback>>,
    talk: Option<Sender<TalkCommand>>,
    see: Option<Sender<SeeCommand>>,
    turns: Option<Sender<TurnJob>>,
    pause_for_turns: bool,
    has_camera: bool,
    closed: Vec<Closed>,
    waiting: Vec<Waiting>,
    /// Sketches stored since the last turn started that no vision model will describe.
    n_unread_sketches: usize,
    /// Microphone samples lost so far because hearing fell behind.
    n_dropped_samples: u64,
    /// Stored sketches whose description is on its way: (PNG path, row).
    sketch_ids: Vec<(String, crate::needs::SketchId)>,
    turn_running: bool,
    n_turns: usize,
    n_utterances: usize,
    hear_ended: bool,
    /// Why hearing stopped early, when it failed (see [`LiveSummary::hearing_error`]).
    hearing_error: Option<String>,
    images_done: bool,
    quitting: Option<String>,
    /// When the quit came.
    quit_at: Option<Instant>,
    /// Stops the turn's model work.
    cancel_models: Arc<AtomicBool>,
}

/// Runs a live session until the audio ends, hearing fails for good, or `Quit` arrives.
/// Each event goes to `on_event` as it happens; the brief is written at the end.
pub fn run(
    config: LiveConfig,
    stages: LiveStages,
    io: LiveIo,
    session: SessionId,
    controls: Receiver<Control>,
    on_event: impl FnMut(&EventRecord),
) -> Result<LiveSummary, SessionError> {
    let started = Instant::now();
    let LiveIo {
        audio,
        frames,
        output,
    } = io;
    let store = Store::open(&config.store_path)?;
    let gate = Arc::new(Gate::default());
    let (message_tx, message_rx) = mpsc::channel::<Message>();
    let mut live = Live {
        started,
        on_event,
        store,
        session,
        gate: Arc::clone(&gate),
        config: config.clone(),
        playback: None,
        talk: None,
        see: None,
        turns: None,
        pause_for_turns: matches!(audio, AudioInput::File { .. }),
        has_camera: false,
        closed: Vec::new(),
        waiting: Vec::new(),
        n_unread_sketches: 0,
        n_dropped_samples: 0,
        sketch_ids: Vec::new(),
        turn_running: false,
        n_turns: 0,
        n_utterances: 0,
        hear_ended: false,
        hearing_error: None,
        images_done: true,
        quitting: None,
        quit_at: None,
        cancel_models: Arc::new(AtomicBool::new(false)),
    };
    let mut threads: Vec<JoinHandle<()>> = Vec::new();

    // The sink first, so half-duplex hearing can watch it.
    let (sink_name, playback) = live.open_output(&output);
    live.playback = playback.clone();

    // Hearing.
    let audio_name = match &audio {
        AudioInput::File { path, .. } => format!("file {}", path.display()),
        AudioInput::Microphone(capture) => format!(
            "microphone {}",
            capture.device.as_deref().unwrap_or("(default)")
        ),
    };
    let source: Option<Box<dyn AudioSource>> = match &audio {
        AudioInput::File { path, pacing } => match FileSource::open(path, *pacing) {
            Ok(source) => {
                live.device(
                    DeviceKind::AudioFile,
                    DeviceStatus::Ready,
                    path.display().to_string(),
                );
                Some(Box::new(source))
            }
            Err(err) => return Err(err.into()),
        },
        AudioInput::Microphone(capture) => match MicSource::open(capture) {
            Ok(source) => {
                live.device(
                    DeviceKind::Microphone,
                    DeviceStatus::Ready,
                    source.capture().format().device.clone(),
                );
                Some(Box::new(source))
            }
            Err(err) => {
                live.device(
                    DeviceKind::Microphone,
                    DeviceStatus::Missing,
                    format!("{err}; the session goes on without hearing (sketches, the brief and q still work); `ideadesk devices` lists the inputs"),
                );
                None
            }
        },
    };
    let LiveStages {
        detector,
        transcriber,
        understand,
        synthesizer,
        describer,
    } = stages;
    match source {
        Some(inner) => {
            let gated = GatedSource {
                inner,
                gate: Arc::clone(&gate),
                deaf_while_playing: if live.pause_for_turns || config.barge_in {
                    None
                } else {
                    playback.clone()
                },
                pause_for_turns: live.pause_for_turns,
                last_playing: None,
            };
            let (talk_tx, talk_rx) = mpsc::channel();
            if config.push_to_talk {
                let _ = talk_tx.send(TalkCommand::PushToTalk(true));
            }
            live.talk = Some(talk_tx);
            let mut hear = Hear::new(detector, transcriber, config.hear.clone());
            hear.set_talk_commands(talk_rx);
            threads.push(spawn_hearing(
                hear,
                gated,
                Arc::clone(&gate),
                live.pause_for_turns,
                message_tx.clone(),
            )?);
        }
        None => live.hear_ended = true,
    }

    // Seeing.
    let (frames_name, camera, images) = match &frames {
        FrameInput::None => ("none".to_string(), None, Vec::new()),
        FrameInput::Images(paths) => {
            live.device(
                DeviceKind::ImageFiles,
                DeviceStatus::Ready,
                format!("{} image file(s)", paths.len()),
            );
            (format!("images {}", paths.len()), None, paths.clone())
        }
        FrameInput::Camera(selector) => match CameraHandle::start(selector) {
            Ok(camera) => {
                live.device(
                    DeviceKind::Camera,
                    DeviceStatus::Ready,
                    camera.name().to_string(),
                );
                (
                    format!("camera {}", camera.name()),
                    Some(camera),
                    Vec::new(),
                )
            }
            Err(err) => {
                live.device(
                    DeviceKind::Camera,
                    DeviceStatus::Missing,
                    format!("{err}; the session goes on without sketches (`ideadesk devices` lists the cameras)"),
                );
                ("none".to_string(), None, Vec::new())
            }
        },
    };
    live.has_camera = camera.is_some();
    if camera.is_some() || !images.is_empty() {
        live.images_done = images.is_empty();
        let stage = SeeStage {
            images,
            camera,
            describer,
            sketch_dir: config.sketch_dir.clone(),
        };
        let (see_tx, see_rx) = mpsc::channel();
        live.see = Some(see_tx);
        let report_tx = message_tx.clone();
        let (seen_tx, seen_rx) = mpsc::channel();
        threads.push(spawn_named("ideadesk-see", move || {
            stage.run(see_rx, seen_tx);
        })?);
        threads.push(spawn_forwarder(
            "ideadesk-see-fwd",
            seen_rx,
            report_tx,
            Message::Seen,
        )?);
    }

    // Answering.
    live.cancel_models = understand.cancel_flag();
    let mut turn_stages = TurnStages {
        understand,
        synthesizer,
        playback: playback.clone(),
        store: Store::open(&config.store_path)?,
        session,
        speech: config.speech,
        acknowledgement_max_tokens: config.acknowledgement_max_tokens,
    };
    let (job_tx, job_rx) = mpsc::channel::<TurnJob>();
    live.turns = Some(job_tx);
    let (turn_report_tx, turn_report_rx) = mpsc::channel();
    let turn_gate = Arc::clone(&gate);
    // The turn thread and its forwarder are kept apart: a quit does not wait for a turn
    // whose model work cannot be cut short.
    let turn_threads = [
        spawn_named("ideadesk-turns", move || {
            for job in job_rx {
                turn_stages.answer(&job, &turn_gate, &turn_report_tx);
            }
        })?,
        spawn_forwarder(
            "ideadesk-turns-fwd",
            turn_report_rx,
            message_tx.clone(),
            Message::Turn,
        )?,
    ];
    drop(message_tx);

    live.emit(Event::Started {
        session_id: session.0,
        audio: audio_name,
        frames: frames_name,
        sink: sink_name,
        barge_in: config.barge_in,
        push_to_talk: config.push_to_talk,
    });
    for text in &config.warnings {
        live.emit(Event::Warning { text: text.clone() });
    }

    let reason = live.run_loop(&message_rx, &controls);

    // Shut down: hearing stops, seeing stops, the turn thread finishes its turn (or, after
    // a quit, is left to end on its own: its model work is cancelled).
    gate.stop.store(true, Ordering::SeqCst);
    if let Some(see) = live.see.take() {
        let _ = see.send(SeeCommand::Shutdown);
    }
    live.turns = None;
    live.talk = None;
    for thread in threads {
        let _ = thread.join();
    }
    // Hearing and seeing are done; what they reported last (a last transcript) is stored.
    let turn_deadline = live
        .quit_at
        .map(|at| at + Duration::from_millis(QUIT_GRACE_MS));
    let turns_done = |threads: &[JoinHandle<()>; 2]| threads.iter().all(JoinHandle::is_finished);
    loop {
        while let Ok(message) = message_rx.try_recv() {
            live.handle(message);
        }
        if turns_done(&turn_threads) || turn_deadline.is_some_and(|at| Instant::now() >= at) {
            break;
        }
        std::thread::sleep(Duration::from_millis(LOOP_TICK_MS));
    }
    while let Ok(message) = message_rx.try_recv() {
        live.handle(message);
    }
    if turns_done(&turn_threads) {
        for thread in turn_threads {
            let _ = thread.join();
        }
    }
    let brief_path = live.write_brief();
    if let Some(playback) = live.playback.take()
        && let Ok(playback) = Arc::try_unwrap(playback)
        && let Err(err) = playback.close()
    {
        live.stage_error("speak", err.to_string());
    }
    live.emit(Event::Ended {
        reason: reason.clone(),
        n_turns: live.n_turns,
        n_utterances: live.n_utterances,
        n_dropped_samples: live.n_dropped_samples,
    });
    Ok(LiveSummary {
        session,
        reason,
        n_turns: live.n_turns,
        n_utterances: live.n_utterances,
        brief_path,
        hearing_error: live.hearing_error,
    })
}

fn spawn_named(
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, SessionError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map_err(|err| SessionError::Thread(err.to_string()))
}

/// Forwards one thread's reports into the session's channel.
fn spawn_forwarder<T: Send + 'static>(
    name: &str,
    from: Receiver<T>,
    to: Sender<Message>,
    wrap: fn(T) -> Message,
) -> Result<JoinHandle<()>, SessionError> {
    spawn_named(name, move || {
        for item in from {
            if to.send(wrap(item)).is_err() {
                break;
            }
        }
    })
}

fn spawn_hearing(
    mut hear: Hear,
    mut source: GatedSource,
    gate: Arc<Gate>,
    pause_for_turns: bool,
    messages: Sender<Message>,
) -> Result<JoinHandle<()>, SessionError> {
    spawn_named("ideadesk-hear", move || {
        let result = hear.run(&mut source, Some(&gate.stop), |event| {
            // A scripted person waits for the answer: pause the file at once, before
            // the transcript is back, so the next utterance is not read meanwhile.
            if pause_for_turns && matches!(event, HearEvent::SpeechEnded { .. }) {
                gate.paused.store(true, Ordering::SeqCst);
            }
            let _ = messages.send(Message::Heard(event));
        });
        let _ = messages.send(Message::HearEnded(result));
    })
}

impl<F: FnMut(&EventRecord)> Live<F> {
    fn emit(&mut self, event: Event) {
        let record = EventRecord {
            at_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            event,
        };
        (self.on_event)(&record);
    }

    fn device(&mut self, device: DeviceKind, status: DeviceStatus, detail: String) {
        self.emit(Event::Device {
            device,
            status,
            detail,
        });
    }

    fn stage_error(&mut self, stage: &str, message: String) {
        self.emit(Event::StageError {
            stage: stage.to_string(),
            message,
        });
    }

    /// Opens the sink; a missing speaker leaves the replies in text.
    fn open_output(&mut self, output: &ReplyOutput) -> (String, Option<Arc<Playback>>) {
        let ReplyOutput::Sink(config) = output else {
            return ("none".into(), None);
        };
        let kind = match config {
            OutputConfig::Speaker(_) => DeviceKind::Speaker,
            OutputConfig::WavFile(_) => DeviceKind::WavFile,
        };
        match Playback::open(config) {
            Ok(playback) => {
                let name = playback.info().name.clone();
                self.device(kind, DeviceStatus::Ready, name.clone());
                let prefix = if kind == DeviceKind::Speaker {
                    "speaker"
                } else {
                    "wav"
                };
                (format!("{prefix} {name}"), Some(Arc::new(playback)))
            }
            Err(err) => {
                self.device(
                    kind,
                    DeviceStatus::Missing,
                    format!("{err}; replies are shown as text only"),
                );
                ("none".into(), None)
            }
        }
    }

    /// The loop: until the audio is done and answered, or a quit.
    fn run_loop(&mut self, messages: &Receiver<Message>, controls: &Receiver<Control>) -> String {
        loop {
            match messages.recv_timeout(Duration::from_millis(LOOP_TICK_MS)) {
                Ok(message) => self.handle(message),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return "all stages ended".into(),
            }
            while let Ok(control) = controls.try_recv() {
                self.control(control);
            }
            self.start_turn_if_due();
            let grace_over = self
                .quit_at
                .is_some_and(|at| at.elapsed() >= Duration::from_millis(QUIT_GRACE_MS));
            if let Some(reason) = &self.quitting
                && (!self.turn_running || grace_over)
            {
                return reason.clone();
            }
            if self.hear_ended
                && self.images_done
                && !self.turn_running
                && self.waiting.is_empty()
                && self.pause_for_turns
            {
                return "end of audio".into();
            }
        }
    }

    fn control(&mut self, control: Control) {
        match control {
            Control::ToggleTalk => {
                if let Some(talk) = &self.talk {
                    let _ = talk.send(TalkCommand::Toggle);
                }
            }
            Control::Snapshot => match &self.see {
                Some(see) if self.has_camera => {
                    let _ = see.send(SeeCommand::Cue {
                        source: "snapshot key".into(),
                    });
                }
                _ => self.stage_error("see", "there is no camera to take a snapshot with; start with a camera (`--camera`) or show sketches with `--images`".into()),
            },
            Control::ExportBrief => {
                self.write_brief();
            }
            Control::Quit => {
                if self.quitting.is_none() {
                    self.quitting = Some("quit".into());
                    self.quit_at = Some(Instant::now());
                    self.emit(Event::Stopping {
                        reason: "quit".into(),
                    });
                    self.gate.stop.store(true, Ordering::SeqCst);
                    self.gate.interrupt.store(true, Ordering::SeqCst);
                    self.cancel_models.store(true, Ordering::SeqCst);
                    if let Some(playback) = &self.playback {
                        playback.stop();
                    }
                }
            }
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Heard(event) => self.heard(event),
            Message::HearEnded(result) => {
                self.hear_ended = true;
                if let Err(err) = result {
                    self.hearing_error = Some(err.to_string());
                    let device = if self.pause_for_turns {
                        DeviceKind::AudioFile
                    } else {
                        DeviceKind::Microphone
                    };
                    self.device(
                        device,
                        DeviceStatus::Failed,
                        format!("hearing stopped: {err}"),
                    );
                }
            }
            Message::Seen(report) => match report {
                SeeReport::Sketch {
                    sketch,
                    source,
                    describing,
                } => match self.store.add_sketch(self.session, &sketch) {
                    Ok(sketch_id) => {
                        if describing {
                            self.sketch_ids.push((sketch.image_path.clone(), sketch_id));
                        } else {
                            self.n_unread_sketches += 1;
                        }
                        self.emit(Event::Sketch {
                            image_path: sketch.image_path,
                            source,
                            description: sketch.description,
                            labels: sketch.labels,
                        })
                    }
                    Err(err) => self.stage_error("store", err.to_string()),
                },
                SeeReport::Described {
                    image_path,
                    description,
                    labels,
                } => {
                    let stored = self
                        .sketch_ids
                        .iter()
                        .find(|(path, _)| *path == image_path)
                        .map(|(_, id)| *id);
                    match stored.map(|id| self.store.describe_sketch(id, &description, &labels)) {
                        Some(Ok(())) => self.emit(Event::SketchDescribed {
                            image_path,
                            description,
                            labels,
                        }),
                        Some(Err(err)) => self.stage_error("store", err.to_string()),
                        None => self.stage_error(
                            "see",
                            format!("a description came for {image_path}, which is not stored"),
                        ),
                    }
                }
                SeeReport::Failed(message) => self.stage_error("see", message),
                SeeReport::ImagesDone => self.images_done = true,
            },
            Message::Turn(TurnReport::Event(event)) => self.emit(event),
            Message::Turn(TurnReport::Done { turn_idx }) => {
                self.turn_running = false;
                self.n_turns = turn_idx + 1;
                if self.waiting.is_empty() {
                    self.gate.paused.store(false, Ordering::SeqCst);
                }
            }
        }
    }

    fn heard(&mut self, event: HearEvent) {
        match event {
            HearEvent::SpeechStarted {
                utterance_id,
                start_s,
            } => {
                let playing = self
                    .playback
                    .as_ref()
                    .is_some_and(|playback| playback.is_playing());
                if self.config.barge_in && playing {
                    self.gate.interrupt.store(true, Ordering::SeqCst);
                    if let Some(playback) = &self.playback {
                        playback.stop();
                    }
                }
                self.emit(Event::SpeechStarted {
                    utterance_id,
                    start_s,
                });
            }
            HearEvent::SpeechEnded {
                utterance_id,
                end_s,
                end_of_turn_wait_ms,
                closed_at,
            } => {
                self.closed.push(Closed {
                    utterance_id,
                    closed_at,
                    end_of_turn_wait_ms,
                });
                self.emit(Event::SpeechEnded {
                    utterance_id,
                    end_s,
                    end_of_turn_wait_ms,
                });
            }
            HearEvent::Partial(transcript) => self.emit(Event::Partial {
                utterance_id: transcript.utterance_id,
                text: transcript.text,
            }),
            HearEvent::Discarded { utterance_id } => self.emit(Event::Discarded { utterance_id }),
            HearEvent::SamplesDropped { n_dropped_samples } => {
                self.n_dropped_samples = n_dropped_samples;
                self.emit(Event::SamplesDropped { n_dropped_samples });
            }
            HearEvent::Final(transcript) => {
                let closed = self
                    .closed
                    .iter()
                    .position(|closed| closed.utterance_id == transcript.utterance_id)
                    .map(|idx| self.closed.remove(idx));
                let (closed_at, end_of_turn_wait_ms) = closed
                    .map(|closed| (closed.closed_at, closed.end_of_turn_wait_ms))
                    .unwrap_or_else(|| (Instant::now(), 0.0));
                let stt_ms = closed_at.elapsed().as_secs_f64() * 1000.0;
                if transcript.text.trim().is_empty() {
                    // Nothing was said after all: a waiting file goes on.
                    if !self.turn_running && self.waiting.is_empty() {
                        self.gate.paused.store(false, Ordering::SeqCst);
                    }
                    return;
                }
                let input = UtteranceInput {
                    start_ms: (transcript.start_s * 1000.0).round() as u64,
                    end_ms: (transcript.end_s * 1000.0).round() as u64,
                    text: transcript.text.clone(),
                    audio_path: None,
                };
                match self.store.add_utterance(self.session, &input) {
                    Ok(stored_id) => {
                        self.n_utterances += 1;
                        self.emit(Event::Transcript {
                            utterance_id: transcript.utterance_id,
                            stored_id: stored_id.0,
                            text: transcript.text.clone(),
                            start_s: transcript.start_s,
                            end_s: transcript.end_s,
                            stt_ms,
                        });
                        self.waiting.push(Waiting {
                            utterance_id: stored_id,
                            closed_at,
                            end_of_turn_wait_ms,
                            stt_ms,
                        });
                    }
                    Err(err) => self.stage_error(
                        "store",
                        format!(
                            "the utterance \"{}\" was not stored: {err}",
                            transcript.text
                        ),
                    ),
                }
                if self.has_camera
                    && has_sketch_cue(&transcript.text, DEFAULT_SKETCH_CUES)
                    && let Some(see) = &self.see
                {
                    let _ = see.send(SeeCommand::Cue {
                        source: "spoken cue".into(),
                    });
                }
            }
        }
    }

    /// Starts a turn with every waiting utterance when the turn thread is free.
    fn start_turn_if_due(&mut self) {
        if self.turn_running || self.waiting.is_empty() || self.quitting.is_some() {
            return;
        }
        let Some(turns) = &self.turns else {
            return;
        };
        let waiting = std::mem::take(&mut self.waiting);
        let Some(last) = waiting.last().copied() else {
            return;
        };
        let job = TurnJob {
            turn_idx: self.n_turns,
            utterance_ids: waiting.iter().map(|w| w.utterance_id).collect(),
            closed_at: last.closed_at,
            end_of_turn_wait_ms: last.end_of_turn_wait_ms,
            stt_ms: last.stt_ms,
            n_unread_sketches: std::mem::take(&mut self.n_unread_sketches),
        };
        let stored_ids = job.utterance_ids.iter().map(|id| id.0).collect();
        if turns.send(job).is_err() {
            self.stage_error("understand", "the turn thread has exited".into());
            return;
        }
        self.turn_running = true;
        self.emit(Event::TurnStarted {
            turn_idx: self.n_turns,
            stored_ids,
        });
    }

    /// Writes the session's brief (temporary name, then renamed); `None` on failure,
    /// which is reported.
    fn write_brief(&mut self) -> Option<PathBuf> {
        let path = self.config.brief_path.clone();
        let result = (|| -> Result<(), String> {
            let record = self
                .store
                .load_session(self.session)
                .map_err(|err| err.to_string())?;
            let brief = render_brief(
                &discovery_from(&record),
                &BriefInfo {
                    title: record.info.title.clone(),
                    date: record.info.started_at.date_naive(),
                },
            );
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|err| format!("creating {}: {err}", dir.display()))?;
            }
            crate::files::write_bytes_atomically(&path, brief.as_bytes())
                .map(|_| ())
                .map_err(|err| err.to_string())
        })();
        match result {
            Ok(()) => {
                self.emit(Event::BriefWritten {
                    path: path.display().to_string(),
                });
                Some(path)
            }
            Err(message) => {
                self.stage_error("store", format!("the brief was not written: {message}"));
                None
            }
        }
    }
}

/// The default brief path of a session in the data directory.
pub fn default_brief_path(data_dir: &std::path::Path, session: SessionId) -> PathBuf {
    let stamp = Utc::now().format("%Y%m%d");
    data_dir
        .join("briefs")
        .join(format!("session-{}-{stamp}.md", session.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::playback::WavFileConfig;

    /// Sample rate of the synthesised test signals (Hz).
    const TEST_RATE_HZ: u32 = 16_000;
    /// Samples per synthesised block (32 ms).
    const BLOCK_SAMPLES: usize = 512;

    /// An endless 440 Hz sine, one block at a time.
    struct Sine {
        n_samples_out: usize,
    }

    impl AudioSource for Sine {
        fn next_block(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
            let block = (0..BLOCK_SAMPLES)
                .map(|sample_idx| {
                    let t = (self.n_samples_out + sample_idx) as f32 / TEST_RATE_HZ as f32;
                    0.5 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
                })
                .collect();
            self.n_samples_out += BLOCK_SAMPLES;
            Ok(Some(block))
        }
    }

    fn gated(pause_for_turns: bool, deaf_while_playing: Option<Arc<Playback>>) -> GatedSource {
        GatedSource {
            inner: Box::new(Sine { n_samples_out: 0 }),
            gate: Arc::new(Gate::default()),
            deaf_while_playing,
            pause_for_turns,
            last_playing: None,
        }
    }

    fn energy(block: &[f32]) -> f32 {
        block.iter().map(|s| s * s).sum::<f32>()
    }

    #[test]
    fn a_paused_file_hands_out_empty_blocks_and_keeps_its_place() {
        let check = |pause_for_turns: bool, paused: bool, expected_len: usize| {
            let mut source = gated(pause_for_turns, None);
            source.gate.paused.store(paused, Ordering::SeqCst);
            let block = source.next_block().unwrap().unwrap();
            assert_eq!(
                block.len(),
                expected_len,
                "pause {pause_for_turns} {paused}"
            );
            source.gate.paused.store(false, Ordering::SeqCst);
            let next = source.next_block().unwrap().unwrap();
            // The first sine block starts at phase 0 whether or not a pause came first.
            assert!(next[0].abs() < 1e-6 || expected_len == BLOCK_SAMPLES);
        };
        check(true, true, 0);
        check(true, false, BLOCK_SAMPLES);
        // A microphone is never paused: the world goes on while ideadesk thinks.
        check(false, true, BLOCK_SAMPLES);
        let mut source = gated(true, None);
        source.gate.paused.store(true, Ordering::SeqCst);
        source.gate.stop.store(true, Ordering::SeqCst);
        assert_eq!(
            source.next_block().unwrap().unwrap().len(),
            BLOCK_SAMPLES,
            "a stopping session reads on, so hearing can end"
        );
    }

    #[test]
    fn a_half_duplex_microphone_hears_silence_while_the_reply_plays() {
        let dir = std::env::temp_dir().join(format!("ideadesk-gate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = WavFileConfig::new(dir.join("reply.wav"));
        config.pacing = Pacing::Realtime;
        let playback = Arc::new(Playback::open(&OutputConfig::WavFile(config)).unwrap());
        let mut source = gated(false, Some(Arc::clone(&playback)));
        assert!(energy(&source.next_block().unwrap().unwrap()) > 1.0);

        // 0.3 s of reply, played in real time.
        playback.play(vec![0.1; 4800], TEST_RATE_HZ).unwrap();
        assert!(playback.is_playing());
        // The microphone is read as it delivers, every few milliseconds.
        let deadline = Instant::now() + Duration::from_secs(5);
        while playback.is_playing() && Instant::now() < deadline {
            assert_eq!(energy(&source.next_block().unwrap().unwrap()), 0.0);
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!playback.is_playing(), "the reply played within 5 s");
        // Still deaf for the echo tail, then hearing again.
        assert_eq!(energy(&source.next_block().unwrap().unwrap()), 0.0);
        std::thread::sleep(Duration::from_millis(ECHO_TAIL_MS + 50));
        assert!(energy(&source.next_block().unwrap().unwrap()) > 1.0);

        // With barge-in (no sink to watch) the reply never deafens the microphone.
        let mut open = gated(false, None);
        playback.play(vec![0.1; 4800], TEST_RATE_HZ).unwrap();
        assert!(energy(&open.next_block().unwrap().unwrap()) > 1.0);
        drop(playback);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
