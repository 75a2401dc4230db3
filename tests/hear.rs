//! Hearing end to end through the real binary: audio files → VAD → utterances → Whisper,
//! with the test models. Quality is asserted as word error rate on real and synthesised
//! speech; silence and noise must give no words; bad files must fail cleanly.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{IDEA_SENTENCES, JsonUtterance, joined_text, transcribe_json, wer};
use ideadesk::stt::{EncoderWindow, Transcriber, WhisperConfig};

const JFK_TEXT: &str = "And so my fellow Americans, ask not what your country can do for you, \
                        ask what you can do for your country.";

#[test]
fn jfk_is_transcribed_with_at_most_10_percent_wer() {
    let utterances = transcribe_json(&common::test_data("jfk.wav"), &[]);
    let text = joined_text(&utterances);
    let wer = wer(JFK_TEXT, &text);
    println!(
        "jfk: {} utterances, WER {:.1} %: {text}",
        utterances.len(),
        wer * 100.0
    );
    assert!(wer <= 0.10, "WER {wer:.3}: {text}");
    for pair in utterances.windows(2) {
        assert!(
            pair[0].end <= pair[1].start + 1e-6,
            "utterances in order without overlap: {utterances:?}"
        );
    }
    assert!(
        utterances.last().is_some_and(|u| u.end <= 11.1),
        "times on the file's clock: {utterances:?}"
    );
}

/// Each sentence spoken with 2 s pauses is exactly one utterance, whose span covers the
/// sentence, and the words come back with a WER of at most 15 %.
#[test]
fn synthesised_sentences_give_one_utterance_each_in_two_voices() {
    let dir = tempfile::tempdir().unwrap();
    for voice in ["en-us", "en-gb"] {
        let path = dir.path().join(format!("idea-{voice}.wav"));
        let spans = common::synthesize_speech(&path, voice, &IDEA_SENTENCES);
        let utterances = transcribe_json(&path, &[]);
        let summary: Vec<_> = utterances
            .iter()
            .map(|u| (u.start, u.end, u.text.as_str()))
            .collect();
        assert_eq!(
            utterances.len(),
            IDEA_SENTENCES.len(),
            "{voice}: {summary:?}"
        );
        for (utterance, &(start_s, end_s)) in utterances.iter().zip(&spans) {
            assert!(
                utterance.start <= start_s + 0.1 && utterance.end >= end_s - 0.3,
                "{voice}: utterance {:?} should cover the sentence at {start_s:.2}–{end_s:.2}",
                (utterance.start, utterance.end)
            );
        }
        let wer = wer(&IDEA_SENTENCES.join(" "), &joined_text(&utterances));
        println!("{voice}: WER {:.1} % {summary:?}", wer * 100.0);
        assert!(wer <= 0.15, "{voice}: WER {wer:.3} {summary:?}");
    }
}

/// Uniform white noise at the given RMS level in dBFS, deterministic.
fn white_noise(n_samples: usize, rms_dbfs: f64) -> Vec<i16> {
    let amplitude = 10f64.powf(rms_dbfs / 20.0) * 3f64.sqrt();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n_samples)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            (unit * amplitude * 32767.0) as i16
        })
        .collect()
}

#[test]
fn silence_and_noise_give_no_words_with_either_detector() {
    let dir = tempfile::tempdir().unwrap();
    let silence = dir.path().join("silence.wav");
    let noise = dir.path().join("noise.wav");
    common::write_wav_i16(&silence, &vec![0; 16_000 * 10], 16_000, 1);
    common::write_wav_i16(&noise, &white_noise(16_000 * 10, -30.0), 16_000, 1);
    for (name, path) in [("silence", &silence), ("white noise at -30 dBFS", &noise)] {
        for vad in ["silero", "energy"] {
            let utterances = transcribe_json(path, &["--vad", vad]);
            assert!(utterances.is_empty(), "{name} with {vad}: {utterances:?}");
        }
    }
    // Without a detector Whisper itself hears the noise; the guards must keep it silent.
    let utterances = transcribe_json(&noise, &["--vad", "none"]);
    assert!(
        utterances.is_empty(),
        "noise without a detector: {utterances:?}"
    );
}

