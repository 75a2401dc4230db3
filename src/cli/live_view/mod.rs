//! The live terminal view of `ideadesk listen`: one screen that shows what the session hears,
//! understands and says while the person talks about their idea.
//!
//! The session reports everything as [`EventRecord`]s; [`LiveView`] folds them into the few
//! things a person at the desk wants to see at a glance (what state the session is in, what
//! was heard and said, the needs and how complete they are, the last sketch, the question
//! asked, how fast the turn was, and what went wrong), and draws them with ratatui. Keeping
//! the state separate from the terminal lets the tests render into a `TestBackend`. [`run`]
//! owns the real terminal: it drains the events, redraws when something changed, and turns
//! key presses into [`Control`](crate::session::events::Control)s for the session.
//!
//! The view is split by concern so that no file outgrows the project's size limit: this file
//! holds the state and the folding of events into it; `render.rs` draws that state into a
//! frame; `layout.rs` holds the width, wrapping, truncation and sharing helpers the drawing
//! uses; `terminal.rs` owns the real terminal, the event loop and the key mapping.

mod layout;
mod render;
mod terminal;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use crate::session::events::{DeviceKind, DeviceStatus, Event, EventRecord, NeedCard, TurnLatency};

// `control_for_key` keeps its crate path from before the split, though only the loop uses it.
#[allow(unused_imports)]
pub(crate) use terminal::{control_for_key, run};

/// How many lines of the conversation are kept; older ones scroll out of the view anyway.
const MAX_SAID_ENTRIES: usize = 200;

/// What the session is doing, as the header's state word says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionState {
    /// No `Started` event yet.
    Starting,
    /// Waiting for the person to speak.
    Listening,
    /// The person is speaking.
    Hearing,
    /// A turn started and nothing has been said back yet.
    Thinking,
    /// The reply is being spoken.
    Speaking,
    /// The session ended.
    Ended,
}

/// What the `Started` event told about the session.
#[derive(Debug, Clone)]
struct SessionInfo {
    session_id: i64,
    audio: String,
    frames: String,
    sink: String,
    barge_in: bool,
    push_to_talk: bool,
}

/// The latest state of one device.
#[derive(Debug, Clone)]
struct DeviceEntry {
    device: DeviceKind,
    status: DeviceStatus,
    detail: String,
}

/// One line of the conversation.
#[derive(Debug, Clone)]
enum Said {
    /// A final transcript of the person.
    Person { start_s: f64, text: String },
    /// A sentence the assistant spoke.
    Assistant { text: String },
}

/// The words so far of the open (or just closed, not yet transcribed) utterance.
#[derive(Debug, Clone)]
struct PartialWords {
    utterance_id: u64,
    start_s: Option<f64>,
    text: String,
}

/// Where the current turn is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TurnPhase {
    /// Started, nothing spoken yet.
    Thinking,
    /// At least one sentence was handed to the sink.
    Speaking,
}

/// The open turn.
#[derive(Debug, Clone, Copy)]
struct OpenTurn {
    turn_idx: usize,
    phase: TurnPhase,
}

/// What the latest `Understood` event reported.
#[derive(Debug, Clone)]
struct Understanding {
    needs: Vec<NeedCard>,
    coverage: f64,
    n_created: usize,
    n_updated: usize,
}

/// The latest sketch.
#[derive(Debug, Clone)]
struct SketchInfo {
    image_path: String,
    source: String,
    description: Option<String>,
    labels: Vec<String>,
}

/// The latest turn's timing.
#[derive(Debug, Clone)]
struct ReplyTiming {
    turn_idx: usize,
    voice_to_voice_ms: f64,
    latency: TurnLatency,
}

/// How bad a reported problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    /// Something is missing; the session carries on without it.
    Warning,
    /// Something failed.
    Error,
}

/// Where a problem came from, so that a device that recovers clears its own warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProblemSource {
    Device(DeviceKind),
    Stage,
}

/// The latest problem, as the status line shows it.
#[derive(Debug, Clone)]
struct Problem {
    source: ProblemSource,
    severity: Severity,
    text: String,
}

/// What the `Ended` event reported.
#[derive(Debug, Clone)]
struct EndInfo {
    reason: String,
    n_turns: usize,
    n_utterances: usize,
    n_dropped_samples: u64,
}

