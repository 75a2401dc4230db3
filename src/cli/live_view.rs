//! The live terminal view of `ideadesk listen`: one screen that shows what the session hears,
//! understands and says while the person talks about their idea.
//!
//! The session reports everything as [`EventRecord`]s; [`LiveView`] folds them into the few
//! things a person at the desk wants to see at a glance (what state the session is in, what
//! was heard and said, the needs and how complete they are, the last sketch, the question
//! asked, how fast the turn was, and what went wrong), and draws them with ratatui. Keeping
//! the state separate from the terminal lets the tests render into a `TestBackend`. [`run`]
//! owns the real terminal: it drains the events, redraws when something changed, and turns
//! key presses into [`Control`]s for the session.

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{
    self as term_event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers,
};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::{DefaultTerminal, Frame};

use crate::session::events::{
    Control, DeviceKind, DeviceStatus, Event, EventRecord, NeedCard, TurnLatency,
};

/// The shortest time between two redraws (ms); events that arrive faster are batched.
const REDRAW_INTERVAL_MS: u64 = 50;

/// How long one wait for a key press lasts before the events are drained again (ms).
const KEY_POLL_TIMEOUT_MS: u64 = 50;

/// How many lines of the conversation are kept; older ones scroll out of the view anyway.
const MAX_SAID_ENTRIES: usize = 200;

/// The slots a need has; a card's coverage is the filled share of these.
const NEED_SLOTS: usize = 6;

/// The cells of the overall coverage bar.
const OVERALL_BAR_CELLS: usize = 12;

/// The rows of the header: title and state, inputs and outputs, devices.
const HEADER_ROWS: u16 = 3;

/// The most rows the question, latency and status lines may wrap onto.
const MAX_FOOTER_LINE_ROWS: u16 = 2;

/// The rows of the sketch box, borders included.
const SKETCH_ROWS: u16 = 6;

/// Below this height only the title row, the question and the keys are drawn.
const MIN_FULL_SCREEN_ROWS: u16 = 12;

/// The rows the needs box keeps before the sketch box is given room, borders included.
const MIN_NEEDS_ROWS: u16 = 5;

/// The fewest cells of a device's detail worth showing; a shorter cut leaves it out.
const MIN_DETAIL_CELLS: usize = 6;

/// Below this width the transcript and the needs are stacked instead of side by side.
const MIN_SIDE_BY_SIDE_WIDTH: u16 = 60;

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