/// The same speech at other rates, channel counts, sample formats and codecs reads the
/// same: the same utterances, and WERs within 5 points of each other. Lossy codecs
/// (Vorbis, MP3) change the signal itself, which can cost tiny.en a word or two on its own
/// (measured: Vorbis at the default quality, 2 of 32 words on a fresh Debian), so each
/// lossy file is compared with sox's own decoding of the very same file: our decoder may
/// add at most 5 points to what the codec costs. 8 kHz mono loses
/// everything above 4 kHz, which costs tiny.en words on its own (measured: 1 of 32 on
/// this speech), so it is compared with sox's own 8 kHz → 16 kHz conversion of the same
/// file: our decoder and resampler may add at most 5 points to what the band limit costs.
#[test]
fn formats_and_rates_agree_within_5_wer_points() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.wav");
    common::synthesize_speech(&original, "en-us", &IDEA_SENTENCES);
    let reference = IDEA_SENTENCES.join(" ");
    let transcribe_wer = |name: &str, path: &Path| {
        let utterances = transcribe_json(path, &[]);
        let wer = wer(&reference, &joined_text(&utterances));
        println!(
            "{name}: {} utterances, WER {:.1} %: {}",
            utterances.len(),
            wer * 100.0,
            joined_text(&utterances)
        );
        assert_eq!(
            utterances.len(),
            IDEA_SENTENCES.len(),
            "{name}: {utterances:?}"
        );
        wer
    };
    let lossless: [(&str, &[&str]); 3] = [
        ("44k1-stereo.wav", &["-r", "44100", "-c", "2"]),
        (
            "48k-f32.wav",
            &["-r", "48000", "-e", "floating-point", "-b", "32"],
        ),
        ("stereo.flac", &["-c", "2"]),
    ];
    let mut wers = Vec::new();
    for (name, args) in lossless {
        let path = dir.path().join(name);
        common::sox_convert(&original, &path, args);
        wers.push((name, transcribe_wer(name, &path)));
    }
    let lossy: [(&str, &[&str]); 2] = [
        ("speech.ogg", &["-r", "48000"]),
        ("speech.mp3", &["-r", "44100"]),
    ];
    for (name, args) in lossy {
        let path = dir.path().join(name);
        common::sox_convert(&original, &path, args);
        let decoded_by_sox = dir.path().join(format!("{name}.sox.wav"));
        common::sox_convert(&path, &decoded_by_sox, &[]);
        let ours = transcribe_wer(name, &path);
        let sox = transcribe_wer(&format!("{name} decoded by sox"), &decoded_by_sox);
        assert!(
            ours - sox <= 0.05,
            "{name}: ours {ours:.3} vs decoded by sox {sox:.3}"
        );
        assert!(ours <= 0.15, "{name}: WER {ours:.3}");
    }
    let best = wers.iter().map(|(_, wer)| *wer).fold(f64::MAX, f64::min);
    let worst = wers.iter().map(|(_, wer)| *wer).fold(0.0, f64::max);
    assert!(
        worst - best <= 0.05,
        "lossless WERs spread more than 5 points: {wers:?}"
    );
    assert!(worst <= 0.15, "{wers:?}");

    let narrow = dir.path().join("8k-mono.wav");
    common::sox_convert(&original, &narrow, &["-r", "8000", "-c", "1"]);
    let narrow_by_sox = dir.path().join("8k-upsampled-by-sox.wav");
    common::sox_convert(&narrow, &narrow_by_sox, &["-r", "16000"]);
    let ours = transcribe_wer("8k-mono.wav", &narrow);
    let sox = transcribe_wer("8k upsampled by sox", &narrow_by_sox);
    assert!(
        ours - sox <= 0.05,
        "8 kHz: ours {ours:.3} vs sox-resampled {sox:.3}"
    );
    assert!(
        ours - best <= 0.10,
        "8 kHz: {ours:.3} vs wideband {best:.3}"
    );
}