/// The live view's state: everything the screen shows, folded from the session's events.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveView {
    session: Option<SessionInfo>,
    devices: Vec<DeviceEntry>,
    said: VecDeque<Said>,
    /// The utterance the person is speaking now, between `SpeechStarted` and its close.
    open_utterance_id: Option<u64>,
    partial: Option<PartialWords>,
    turn: Option<OpenTurn>,
    understanding: Option<Understanding>,
    sketch: Option<SketchInfo>,
    question: Option<String>,
    reply_timing: Option<ReplyTiming>,
    problem: Option<Problem>,
    brief_path: Option<String>,
    end: Option<EndInfo>,
    /// Microphone samples lost because hearing fell behind.
    n_dropped_samples: u64,
    /// Warnings the session started with.
    warnings: Vec<String>,
    /// True once the person asked to quit; the view waits for the session to end.
    quitting: bool,
}

impl LiveView {
    /// An empty view, before the session started.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Folds one event into the view's state.
    pub(crate) fn apply(&mut self, record: &EventRecord) {
        match &record.event {
            Event::Started {
                session_id,
                audio,
                frames,
                sink,
                barge_in,
                push_to_talk,
            } => {
                self.session = Some(SessionInfo {
                    session_id: *session_id,
                    audio: audio.clone(),
                    frames: frames.clone(),
                    sink: sink.clone(),
                    barge_in: *barge_in,
                    push_to_talk: *push_to_talk,
                });
            }
            Event::Device {
                device,
                status,
                detail,
            } => self.apply_device(*device, *status, detail),
            Event::SpeechStarted {
                utterance_id,
                start_s,
            } => {
                self.open_utterance_id = Some(*utterance_id);
                self.partial = Some(PartialWords {
                    utterance_id: *utterance_id,
                    start_s: Some(*start_s),
                    text: String::new(),
                });
            }
            Event::Partial { utterance_id, text } => match &mut self.partial {
                Some(partial) if partial.utterance_id == *utterance_id => {
                    partial.text.clone_from(text);
                }
                _ => {
                    self.partial = Some(PartialWords {
                        utterance_id: *utterance_id,
                        start_s: None,
                        text: text.clone(),
                    });
                }
            },
            Event::SpeechEnded { utterance_id, .. } => {
                if self.open_utterance_id == Some(*utterance_id) {
                    self.open_utterance_id = None;
                }
            }
            Event::Discarded { utterance_id } => {
                if self.open_utterance_id == Some(*utterance_id) {
                    self.open_utterance_id = None;
                }
                self.clear_partial_of(*utterance_id);
            }
            Event::Transcript {
                utterance_id,
                text,
                start_s,
                ..
            } => {
                self.clear_partial_of(*utterance_id);
                self.push_said(Said::Person {
                    start_s: *start_s,
                    text: text.clone(),
                });
            }
            Event::Sketch {
                image_path,
                source,
                description,
                labels,
            } => {
                self.sketch = Some(SketchInfo {
                    image_path: image_path.clone(),
                    source: source.clone(),
                    description: description.clone(),
                    labels: labels.clone(),
                });
            }
            Event::SketchDescribed {
                image_path,
                description,
                labels,
            } => {
                if let Some(sketch) = self
                    .sketch
                    .as_mut()
                    .filter(|sketch| &sketch.image_path == image_path)
                {
                    sketch.description = Some(description.clone());
                    sketch.labels = labels.clone();
                }
            }
            Event::TurnStarted { turn_idx, .. } => {
                self.turn = Some(OpenTurn {
                    turn_idx: *turn_idx,
                    phase: TurnPhase::Thinking,
                });
            }
            Event::Speaking { turn_idx, text, .. } => {
                self.turn = Some(OpenTurn {
                    turn_idx: *turn_idx,
                    phase: TurnPhase::Speaking,
                });
                self.push_said(Said::Assistant { text: text.clone() });
            }
            Event::Understood {
                needs,
                coverage,
                n_created,
                n_updated,
                ..
            } => {
                self.understanding = Some(Understanding {
                    needs: needs.clone(),
                    coverage: *coverage,
                    n_created: *n_created,
                    n_updated: *n_updated,
                });
            }
            Event::Reply {
                turn_idx,
                question,
                voice_to_voice_ms,
                latency,
                ..
            } => {
                if !question.trim().is_empty() {
                    self.question = Some(question.clone());
                }
                self.reply_timing = Some(ReplyTiming {
                    turn_idx: *turn_idx,
                    voice_to_voice_ms: *voice_to_voice_ms,
                    latency: latency.clone(),
                });
                // A reply that said nothing has nothing left to play.
                if let Some(turn) = self.turn
                    && turn.turn_idx == *turn_idx
                    && turn.phase == TurnPhase::Thinking
                {
                    self.turn = None;
                }
            }
            Event::ReplyPlayed { turn_idx, .. } => {
                if self.turn.is_some_and(|turn| turn.turn_idx == *turn_idx) {
                    self.turn = None;
                }
            }
            Event::BriefWritten { path } => self.brief_path = Some(path.clone()),
            Event::StageError { stage, message } => {
                // Hearing failed: the words of a closed utterance will not come.
                if stage == "hear" && self.open_utterance_id.is_none() {
                    self.partial = None;
                }
                self.problem = Some(Problem {
                    source: ProblemSource::Stage,
                    severity: Severity::Error,
                    text: format!("{stage}: {message}"),
                });
            }
            Event::SamplesDropped { n_dropped_samples } => {
                self.n_dropped_samples = *n_dropped_samples;
            }
            Event::Warning { text } => self.warnings.push(text.clone()),
            Event::Stopping { .. } => self.quitting = true,
            Event::Ended {
                reason,
                n_turns,
                n_utterances,
                n_dropped_samples,
            } => {
                self.n_dropped_samples = *n_dropped_samples;
                self.end = Some(EndInfo {
                    reason: reason.clone(),
                    n_turns: *n_turns,
                    n_utterances: *n_utterances,
                    n_dropped_samples: *n_dropped_samples,
                });
                self.open_utterance_id = None;
                self.partial = None;
                self.turn = None;
            }
        }
    }