impl SessionState {
    /// The word the header shows.
    fn word(self) -> &'static str {
        match self {
            SessionState::Starting => "starting…",
            SessionState::Listening => "listening",
            SessionState::Hearing => "hearing…",
            SessionState::Thinking => "thinking…",
            SessionState::Speaking => "speaking",
            SessionState::Ended => "ended",
        }
    }

    /// The word's style.
    fn style(self) -> Style {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        match self {
            SessionState::Starting => Style::new().fg(Color::DarkGray),
            SessionState::Listening => bold.fg(Color::Green),
            SessionState::Hearing => bold.fg(Color::Cyan),
            SessionState::Thinking => bold.fg(Color::Yellow),
            SessionState::Speaking => bold.fg(Color::Magenta),
            SessionState::Ended => bold.fg(Color::DarkGray),
        }
    }
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
            Event::Ended {
                reason,
                n_turns,
                n_utterances,
            } => {
                self.end = Some(EndInfo {
                    reason: reason.clone(),
                    n_turns: *n_turns,
                    n_utterances: *n_utterances,
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

    /// Draws the whole screen.
    pub(crate) fn render(&self, frame: &mut Frame) {
        let area = frame.area();
        if area.height < MIN_FULL_SCREEN_ROWS {
            self.render_compact(frame, area);
            return;
        }
        let question = self.question_line();
        let latency = self.latency_lines(area.width);
        let n_latency_rows = u16::try_from(latency.len())
            .unwrap_or(MAX_FOOTER_LINE_ROWS)
            .clamp(1, MAX_FOOTER_LINE_ROWS);
        let status = self.status_line();
        let [
            header,
            body,
            question_area,
            latency_area,
            status_area,
            footer,
        ] = Layout::vertical([
            Constraint::Length(HEADER_ROWS),
            Constraint::Min(0),
            Constraint::Length(rows_for(&question, area.width)),
            Constraint::Length(n_latency_rows),
            Constraint::Length(rows_for(&status, area.width)),
            Constraint::Length(1),
        ])
        .areas(area);

        self.render_header(frame, header);
        self.render_body(frame, body);
        let wrap = Wrap { trim: true };
        frame.render_widget(Paragraph::new(question).wrap(wrap), question_area);
        frame.render_widget(Paragraph::new(latency), latency_area);
        frame.render_widget(Paragraph::new(status).wrap(wrap), status_area);
        frame.render_widget(Paragraph::new(self.footer_line()), footer);
    }

    /// The screen of a very short terminal: the title row with the state, the question, the keys.
    fn render_compact(&self, frame: &mut Frame, area: Rect) {
        let [title_row, question_area, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(area);
        self.render_title_row(frame, title_row);
        frame.render_widget(
            Paragraph::new(self.question_line()).wrap(Wrap { trim: true }),
            question_area,
        );
        frame.render_widget(Paragraph::new(self.footer_line()), footer);
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

    /// The header: title, mode and state; inputs and outputs; devices.
    fn render_header(&self, frame: &mut Frame, area: Rect) {
        let [title_row, io_row, devices_row] =
            Layout::vertical([Constraint::Length(1); 3]).areas(area);
        self.render_title_row(frame, title_row);
        let dim = Style::new().fg(Color::DarkGray);
        let io_line = match &self.session {
            Some(session) => Line::from(vec![
                Span::styled("audio ", dim),
                Span::raw(session.audio.clone()),
                Span::styled(" · frames ", dim),
                Span::raw(session.frames.clone()),
                Span::styled(" · sink ", dim),
                Span::raw(session.sink.clone()),
            ]),
            None => Line::styled("waiting for the session to start…", dim),
        };
        frame.render_widget(Paragraph::new(io_line), io_row);
        frame.render_widget(
            Paragraph::new(self.devices_line(usize::from(devices_row.width))),
            devices_row,
        );
    }

    /// The title row: session, mode, and the state word at the right edge (which stays whole
    /// when the row is too narrow for everything).
    fn render_title_row(&self, frame: &mut Frame, area: Rect) {
        let state = self.state();
        let state_text = format!(" {} ", state.word());
        let state_width = u16::try_from(text_width(&state_text)).unwrap_or(u16::MAX);
        let [title_area, state_area] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(state_width)]).areas(area);
        let dim = Style::new().fg(Color::DarkGray);
        let mut title = vec![Span::styled(
            " ideadesk ",
            Style::new()
                .add_modifier(Modifier::BOLD)
                .add_modifier(Modifier::REVERSED),
        )];
        match &self.session {
            Some(session) => {
                let talk_mode = if session.push_to_talk {
                    "push-to-talk"
                } else {
                    "hands-free"
                };
                let barge_in = if session.barge_in {
                    "barge-in on"
                } else {
                    "barge-in off"
                };
                title.push(Span::styled(
                    format!(" session {}", session.session_id),
                    Style::new().add_modifier(Modifier::BOLD),
                ));
                title.push(Span::raw(format!(" · {talk_mode} · {barge_in}")));
            }
            None => title.push(Span::styled(" session –", dim)),
        }
        frame.render_widget(Paragraph::new(Line::from(title)), title_area);
        frame.render_widget(
            Paragraph::new(Line::styled(state_text, state.style())),
            state_area,
        );
    }

    /// One short entry per device seen, coloured by its state; the details are shortened so
    /// that every entry fits in `width` cells.
    fn devices_line(&self, width: usize) -> Line<'static> {
        let dim = Style::new().fg(Color::DarkGray);
        if self.devices.is_empty() {
            return Line::styled("devices: none reported yet", dim);
        }
        let separator = " │ ";
        let mut entries = Vec::with_capacity(self.devices.len());
        for entry in &self.devices {
            let head = format!(
                "{} {}",
                device_name(entry.device),
                status_word(entry.status)
            );
            let detail = if entry.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", entry.detail)
            };
            let colour = match entry.status {
                DeviceStatus::Ready => Color::Green,
                DeviceStatus::Missing => Color::Yellow,
                DeviceStatus::Failed => Color::Red,
            };
            entries.push((head, detail, colour));
        }
        let wants: Vec<usize> = entries
            .iter()
            .map(|(head, detail, _)| text_width(head) + text_width(detail))
            .collect();
        let n_separator_cells = text_width(separator) * (entries.len() - 1);
        let shares = fair_shares(&wants, width.saturating_sub(n_separator_cells));
        let mut spans = Vec::new();
        for (entry_idx, ((head, detail, colour), share)) in
            entries.into_iter().zip(shares).enumerate()
        {
            if entry_idx > 0 {
                spans.push(Span::styled(separator, dim));
            }
            let detail_room = share.saturating_sub(text_width(&head));
            spans.push(Span::styled(
                head,
                Style::new().fg(colour).add_modifier(Modifier::BOLD),
            ));
            // A detail cut to a sliver says nothing; it is left out instead.
            if text_width(&detail) <= detail_room {
                spans.push(Span::styled(detail, Style::new().fg(colour)));
            } else if detail_room >= MIN_DETAIL_CELLS {
                spans.push(Span::styled(
                    truncate_end(&detail, detail_room),
                    Style::new().fg(colour),
                ));
            }
        }
        Line::from(spans)
    }

    /// The body: the transcript beside (or above) the needs and the last sketch.
    fn render_body(&self, frame: &mut Frame, area: Rect) {
        let [conversation_area, side_area] = if area.width >= MIN_SIDE_BY_SIDE_WIDTH {
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
        } else {
            Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(area)
        };
        let sketch_rows = if side_area.height >= SKETCH_ROWS + MIN_NEEDS_ROWS {
            SKETCH_ROWS
        } else {
            0
        };
        let [needs_area, sketch_area] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(sketch_rows)])
                .areas(side_area);
        self.render_transcript(frame, conversation_area);
        self.render_needs(frame, needs_area);
        self.render_sketch(frame, sketch_area);
    }

    /// The conversation's last lines, newest at the bottom, with the partial words dimmed.
    fn render_transcript(&self, frame: &mut Frame, area: Rect) {
        let block = Block::bordered().title(" transcript ");
        let inner = block.inner(area);
        let width = usize::from(inner.width);
        let you_style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
        let assistant_style = Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD);
        let mut lines: Vec<Line<'static>> = Vec::new();
        for said in &self.said {
            let (prefix, text, text_style) = match said {
                Said::Person { start_s, text } => (
                    vec![
                        Span::styled(
                            format!("{} ", clock(*start_s)),
                            Style::new().fg(Color::DarkGray),
                        ),
                        Span::styled("you: ", you_style),
                    ],
                    text.as_str(),
                    Style::new(),
                ),
                Said::Assistant { text } => (
                    vec![Span::styled("ideadesk: ", assistant_style)],
                    text.as_str(),
                    Style::new().fg(Color::Magenta),
                ),
            };
            lines.extend(hanging_lines(prefix, text, text_style, width));
        }
        if let Some(partial) = &self.partial {
            let dim = Style::new()
                .fg(Color::DarkGray)
                .add_modifier(Modifier::ITALIC);
            let start = partial.start_s.map_or_else(|| "     ".to_owned(), clock);
            let text = if partial.text.trim().is_empty() {
                "…".to_owned()
            } else {
                format!("{} …", partial.text.trim())
            };
            let prefix = vec![
                Span::styled(format!("{start} "), Style::new().fg(Color::DarkGray)),
                Span::styled("you: ", dim),
            ];
            lines.extend(hanging_lines(prefix, &text, dim, width));
        }
        if lines.is_empty() {
            let hint = match &self.session {
                Some(session) if session.push_to_talk => "press space and talk about your idea",
                _ => "talk about your idea; hold up a sketch when it helps",
            };
            lines.push(Line::styled(hint, Style::new().fg(Color::DarkGray)));
        }
        let n_visible = usize::from(inner.height);
        let first_visible = lines.len().saturating_sub(n_visible);
        let visible: Vec<Line<'static>> = lines.split_off(first_visible);
        frame.render_widget(Paragraph::new(visible).block(block), area);
    }

    /// The need cards of the latest understanding, with the overall coverage.
    fn render_needs(&self, frame: &mut Frame, area: Rect) {
        let title = match &self.understanding {
            Some(understanding) => {
                format!(" needs · coverage {}% ", percent(understanding.coverage))
            }
            None => " needs ".to_owned(),
        };
        let block = Block::bordered().title(title);
        let inner = block.inner(area);
        let width = usize::from(inner.width);
        let height = usize::from(inner.height);
        let dim = Style::new().fg(Color::DarkGray);
        let Some(understanding) = &self.understanding else {
            let lines = vec![Line::styled("no needs yet", dim)];
            frame.render_widget(Paragraph::new(lines).block(block), area);
            return;
        };

        let overall = vec![
            Span::styled("all ", dim),
            Span::styled(
                meter(understanding.coverage, OVERALL_BAR_CELLS),
                coverage_style(understanding.coverage),
            ),
            Span::raw(format!(" {}%", percent(understanding.coverage))),
        ];
        let counts = vec![Span::styled(
            format!(
                "{} new, {} updated",
                understanding.n_created, understanding.n_updated
            ),
            dim,
        )];
        let mut lines = pack_groups(vec![overall, counts], &Span::styled(" · ", dim), width);
        if understanding.needs.is_empty() {
            lines.push(Line::styled("no needs yet", dim));
        }
        for (card_idx, card) in understanding.needs.iter().enumerate() {
            let card_lines = need_card_lines(card, width);
            let n_later = understanding.needs.len() - card_idx - 1;
            let n_reserved = usize::from(n_later > 0);
            let fits = lines.len() + card_lines.len() + n_reserved <= height;
            // The first card is shown even when it has to be clipped.
            if !fits && card_idx > 0 {
                let n_hidden = understanding.needs.len() - card_idx;
                lines.push(Line::styled(format!("… {n_hidden} more"), dim));
                break;
            }
            lines.extend(card_lines);
        }
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }

    /// The last sketch: where it came from, where it is, what the vision model saw.
    fn render_sketch(&self, frame: &mut Frame, area: Rect) {
        let block = Block::bordered().title(" sketch ");
        let inner = block.inner(area);
        let width = usize::from(inner.width);
        let dim = Style::new().fg(Color::DarkGray);
        let Some(sketch) = &self.sketch else {
            let lines = vec![Line::styled("no sketch yet", dim)];
            frame.render_widget(Paragraph::new(lines).block(block), area);
            return;
        };
        let path_room = width.saturating_sub(text_width(&sketch.source) + text_width(" · "));
        let mut lines = vec![Line::from(vec![
            Span::styled(
                sketch.source.clone(),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::styled(" · ", dim),
            Span::styled(truncate_start(&sketch.image_path, path_room), dim),
        ])];
        match &sketch.description {
            Some(description) if !description.trim().is_empty() => {
                lines.extend(wrap_words(description, width).into_iter().map(Line::raw));
            }
            _ => lines.push(Line::styled(
                "undescribed",
                dim.add_modifier(Modifier::ITALIC),
            )),
        }
        if !sketch.labels.is_empty() {
            let labels = format!("labels: {}", sketch.labels.join(", "));
            lines.extend(
                wrap_words(&labels, width)
                    .into_iter()
                    .map(|row| Line::styled(row, dim)),
            );
        }
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }

    /// The question the assistant asked last.
    fn question_line(&self) -> Line<'static> {
        let label = Span::styled(
            "asked: ",
            Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
        );
        match &self.question {
            Some(question) => Line::from(vec![
                label,
                Span::styled(question.clone(), Style::new().add_modifier(Modifier::BOLD)),
            ]),
            None => Line::from(vec![
                label,
                Span::styled("nothing yet", Style::new().fg(Color::DarkGray)),
            ]),
        }
    }

    /// The last turn's voice-to-voice time and its parts, packed into lines of `width`
    /// cells without splitting a part from its number.
    fn latency_lines(&self, width: u16) -> Vec<Line<'static>> {
        let dim = Style::new().fg(Color::DarkGray);
        let Some(timing) = &self.reply_timing else {
            return vec![Line::styled("latency: no turn yet", dim)];
        };
        let latency = &timing.latency;
        let parts = [
            ("end of turn", Some(latency.end_of_turn_wait_ms)),
            ("stt", Some(latency.stt_ms)),
            ("llm token", latency.llm_first_token_ms),
            ("llm sentence", latency.llm_first_sentence_ms),
            ("tts chunk", latency.tts_first_chunk_ms),
            ("extraction", latency.extraction_ms),
        ];
        let mut groups = vec![vec![
            Span::styled(
                format!("{} ms", milliseconds(Some(timing.voice_to_voice_ms))),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!(" voice→voice (turn {})", timing.turn_idx), dim),
        ]];
        for (label, ms) in parts {
            groups.push(vec![
                Span::styled(format!("{label} "), dim),
                Span::raw(milliseconds(ms)),
            ]);
        }
        pack_groups(groups, &Span::styled(" · ", dim), usize::from(width))
    }

    /// The end, the brief's path and the latest problem.
    fn status_line(&self) -> Line<'static> {
        let mut spans = Vec::new();
        let separator = Span::styled(" · ", Style::new().fg(Color::DarkGray));
        if let Some(end) = &self.end {
            spans.push(Span::styled(
                format!(
                    "ended: {} · {} turns · {} utterances",
                    end.reason, end.n_turns, end.n_utterances
                ),
                Style::new().add_modifier(Modifier::BOLD),
            ));
        }
        if let Some(path) = &self.brief_path {
            if !spans.is_empty() {
                spans.push(separator.clone());
            }
            spans.push(Span::styled(
                format!("brief: {path}"),
                Style::new().fg(Color::Green),
            ));
        }
        if let Some(problem) = &self.problem {
            if !spans.is_empty() {
                spans.push(separator);
            }
            let colour = match problem.severity {
                Severity::Warning => Color::Yellow,
                Severity::Error => Color::Red,
            };
            spans.push(Span::styled(
                format!("⚠ {}", problem.text),
                Style::new().fg(colour),
            ));
        }
        if spans.is_empty() {
            return Line::styled("no warnings", Style::new().fg(Color::DarkGray));
        }
        Line::from(spans)
    }

    /// The keys, or what happens after quitting.
    fn footer_line(&self) -> Line<'static> {
        let dim = Style::new().fg(Color::DarkGray);
        if self.holds_last_screen() {
            return Line::styled("session ended · press any key to leave", dim);
        }
        if self.end.is_some() {
            return Line::styled("session ended", dim);
        }
        if self.quitting {
            return Line::styled(
                "quitting… writing the brief and waiting for the session to end",
                Style::new().fg(Color::Yellow),
            );
        }
        let key = Style::new().add_modifier(Modifier::BOLD);
        Line::from(vec![
            Span::styled("space", key),
            Span::styled(" talk · ", dim),
            Span::styled("s", key),
            Span::styled(" snapshot · ", dim),
            Span::styled("e", key),
            Span::styled(" export brief · ", dim),
            Span::styled("q", key),
            Span::styled(" quit", dim),
        ])
    }
}

