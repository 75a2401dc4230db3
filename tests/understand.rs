//! Need capture end to end through the CLI with the real test models (SmolLM2-135M and
//! MiniLM from `models/test/`): product-idea monologues become stored needs whose
//! evidence is the person's own words; later turns extend the session; needs are listed,
//! searched and exported; bad input fails cleanly.

mod common;

use std::path::Path;

use chrono::{TimeZone, Utc};
use ideadesk::needs::prompt::CLAUSE_LABELS;
use ideadesk::needs::{
    Decision, DesignOption, Evidence, Idea, Module, Need, NeedId, NeedStatus, Severity,
};
use ideadesk::store::{SketchInput, Store, UtteranceInput};
use serde_json::Value;

/// Product-idea monologues, as someone would speak them.
const MONOLOGUES: [&str; 3] = [
    "I want to build an app for primary school teachers. Every Sunday they spend three hours planning the lessons for the week. Today they copy old plans from the internet and fix them by hand. They want a plan that fits their class in ten minutes.",
    "Small bakeries throw away a lot of bread every evening. The owner guesses each morning how much to bake. She writes the numbers in a notebook. I want a tool that tells her how much to bake tomorrow, so that waste drops by half.",
    "Freelance designers lose track of unpaid invoices. They chase clients by email every week and it feels awkward. Most of them use a spreadsheet. The idea is a reminder service that asks politely for them, and success means getting paid within thirty days.",
];

