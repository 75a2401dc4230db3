//! Tests of the live view that fold events into the state and check what the drawn screen
//! shows; they span the state (`mod.rs`) and the drawing (`render.rs`), so they live in a
//! module of their own. The layout helpers and the key mapping are tested next to their code.

use super::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

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
        asked: None,
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
            &format!("utterance number {utterance_id} with quite a few words in it to wrap around"),
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
                n_dropped_samples: 0,
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
                n_dropped_samples: 0,
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
            n_dropped_samples: 0,
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
