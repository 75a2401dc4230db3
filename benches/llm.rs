//! Language-model speed on SmolLM2-135M (Q4_1; on the packed kernel where the CPU has
//! AVX-512 VNNI, else requantised to Q8_0 at load) with two threads: prefill of a ~300-token prompt and decoding of 128 tokens, reported by
//! criterion as tokens per second (its "elements").
//!
//! Run with `cargo bench --bench llm` after `make test-models`. DESIGN.md's reference
//! figures on this machine kind: candle's stock `quantized_llama` ≈ 20–25 tok/s prefill
//! and ≈ 16 tok/s decode; llama.cpp ≈ 200 / 80.

mod common;

use common::NoEnd;

use std::path::Path;
use std::time::Duration;

use candle_core::Device;
use criterion::{Criterion, Throughput};
use ideadesk::llm::{EngineOptions, GenerateRequest, LlmEngine, StopReason};

const SMOLLM2_PATH: &str = "models/test/llm/SmolLM2-135M-Instruct.Q4_1.gguf";
/// Threads for both candle's pool and rayon.
const N_THREADS: &str = "2";
/// Tokens decoded per measured run.
const N_DECODE_TOKENS: usize = 128;
/// Roughly how many tokens the prefill prompt has.
const PREFILL_PROMPT_TOKENS: usize = 300;

fn prompt_of_about(engine: &LlmEngine, n_tokens: usize) -> String {
    let sentence = "The user describes a product idea for people who repair bicycles at home, \
                    and explains what hurts today and how they cope. ";
    let mut prompt = String::new();
    while engine
        .tokenizer()
        .encode(&prompt)
        .map(|ids| ids.len())
        .unwrap_or(0)
        < n_tokens
    {
        prompt.push_str(sentence);
    }
    prompt
}

fn llm(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SMOLLM2_PATH);
    assert!(
        path.is_file(),
        "{} is missing; run `make test-models`",
        path.display()
    );
    let mut engine =
        LlmEngine::load(&path, None, &Device::Cpu, EngineOptions::default()).expect("load SmolLM2");
    let prompt = prompt_of_about(&engine, PREFILL_PROMPT_TOKENS);
    let n_prompt_tokens = engine.tokenizer().encode(&prompt).expect("encode").len();
    let end_ids = engine.tokenizer().end_token_ids().to_vec();

    let mut group = c.benchmark_group("smollm2-135m");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(20));

    group.throughput(Throughput::Elements(n_prompt_tokens as u64));
    group.bench_function(format!("prefill {n_prompt_tokens} tokens"), |b| {
        b.iter_custom(|n_iters| {
            let mut total = Duration::ZERO;
            for _ in 0..n_iters {
                engine.reset_cache();
                let generation = engine
                    .generate(GenerateRequest::raw(prompt.clone()).with_max_new_tokens(0))
                    .expect("prefill");
                total += Duration::from_secs_f64(generation.stats.prefill_ms / 1000.0);
            }
            total
        })
    });

    group.throughput(Throughput::Elements(N_DECODE_TOKENS as u64));
    group.bench_function(format!("decode {N_DECODE_TOKENS} tokens"), |b| {
        b.iter_custom(|n_iters| {
            let mut total = Duration::ZERO;
            for _ in 0..n_iters {
                engine.reset_cache();
                let generation = engine
                    .generate(
                        GenerateRequest::raw(
                            "<|im_start|>user\nTell me a story.<|im_end|>\n<|im_start|>assistant\n",
                        )
                        .with_max_new_tokens(N_DECODE_TOKENS)
                        .with_constraint(Box::new(NoEnd(end_ids.clone()))),
                    )
                    .expect("decode");
                assert_eq!(generation.stop_reason, StopReason::MaxNewTokens);
                total += Duration::from_secs_f64(generation.stats.decode_ms / 1000.0);
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
    llm(&mut criterion);
    criterion.final_summary();
}