/// Maps a key press to a control: space → ToggleTalk, s → Snapshot, e → ExportBrief, q / Esc /
/// Ctrl-C → Quit; only KeyEventKind::Press counts.
pub(crate) fn control_for_key(key: &KeyEvent) -> Option<Control> {
    if key.kind != KeyEventKind::Press {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return match key.code {
            KeyCode::Char('c' | 'C') => Some(Control::Quit),
            _ => None,
        };
    }
    if key
        .modifiers
        .intersects(KeyModifiers::ALT | KeyModifiers::SUPER | KeyModifiers::META)
    {
        return None;
    }
    match key.code {
        KeyCode::Char(' ') => Some(Control::ToggleTalk),
        KeyCode::Char('s' | 'S') => Some(Control::Snapshot),
        KeyCode::Char('e' | 'E') => Some(Control::ExportBrief),
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => Some(Control::Quit),
        _ => None,
    }
}

/// Runs the terminal UI until the session ends: `ratatui::try_init()` (which installs the panic
/// hook that restores the terminal), then loop { drain `events` with try_recv and apply; redraw
/// at most every 50 ms when something changed; poll crossterm for key events with a ~50 ms
/// timeout and send the control; after Quit keep drawing until `Ended` arrives or the channel
/// disconnects }, and always `ratatui::restore()` before returning, also on error.
pub(crate) fn run(events: Receiver<EventRecord>, controls: Sender<Control>) -> io::Result<()> {
    // `try_init` rather than `init`: the same set-up and panic hook, but an error instead of
    // a panic when the terminal cannot be put into raw mode.
    let result =
        ratatui::try_init().and_then(|mut terminal| run_loop(&mut terminal, &events, &controls));
    ratatui::restore();
    result
}

