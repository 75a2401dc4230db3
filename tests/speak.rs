//! Speaking: the real joe Piper voice (VITS on candle) and the espeak-ng fallback, heard
//! back by the test Whisper; streaming by sentence; real rodio playback through ALSA's
//! file plugin; bad input.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::Device;
use ideadesk::tts::TtsError;
use ideadesk::tts::synth::{SpeechOptions, Synthesizer, VoiceSpec};

/// Five sentences an interviewer might say, 69 words.
const SENTENCES: [&str; 5] = [
    "Who has this problem today, and how often does it happen?",
    "Tell me what you do now when the report is late.",
    "What would success look like for the sales team next quarter?",
    "The sketch shows a dashboard with three panels and a search box.",
    "Let us write that down as a decision and move on to pricing.",
];

/// A comfortable speaking rate for the duration sanity check.
const WORDS_PER_SECOND: f64 = 2.5;

fn joe_voice() -> std::path::PathBuf {
    common::test_model("tts", "en_US-joe-medium.onnx")
}

fn piper() -> Synthesizer {
    Synthesizer::spawn(VoiceSpec::Piper { onnx: joe_voice() }, Device::Cpu)
        .expect("the joe voice loads")
}

/// `ideadesk --models models/test say …` with a private data dir.
fn say(data_dir: &Path, args: &[&str]) -> (std::process::Output, String, String) {
    let mut command = common::ideadesk(data_dir);
    command
        .arg("--models")
        .arg(common::test_models_dir())
        .arg("say")
        .args(args);
    common::run(&mut command)
}

fn word_count(text: &str) -> usize {
    common::normalise_words(text).len()
}

#[test]
fn piper_speech_is_heard_back_by_whisper() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("reply.wav");
    let text = SENTENCES.join(" ");
    let (output, stdout, stderr) = say(
        dir.path(),
        &[
            &text,
            "--voice",
            "piper",
            "--out",
            wav.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(output.status.success(), "say failed: {stderr}");
    let n_sentence_lines = stdout
        .lines()
        .filter(|line| line.contains("\"kind\":\"sentence\""))
        .count();
    assert_eq!(
        n_sentence_lines,
        SENTENCES.len(),
        "one chunk per sentence: {stdout}"
    );

    let heard = common::joined_text(&common::transcribe_json(&wav, &[]));
    let wer = common::wer(&text, &heard);
    eprintln!(
        "Piper round trip: WER {:.1} %\n  said:  {text}\n  heard: {heard}",
        wer * 100.0
    );
    assert!(
        wer <= 0.10,
        "WER {:.1} % > 10 %: heard {heard:?}",
        wer * 100.0
    );
}

#[test]
fn espeak_fallback_is_heard_back_by_whisper() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("reply.wav");
    let text = SENTENCES[..2].join(" ");
    let (output, _, stderr) = say(
        dir.path(),
        &[&text, "--voice", "espeak", "--out", wav.to_str().unwrap()],
    );
    assert!(
        output.status.success(),
        "say --voice espeak failed: {stderr}"
    );
    let heard = common::joined_text(&common::transcribe_json(&wav, &[]));
    let wer = common::wer(&text, &heard);
    eprintln!("espeak round trip: WER {:.1} %: {heard}", wer * 100.0);
    assert!(wer <= 0.20, "WER {:.1} %: heard {heard:?}", wer * 100.0);
}

#[test]
fn piper_audio_is_sane_and_deterministic() {
    let synthesizer = piper();
    assert_eq!(synthesizer.info().sample_rate_hz, 22_050);
    for sentence in SENTENCES {
        let chunks = synthesizer
            .speak_all(sentence, SpeechOptions::default())
            .unwrap();
        assert_eq!(chunks.len(), 1, "{sentence}");
        let chunk = &chunks[0];
        assert!(
            chunk.samples.iter().all(|s| s.is_finite()),
            "NaN in {sentence:?}"
        );
        let peak = chunk.samples.iter().fold(0f32, |peak, s| peak.max(s.abs()));
        assert!(peak <= 1.0 && peak > 0.05, "peak {peak} for {sentence:?}");
        let expected_s = word_count(sentence) as f64 / WORDS_PER_SECOND;
        let ratio = chunk.duration_s() / expected_s;
        assert!(
            (0.5..=2.0).contains(&ratio),
            "{sentence:?}: {:.2} s against an estimate of {expected_s:.2} s",
            chunk.duration_s()
        );
    }
    // The same seed gives the same samples; another seed other noise.
    let speak = |seed| {
        synthesizer
            .speak_all(SENTENCES[0], SpeechOptions { scales: None, seed })
            .unwrap()
            .remove(0)
            .samples
    };
    assert_eq!(speak(7), speak(7));
    assert_ne!(speak(7), speak(8));
}

