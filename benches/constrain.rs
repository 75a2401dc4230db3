//! Constrained-decoding speed: one `mask_logits` call over the full 49,152-token SmolLM2
//! vocabulary at typical states (start of the document, after a key, inside a string).
//! It runs before every sampled token, so it must stay well under the model's own decode
//! step (15–20 ms on CPU here); the aim is under 1 ms.
//!
//! Run with `make bench` (needs `make test-models` for the vocabulary).

use std::path::PathBuf;
use std::sync::Arc;

use candle_core::quantized::gguf_file;
use criterion::{Criterion, criterion_group, criterion_main};
use ideadesk::llm::LlmTokenizer;
use ideadesk::llm::constrain::{JsonConstraint, TokenConstraint, TokenVocab};
use ideadesk::llm::schema::Schema;

const SCHEMA: &str = r#"{
    "type": "object",
    "properties": {
        "needs": {
            "type": "array",
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "who": {"type": "string", "maxLength": 40},
                    "pain": {"type": "string", "maxLength": 80},
                    "severity": {"enum": ["low", "medium", "high"]},
                    "workaround": {"type": ["string", "null"], "maxLength": 60},
                    "times_per_week": {"type": "integer", "minimum": 0, "maximum": 1000}
                },
                "required": ["who", "pain", "severity"]
            }
        },
        "reply": {"type": "string", "maxLength": 200}
    },
    "required": ["needs", "reply"]
}"#;

/// Budget for the benchmarked documents.
const MAX_DOCUMENT_BYTES: usize = 2048;

/// The SmolLM2 vocabulary as bytes, through the engine's own GGUF-metadata tokenizer.
fn smollm2_vocab() -> TokenVocab {
    let path = std::env::var_os("IDEADESK_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/test"))
        .join("llm/SmolLM2-135M-Instruct.Q4_1.gguf");
    let mut file = std::fs::File::open(&path)
        .unwrap_or_else(|_| panic!("{} is missing: run `make test-models`", path.display()));
    let content = gguf_file::Content::read(&mut file).expect("reading the GGUF header");
    let tokenizer = LlmTokenizer::from_gguf(&content).expect("the tokenizer from GGUF metadata");
    TokenVocab::new(tokenizer.token_bytes(), tokenizer.end_token_ids())
}

fn masking(c: &mut Criterion) {
    let vocab = Arc::new(smollm2_vocab());
    let schema = Arc::new(Schema::from_json_str(SCHEMA).expect("the schema parses"));
    let states: [(&str, &[u8]); 4] = [
        ("start of document", b""),
        ("after a key", br#"{"needs":[{"who":"#),
        ("inside a string", br#"{"needs":[{"who":"people who sketch"#),
        (
            "inside the reply",
            br#"{"needs":[],"reply":"Who has this problem most of"#,
        ),
    ];
    let mut group = c.benchmark_group("mask_logits 49,152 tokens");
    for (name, prefix) in states {
        let mut constraint =
            JsonConstraint::new(Arc::clone(&schema), Arc::clone(&vocab), MAX_DOCUMENT_BYTES)
                .expect("a constraint");
        constraint.advance_bytes(prefix).expect("a valid prefix");
        let mut logits = vec![0.0f32; vocab.len()];
        group.bench_function(name, |b| {
            b.iter(|| {
                logits.fill(0.0);
                constraint.mask_logits(&mut logits);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, masking);
criterion_main!(benches);
