//! The interview through the real binary with the test models (SmolLM2-135M): scripted
//! sessions from `tests/data/interviews/` where each answer follows a question. The asked
//! slot is filled from the answer, a filled slot is never asked again, cue-only and
//! sketch-only turns create no need, a correction rewrites the statement, and the
//! monologue of the interview issue, heard as audio, ends with the translators' need.

mod common;

use std::path::Path;

use common::interview::{self, Asked, Captured, Interview};
use serde_json::Value;

/// The least slot recall of the in-order scripts with the test model: the dialogue state
/// alone captures what was answered (measured: 1.0 on d01 and d02).
const MIN_IN_ORDER_RECALL: f64 = 0.8;
/// The least slot precision there.
const MIN_IN_ORDER_PRECISION: f64 = 0.8;

fn load(name: &str) -> Interview {
    let path = interview::interviews_dir().join(format!("{name}.toml"));
    interview::load(&path).unwrap_or_else(|err| panic!("{err}"))
}

/// `ideadesk --models models/test … ARGS` with a private data dir; its stdout.
fn ideadesk_json(data: &Path, args: &[&str]) -> Value {
    let mut command = common::ideadesk(data);
    command
        .arg("--models")
        .arg(common::test_models_dir())
        .arg("-q");
    command.args(args);
    let (output, stdout, stderr) = common::run(&mut command);
    assert!(
        output.status.success(),
        "ideadesk {args:?} failed: {stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"))
}

/// A drawn sketch in `dir`.
fn sketch(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("sketch.png");
    common::scene::draw(&common::scene::Scene::default())
        .save(&path)
        .expect("the sketch is written");
    path
}

/// What a scripted session through `capture` left: its needs, the questions asked after
/// each turn, the `capture --json` outputs, and its score against the gold.
struct Captures {
    needs: Vec<Captured>,
    asked: Vec<Asked>,
    outputs: Vec<Value>,
    score: interview::Score,
}

/// Runs an interview turn by turn through `capture --text … --session latest --json`.
fn capture_session(interview: &Interview, data: &Path) -> Captures {
    let sketch = sketch(data);
    let mut asked = Vec::new();
    let mut outputs = Vec::new();
    for (turn_idx, turn) in interview.turns.iter().enumerate() {
        let mut args = vec![
            "capture",
            "--json",
            "--session",
            if turn_idx == 0 { "new" } else { "latest" },
        ];
        if !turn.say.is_empty() {
            args.extend(["--text", turn.say.as_str()]);
        }
        let sketch_arg = sketch.to_string_lossy().into_owned();
        if turn.sketch {
            args.extend(["--image", sketch_arg.as_str()]);
        }
        let output = ideadesk_json(data, &args);
        let needs: Vec<Captured> = output["needs"]
            .as_array()
            .map(|needs| needs.iter().map(Captured::from_json).collect())
            .unwrap_or_default();
        let need = output["asked"]["need"].as_str().map(str::to_string);
        let slot = output["asked"]["slot"]
            .as_str()
            .and_then(interview::slot_from_label)
            .map(str::to_string);
        let filled = needs.iter().any(|captured| {
            Some(&captured.id) == need.as_ref()
                && slot
                    .as_ref()
                    .is_some_and(|slot| captured.slots.contains_key(slot))
        });
        asked.push(Asked {
            after_turn: turn_idx,
            need,
            slot,
            text: output["reply"].as_str().unwrap_or_default().to_string(),
            filled,
        });
        outputs.push(output);
    }
    let needs: Vec<Captured> = outputs
        .last()
        .and_then(|last| last["needs"].as_array())
        .map(|needs| needs.iter().map(Captured::from_json).collect())
        .unwrap_or_default();
    let score = interview::score(interview, &needs, &asked, &said(interview));
    Captures {
        needs,
        asked,
        outputs,
        score,
    }
}

fn said(interview: &Interview) -> Vec<String> {
    interview
        .turns
        .iter()
        .map(|turn| turn.say.clone())
        .collect()
}

