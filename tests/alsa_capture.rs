//! Real cpal capture without a sound card: ALSA's `file` plugin (tests/alsa/asound.conf)
//! gives cpal a capture device that reads a raw 16 kHz i16 file. The captured samples
//! must equal the file's, and capture → VAD → Whisper must hear the words.
//!
//! One test function: ALSA reads its configuration once per process, so the environment
//! is set before the first device is opened and never changed.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ideadesk::audio::capture::{CaptureConfig, CaptureHandle};
use ideadesk::audio::source::MicSource;
use ideadesk::session::hear::{Hear, HearConfig, HearEvent};
use ideadesk::stt::{Transcriber, WhisperConfig};
use ideadesk::vad::silero::SileroDetector;

const CAPTURE_RATE_HZ: u32 = 16_000;

#[test]
fn alsa_file_capture_is_exact_and_is_heard() {
    let dir = tempfile::tempdir().unwrap();
    // The sentence, 16 kHz mono i16, as raw samples.
    let (raw, samples) = common::speech_raw_16k(dir.path(), &common::IDEA_SENTENCES[1..2]);

    let config = common::repo_root().join("tests/alsa/asound.conf");
    // SAFETY: set once, before any thread of this test binary touches the environment or ALSA.
    unsafe {
        std::env::set_var(
            "ALSA_CONFIG_PATH",
            format!("/usr/share/alsa/alsa.conf:{}", config.display()),
        );
        std::env::set_var("ALSA_CAPTURE_RAW", &raw);
    }
    let capture_config = CaptureConfig {
        device: None,
        sample_rate_hz: Some(CAPTURE_RATE_HZ),
        n_channels: Some(1),
        sample_format: Some(cpal::SampleFormat::I16),
    };

    // 1. The captured samples are the file's samples, bit for bit.
    {
        let mut capture =
            CaptureHandle::start(&capture_config).expect("the ALSA file device opens");
        assert_eq!(capture.format().sample_rate_hz, CAPTURE_RATE_HZ);
        let mut captured = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while captured.len() < samples.len() && Instant::now() < deadline {
            capture.read_available(&mut captured);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            captured.len() >= samples.len(),
            "captured {} of {}",
            captured.len(),
            samples.len()
        );
        let expected: Vec<f32> = common::raw_i16(&samples)
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect();
        let n_mismatches = captured[..expected.len()]
            .iter()
            .zip(&expected)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(n_mismatches, 0, "captured samples differ from the file");
    }

    // 2. Capture → Silero VAD → Whisper hears the sentence.
    let detector = SileroDetector::load(
        &common::test_model("vad", "silero_vad.onnx"),
        &candle_core::Device::Cpu,
    )
    .expect("the VAD loads");
    let transcriber = Transcriber::spawn(
        &common::test_model("stt", "ggml-tiny.en.bin"),
        WhisperConfig::default(),
    )
    .expect("Whisper loads");
    let mut hear = Hear::new(
        Some(Box::new(detector)),
        transcriber,
        HearConfig {
            partial_interval_ms: None,
            ..HearConfig::default()
        },
    );
    let mut source = MicSource::open(&capture_config).expect("the ALSA file device opens again");
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let mut finals = Vec::new();
    let mut timed_out = false;
    hear.run(&mut source, Some(&stop), |event| {
        if let HearEvent::Final(transcript) = event {
            finals.push(transcript.text.clone());
            stop.store(true, Ordering::Relaxed);
        }
        if started.elapsed() > Duration::from_secs(60) {
            timed_out = true;
            stop.store(true, Ordering::Relaxed);
        }
    })
    .expect("hearing runs");
    assert!(!timed_out, "no utterance within 60 s");
    let text = finals.join(" ");
    let wer = common::wer(common::IDEA_SENTENCES[1], &text);
    println!("captured and heard: {text:?} (WER {:.1} %)", wer * 100.0);
    assert!(wer <= 0.15, "WER {wer:.3}: {text:?}");
}
