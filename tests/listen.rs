//! The live session (`ideadesk listen`) end to end with the test models: a scripted
//! session from a synthesised multi-utterance file and a drawn sketch, a real microphone
//! through ALSA's file plugin, a session killed with SIGKILL mid-run, and missing devices.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Sentences the person says in the scripted sessions.
const SCRIPT: [&str; 2] = [
    "Freelance designers waste hours every month chasing clients for unpaid invoices.",
    "Today they send reminder emails by hand every week.",
];

/// The most a reply's transcript may differ from what was said (word error rate).
const MAX_REPLY_WER: f64 = 0.35;

/// How long a child session may take before a test gives up on it.
const CHILD_TIMEOUT: Duration = Duration::from_secs(600);

/// `ideadesk --models models/test listen …` with a private data dir.
fn listen(data_dir: &Path) -> Command {
    let mut command = common::ideadesk(data_dir);
    command
        .arg("--models")
        .arg(common::test_models_dir())
        .arg("listen");
    command
}

/// The events file, one JSON object per line.
fn read_events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["kind"].as_str().unwrap_or("?"))
        .collect()
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["kind"] == kind)
        .collect()
}

/// Waits until the events file holds an event for which `done` holds, or the child
/// exits, or the timeout passes; returns the events so far.
fn wait_for_event(
    child: &mut Child,
    events_path: &Path,
    timeout: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let events = read_events(events_path);
        if done(&events) {
            return events;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the session exited ({status}) before the awaited event: {events:#?}");
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting; events so far: {:?}",
            kinds(&events)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends SIGINT (Ctrl-C) and waits for the exit status.
fn interrupt_and_wait(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: `kill` with a live child's pid and a standard signal.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0, "SIGINT could not be sent");
    let deadline = Instant::now() + CHILD_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited on") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the session did not end after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Everything stored for the latest session, via `ideadesk export --format json`.
fn exported_session(data_dir: &Path) -> Value {
    let mut command = common::ideadesk(data_dir);
    command.args(["export", "--format", "json"]);
    let (output, stdout, stderr) = common::run(&mut command);
    assert!(output.status.success(), "export failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"))
}

/// Writes a drawn sketch on a desk as a PNG.
fn sketch_png(dir: &Path) -> PathBuf {
    let path = dir.join("sketch.png");
    common::scene::draw(&common::scene::Scene::default())
        .save(&path)
        .expect("the sketch is written");
    path
}

/// Checks the order rules of a session's events: time never runs backwards, the
/// session starts first and ends last, each transcript comes before the turn that
/// answers it, and within each turn: started → speaking → reply → played.
fn check_event_order(events: &[Value]) {
    let all = kinds(events);
    let at: Vec<f64> = events
        .iter()
        .map(|event| event["at_ms"].as_f64().expect("at_ms"))
        .collect();
    assert!(
        at.windows(2).all(|pair| pair[0] <= pair[1]),
        "at_ms runs backwards: {at:?}"
    );
    let started = all.iter().position(|k| *k == "started").expect("started");
    assert!(
        all[..started].iter().all(|k| *k == "device"),
        "only device events come before started: {all:?}"
    );
    assert_eq!(all.last(), Some(&"ended"), "{all:?}");
    let position = |pred: &dyn Fn(&Value) -> bool| events.iter().position(pred);
    for turn in of_kind(events, "turn_started") {
        let turn_idx = turn["turn_idx"].as_u64().expect("turn_idx");
        let turn_at = position(&|e| e["kind"] == "turn_started" && e["turn_idx"] == turn_idx)
            .expect("the turn");
        for stored_id in turn["stored_ids"].as_array().expect("stored_ids") {
            let transcript_at =
                position(&|e| e["kind"] == "transcript" && e["stored_id"] == *stored_id)
                    .unwrap_or_else(|| panic!("no transcript for {stored_id}"));
            assert!(
                transcript_at < turn_at,
                "transcript after its turn: {all:?}"
            );
        }
        let in_turn = |kind: &str| {
            position(&|e| e["kind"] == kind && e["turn_idx"] == turn_idx)
                .unwrap_or_else(|| panic!("turn {turn_idx} has no {kind}: {all:?}"))
        };
        let speaking = in_turn("speaking");
        let reply = in_turn("reply");
        let played = in_turn("reply_played");
        assert!(
            turn_at < speaking && speaking < reply && reply < played,
            "turn {turn_idx} out of order: {all:?}"
        );
    }
}

/// Checks one reply event's latency figures.
fn check_reply_latency(reply: &Value) {
    let voice_to_voice = reply["voice_to_voice_ms"]
        .as_f64()
        .expect("voice_to_voice_ms");
    let latency = &reply["latency"];
    let wait = latency["end_of_turn_wait_ms"].as_f64().expect("wait");
    let stt = latency["stt_ms"].as_f64().expect("stt");
    assert!(
        (400.0..=700.0).contains(&wait),
        "end-of-turn wait {wait} ms: the segmenter waits 500 ms of silence"
    );
    assert!(stt > 0.0, "stt {stt}");
    assert!(
        voice_to_voice > wait + stt,
        "voice-to-voice {voice_to_voice} must include the wait {wait} and stt {stt}"
    );
    for part in [
        "llm_first_token_ms",
        "llm_first_sentence_ms",
        "tts_first_chunk_ms",
    ] {
        if let Some(ms) = latency[part].as_f64() {
            assert!(
                ms > 0.0 && ms < voice_to_voice,
                "{part} {ms} of {voice_to_voice}"
            );
        }
    }
}

#[test]
fn scripted_session_stores_the_turns_and_speaks_intelligible_replies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let idea = dir.path().join("idea.wav");
    common::synthesize_speech(&idea, "en-us", &SCRIPT);
    let sketch = sketch_png(dir.path());
    let reply_wav = dir.path().join("reply.wav");
    let events_path = dir.path().join("events.jsonl");
    let mut command = listen(&data);
    command
        .arg("--audio")
        .arg(&idea)
        .arg("--images")
        .arg(&sketch)
        .arg("--reply-wav")
        .arg(&reply_wav)
        .arg("--no-tui")
        .arg("--events")
        .arg(&events_path);
    let (output, stdout, stderr) = common::run(&mut command);
    assert!(output.status.success(), "listen failed: {stderr}\n{stdout}");
    let events = read_events(&events_path);
    check_event_order(&events);

    // Every utterance was transcribed and stored, and each turn answered.
    let transcripts = of_kind(&events, "transcript");
    assert_eq!(transcripts.len(), SCRIPT.len(), "{:?}", kinds(&events));
    let heard: Vec<&str> = transcripts
        .iter()
        .map(|t| t["text"].as_str().unwrap_or_default())
        .collect();
    let wer = common::wer(&SCRIPT.join(" "), &heard.join(" "));
    assert!(wer <= 0.25, "heard {heard:?} (WER {wer:.2})");
    let stored = exported_session(&data);
    let utterances = stored["utterances"].as_array().expect("utterances");
    assert_eq!(utterances.len(), SCRIPT.len(), "{stored:#}");
    assert_eq!(
        stored["sketches"].as_array().map(Vec::len),
        Some(1),
        "the sketch is stored: {stored:#}"
    );
    let sketch_event = &of_kind(&events, "sketch")[0];
    assert!(
        Path::new(sketch_event["image_path"].as_str().unwrap_or_default()).is_file(),
        "the sketch's PNG is kept: {sketch_event}"
    );

    // At least one need, with evidence quoting a stored utterance.
    let mut command = common::ideadesk(&data);
    command.args(["needs", "list", "--json"]);
    let (output, stdout, stderr) = common::run(&mut command);
    assert!(output.status.success(), "needs list failed: {stderr}");
    let needs: Value = serde_json::from_str(&stdout).expect("needs JSON");
    let needs = needs
        .as_array()
        .or_else(|| needs["needs"].as_array())
        .cloned()
        .unwrap_or_default();
    assert!(!needs.is_empty(), "no need captured: {stdout}");
    let texts: Vec<&str> = utterances
        .iter()
        .map(|u| u["text"].as_str().unwrap_or_default())
        .collect();
    let quoted = needs.iter().any(|need| {
        need["evidence"].as_array().is_some_and(|evidence| {
            evidence.iter().any(|e| {
                let quote = e["quote"].as_str().unwrap_or_default();
                !quote.is_empty() && texts.iter().any(|text| text.contains(quote))
            })
        })
    });
    assert!(quoted, "no need quotes a stored utterance: {needs:#?}");

    // Each turn's reply carries its latency, and the reply WAV says what the events say.
    let replies = of_kind(&events, "reply");
    assert!(!replies.is_empty());
    for reply in &replies {
        check_reply_latency(reply);
    }
    let said: Vec<&str> = replies
        .iter()
        .map(|r| r["text"].as_str().unwrap_or_default())
        .collect();
    let heard_back = common::joined_text(&common::transcribe_json(&reply_wav, &[]));
    let reply_wer = common::wer(&said.join(" "), &heard_back);
    assert!(
        reply_wer <= MAX_REPLY_WER,
        "the replies {said:?} were heard back as {heard_back:?} (WER {reply_wer:.2})"
    );

    // The brief was written at the end.
    let brief = of_kind(&events, "brief_written");
    let brief_path = brief[0]["path"].as_str().expect("path");
    let brief_text = std::fs::read_to_string(brief_path).expect("the brief is readable");
    assert!(brief_text.contains("## Needs"), "{brief_text}");
}

#[test]
fn a_session_killed_mid_run_keeps_every_transcribed_utterance() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let idea = dir.path().join("idea.wav");
    common::synthesize_speech(&idea, "en-us", &[SCRIPT[0], SCRIPT[1], SCRIPT[0]]);
    let events_path = dir.path().join("events.jsonl");
    let mut child = listen(&data)
        .arg("--audio")
        .arg(&idea)
        .arg("--no-speech")
        .arg("--no-tui")
        .arg("--events")
        .arg(&events_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("listen starts");
    // Kill it hard right after the first transcript: its turn is still being answered.
    let events = wait_for_event(&mut child, &events_path, CHILD_TIMEOUT, |events| {
        !of_kind(events, "transcript").is_empty()
    });
    child.kill().expect("SIGKILL is sent");
    let _ = child.wait();
    let transcribed: Vec<String> = of_kind(&read_events(&events_path), "transcript")
        .iter()
        .map(|t| t["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(!transcribed.is_empty(), "{:?}", kinds(&events));
    assert!(
        of_kind(&read_events(&events_path), "ended").is_empty(),
        "the session must have been killed mid-run"
    );

    // After the restart every transcribed utterance is in the store.
    let stored = exported_session(&data);
    let stored_texts: Vec<&str> = stored["utterances"]
        .as_array()
        .expect("utterances")
        .iter()
        .map(|u| u["text"].as_str().unwrap_or_default())
        .collect();
    for text in &transcribed {
        assert!(
            stored_texts.contains(&text.as_str()),
            "{text:?} was lost: {stored_texts:?}"
        );
    }
    // And the session can be resumed: the new utterance joins the old ones.
    let more = dir.path().join("more.wav");
    common::synthesize_speech(&more, "en-us", &SCRIPT[1..]);
    let mut command = listen(&data);
    command
        .args(["--session", "latest", "--no-speech", "--no-tui"])
        .args(["--acknowledgement-tokens", "0", "--audio"])
        .arg(&more);
    let (output, _, stderr) = common::run(&mut command);
    assert!(
        output.status.success(),
        "the resumed session failed: {stderr}"
    );
    let resumed = exported_session(&data);
    assert_eq!(
        resumed["utterances"].as_array().map(Vec::len),
        Some(stored_texts.len() + 1),
        "{resumed:#}"
    );
}

#[test]
fn missing_microphone_and_camera_are_reported_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sketch = sketch_png(dir.path());
    let events_path = dir.path().join("events.jsonl");
    // No microphone: the sketch is still taken and the brief written on Ctrl-C.
    let mut child = listen(&data)
        .args(["--mic", "no-such-microphone", "--no-speech", "--no-tui"])
        .arg("--images")
        .arg(&sketch)
        .arg("--events")
        .arg(&events_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("listen starts");
    let events = wait_for_event(&mut child, &events_path, CHILD_TIMEOUT, |events| {
        !of_kind(events, "sketch").is_empty() && !of_kind(events, "started").is_empty()
    });
    let missing = of_kind(&events, "device");
    let microphone = missing
        .iter()
        .find(|e| e["device"] == "microphone")
        .expect("a microphone event");
    assert_eq!(microphone["status"], "missing", "{microphone}");
    let detail = microphone["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("no-such-microphone") && detail.contains("ideadesk devices"),
        "the message names the device and what to do: {detail}"
    );
    let status = interrupt_and_wait(&mut child);
    assert!(
        status.success(),
        "Ctrl-C ends the session cleanly: {status}"
    );
    let mut stdout = String::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            stdout.push_str(&line);
            stdout.push('\n');
        }
    }
    assert!(stdout.contains("microphone missing"), "{stdout}");
    let events = read_events(&events_path);
    assert_eq!(
        kinds(&events).last(),
        Some(&"ended"),
        "{:?}",
        kinds(&events)
    );
    assert!(!of_kind(&events, "brief_written").is_empty());
    assert_eq!(
        exported_session(&data)["sketches"].as_array().map(Vec::len),
        Some(1)
    );

    // No camera: the audio is still heard and answered.
    let idea = dir.path().join("idea.wav");
    common::synthesize_speech(&idea, "en-us", &SCRIPT[..1]);
    let events_path = dir.path().join("events-2.jsonl");
    let mut command = listen(&data);
    command
        .arg("--audio")
        .arg(&idea)
        .args(["--camera", "no-such-camera", "--no-speech", "--no-tui"])
        .args(["--acknowledgement-tokens", "0", "--events"])
        .arg(&events_path);
    let (output, _, stderr) = common::run(&mut command);
    assert!(output.status.success(), "listen failed: {stderr}");
    let events = read_events(&events_path);
    let camera = of_kind(&events, "device")
        .into_iter()
        .find(|e| e["device"] == "camera")
        .cloned()
        .expect("a camera event");
    assert_eq!(camera["status"], "missing", "{camera}");
    assert_eq!(
        of_kind(&events, "transcript").len(),
        1,
        "{:?}",
        kinds(&events)
    );
    assert_eq!(of_kind(&events, "reply").len(), 1, "{:?}", kinds(&events));
}

#[test]
fn a_real_microphone_through_the_alsa_file_plugin_is_heard_and_answered() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // What the person says, as the raw 16 kHz mono i16 the capture device reads.
    let (raw_path, _) = common::speech_raw_16k(dir.path(), &SCRIPT[..1]);
    let played = dir.path().join("reply.wav");
    let events_path = dir.path().join("events.jsonl");
    let config = common::repo_root().join("tests/alsa/asound.conf");
    let sketch = sketch_png(dir.path());
    let mut child = listen(&data)
        .env(
            "ALSA_CONFIG_PATH",
            format!("/usr/share/alsa/alsa.conf:{}", config.display()),
        )
        .env("ALSA_CAPTURE_RAW", &raw_path)
        .args([
            "--mic-rate",
            "16000",
            "--mic-channels",
            "1",
            "--mic-format",
            "i16",
        ])
        // ALSA's file plugin is not paced, so an open speaker would write silence without
        // end; tests/playback.rs covers the speaker, and the replies go to a WAV here.
        .arg("--reply-wav")
        .arg(&played)
        .arg("--images")
        .arg(&sketch)
        .args(["--no-tui", "--events"])
        .arg(&events_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("listen starts");
    let events = wait_for_event(&mut child, &events_path, CHILD_TIMEOUT, |events| {
        !of_kind(events, "reply_played").is_empty()
    });
    let status = interrupt_and_wait(&mut child);
    let mut stderr = String::new();
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            stderr.push_str(&line);
            stderr.push('\n');
        }
    }
    assert!(
        status.success(),
        "Ctrl-C ends the session cleanly: {status}\n{stderr}"
    );
    for device in ["microphone", "wav_file"] {
        let event = of_kind(&events, "device")
            .into_iter()
            .find(|e| e["device"] == device)
            .cloned()
            .unwrap_or_else(|| panic!("no {device} event: {events:#?}"));
        assert_eq!(event["status"], "ready", "{event}");
    }
    let heard: Vec<&str> = of_kind(&events, "transcript")
        .iter()
        .map(|t| t["text"].as_str().unwrap_or_default())
        .collect();
    let wer = common::wer(SCRIPT[0], &heard.join(" "));
    assert!(wer <= 0.25, "heard {heard:?} (WER {wer:.2})");
    let reply = &of_kind(&events, "reply")[0];
    check_reply_latency(reply);
    let said = reply["text"].as_str().unwrap_or_default();
    let heard_back = common::joined_text(&common::transcribe_json(&played, &[]));
    let reply_wer = common::wer(said, &heard_back);
    assert!(
        reply_wer <= MAX_REPLY_WER,
        "the reply {said:?} was heard back as {heard_back:?} (WER {reply_wer:.2})"
    );
}

