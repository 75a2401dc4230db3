//! Drawing the live view: the header, the transcript, the need cards, the sketch, the
//! question, the latency, the status and the keys, each built as ratatui lines and spans from
//! the [`LiveView`]'s state and drawn into a frame.
//!
//! Kept apart from the state (`mod.rs`) so that the folding of events and the drawing can be
//! read, and grow, on their own; the width and wrapping helpers live in `layout.rs`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::layout::{
    MAX_FOOTER_LINE_ROWS, fair_shares, hanging_lines, pack_groups, rows_for, text_width,
    truncate_end, truncate_start, wrap_words,
};
use super::{LiveView, Said, SessionState, Severity, device_name, status_word};
use crate::session::events::{DeviceKind, DeviceStatus, NeedCard};

/// The slots a need has; a card's coverage is the filled share of these.
const NEED_SLOTS: usize = 6;

/// The cells of the overall coverage bar.
const OVERALL_BAR_CELLS: usize = 12;

/// The rows of the header: title and state, inputs and outputs, devices.
const HEADER_ROWS: u16 = 3;

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

impl LiveView {
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
            let dropped = match entry.device {
                DeviceKind::Microphone if self.n_dropped_samples > 0 => {
                    format!(" ({} samples dropped)", self.n_dropped_samples)
                }
                _ => String::new(),
            };
            let head = format!(
                "{} {}{dropped}",
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
            let dropped = if end.n_dropped_samples > 0 {
                format!(" · {} mic samples dropped", end.n_dropped_samples)
            } else {
                String::new()
            };
            spans.push(Span::styled(
                format!(
                    "ended: {} · {} turns · {} utterances{dropped}",
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
        for warning in &self.warnings {
            if !spans.is_empty() {
                spans.push(Span::styled(" · ", Style::new().fg(Color::DarkGray)));
            }
            spans.push(Span::styled(
                format!("⚠ {warning}"),
                Style::new().fg(Color::Yellow),
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