#[test]
fn answers_fill_the_slot_that_was_asked() {
    for name in ["d01-translators", "d02-dental"] {
        let interview = load(name);
        let data = tempfile::tempdir().expect("a temp dir");
        let session = capture_session(&interview, data.path());
        let score = &session.score;
        let total = score.total();
        let (recall, precision) = (
            total.recall().unwrap_or(0.0),
            total.precision().unwrap_or(0.0),
        );
        assert!(
            recall >= MIN_IN_ORDER_RECALL && precision >= MIN_IN_ORDER_PRECISION,
            "{name}: recall {recall:.2} precision {precision:.2}; needs {:#?}",
            session.needs
        );
        assert!(score.invented_needs.is_empty(), "{name}: {score:#?}");
        // Whenever the turn after a slot question holds the gold answer to it, that slot
        // is filled by the end of that turn.
        let mut n_answered = 0;
        for (turn_idx, asked) in session.asked.iter().enumerate() {
            let (Some(need), Some(slot)) = (&asked.need, &asked.slot) else {
                continue;
            };
            let (Some(next_turn), Some(next_output)) = (
                interview.turns.get(turn_idx + 1),
                session.outputs.get(turn_idx + 1),
            ) else {
                continue;
            };
            let gold = session
                .needs
                .iter()
                .find(|captured| &captured.id == need)
                .and_then(|captured| interview::match_gold(&interview, captured))
                .and_then(|gold_idx| interview.needs[gold_idx].slot(slot));
            let answered_in_next_turn =
                gold.is_some_and(|gold| interview::value_matches(gold, &next_turn.say));
            if !answered_in_next_turn {
                continue;
            }
            let filled = next_output["needs"].as_array().is_some_and(|needs| {
                needs
                    .iter()
                    .any(|captured| captured["id"] == need.as_str() && captured[slot].is_string())
            });
            assert!(
                filled,
                "{name}: turn {} answered \"{}\" ({slot} of {need}) but it was not filled: {:#}",
                turn_idx + 1,
                asked.text,
                next_output["needs"]
            );
            n_answered += 1;
        }
        assert!(n_answered >= 2, "{name}: {:#?}", session.asked);
    }
}

#[test]
fn a_filled_slot_is_never_asked_and_questions_move_on() {
    for name in ["d03-lesson-plans", "d04-bakery", "d05-gym-two-needs"] {
        let interview = load(name);
        let data = tempfile::tempdir().expect("a temp dir");
        let session = capture_session(&interview, data.path());
        let score = &session.score;
        assert_eq!(score.asked_after_filled, 0, "{name}: {:#?}", session.asked);
        assert_eq!(
            score.asked_more_than_twice, 0,
            "{name}: {:#?}",
            session.asked
        );
        assert_eq!(score.repeated_in_a_row, 0, "{name}: {:#?}", session.asked);
        assert!(score.invented_needs.is_empty(), "{name}: {score:#?}");
    }
}

#[test]
fn cue_only_and_sketch_only_turns_create_no_need() {
    let data = tempfile::tempdir().expect("a temp dir");
    let sketch = sketch(data.path());
    let sketch = sketch.to_string_lossy();
    let check = |args: &[&str]| {
        let output = ideadesk_json(data.path(), args);
        assert_eq!(
            output["needs"],
            Value::Array(Vec::new()),
            "{args:?}: {output:#}"
        );
        let reply = output["reply"].as_str().unwrap_or_default().to_lowercase();
        for invented in ["dog", "drawing of", "this is a"] {
            assert!(!reply.contains(invented), "{args:?}: {reply}");
        }
    };
    check(&["capture", "--json", "--image", &sketch]);
    check(&[
        "capture",
        "--json",
        "--session",
        "latest",
        "--text",
        "Look at this sketch.",
    ]);
    check(&[
        "capture",
        "--json",
        "--session",
        "latest",
        "--text",
        "Hmm, okay. Let me think.",
    ]);
    check(&[
        "capture",
        "--json",
        "--session",
        "latest",
        "--text",
        "Look at this.",
        "--image",
        &sketch,
    ]);
}