#[test]
fn partial_transcripts_come_before_the_final_one() {
    let data = tempfile::tempdir().unwrap();
    let mut command = common::ideadesk(data.path());
    command
        .arg("--models")
        .arg(common::test_models_dir())
        .args(["transcribe", "--partials", "--vad", "none"])
        .arg(common::test_data("jfk.wav"));
    let (output, stdout, stderr) = common::run(&mut command);
    assert!(output.status.success(), "{stderr}");
    let partials: Vec<_> = stderr
        .lines()
        .filter(|line| line.starts_with("… ["))
        .collect();
    assert!(!partials.is_empty(), "no partial transcripts in: {stderr}");
    let first_words = common::normalise_words(partials[0]);
    assert!(
        first_words
            .iter()
            .any(|word| ["and", "so", "my", "fellow", "americans"].contains(&word.as_str())),
        "the first partial holds the start of the speech: {partials:?}"
    );
    assert!(
        wer(
            JFK_TEXT,
            &stdout
                .lines()
                .map(|l| l.split("] ").nth(1).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(" ")
        ) <= 0.1,
        "{stdout}"
    );
}

/// Runs the CLI on a file and returns (success, stdout, stderr).
fn transcribe_raw(path: &Path, extra: &[&str]) -> (bool, String, String) {
    let data = tempfile::tempdir().unwrap();
    let mut command = common::ideadesk(data.path());
    command
        .arg("--models")
        .arg(common::test_models_dir())
        .arg("transcribe")
        .arg(path)
        .args(extra);
    let (output, stdout, stderr) = common::run(&mut command);
    (output.status.success(), stdout, stderr)
}

#[test]
fn bad_audio_files_fail_cleanly_or_give_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let jfk = std::fs::read(common::test_data("jfk.wav")).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    // A 16-bit mono header whose channel count field (bytes 22..24) says 0.
    let mut zero_channels = jfk[..4000].to_vec();
    zero_channels[22] = 0;
    zero_channels[23] = 0;
    let cases: [(&str, std::path::PathBuf, bool, &str); 6] = [
        ("empty file", write("empty.wav", b""), false, "is empty"),
        (
            "text renamed .wav",
            write(
                "notes.wav",
                b"just some meeting notes, not audio\n"
                    .repeat(50)
                    .as_slice(),
            ),
            false,
            "not a readable audio file",
        ),
        (
            "header claiming 0 channels",
            write("zero.wav", &zero_channels),
            false,
            "not a readable audio file",
        ),
        (
            "missing file",
            dir.path().join("nope.wav"),
            false,
            "cannot read audio file",
        ),
        ("a directory", dir.path().to_path_buf(), false, "audio"),
        (
            "truncated WAV keeps what is there",
            write("half.wav", &jfk[..jfk.len() / 2]),
            true,
            "fellow",
        ),
    ];
    for (name, path, success, expected) in cases {
        let (ok, stdout, stderr) = transcribe_raw(&path, &[]);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert_eq!(ok, success, "{name}: stdout {stdout} stderr {stderr}");
        let text = format!("{stdout}{stderr}").to_lowercase();
        assert!(
            text.contains(&expected.to_lowercase()),
            "{name}: {expected:?} not in {text}"
        );
    }
}