/// The body of [`run`], between setting the terminal up and restoring it.
fn run_loop(
    terminal: &mut DefaultTerminal,
    events: &Receiver<EventRecord>,
    controls: &Sender<Control>,
) -> io::Result<()> {
    let redraw_interval = Duration::from_millis(REDRAW_INTERVAL_MS);
    let key_poll_timeout = Duration::from_millis(KEY_POLL_TIMEOUT_MS);
    let mut view = LiveView::new();
    let mut changed = true;
    let mut last_draw: Option<Instant> = None;
    loop {
        let mut disconnected = false;
        loop {
            match events.try_recv() {
                Ok(record) => {
                    view.apply(&record);
                    changed = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    disconnected = true;
                    break;
                }
            }
        }
        let finished = disconnected || view.is_ended();
        let redraw_due = last_draw.is_none_or(|drawn_at| drawn_at.elapsed() >= redraw_interval);
        if changed && (redraw_due || finished) {
            terminal.draw(|frame| view.render(frame))?;
            changed = false;
            last_draw = Some(Instant::now());
        }
        // A held screen outlives the session's channel, which closes right after `Ended`.
        if finished && !view.holds_last_screen() {
            return Ok(());
        }
        if term_event::poll(key_poll_timeout)? {
            if finished {
                // The held last screen: any key leaves, a resize redraws.
                match term_event::read()? {
                    term_event::Event::Key(key) if key.kind == KeyEventKind::Press => {
                        return Ok(());
                    }
                    term_event::Event::Resize(..) => changed = true,
                    _ => {}
                }
                continue;
            }
            match term_event::read()? {
                term_event::Event::Key(key) => {
                    if let Some(control) = control_for_key(&key) {
                        // A session that stopped listening is about to disconnect the
                        // events, which ends this loop.
                        let _ = controls.send(control);
                        if control == Control::Quit && !view.quitting {
                            view.quitting = true;
                            changed = true;
                        }
                    }
                }
                term_event::Event::Resize(..) => changed = true,
                _ => {}
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

/// A need's lines: id, meter and evidence; the statement; the missing slots.
fn need_card_lines(card: &NeedCard, width: usize) -> Vec<Line<'static>> {
    let n_filled = filled_slots(card.coverage);
    let dim = Style::new().fg(Color::DarkGray);
    let quotes = if card.n_evidence == 1 {
        "1 quote".to_owned()
    } else {
        format!("{} quotes", card.n_evidence)
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{} ", card.id),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            meter(card.coverage, NEED_SLOTS),
            coverage_style(card.coverage),
        ),
        Span::raw(format!(" {n_filled}/{NEED_SLOTS}")),
        Span::styled(format!(" · {quotes}"), dim),
    ])];
    let indent = vec![Span::raw("  ")];
    lines.extend(hanging_lines(
        indent.clone(),
        &card.statement,
        Style::new(),
        width,
    ));
    if card.missing.is_empty() {
        lines.extend(hanging_lines(
            indent,
            "complete",
            Style::new().fg(Color::Green),
            width,
        ));
    } else {
        let missing = format!("missing: {}", card.missing.join(", "));
        lines.extend(hanging_lines(
            indent,
            &missing,
            Style::new().fg(Color::Yellow),
            width,
        ));
    }
    lines
}

/// A fraction as 0–1, with anything not a number read as nothing.
fn unit_fraction(fraction: f64) -> f64 {
    if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    }
}

/// A fraction as a whole percentage.
fn percent(fraction: f64) -> u32 {
    // The fraction is clamped to 0–1, so the product fits.
    (unit_fraction(fraction) * 100.0).round() as u32
}

/// How many of a need's slots a coverage fills.
fn filled_slots(coverage: f64) -> usize {
    // The coverage is clamped to 0–1, so the product fits.
    (unit_fraction(coverage) * NEED_SLOTS as f64).round() as usize
}

/// A text bar of `n_cells` cells, filled by `fraction`: `[████░░]`.
fn meter(fraction: f64, n_cells: usize) -> String {
    // The fraction is clamped to 0–1, so the product is at most `n_cells`.
    let n_filled = (unit_fraction(fraction) * n_cells as f64).round() as usize;
    let n_filled = n_filled.min(n_cells);
    format!(
        "[{}{}]",
        "█".repeat(n_filled),
        "░".repeat(n_cells - n_filled)
    )
}

/// Red for little coverage, yellow for some, green for most.
fn coverage_style(fraction: f64) -> Style {
    let fraction = unit_fraction(fraction);
    let colour = if fraction >= 0.66 {
        Color::Green
    } else if fraction >= 0.33 {
        Color::Yellow
    } else {
        Color::Red
    };
    Style::new().fg(colour)
}

/// Milliseconds rounded to whole ones, or `–` for a part that did not happen.
fn milliseconds(ms: Option<f64>) -> String {
    match ms {
        Some(ms) if ms.is_finite() => format!("{ms:.0}"),
        _ => "–".to_owned(),
    }
}

/// Seconds on the audio clock as `mm:ss`.
fn clock(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "--:--".to_owned();
    }
    // Finite and not negative, so the cast only drops the fraction (and saturates).
    let whole_s = seconds as u64;
    format!("{:02}:{:02}", whole_s / 60, whole_s % 60)
}

/// The display width of a text, in terminal cells.
fn text_width(text: &str) -> usize {
    Span::raw(text).width()
}