#[test]
fn first_sentence_arrives_before_the_rest_is_made() {
    let synthesizer = piper();
    // The very first synthesis also pays for allocations and thread start-up.
    synthesizer
        .speak_all("Warm up.", SpeechOptions::default())
        .unwrap();
    let text = SENTENCES[..3].join(" ");
    let started = Instant::now();
    let mut arrivals = Vec::new();
    let mut chunks = Vec::new();
    for chunk in synthesizer.speak(&text, SpeechOptions::default()) {
        arrivals.push(started.elapsed());
        chunks.push(chunk.unwrap());
    }
    assert_eq!(chunks.len(), 3);
    let first = arrivals[0];
    let all = arrivals[2];
    let rest: Duration = chunks[1..].iter().map(|chunk| chunk.synthesis_time).sum();
    eprintln!("first chunk after {first:?}; all three after {all:?} (the other two took {rest:?})");
    // The first chunk is handed over before sentences 2 and 3 are synthesised.
    assert!(
        first + rest <= all + Duration::from_millis(5),
        "first {first:?} + rest {rest:?} > all {all:?}"
    );
    // After the first chunk arrived, the other two sentences still had to be made.
    assert!(
        all.saturating_sub(first) >= rest.mul_f64(0.9),
        "first {first:?}, all {all:?}, rest {rest:?}"
    );
}