    /// True once an `Ended` event arrived.
    pub(crate) fn is_ended(&self) -> bool {
        self.end.is_some()
    }

    /// True when the session ended by itself (its audio ran out, hearing stopped), not
    /// because the person quit: the last screen then stays until a key is pressed, so it
    /// can be read.
    fn holds_last_screen(&self) -> bool {
        !self.quitting
            && self
                .end
                .as_ref()
                .is_some_and(|end| end.reason != QUIT_REASON)
    }

    /// Keeps a device's latest state and reports a missing or failed one.
    fn apply_device(&mut self, device: DeviceKind, status: DeviceStatus, detail: &str) {
        match self.devices.iter_mut().find(|entry| entry.device == device) {
            Some(entry) => {
                entry.status = status;
                detail.clone_into(&mut entry.detail);
            }
            None => self.devices.push(DeviceEntry {
                device,
                status,
                detail: detail.to_owned(),
            }),
        }
        let source = ProblemSource::Device(device);
        match status {
            DeviceStatus::Ready => {
                if self
                    .problem
                    .as_ref()
                    .is_some_and(|problem| problem.source == source)
                {
                    self.problem = None;
                }
            }
            DeviceStatus::Missing | DeviceStatus::Failed => {
                let severity = if status == DeviceStatus::Missing {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                self.problem = Some(Problem {
                    source,
                    severity,
                    text: format!("{} {}: {detail}", device_name(device), status_word(status)),
                });
            }
        }
    }

    /// Forgets the partial words of `utterance_id`, once its transcript came or it was dropped.
    fn clear_partial_of(&mut self, utterance_id: u64) {
        if self
            .partial
            .as_ref()
            .is_some_and(|partial| partial.utterance_id == utterance_id)
        {
            self.partial = None;
        }
    }

    /// Adds a line to the conversation, forgetting the oldest beyond the limit.
    fn push_said(&mut self, said: Said) {
        if self.said.len() >= MAX_SAID_ENTRIES {
            self.said.pop_front();
        }
        self.said.push_back(said);
    }

    /// What the session is doing now.
    fn state(&self) -> SessionState {
        if self.end.is_some() {
            SessionState::Ended
        } else if self.session.is_none() {
            SessionState::Starting
        } else if self.open_utterance_id.is_some() {
            SessionState::Hearing
        } else {
            match self.turn.map(|turn| turn.phase) {
                Some(TurnPhase::Speaking) => SessionState::Speaking,
                Some(TurnPhase::Thinking) => SessionState::Thinking,
                None => SessionState::Listening,
            }
        }
    }
}

/// The end reason the session gives when the person quit (`session::live`).
const QUIT_REASON: &str = "quit";

/// The short name of a device.
fn device_name(device: DeviceKind) -> &'static str {
    match device {
        DeviceKind::Microphone => "mic",
        DeviceKind::Camera => "camera",
        DeviceKind::Speaker => "speaker",
        DeviceKind::AudioFile => "audio file",
        DeviceKind::ImageFiles => "images",
        DeviceKind::WavFile => "wav file",
    }
}

/// The word for a device's state.
fn status_word(status: DeviceStatus) -> &'static str {
    match status {
        DeviceStatus::Ready => "ready",
        DeviceStatus::Missing => "missing",
        DeviceStatus::Failed => "failed",
    }
}