/// Runs `ideadesk --models models/test capture … --json` and returns its JSON.
fn capture(data_dir: &Path, args: &[&str]) -> Value {
    let mut command = common::ideadesk(data_dir);
    command
        .arg("--models")
        .arg(common::test_models_dir())
        .arg("capture")
        .args(args)
        .arg("--json");
    let (output, stdout, stderr) = common::run(&mut command);
    assert!(output.status.success(), "capture {args:?} failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("not JSON ({err}): {stdout}"))
}

/// Lower-case words of a text, for quote checks.
fn words(text: &str) -> String {
    common::normalise_words(text).join(" ")
}

/// Every need carries evidence, and every quote is words the person said.
fn check_needs(label: &str, result: &Value, said: &str) {
    let needs = result["needs"].as_array().expect("a needs array");
    assert!(!needs.is_empty(), "{label}: no need captured: {result:#}");
    for need in needs {
        let statement = need["statement"].as_str().unwrap_or_default();
        assert!(
            !statement.trim().is_empty(),
            "{label}: empty statement: {need:#}"
        );
        let evidence = need["evidence"].as_array().expect("an evidence array");
        assert!(
            !evidence.is_empty(),
            "{label}: need without evidence: {need:#}"
        );
        for item in evidence {
            if item["kind"] == "utterance" {
                let quote = item["quote"].as_str().unwrap_or_default();
                assert!(
                    !quote.trim().is_empty() && words(said).contains(&words(quote)),
                    "{label}: the quote {quote:?} is not the person's words"
                );
                assert!(item["end_ms"].as_u64() >= item["start_ms"].as_u64());
            }
        }
    }
    let reply = result["reply"].as_str().unwrap_or_default();
    assert!(
        reply.ends_with('?') || reply.ends_with('.'),
        "{label}: reply {reply:?}"
    );
    let fraction = result["coverage"]["fraction"].as_f64().expect("coverage");
    assert!((0.0..=1.0).contains(&fraction), "{label}: {fraction}");
}

#[test]
fn idea_monologues_become_needs_with_the_persons_own_words_as_evidence() {
    for (monologue_idx, monologue) in MONOLOGUES.iter().enumerate() {
        let data = tempfile::tempdir().unwrap();
        let text_file = data.path().join("idea.txt");
        std::fs::write(&text_file, monologue).unwrap();
        let result = capture(data.path(), &["--text-file", text_file.to_str().unwrap()]);
        println!(
            "monologue {monologue_idx}: {} needs, reply {:?}, {:.1} s",
            result["needs"].as_array().map_or(0, Vec::len),
            result["reply"],
            result["elapsed_ms"].as_f64().unwrap_or_default() / 1000.0
        );
        check_needs(&format!("monologue {monologue_idx}"), &result, monologue);
    }
}

/// The model calls a capture made, by purpose.
fn call_purposes(result: &Value) -> Vec<String> {
    result["llm_calls"]
        .as_array()
        .expect("an llm_calls array")
        .iter()
        .map(|call| call["purpose"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn clause_labels_are_asked_of_large_models_or_on_request() {
    let monologue = MONOLOGUES[1];
    // The 135 M test model is below the size from which `auto` asks for labels.
    let data = tempfile::tempdir().unwrap();
    let result = capture(data.path(), &["--text", monologue]);
    let purposes = call_purposes(&result);
    assert!(
        !purposes
            .iter()
            .any(|purpose| purpose.starts_with("label of clause")),
        "auto asked a 135 M model for labels: {purposes:?}"
    );
    // Asked for, every clause gets one of the label words, and the needs stay grounded.
    let data = tempfile::tempdir().unwrap();
    let result = capture(data.path(), &["--text", monologue, "--clause-labels", "on"]);
    check_needs("labelled", &result, monologue);
    let labels: Vec<String> = result["llm_calls"]
        .as_array()
        .expect("an llm_calls array")
        .iter()
        .filter(|call| {
            call["purpose"]
                .as_str()
                .is_some_and(|purpose| purpose.starts_with("label of clause"))
        })
        .map(|call| call["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(labels.len() >= 4, "one label per clause: {labels:?}");
    let known: Vec<&str> = CLAUSE_LABELS.iter().map(|(label, _)| *label).collect();
    for text in &labels {
        let label: Value =
            serde_json::from_str(text).unwrap_or_else(|err| panic!("label {text:?}: {err}"));
        assert!(
            known.contains(&label["label"].as_str().unwrap_or_default()),
            "{text}"
        );
    }
}

#[test]
fn a_second_turn_extends_the_session_and_the_brief_exports() {
    let data = tempfile::tempdir().unwrap();
    let first = capture(data.path(), &["--text", MONOLOGUES[0]]);
    let follow_up = "It happens every single week. Success would be that teachers plan a whole week in under an hour.";
    let second = capture(data.path(), &["--text", follow_up, "--session", "latest"]);
    assert_eq!(first["session"], second["session"]);
    assert_ne!(
        first["reply"], second["reply"],
        "the interviewer repeated itself"
    );
    let said = format!("{} {follow_up}", MONOLOGUES[0]);
    check_needs("second turn", &second, &said);
    let n_evidence = |result: &Value| -> usize {
        result["needs"]
            .as_array()
            .map(|needs| {
                needs
                    .iter()
                    .map(|need| need["evidence"].as_array().map_or(0, Vec::len))
                    .sum()
            })
            .unwrap_or(0)
    };
    assert!(
        n_evidence(&second) >= n_evidence(&first),
        "evidence was dropped: {first:#} then {second:#}"
    );

    let mut list = common::ideadesk(data.path());
    list.args(["needs", "list", "--json"]);
    let (output, stdout, stderr) = common::run(&mut list);
    assert!(output.status.success(), "{stderr}");
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        listed.as_array().map(Vec::len),
        second["needs"].as_array().map(Vec::len)
    );

    let brief = data.path().join("brief.md");
    let mut export = common::ideadesk(data.path());
    export
        .args(["export", "--format", "md", "--out"])
        .arg(&brief);
    let (output, _, stderr) = common::run(&mut export);
    assert!(output.status.success(), "{stderr}");
    let brief = std::fs::read_to_string(&brief).unwrap();
    for need in listed.as_array().unwrap() {
        let statement = need["statement"].as_str().unwrap();
        assert!(
            brief.contains(statement),
            "{statement:?} missing from the brief:\n{brief}"
        );
    }

    let mut export_json = common::ideadesk(data.path());
    export_json.args(["export", "--format", "json"]);
    let (output, stdout, stderr) = common::run(&mut export_json);
    assert!(output.status.success(), "{stderr}");
    let exported: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(exported["utterances"].as_array().map(Vec::len), Some(6));
}

#[test]
fn bad_capture_input_fails_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let not_an_image = data.path().join("notes.png");
    std::fs::write(&not_an_image, "not a picture").unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&[], "nothing to capture"),
        (
            &["--text-file", "/nonexistent/idea.txt"],
            "reading the text file",
        ),
        (&["--text", "   "], "empty"),
        (
            &["--text", "Teachers lack time.", "--session", "999"],
            "999",
        ),
        (
            &[
                "--text",
                "Teachers lack time.",
                "--image",
                not_an_image.to_str().unwrap(),
            ],
            "notes.png",
        ),
    ];
    for (args, expected) in cases {
        let mut command = common::ideadesk(data.path());
        command
            .arg("--models")
            .arg(common::test_models_dir())
            .arg("capture")
            .args(args);
        let (output, _, stderr) = common::run(&mut command);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// A session written through the store with fixed times and contents.
fn seed_session(data_dir: &Path) {
    let mut store = Store::open(&Store::default_path(data_dir)).unwrap();
    let started_at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 30, 0).unwrap();
    let session = store.create_session("Lesson planner", started_at).unwrap();
    store
        .set_idea(
            session,
            &Idea {
                title: "Lesson planner".into(),
                summary: "Plans that fit a class in ten minutes.".into(),
            },
        )
        .unwrap();
    let said = [
        (
            0,
            4_200,
            "Teachers spend three hours every Sunday planning lessons.",
        ),
        (
            4_200,
            8_000,
            "They copy old plans from the internet and fix them by hand.",
        ),
    ];
    let mut utterance_ids = Vec::new();
    for (start_ms, end_ms, text) in said {
        utterance_ids.push(
            store
                .add_utterance(
                    session,
                    &UtteranceInput {
                        start_ms,
                        end_ms,
                        text: text.into(),
                        audio_path: None,
                    },
                )
                .unwrap(),
        );
    }
    let sketch_id = store
        .add_sketch(
            session,
            &SketchInput {
                image_path: "sketches/week-view.png".into(),
                description: Some("A week view with a Plan button".into()),
                labels: vec!["Plan".into(), "Week".into()],
            },
        )
        .unwrap();
    let need = Need {
        id: NeedId(1),
        statement: "Teachers need to plan a week of lessons quickly".into(),
        actor: Some("primary school teachers".into()),
        context: Some("Sunday evenings".into()),
        pain: Some("three hours of planning".into()),
        workaround: Some("copy old plans from the internet".into()),
        frequency: Some("every week".into()),
        severity: Some(Severity::High),
        desired_outcome: None,
        success_metric: None,
        constraints: vec!["works offline".into()],
        status: NeedStatus::Captured,
        evidence: vec![
            Evidence::Utterance {
                utterance_id: utterance_ids[0],
                start_ms: 0,
                end_ms: 4_200,
                quote: "spend three hours every Sunday planning lessons".into(),
                slot: None,
            },
            Evidence::Sketch {
                sketch_id,
                detail: "the Plan button".into(),
            },
        ],
    };
    store.save_need(session, &need, None).unwrap();
    store
        .save_modules(
            session,
            &[Module {
                name: "Plan generator".into(),
                purpose: "Drafts a week of lessons".into(),
                need_ids: vec![NeedId(1)],
            }],
        )
        .unwrap();
    store
        .save_options(
            session,
            &[DesignOption {
                summary: "Start from the curriculum".into(),
                pros: vec!["matches what schools require".into()],
                cons: vec!["differs per country".into()],
                cost: Some("two weeks".into()),
            }],
        )
        .unwrap();
    store
        .save_decisions(
            session,
            &[Decision {
                option: "Start from the curriculum".into(),
                rationale: "teachers trust it".into(),
                at: Utc.with_ymd_and_hms(2026, 11, 20, 9, 45, 0).unwrap(),
            }],
        )
        .unwrap();
}

#[test]
fn export_of_a_known_session_matches_the_golden_brief() {
    let data = tempfile::tempdir().unwrap();
    seed_session(data.path());
    let mut export = common::ideadesk(data.path());
    export.args(["export", "--session", "1", "--format", "md"]);
    let (output, stdout, stderr) = common::run(&mut export);
    assert!(output.status.success(), "{stderr}");
    let golden = common::repo_root().join("tests/golden/export.md");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &stdout).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .expect("tests/golden/export.md (write it with UPDATE_GOLDEN=1 after checking the output)");
    assert_eq!(
        stdout,
        expected,
        "the brief differs from {}",
        golden.display()
    );
}
