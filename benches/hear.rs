//! Hearing-stage speed, per second of audio: resampling 48 kHz stereo to 16 kHz mono,
//! Silero and energy voice detection, and Whisper tiny.en on jfk.wav (11 s) with 2
//! threads, whose time over 11 s is the real-time factor.
//!
//! Run with `make bench` (needs `make test-models`; jfk.wav is in tests/data).

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ideadesk::audio::resample::MonoResampler;
use ideadesk::stt::{Transcriber, WhisperConfig};
use ideadesk::vad::energy::EnergyDetector;
use ideadesk::vad::silero::SileroDetector;
use ideadesk::vad::{VAD_FRAME_SAMPLES, VoiceDetector};

fn repo_path(rel: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    assert!(
        path.is_file(),
        "{} is missing: run `make test-models`",
        path.display()
    );
    path
}

fn jfk() -> Vec<f32> {
    let mut reader = hound::WavReader::open(repo_path("tests/data/jfk.wav")).expect("jfk.wav");
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("a sample")) / 32768.0)
        .collect()
}

fn resampling(c: &mut Criterion) {
    let one_second: Vec<f32> = (0..48_000 * 2)
        .map(|i| ((i / 2) as f32 * 0.0576).sin() * 0.5)
        .collect();
    let mut group = c.benchmark_group("resample");
    group.throughput(Throughput::Elements(1)); // one second of audio per iteration
    group.bench_function("48k_stereo_to_16k_mono_per_second", |b| {
        let mut resampler = MonoResampler::new(48_000, 2, 16_000).expect("a resampler");
        let mut out = Vec::with_capacity(16_000);
        b.iter(|| {
            out.clear();
            resampler.push(&one_second, &mut out);
        })
    });
    group.finish();
}

fn voice_detection(c: &mut Criterion) {
    let audio = jfk();
    let one_second = &audio[..16_000 / VAD_FRAME_SAMPLES * VAD_FRAME_SAMPLES];
    let mut group = c.benchmark_group("vad");
    group.throughput(Throughput::Elements(1));
    let mut silero = SileroDetector::load(
        &repo_path("models/test/vad/silero_vad.onnx"),
        &candle_core::Device::Cpu,
    )
    .expect("the Silero VAD loads");
    group.bench_function("silero_per_second", |b| {
        b.iter(|| {
            for frame in one_second.chunks_exact(VAD_FRAME_SAMPLES) {
                silero.speech_probability(frame).expect("a probability");
            }
        })
    });
    let mut energy = EnergyDetector::new();
    group.bench_function("energy_per_second", |b| {
        b.iter(|| {
            for frame in one_second.chunks_exact(VAD_FRAME_SAMPLES) {
                energy.speech_probability(frame).expect("a probability");
            }
        })
    });
    group.finish();
}

fn whisper(c: &mut Criterion) {
    let audio: Arc<[f32]> = Arc::from(jfk());
    let transcriber = Transcriber::spawn(
        &repo_path("models/test/stt/ggml-tiny.en.bin"),
        WhisperConfig {
            n_threads: 2,
            ..WhisperConfig::default()
        },
    )
    .expect("Whisper loads");
    let mut group = c.benchmark_group("stt");
    group.sample_size(10);
    group.bench_function("tiny_en_jfk_11s_2_threads", |b| {
        b.iter(|| {
            transcriber
                .transcribe(1, 0, Arc::clone(&audio))
                .expect("a transcript")
        })
    });
    group.finish();
}

criterion_group!(benches, resampling, voice_detection, whisper);
criterion_main!(benches);