/// How long Ctrl-C may take to end a session in the middle of a turn: the model work is
/// cancelled and the quit waits at most 0.4 s for it, then writes the brief.
const MAX_QUIT_S: f64 = 1.5;

/// Ctrl-C while a turn is being understood: the session says it is stopping at once,
/// cancels the model work, writes the brief and ends cleanly, within `MAX_QUIT_S`.
#[test]
fn ctrl_c_in_the_middle_of_a_turn_stops_at_once_and_writes_the_brief() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let audio = dir.path().join("idea.wav");
    common::synthesize_speech(&audio, "en-us", &SCRIPT);
    let events_path = dir.path().join("events.jsonl");
    let brief = dir.path().join("brief.md");
    let data = dir.path().join("data");
    let mut child = listen(&data)
        .arg("--audio")
        .arg(&audio)
        .args(["--no-tui", "--no-speech", "--events"])
        .arg(&events_path)
        .arg("--brief")
        .arg(&brief)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("listen starts");
    wait_for_event(&mut child, &events_path, CHILD_TIMEOUT, |events| {
        !of_kind(events, "turn_started").is_empty()
    });
    let interrupted_at = Instant::now();
    let status = interrupt_and_wait(&mut child);
    let quit_s = interrupted_at.elapsed().as_secs_f64();
    let mut stdout = String::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            stdout.push_str(&line);
            stdout.push('\n');
        }
    }
    assert!(
        status.success(),
        "Ctrl-C ends the session cleanly: {status}"
    );
    assert!(
        quit_s < MAX_QUIT_S,
        "Ctrl-C took {quit_s:.2} s to end the session"
    );
    assert!(stdout.contains("stopping…"), "{stdout}");
    let events = read_events(&events_path);
    let order: Vec<&str> = kinds(&events)
        .into_iter()
        .filter(|kind| matches!(*kind, "stopping" | "brief_written" | "ended"))
        .collect();
    assert_eq!(order, ["stopping", "brief_written", "ended"], "{events:#?}");
    assert!(brief.is_file(), "the brief is written");
    // Nothing the person said is lost.
    let transcripts = of_kind(&events, "transcript").len();
    assert!(transcripts >= 1, "{events:#?}");
}