/// Two hours of audio stream through in bounded memory, and a sentence an hour in is
/// found with its time on the file's clock.
#[test]
fn two_hour_file_streams_in_bounded_memory() {
    const SAMPLE_RATE_HZ: u32 = 16_000;
    const TOTAL_S: usize = 2 * 3600;
    const SPEECH_AT_S: usize = 3600;
    let dir = tempfile::tempdir().unwrap();
    let speech_path = dir.path().join("sentence.wav");
    common::synthesize_speech(&speech_path, "en-us", &IDEA_SENTENCES[1..2]);
    let speech_16k = dir.path().join("sentence-16k.wav");
    common::sox_convert(&speech_path, &speech_16k, &["-r", "16000"]);
    let (speech, _) = common::read_wav_mono(&speech_16k);
    let long = dir.path().join("two-hours.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE_HZ,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&long, spec).unwrap();
    let speech_start = SPEECH_AT_S * SAMPLE_RATE_HZ as usize;
    {
        let mut samples = writer.get_i16_writer((TOTAL_S * SAMPLE_RATE_HZ as usize) as u32);
        for sample_idx in 0..TOTAL_S * SAMPLE_RATE_HZ as usize {
            let value = sample_idx
                .checked_sub(speech_start)
                .and_then(|offset| speech.get(offset))
                .map(|&s| (s * 32767.0) as i16)
                .unwrap_or(0);
            samples.write_sample(value);
        }
        samples.flush().unwrap();
    }
    writer.finalize().unwrap();

    let (ok, stdout, stderr) = transcribe_raw(&long, &["--json", "--vad", "energy", "-v"]);
    assert!(ok, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let utterances: Vec<JsonUtterance> = serde_json::from_value(doc["utterances"].clone()).unwrap();
    assert_eq!(utterances.len(), 1, "{utterances:?}");
    assert!(
        (utterances[0].start - SPEECH_AT_S as f64).abs() < 2.5,
        "{utterances:?}"
    );
    assert!(
        wer(IDEA_SENTENCES[1], &utterances[0].text) <= 0.2,
        "{utterances:?}"
    );
    let peak_mb: u64 = stderr
        .split("peak RSS ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in the log: {stderr}"));
    println!("2-hour file: peak RSS {peak_mb} MB");
    assert!(peak_mb < 500, "peak RSS {peak_mb} MB");
}

/// Utterances that are shorter and longer than the idea sentences, for the window test.
const WINDOW_SENTENCES: [&str; 3] = [
    "No, not really.",
    "It happens maybe three or four times a week.",
    "Parents of small children spend a lot of time on the phone with daycare centres, \
     trying to find a free place, and they usually give up after a few weeks because \
     nobody calls them back.",
];

/// One sentence spoken by espeak-ng, as 16 kHz mono samples with no silence added.
fn spoken_16k(dir: &Path, voice: &str, sentence: &str) -> Vec<f32> {
    let spoken = dir.join("spoken.wav");
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", voice, "-s", "140", "-w"])
        .arg(&spoken)
        .arg(sentence)
        .status()
        .expect("espeak-ng runs (run `make deps` to install it)");
    assert!(status.success(), "espeak-ng failed for {sentence:?}");
    let resampled = dir.join("spoken-16k.wav");
    common::sox_convert(&spoken, &resampled, &["-r", "16000"]);
    let (samples, sample_rate_hz) = common::read_wav_mono(&resampled);
    assert_eq!(sample_rate_hz, 16_000);
    samples
}

/// Encoding only the utterance (the default window, whisper.cpp's `audio_ctx`) instead of
/// Whisper's full 30 s window keeps the word error rate: on jfk.wav and on synthesised
/// sentences from 1 to 11 s in two voices, the fitted window makes no more word errors
/// than the full one.
/// (Single words change both ways: tiny.en hears "copy" for "can't be" with the fitted
/// window, and "sound is good" for "sounds good".)
#[test]
fn fitted_encoder_window_keeps_the_word_error_rate_of_the_full_window() {
    let dir = tempfile::tempdir().unwrap();
    let (jfk, _) = common::read_wav_mono(&common::test_data("jfk.wav"));
    let mut utterances: Vec<(String, Arc<[f32]>)> = vec![(JFK_TEXT.to_string(), Arc::from(jfk))];
    for voice in ["en-us", "en-gb"] {
        for sentence in IDEA_SENTENCES.iter().chain(&WINDOW_SENTENCES) {
            let samples = spoken_16k(dir.path(), voice, sentence);
            utterances.push((sentence.to_string(), Arc::from(samples)));
        }
    }
    let n_words: usize = utterances
        .iter()
        .map(|(reference, _)| common::normalise_words(reference).len())
        .sum();
    let mut errors = std::collections::BTreeMap::new();
    for model in ["ggml-tiny.en.bin"] {
        let path = common::test_model("stt", model);
        for window in [EncoderWindow::Full, EncoderWindow::FitUtterance] {
            let transcriber = Transcriber::spawn(
                &path,
                WhisperConfig {
                    n_threads: 2,
                    window,
                    use_gpu: false,
                    ..WhisperConfig::default()
                },
            )
            .expect("Whisper loads");
            let mut n_errors = 0.0;
            for (idx, (reference, samples)) in utterances.iter().enumerate() {
                let transcript = transcriber
                    .transcribe(idx as u64, 0, Arc::clone(samples))
                    .expect("a transcript");
                let n_reference_words = common::normalise_words(reference).len() as f64;
                let utterance_errors =
                    (wer(reference, &transcript.text) * n_reference_words).round();
                if utterance_errors > 0.0 {
                    println!(
                        "  {model} {window:?}: {:?} for {reference:?}",
                        transcript.text
                    );
                }
                n_errors += utterance_errors;
            }
            println!(
                "{model} {window:?}: WER {:.1} % ({n_errors} errors in {n_words} words)",
                100.0 * n_errors / n_words as f64
            );
            errors.insert((model, window == EncoderWindow::Full), n_errors);
        }
        let (full, fitted) = (errors[&(model, true)], errors[&(model, false)]);
        assert!(
            fitted <= full,
            "{model}: {fitted} word errors with the fitted window, {full} with the full one"
        );
    }
}
