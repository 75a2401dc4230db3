//! Speaking speed of the joe Piper voice (VITS on candle) with two threads: the
//! real-time factor (synthesis time over speech time) of a 20-word reply spoken as one
//! sentence, and the time from the request to the first audio chunk of a 20-word,
//! two-sentence reply, which is what a listener waits for.
//!
//! Run with `cargo bench --bench tts` after `make test-models`. DESIGN.md's reference on
//! this machine kind: onnxruntime runs the same voice at a real-time factor of ≈ 0.056.

use std::time::{Duration, Instant};

use candle_core::Device;
use criterion::Criterion;
use ideadesk::tts::synth::{SpeechOptions, Synthesizer, VoiceSpec};

const JOE_PATH: &str = "models/test/tts/en_US-joe-medium.onnx";
/// Threads for both candle's pool and rayon.
const N_THREADS: &str = "2";
/// A 20-word reply in one sentence.
const ONE_SENTENCE: &str = "Who on your team feels this problem most often, and what do they do today when the weekly report arrives late?";
/// A 20-word reply in two sentences: the listener hears the first after it alone is made.
const TWO_SENTENCES: &str = "Got it, the report is late every week. Who on your team feels this most, and what do they do today?";

fn tts(c: &mut Criterion) {
    assert!(
        std::path::Path::new(JOE_PATH).is_file(),
        "{JOE_PATH} is missing: run `make test-models`"
    );
    let synthesizer = Synthesizer::spawn(
        VoiceSpec::Piper {
            onnx: JOE_PATH.into(),
        },
        Device::Cpu,
    )
    .expect("the joe voice loads");
    let options = SpeechOptions::default();

    // Real-time factor, printed once from a warm run (criterion reports the time).
    let chunks = synthesizer
        .speak_all(ONE_SENTENCE, options)
        .expect("speech");
    let audio_s: f64 = chunks.iter().map(|chunk| chunk.duration_s()).sum();
    let synthesis_s: f64 = chunks
        .iter()
        .map(|chunk| chunk.synthesis_time.as_secs_f64())
        .sum();
    println!(
        "joe voice: {audio_s:.2} s of speech in {synthesis_s:.3} s, real-time factor {:.3}",
        synthesis_s / audio_s
    );

    let mut group = c.benchmark_group("tts");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("20-word sentence (RTF = time / speech length)", |b| {
        b.iter(|| {
            synthesizer
                .speak_all(ONE_SENTENCE, options)
                .expect("speech")
        })
    });
    group.bench_function("first chunk of a 20-word two-sentence reply", |b| {
        b.iter_custom(|n_iters| {
            let mut total = Duration::ZERO;
            for _ in 0..n_iters {
                let started = Instant::now();
                let mut stream = synthesizer.speak(TWO_SENTENCES, options);
                stream.next().expect("a chunk").expect("speech");
                total += started.elapsed();
                // Let the worker finish the second sentence before the next iteration.
                for chunk in stream {
                    chunk.expect("speech");
                }
            }
            total
        })
    });
    group.finish();
}

fn main() {
    // SAFETY: no other thread exists yet. The app's own defaults, so the bench measures
    // what the app runs.
    unsafe { ideadesk::compute::set_cpu_defaults() };
    for name in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"] {
        if std::env::var_os(name).is_none() {
            // SAFETY: no other thread exists yet; candle and rayon read these when their
            // pools start, which happens later.
            unsafe { std::env::set_var(name, N_THREADS) };
        }
    }
    let mut criterion = Criterion::default().configure_from_args();
    tts(&mut criterion);
    criterion.final_summary();
}