#[test]
fn a_correction_rewrites_the_statement_and_keeps_both_quotes() {
    let interview = load("d03-lesson-plans");
    let data = tempfile::tempdir().expect("a temp dir");
    let session = capture_session(&interview, data.path());
    let score = &session.score;
    assert_eq!(score.corrections_not_applied, 0, "{:#?}", session.needs);
    let last = session.outputs.last().expect("outputs");
    let need = &last["needs"][0];
    let statement = need["statement"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(statement.contains("teachers"), "{statement}");
    assert!(!statement.contains("parents"), "{statement}");
    let quotes: Vec<&str> = need["evidence"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["quote"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        quotes
            .iter()
            .any(|quote| quote.starts_with("Parents never")),
        "{quotes:?}"
    );
    assert!(
        quotes.iter().any(|quote| quote.contains("not parents")),
        "{quotes:?}"
    );
}

#[test]
fn the_monologue_heard_as_audio_ends_with_the_translators_need() {
    // The interview issue's session: a sketch cue first, then one slot per turn, spoken
    // and heard by `listen` as a person who waits for each answer. There is no vision
    // model among the test models, so the sketch cannot be read.
    let interview = load("d01-translators");
    let dir = tempfile::tempdir().expect("a temp dir");
    let audio = dir.path().join("monologue.wav");
    let sentences: Vec<&str> = interview
        .turns
        .iter()
        .map(|turn| turn.say.as_str())
        .filter(|say| !say.is_empty())
        .collect();
    common::synthesize_speech(&audio, "en-us", &sentences);
    let sketch = sketch(dir.path());
    let events_path = dir.path().join("events.jsonl");
    let data = dir.path().join("data");
    let mut command = common::ideadesk(&data);
    command
        .arg("--models")
        .arg(common::test_models_dir())
        .arg("listen")
        .arg("--audio")
        .arg(&audio)
        .arg("--images")
        .arg(&sketch)
        .args(["--no-tui", "--no-speech", "--events"])
        .arg(&events_path);
    let (output, _, stderr) = common::run(&mut command);
    assert!(output.status.success(), "listen failed: {stderr}");

    let needs = ideadesk_json(&data, &["needs", "list", "--json"]);
    let needs = needs.as_array().cloned().unwrap_or_default();
    assert_eq!(needs.len(), 1, "{needs:#?}");
    let text = needs[0].to_string().to_lowercase();
    assert!(text.contains("translators"), "{text}");
    assert!(!text.contains("dog"), "{text}");
    let captured = Captured::from_json(&needs[0]);
    assert!(
        captured.slots.len() >= 4,
        "coverage below 4/6: {captured:#?}"
    );

    let events: Vec<Value> = std::fs::read_to_string(&events_path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let understood: Vec<&Value> = events
        .iter()
        .filter(|event| event["kind"] == "understood")
        .collect();
    assert!(understood.len() >= 4, "{events:#?}");
    // Coverage rises, and every slot question names a need and a slot.
    let coverage: Vec<f64> = understood
        .iter()
        .map(|event| event["coverage"].as_f64().unwrap_or(0.0))
        .collect();
    assert!(
        coverage.last().copied().unwrap_or(0.0) >= 4.0 / 6.0 - 1e-9,
        "{coverage:?}"
    );
    for event in &understood {
        let asked = &event["asked"];
        assert!(asked.is_null() || asked["need"].is_string(), "{event:#}");
        assert!(event["needs"].is_array(), "{event:#}");
    }
    // The sketch is acknowledged as unread, never described.
    let spoken: Vec<&str> = events
        .iter()
        .filter(|event| event["kind"] == "speaking")
        .filter_map(|event| event["text"].as_str())
        .collect();
    assert!(
        spoken
            .iter()
            .any(|text| text.contains("I can't read it yet")),
        "{spoken:?}"
    );
    for text in &spoken {
        let lower = text.to_lowercase();
        assert!(
            !lower.contains("dog") && !lower.contains("drawing of"),
            "{text}"
        );
    }
}