/// Cuts `text` to at most `max_width` cells, ending it with `…` when something was cut.
fn truncate_end(text: &str, max_width: usize) -> String {
    if text_width(text) <= max_width {
        return text.to_owned();
    }
    let mut kept = String::new();
    let mut kept_width = 0;
    let mut buffer = [0_u8; 4];
    for ch in text.chars() {
        let ch_width = text_width(ch.encode_utf8(&mut buffer));
        // One cell stays free for the ellipsis.
        if kept_width + ch_width + 1 > max_width {
            break;
        }
        kept.push(ch);
        kept_width += ch_width;
    }
    if max_width > 0 {
        kept.push('…');
    }
    kept
}

/// Cuts `text` to at most `max_width` cells from its start, beginning it with `…` when
/// something was cut, so that a path keeps its file name.
fn truncate_start(text: &str, max_width: usize) -> String {
    if text_width(text) <= max_width {
        return text.to_owned();
    }
    let mut kept: Vec<char> = Vec::new();
    let mut kept_width = 0;
    let mut buffer = [0_u8; 4];
    for ch in text.chars().rev() {
        let ch_width = text_width(ch.encode_utf8(&mut buffer));
        // One cell stays free for the ellipsis.
        if kept_width + ch_width + 1 > max_width {
            break;
        }
        kept.push(ch);
        kept_width += ch_width;
    }
    let mut cut = String::new();
    if max_width > 0 {
        cut.push('…');
    }
    cut.extend(kept.into_iter().rev());
    cut
}

/// Shares `total` cells among entries that want `wants` cells each: an entry that wants no
/// more than an even share of what is left gets what it wants, and the others split the rest
/// evenly.
fn fair_shares(wants: &[usize], total: usize) -> Vec<usize> {
    let mut shares = vec![0; wants.len()];
    let mut open: Vec<usize> = (0..wants.len()).collect();
    let mut n_cells_left = total;
    while !open.is_empty() {
        let even_share = n_cells_left / open.len();
        let (satisfied, unsatisfied): (Vec<usize>, Vec<usize>) = open
            .iter()
            .partition(|&&entry_idx| wants[entry_idx] <= even_share);
        if satisfied.is_empty() {
            for entry_idx in unsatisfied {
                shares[entry_idx] = even_share;
            }
            break;
        }
        for entry_idx in satisfied {
            shares[entry_idx] = wants[entry_idx];
            n_cells_left -= wants[entry_idx];
        }
        open = unsatisfied;
    }
    shares
}

/// The rows a line needs when wrapped at `width`, between one and [`MAX_FOOTER_LINE_ROWS`].
fn rows_for(line: &Line, width: u16) -> u16 {
    if width == 0 {
        return 1;
    }
    let n_rows = line.width().div_ceil(usize::from(width));
    u16::try_from(n_rows)
        .unwrap_or(MAX_FOOTER_LINE_ROWS)
        .clamp(1, MAX_FOOTER_LINE_ROWS)
}

/// Packs groups of spans into lines of at most `width` cells, each group kept whole and
/// `separator` between the groups of a line. A group wider than a line gets a line of its own
/// (and is clipped when drawn).
fn pack_groups(
    groups: Vec<Vec<Span<'static>>>,
    separator: &Span<'static>,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut line_width = 0;
    for group in groups {
        let group_width: usize = group.iter().map(Span::width).sum();
        if !spans.is_empty() {
            if line_width + separator.width() + group_width <= width {
                spans.push(separator.clone());
                line_width += separator.width();
            } else {
                lines.push(Line::from(std::mem::take(&mut spans)));
                line_width = 0;
            }
        }
        spans.extend(group);
        line_width += group_width;
    }
    if !spans.is_empty() {
        lines.push(Line::from(spans));
    }
    lines
}

/// Lines of `text` wrapped at `width` cells, the first after `prefix` and the others indented
/// by the prefix's width (unless that leaves too little room).
fn hanging_lines(
    prefix: Vec<Span<'static>>,
    text: &str,
    text_style: Style,
    width: usize,
) -> Vec<Line<'static>> {
    let prefix_width: usize = prefix.iter().map(Span::width).sum();
    let text_room = width.saturating_sub(prefix_width).max(1);
    let mut lines = Vec::new();
    let mut prefix = Some(prefix);
    for row in wrap_words(text, text_room) {
        let mut spans = prefix
            .take()
            .unwrap_or_else(|| vec![Span::raw(" ".repeat(prefix_width))]);
        spans.push(Span::styled(row, text_style));
        lines.push(Line::from(spans));
    }
    lines
}