#[test]
fn a_dropped_stream_cancels_and_the_worker_serves_the_next_request() {
    let synthesizer = piper();
    // About 10,000 characters: far too much to wait for.
    let long: String = std::iter::repeat_n(SENTENCES.join(" "), 36)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(long.len() >= 10_000);
    let started = Instant::now();
    let mut stream = synthesizer.speak(&long, SpeechOptions::default());
    let first = stream.next().expect("a first chunk").expect("speech");
    assert!(first.duration_s() > 1.0);
    drop(stream);
    // The worker finishes at most the sentence it is on, then takes the next request.
    let next = synthesizer
        .speak_all("Next question.", SpeechOptions::default())
        .unwrap();
    assert_eq!(next.len(), 1);
    let elapsed = started.elapsed();
    eprintln!("long text: first chunk, cancel and a new reply in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[test]
fn nothing_to_say_is_an_error_not_a_panic() {
    let synthesizer = piper();
    for text in ["", "   \n\t ", "🙂🚀✨"] {
        let result = synthesizer.speak_all(text, SpeechOptions::default());
        assert!(
            matches!(result, Err(TtsError::NothingToSay)),
            "{text:?}: {result:?}"
        );
    }
}

/// One `say` invocation with bad or awkward input: whether it must succeed, and a
/// fragment its error must contain.
fn check_say(args: &[&str], path: Option<&str>, succeeds: bool, stderr_contains: &str) {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let mut command = common::ideadesk(dir.path());
    command
        .arg("--models")
        .arg(common::test_models_dir())
        .arg("say")
        .args(args)
        .arg("--out")
        .arg(&wav);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let (output, _, stderr) = common::run(&mut command);
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert_eq!(
        output.status.success(),
        succeeds,
        "{args:?}: exit {:?}, stderr {stderr}",
        output.status
    );
    assert!(
        stderr.contains(stderr_contains),
        "{args:?}: stderr lacks {stderr_contains:?}: {stderr}"
    );
    if succeeds {
        let (samples, rate) = common::read_wav_mono(&wav);
        let seconds = samples.len() as f64 / f64::from(rate);
        assert!(seconds > 0.5, "{args:?}: only {seconds:.2} s of audio");
    }
}

#[test]
fn bad_and_awkward_input() {
    check_say(&["", "--voice", "piper"], None, false, "nothing to say");
    check_say(
        &["🙂🚀✨ ★★★", "--voice", "piper"],
        None,
        false,
        "nothing to say",
    );
    check_say(
        &[
            "Dr. Smith paid $3.50 for 2 tickets on Jan. 5th, i.e. 40% off!",
            "--voice",
            "piper",
        ],
        None,
        true,
        "",
    );
    check_say(
        &["I ❤️ this product 🚀 — it's great!", "--voice", "piper"],
        None,
        true,
        "",
    );
    check_say(
        &["Hello.", "--voice", "piper", "--length-scale", "0"],
        None,
        false,
        "--length-scale",
    );
    check_say(
        &["Hello.", "--voice", "piper"],
        Some("/nonexistent"),
        false,
        "espeak-ng",
    );
    check_say(
        &["Hello.", "--voice", "espeak"],
        Some("/nonexistent"),
        false,
        "espeak-ng",
    );
}

#[test]
fn say_plays_through_a_real_alsa_device() {
    // Real rodio playback: ALSA's file plugin turns the default output into a WAV file
    // (48 kHz stereo S16). The child process gets the configuration; this one never
    // opens ALSA.
    let dir = tempfile::tempdir().unwrap();
    let played = dir.path().join("played.wav");
    let config = common::repo_root().join("tests/alsa/asound.conf");
    let text = SENTENCES[0];
    let mut command = common::ideadesk(dir.path());
    command
        .env(
            "ALSA_CONFIG_PATH",
            format!("/usr/share/alsa/alsa.conf:{}", config.display()),
        )
        .env("ALSA_PLAYBACK_WAV", &played)
        .arg("--models")
        .arg(common::test_models_dir())
        .args(["say", text, "--voice", "piper", "--json"]);
    let (output, stdout, stderr) = common::run(&mut command);
    assert!(output.status.success(), "say through ALSA failed: {stderr}");
    let summary: serde_json::Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .find(|value: &serde_json::Value| value["kind"] == "summary")
        .expect("a summary line");
    let spoken_s = summary["audio_s"].as_f64().unwrap();

    // The same text with the same seed into a file: the audio the device should get.
    let reference = dir.path().join("reference.wav");
    let (output, _, stderr) = say(
        dir.path(),
        &[
            text,
            "--voice",
            "piper",
            "--out",
            reference.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "say --out failed: {stderr}");
    let loud_seconds = |path: &Path| {
        let (samples, rate) = common::read_wav_mono(path);
        let n_loud = samples.iter().filter(|s| s.abs() > 1e-2).count();
        (n_loud as f64 / f64::from(rate), rate)
    };
    let (expected_s, _) = loud_seconds(&reference);
    let (played_s, rate) = loud_seconds(&played);
    assert_eq!(rate, 48_000);
    eprintln!(
        "spoke {spoken_s:.2} s: {expected_s:.2} s above -40 dBFS; the device got {played_s:.2} s"
    );
    assert!(
        (0.9..=1.1).contains(&(played_s / expected_s)),
        "the device got {played_s:.2} s of sound where the reply has {expected_s:.2} s"
    );
    let heard = common::joined_text(&common::transcribe_json(&played, &[]));
    let wer = common::wer(text, &heard);
    assert!(
        wer <= 0.10,
        "WER {:.1} % through ALSA: {heard:?}",
        wer * 100.0
    );
}

#[test]
fn without_a_piper_voice_say_falls_back_to_espeak() {
    let dir = tempfile::tempdir().unwrap();
    let empty_models = dir.path().join("models");
    std::fs::create_dir_all(&empty_models).unwrap();
    let wav = dir.path().join("out.wav");
    let mut command = common::ideadesk(dir.path());
    command
        .arg("--models")
        .arg(&empty_models)
        .args(["say", "Hello there.", "--out"])
        .arg(&wav);
    let (output, _, stderr) = common::run(&mut command);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("espeak-ng's own voice speaks instead"),
        "{stderr}"
    );
    assert!(stderr.contains("models fetch --role tts"), "{stderr}");
    let (samples, rate) = common::read_wav_mono(&wav);
    assert!(samples.len() as f64 / f64::from(rate) > 0.5);
}

/// No speaker (ALSA configured with no device at all): a missing device is a warning.
/// `say` plays nothing, names `--out`, and exits 0.
#[test]
fn say_without_a_speaker_warns_and_names_out() {
    let data = tempfile::tempdir().unwrap();
    let empty_config = data.path().join("empty-asound.conf");
    std::fs::write(&empty_config, "").unwrap();
    let mut command = common::ideadesk(data.path());
    command
        .env("ALSA_CONFIG_PATH", &empty_config)
        .arg("--models")
        .arg(common::test_models_dir())
        .args(["say", "Hello there.", "--voice", "espeak"]);
    let (output, _, stderr) = common::run(&mut command);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("warning:"), "{stderr}");
    assert!(stderr.contains("--out"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
