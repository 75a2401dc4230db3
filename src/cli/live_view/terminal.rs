//! The real terminal of the live view: setting it up and restoring it, the loop that drains
//! the session's events, redraws and reads keys, and the mapping of key presses to
//! [`Control`]s.
//!
//! Kept apart from the state and the drawing, which the tests exercise on a `TestBackend`
//! without a terminal.

use std::io;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{
    self as term_event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers,
};

use super::LiveView;
use crate::session::events::{Control, EventRecord};

/// The shortest time between two redraws (ms); events that arrive faster are batched.
const REDRAW_INTERVAL_MS: u64 = 50;

/// How long one wait for a key press lasts before the events are drained again (ms).
const KEY_POLL_TIMEOUT_MS: u64 = 50;

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

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyEventState;

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