/// Splits `text` into rows of at most `width` cells at spaces; a word longer than a row is
/// split where the row ends. Gives at least one row when `width` is not zero.
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut rows = Vec::new();
    if width == 0 {
        return rows;
    }
    let mut row = String::new();
    let mut row_width = 0;
    for word in text.split_whitespace() {
        let word_width = text_width(word);
        let gap = usize::from(!row.is_empty());
        if row_width + gap + word_width <= width {
            if gap == 1 {
                row.push(' ');
            }
            row.push_str(word);
            row_width += gap + word_width;
            continue;
        }
        if word_width <= width {
            rows.push(std::mem::take(&mut row));
            row.push_str(word);
            row_width = word_width;
            continue;
        }
        // The word is wider than a row: it starts on this row when there is room for a
        // space and one of its characters, and is cut where each row ends.
        if !row.is_empty() {
            if row_width + 2 <= width {
                row.push(' ');
                row_width += 1;
            } else {
                rows.push(std::mem::take(&mut row));
                row_width = 0;
            }
        }
        let mut buffer = [0_u8; 4];
        for ch in word.chars() {
            let ch_width = text_width(ch.encode_utf8(&mut buffer));
            if row_width + ch_width > width && !row.is_empty() {
                rows.push(std::mem::take(&mut row));
                row_width = 0;
            }
            row.push(ch);
            row_width += ch_width;
        }
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::KeyEventState;

    /// Feeds `events` (a tenth of a second apart) into a fresh view, renders it on a
    /// `width`×`height` test terminal, and checks that every text of `present` is on the
    /// screen and none of `absent` is. Returns the screen's rows for further checks.
    fn check(
        events: &[Event],
        width: u16,
        height: u16,
        present: &[&str],
        absent: &[&str],
    ) -> Vec<String> {
        let mut view = LiveView::new();
        for (event_idx, event) in events.iter().enumerate() {
            view.apply(&EventRecord {
                at_ms: 100.0 * event_idx as f64,
                event: event.clone(),
            });
        }
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
        terminal.draw(|frame| view.render(frame)).expect("draws");
        let buffer = terminal.backend().buffer();
        let rows: Vec<String> = (0..buffer.area.height)
            .map(|y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect()
            })
            .collect();
        let screen = rows.join("\n");
        for text in present {
            assert!(screen.contains(text), "{text:?} missing from\n{screen}");
        }
        for text in absent {
            assert!(
                !screen.contains(text),
                "{text:?} should not be on\n{screen}"
            );
        }
        rows
    }

    fn started(push_to_talk: bool) -> Event {
        Event::Started {
            session_id: 12,
            audio: "microphone USB Audio".into(),
            frames: "camera C920".into(),
            sink: "speaker default".into(),
            barge_in: false,
            push_to_talk,
        }
    }

    fn speech_started(utterance_id: u64, start_s: f64) -> Event {
        Event::SpeechStarted {
            utterance_id,
            start_s,
        }
    }

    fn partial(utterance_id: u64, text: &str) -> Event {
        Event::Partial {
            utterance_id,
            text: text.into(),
        }
    }

    fn speech_ended(utterance_id: u64) -> Event {
        Event::SpeechEnded {
            utterance_id,
            end_s: 4.0,
            end_of_turn_wait_ms: 600.0,
        }
    }

    fn transcript(utterance_id: u64, start_s: f64, text: &str) -> Event {
        Event::Transcript {
            utterance_id,
            stored_id: i64::try_from(utterance_id).expect("small id"),
            text: text.into(),
            start_s,
            end_s: start_s + 3.0,
            stt_ms: 150.0,
        }
    }

    fn speaking(turn_idx: usize, sentence_idx: usize, text: &str) -> Event {
        Event::Speaking {
            turn_idx,
            sentence_idx,
            text: text.into(),
            audio_s: 1.5,
        }
    }

    fn card(id: &str, statement: &str, coverage: f64, missing: &[&str]) -> NeedCard {
        NeedCard {
            id: id.into(),
            statement: statement.into(),
            coverage,
            missing: missing.iter().map(|slot| (*slot).to_owned()).collect(),
            n_evidence: 2,
        }
    }

    fn understood(needs: Vec<NeedCard>, coverage: f64) -> Event {
        Event::Understood {
            turn_idx: 0,
            n_created: needs.len(),
            n_updated: 0,
            needs,
            coverage,
            extraction_ms: 1400.0,
        }
    }

    fn reply(turn_idx: usize, question: &str) -> Event {
        Event::Reply {
            turn_idx,
            text: format!("I see. {question}"),
            question: question.into(),
            voice_to_voice_ms: 912.4,
            latency: TurnLatency {
                end_of_turn_wait_ms: 600.0,
                stt_ms: 148.0,
                llm_first_token_ms: Some(81.0),
                llm_first_sentence_ms: Some(213.0),
                tts_first_chunk_ms: None,
                extraction_ms: Some(1402.0),
                turn_ms: 2500.0,
            },
        }
    }

    fn device(device: DeviceKind, status: DeviceStatus, detail: &str) -> Event {
        Event::Device {
            device,
            status,
            detail: detail.into(),
        }
    }

    /// A whole session with one of everything, for the size checks.
    fn full_session() -> Vec<Event> {
        vec![
            started(false),
            device(DeviceKind::Microphone, DeviceStatus::Ready, "USB Audio"),
            device(
                DeviceKind::Camera,
                DeviceStatus::Missing,
                "no camera found; pass --images DIR to use image files",
            ),
            device(
                DeviceKind::Speaker,
                DeviceStatus::Failed,
                "device unplugged",
            ),
            speech_started(1, 1.0),
            partial(1, "I want a lamp"),
            speech_ended(1),
            transcript(
                1,
                1.0,
                "I want a desk lamp that notices when I hold a sketch up and \
                 reads it out to my team, because whiteboards get erased",
            ),
            Event::Sketch {
                image_path: "/home/me/.local/share/ideadesk/sessions/12/sketch-1.png".into(),
                source: "camera".into(),
                description: Some("A box with two arrows pointing to a cloud.".into()),
                labels: vec!["lamp".into(), "cloud".into()],
            },
            Event::TurnStarted {
                turn_idx: 0,
                stored_ids: vec![1],
            },
            speaking(0, 0, "I see."),
            speaking(0, 1, "Who erases the whiteboard most often?"),
            understood(
                vec![
                    card(
                        "N1",
                        "Teams lose whiteboard sketches before they are written down",
                        4.0 / 6.0,
                        &["how often", "workaround"],
                    ),
                    card("N2", "Sketches should be read aloud", 1.0 / 6.0, &["who"]),
                    card("N3", "It must work offline", 1.0, &[]),
                ],
                0.5,
            ),
            reply(0, "Who erases the whiteboard most often?"),
            Event::StageError {
                stage: "see".into(),
                message: "the vision model ran out of memory; try --preset fast".into(),
            },
            Event::BriefWritten {
                path: "/tmp/brief.md".into(),
            },
            speech_started(2, 9.0),
            partial(2, "The facilities staff, every evening at"),
        ]
    }

    #[test]
    fn transcript_and_partial_lifecycle() {
        let mut events = vec![started(false), speech_started(1, 65.2)];
        check(&events, 100, 30, &["01:05 you: …"], &[]);
        events.push(partial(1, "a lamp that"));
        check(&events, 100, 30, &["01:05 you: a lamp that …"], &[]);
        events.push(speech_ended(1));
        check(&events, 100, 30, &["a lamp that …"], &[]);
        events.push(transcript(1, 65.2, "a lamp that reads sketches"));
        check(
            &events,
            100,
            30,
            &["01:05 you: a lamp that reads sketches"],
            &["a lamp that …", "you: …"],
        );
        events.push(speaking(0, 0, "Who would use it?"));
        events.push(speech_started(2, 70.0));
        events.push(partial(2, "my team"));
        let rows = check(
            &events,
            100,
            30,
            &["ideadesk: Who would use it?", "01:10 you: my team …"],
            &[],
        );
        // The conversation keeps its order: the person, the assistant, the partial.
        let row_of = |text: &str| rows.iter().position(|row| row.contains(text));
        assert!(row_of("reads sketches") < row_of("Who would use it?"));
        assert!(row_of("Who would use it?") < row_of("my team"));
        // A discarded burst takes its partial with it.
        events.push(Event::Discarded { utterance_id: 2 });
        check(&events, 100, 30, &["Who would use it?"], &["my team"]);
        // A transcript of another utterance leaves the open partial alone.
        events.push(speech_started(3, 80.0));
        events.push(partial(3, "and also"));
        events.push(transcript(9, 75.0, "an older utterance"));
        check(&events, 100, 30, &["an older utterance", "and also …"], &[]);
    }

    #[test]
    fn long_transcripts_wrap_and_the_newest_stay_in_view() {
        let mut events = vec![started(false)];
        for utterance_id in 1..=40 {
            events.push(transcript(
                utterance_id,
                utterance_id as f64 * 10.0,
                &format!(
                    "utterance number {utterance_id} with quite a few words in it to wrap around"
                ),
            ));
        }
        check(
            &events,
            80,
            24,
            &[
                "utterance number 40",
                "words in it to wrap",
                "           around",
            ],
            &["utterance number 1 "],
        );
    }

    #[test]
    fn need_cards_and_coverage() {
        let events = vec![
            started(false),
            understood(
                vec![
                    card(
                        "N1",
                        "Teams lose whiteboard sketches",
                        4.0 / 6.0,
                        &["how often", "workaround"],
                    ),
                    card("N2", "It must work offline", 1.0, &[]),
                ],
                0.42,
            ),
        ];
        check(
            &events,
            100,
            30,
            &[
                "needs · coverage 42%",
                "N1 [████░░] 4/6",
                "Teams lose whiteboard sketches",
                "missing: how often, workaround",
                "N2 [██████] 6/6",
                "complete",
                "[█████░░░░░░░] 42%",
                "2 new, 0 updated",
            ],
            &["no needs yet"],
        );
        check(&[started(false)], 100, 30, &["no needs yet"], &[]);
        // More cards than rows: the first ones and a count of the rest.
        let many: Vec<NeedCard> = (1..=12)
            .map(|need_idx| card(&format!("N{need_idx}"), "A need", 0.5, &["who"]))
            .collect();
        check(
            &[started(false), understood(many, 0.5)],
            80,
            24,
            &["N1 [███░░░] 3/6", "more"],
            &["N12 "],
        );
        // Coverage that is not a number or out of range still draws.
        check(
            &[
                started(false),
                understood(
                    vec![
                        card("N1", "Odd", f64::NAN, &[]),
                        card("N2", "Over", 7.0, &[]),
                    ],
                    f64::INFINITY,
                ),
            ],
            100,
            30,
            &["N1 [░░░░░░] 0/6", "N2 [██████] 6/6", "coverage 100%"],
            &[],
        );
    }

    #[test]
    fn reply_shows_question_and_latency() {
        let events = vec![
            started(false),
            Event::TurnStarted {
                turn_idx: 0,
                stored_ids: vec![1],
            },
            reply(0, "Who erases the whiteboard most often?"),
        ];
        check(
            &events,
            100,
            30,
            &[
                "asked: Who erases the whiteboard most often?",
                "912 ms voice→voice",
                "end of turn 600",
                "stt 148",
                "llm token 81",
                "llm sentence 213",
                "tts chunk –",
                "extraction 1402",
            ],
            &["latency: no turn yet", "nothing yet"],
        );
        check(
            &[started(false)],
            100,
            30,
            &["latency: no turn yet", "asked: nothing yet"],
            &[],
        );
        // On 80 columns the latency wraps instead of losing its last parts.
        check(
            &events,
            80,
            24,
            &[
                "912 ms voice→voice (turn 0)",
                "tts chunk –",
                "extraction 1402",
            ],
            &[],
        );
    }

    #[test]
    fn devices_and_problems() {
        let events = vec![
            started(false),
            device(DeviceKind::Microphone, DeviceStatus::Ready, "USB Audio"),
            device(DeviceKind::Camera, DeviceStatus::Missing, "no camera found"),
        ];
        check(
            &events,
            100,
            30,
            &[
                "mic ready: USB Audio",
                "camera missing: no camera found",
                "⚠ camera missing: no camera found",
            ],
            &["no warnings"],
        );
        // A device that recovers clears its own warning.
        let mut recovered = events.clone();
        recovered.push(device(DeviceKind::Camera, DeviceStatus::Ready, "C920"));
        check(
            &recovered,
            100,
            30,
            &["camera ready: C920", "no warnings"],
            &["camera missing"],
        );
        let mut failed = recovered;
        failed.push(Event::StageError {
            stage: "speak".into(),
            message: "the voice failed to load".into(),
        });
        failed.push(Event::BriefWritten {
            path: "/tmp/brief.md".into(),
        });
        check(
            &failed,
            100,
            30,
            &["brief: /tmp/brief.md", "⚠ speak: the voice failed to load"],
            &[],
        );
        check(
            &[started(false)],
            100,
            30,
            &["devices: none reported yet"],
            &[],
        );
        // On 80 columns every device keeps its entry; long details are shortened.
        check(
            &full_session(),
            80,
            24,
            &[
                "mic ready: USB Audio",
                "camera missing: no camera",
                "…",
                "speaker failed",
            ],
            &["to use image files"],
        );
    }

    #[test]
    fn header_shows_session_and_mode() {
        check(
            &[started(false)],
            100,
            30,
            &[
                "session 12",
                "hands-free",
                "barge-in off",
                "audio microphone USB Audio",
                "frames camera C920",
                "sink speaker default",
                "space talk · s snapshot · e export brief · q quit",
            ],
            &["push-to-talk"],
        );
        check(
            &[started(true)],
            100,
            30,
            &["push-to-talk", "press space and talk"],
            &["hands-free"],
        );
        check(&[], 100, 30, &["starting…", "session –"], &[]);
    }

    #[test]
    fn state_words() {
        let steps: Vec<(Event, &str)> = vec![
            (started(false), "listening"),
            (speech_started(1, 0.5), "hearing…"),
            (speech_ended(1), "listening"),
            (transcript(1, 0.5, "hello"), "listening"),
            (
                Event::TurnStarted {
                    turn_idx: 0,
                    stored_ids: vec![1],
                },
                "thinking…",
            ),
            (speaking(0, 0, "Hi."), "speaking"),
            (speech_started(2, 3.0), "hearing…"),
            (speech_ended(2), "speaking"),
            (reply(0, "Who?"), "speaking"),
            (
                Event::ReplyPlayed {
                    turn_idx: 0,
                    interrupted: false,
                },
                "listening",
            ),
            (
                Event::TurnStarted {
                    turn_idx: 1,
                    stored_ids: vec![2],
                },
                "thinking…",
            ),
            // A reply with nothing spoken has nothing left to play.
            (reply(1, ""), "listening"),
            (
                Event::Ended {
                    reason: "end of audio".into(),
                    n_turns: 2,
                    n_utterances: 2,
                },
                "ended",
            ),
        ];
        let all_words = ["listening", "hearing…", "thinking…", "speaking", "ended"];
        let mut events = Vec::new();
        for (event, word) in steps {
            events.push(event);
            let absent: Vec<&str> = all_words
                .iter()
                .copied()
                .filter(|other| *other != word)
                .collect();
            check(&events, 100, 30, &[word], &absent);
        }
        check(
            &events,
            100,
            30,
            &[
                "ended: end of audio · 2 turns · 2 utterances",
                "session ended · press any key to leave",
            ],
            &["q quit"],
        );
        // The question of an earlier reply stays when a later one asks nothing.
        check(&events, 100, 30, &["asked: Who?"], &[]);
    }

    #[test]
    fn the_last_screen_is_held_only_when_the_session_ended_by_itself() {
        let check = |reason: &str, quitting: bool, expected: bool| {
            let mut view = LiveView::new();
            view.quitting = quitting;
            assert!(!view.holds_last_screen());
            view.apply(&EventRecord {
                at_ms: 1.0,
                event: Event::Ended {
                    reason: reason.into(),
                    n_turns: 1,
                    n_utterances: 1,
                },
            });
            assert_eq!(view.holds_last_screen(), expected, "{reason} {quitting}");
        };
        check("end of audio", false, true);
        check("end of audio", true, false);
        check(QUIT_REASON, false, false);
    }

    #[test]
    fn is_ended_after_ended() {
        let mut view = LiveView::new();
        assert!(!view.is_ended());
        view.apply(&EventRecord {
            at_ms: 0.0,
            event: started(false),
        });
        assert!(!view.is_ended());
        view.apply(&EventRecord {
            at_ms: 10.0,
            event: Event::Ended {
                reason: "quit".into(),
                n_turns: 0,
                n_utterances: 0,
            },
        });
        assert!(view.is_ended());
    }

    #[test]
    fn sketch_description() {
        let sketch = |description: Option<&str>| Event::Sketch {
            image_path: "sketches/3.png".into(),
            source: "snapshot key".into(),
            description: description.map(str::to_owned),
            labels: vec!["inbox".into()],
        };
        check(
            &[
                started(false),
                sketch(Some("A phone with a big red button.")),
            ],
            100,
            30,
            &[
                "snapshot key · sketches/3.png",
                "A phone with a big red button.",
                "labels: inbox",
            ],
            &["undescribed", "no sketch yet"],
        );
        check(
            &[started(false), sketch(None)],
            100,
            30,
            &["undescribed"],
            &[],
        );
        check(&[started(false)], 100, 30, &["no sketch yet"], &[]);
    }

    #[test]
    fn full_session_reads_on_80_by_24() {
        check(
            &full_session(),
            80,
            24,
            &[
                "session 12",
                "hearing…",
                "you: I want a desk lamp",
                "ideadesk: Who erases the whiteboard",
                "The facilities staff",
                "N1 [████░░] 4/6",
                "A box with two arrows",
                "…sessions/12/sketch-1.png",
                "asked: Who erases the whiteboard most often?",
                "912 ms",
                "brief: /tmp/brief.md",
                "q quit",
            ],
            &[],
        );
    }

    #[test]
    fn short_terminals_show_state_and_question() {
        check(
            &full_session(),
            60,
            6,
            &["session 12", "hearing…", "asked: Who erases", "q quit"],
            &["transcript", "needs"],
        );
    }

    #[test]
    fn any_size_draws() {
        let events = full_session();
        for (width, height) in [
            (0, 0),
            (1, 1),
            (10, 3),
            (3, 10),
            (20, 5),
            (40, 12),
            (59, 20),
            (60, 20),
            (80, 24),
            (200, 60),
        ] {
            check(&events, width, height, &[], &[]);
            check(&[], width, height, &[], &[]);
        }
    }

    #[test]
    fn wrap_words_cases() {
        let cases: &[(&str, usize, &[&str])] = &[
            ("", 10, &[""]),
            ("one two three", 7, &["one two", "three"]),
            ("one two three", 3, &["one", "two", "thr", "ee"]),
            ("a verylongword", 6, &["a very", "longwo", "rd"]),
            ("  spaced   out  ", 20, &["spaced out"]),
            ("x", 0, &[]),
        ];
        for (text, width, expected) in cases {
            assert_eq!(wrap_words(text, *width), *expected, "{text:?} at {width}");
        }
    }

    #[test]
    fn truncation_and_shares() {
        let cases: &[(&str, usize, &str, &str)] = &[
            ("short", 10, "short", "short"),
            ("a/long/path.png", 10, "a/long/pa…", "…/path.png"),
            ("abc", 1, "…", "…"),
            ("abc", 0, "", ""),
        ];
        for (text, max_width, end_cut, start_cut) in cases {
            assert_eq!(
                truncate_end(text, *max_width),
                *end_cut,
                "{text:?} at {max_width}"
            );
            assert_eq!(
                truncate_start(text, *max_width),
                *start_cut,
                "{text:?} at {max_width}"
            );
        }
        let share_cases: &[(&[usize], usize, &[usize])] = &[
            (&[10, 20, 30], 100, &[10, 20, 30]),
            (&[10, 50, 60], 90, &[10, 40, 40]),
            (&[50, 50], 20, &[10, 10]),
            (&[5], 0, &[0]),
            (&[], 10, &[]),
        ];
        for (wants, total, expected) in share_cases {
            assert_eq!(
                fair_shares(wants, *total),
                *expected,
                "{wants:?} in {total}"
            );
        }
    }

    #[test]
    fn keys_map_to_controls() {
        let press = |code: KeyCode, modifiers: KeyModifiers| KeyEvent::new(code, modifiers);
        let none = KeyModifiers::NONE;
        let cases = [
            (press(KeyCode::Char(' '), none), Some(Control::ToggleTalk)),
            (press(KeyCode::Char('s'), none), Some(Control::Snapshot)),
            (
                press(KeyCode::Char('S'), KeyModifiers::SHIFT),
                Some(Control::Snapshot),
            ),
            (press(KeyCode::Char('e'), none), Some(Control::ExportBrief)),
            (press(KeyCode::Char('q'), none), Some(Control::Quit)),
            (press(KeyCode::Esc, none), Some(Control::Quit)),
            (
                press(KeyCode::Char('c'), KeyModifiers::CONTROL),
                Some(Control::Quit),
            ),
            (press(KeyCode::Char('c'), none), None),
            (press(KeyCode::Char('x'), none), None),
            (press(KeyCode::Enter, none), None),
            (press(KeyCode::Char('s'), KeyModifiers::CONTROL), None),
            (press(KeyCode::Char('q'), KeyModifiers::ALT), None),
            (
                KeyEvent::new_with_kind_and_state(
                    KeyCode::Char(' '),
                    none,
                    KeyEventKind::Release,
                    KeyEventState::NONE,
                ),
                None,
            ),
            (
                KeyEvent::new_with_kind(KeyCode::Char('q'), none, KeyEventKind::Repeat),
                None,
            ),
        ];
        for (key, expected) in cases {
            assert_eq!(control_for_key(&key), expected, "{key:?}");
        }
    }
}
