//! Tests of schema-constrained decoding: documents the automaton must accept or refuse,
//! invalid UTF-8, tokens that span structure and split characters, forced tokens, byte
//! budgets, and sampled documents that must validate, with a byte vocabulary, a synthetic
//! one and SmolLM2's. They exercise the vocabulary, the automaton and the constraint
//! together, so they sit in a module of their own next to `constrain.rs`.

use super::*;
use crate::llm::schema::validate;
use serde_json::{Value, json};
use std::path::PathBuf;

/// A deterministic xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound.max(1) as u64) as usize
    }

    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Every single byte as a token, then an end token.
fn byte_vocab() -> Arc<TokenVocab> {
    let tokens: Vec<Vec<u8>> = (0..=255u8).map(|byte| vec![byte]).collect();
    Arc::new(TokenVocab::new(tokens, &[256]))
}

/// Single bytes, structural chunks, words, multi-byte characters whole and split, a
/// special token with no bytes, and an end token (the last id).
fn synthetic_vocab() -> (Arc<TokenVocab>, u32) {
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|byte| vec![byte]).collect();
    let chunks: &[&[u8]] = &[
        b"\":\"",
        b"\"},{\"",
        b"\"}",
        b"\"]",
        b"\",\"",
        b"\":",
        b"{\"",
        b"[{\"",
        b"}]",
        b"\":[",
        b"\":null",
        b"null",
        b"true",
        b"false",
        b"high",
        b"\"high\"",
        b"\"low\"}",
        b"medium",
        b"needs",
        b"\"needs\":[",
        b"who",
        b"pain",
        b"reply",
        b"severity",
        b"\"reply\":\"",
        b" the",
        b" user",
        b" wants",
        b"ing",
        b"\\n",
        b"\\\"",
        b"\\u00e9",
        b"\\ud83d",
        b"12",
        b"345",
        b"0",
        b"-",
        b".5",
        "é".as_bytes(),
        "日本".as_bytes(),
        "€".as_bytes(),
        &"€".as_bytes()[..1],
        &"€".as_bytes()[1..],
        &"😀".as_bytes()[..2],
        &"😀".as_bytes()[2..],
        &"😀".as_bytes()[1..],
        "a😀".as_bytes(),
        b"\xe2\x82",
        b"\xc3",
        b"\xa9 ok",
        b"\n",
        b"\t",
        b"\"\n",
    ];
    tokens.extend(chunks.iter().map(|chunk| chunk.to_vec()));
    tokens.push(Vec::new());
    let end = tokens.len() as u32;
    tokens.push(b"<|end|>".to_vec());
    (Arc::new(TokenVocab::new(tokens, &[end])), end)
}

/// The real SmolLM2 vocabulary as the engine sees it: the tokenizer built from the
/// test model's GGUF metadata, with each token's bytes.
fn smollm2_vocab() -> (Arc<TokenVocab>, u32) {
    use candle_core::quantized::gguf_file;
    let dir = std::env::var_os("IDEADESK_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/test"));
    let path = dir.join("llm/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "{} is missing: run `make test-models`",
        path.display()
    );
    let mut file = std::fs::File::open(&path).expect("opening the GGUF");
    let content = gguf_file::Content::read(&mut file).expect("reading the GGUF header");
    let tokenizer = crate::llm::LlmTokenizer::from_gguf(&content).expect("the tokenizer");
    let tokens = tokenizer.token_bytes();
    assert_eq!(tokens.len(), 49_152, "SmolLM2 has 49,152 tokens");
    let end = *tokenizer.end_token_ids().first().expect("an end token");
    (Arc::new(TokenVocab::new(tokens, &[end])), end)
}

fn product_needs_schema() -> Arc<Schema> {
    let text = r#"{
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
                        "times_per_week": {"type": "integer", "minimum": 0, "maximum": 1000},
                        "metric": {"anyOf": [{"type": "string", "maxLength": 30}, {"type": "null"}]}
                    },
                    "required": ["who", "pain", "severity"]
                }
            },
            "confidence": {"type": "number"},
            "done": {"type": "boolean"},
            "reply": {"type": "string", "maxLength": 200}
        },
        "required": ["needs", "reply"]
    }"#;
    Arc::new(Schema::from_json_str(text).expect("the product-needs schema parses"))
}

/// Feeds `document` byte by byte under `schema`; `accepted` says whether every byte
/// must be taken and the document complete.
fn check_document(schema: &Value, document: &str, accepted: bool) {
    let schema = Arc::new(Schema::from_json(schema).expect("the schema parses"));
    let mut constraint = JsonConstraint::new(schema, byte_vocab(), 4096).expect("a constraint");
    let taken = document
        .as_bytes()
        .iter()
        .all(|&byte| constraint.advance_bytes(&[byte]).is_ok());
    let complete = taken && (constraint.is_complete() || constraint.is_accepting());
    assert_eq!(
        complete,
        accepted,
        "{document}: taken {:?}",
        String::from_utf8_lossy(constraint.text())
    );
}

#[test]
fn automaton_accepts_and_refuses_documents() {
    let object = json!({
        "type": "object",
        "properties": {
            "count": {"type": "integer", "minimum": -3, "maximum": 120},
            "done": {"type": "boolean"},
            "note": {"type": ["string", "null"]},
            "severity": {"enum": ["low", "medium", "high"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
            "title": {"type": "string", "maxLength": 5}
        },
        "required": ["title", "severity"]
    });
    // Properties are declared in alphabetical order, so the order is the same whether
    // serde_json keeps insertion order or sorts keys: count, done, note, severity, tags, title.
    let cases = [
        (r#"{"severity":"low","title":"abc"}"#, true),
        (
            r#"{"count":120,"done":true,"note":null,"severity":"high","tags":["x"],"title":""}"#,
            true,
        ),
        (
            r#"{"count":-3,"note":"é😀\n\"\\\/\u00e9","severity":"medium","title":"ab😀cd"}"#,
            true,
        ),
        (
            r#"{"count":0,"severity":"low","tags":["a","b"],"title":"a"}"#,
            true,
        ),
        (r#"{"title":"abc"}"#, false),
        (r#"{"severity":"low"}"#, false),
        (r#"{"severity":"low","title":"abcdef"}"#, false),
        (r#"{"severity":"mid","title":"a"}"#, false),
        (r#"{"severity":"low","title":"a","extra":1}"#, false),
        (r#"{"severity":"low","title":"a"}x"#, false),
        (r#"{"severity":"low","title":"a"} "#, false),
        (
            r#"{"severity":"low","tags":["a","b","c"],"title":"a"}"#,
            false,
        ),
        (r#"{"severity":"low","tags":[],"title":"a"}"#, false),
        (r#"{"severity":"low","title":"\x"}"#, false),
        (r#"{"severity":"low","title":"\ud800"}"#, false),
        ("{\"severity\":\"low\",\"title\":\"a\nb\"}", false),
        (r#"{"count":121,"severity":"low","title":"a"}"#, false),
        (r#"{"count":-4,"severity":"low","title":"a"}"#, false),
        (r#"{"count":01,"severity":"low","title":"a"}"#, false),
        (r#"{"count":-0,"severity":"low","title":"a"}"#, false),
        (r#"{"title":"a","severity":"low"}"#, false),
        (r#"{ "severity":"low","title":"a"}"#, false),
        (r#"{"severity":"low","title":"a""#, false),
    ];
    for (document, accepted) in cases {
        check_document(&object, document, accepted);
    }
    let scalars = [
        (json!({"type": "integer"}), "-120", true),
        (json!({"type": "integer"}), "0", true),
        (json!({"type": "integer"}), "1234567890123456789", false),
        (json!({"type": "number"}), "-0.25", true),
        (json!({"type": "number"}), "1.", false),
        (json!({"type": "number"}), "1e5", false),
        (json!({"enum": [1, 12, "a"]}), "12", true),
        (json!({"enum": [1, 12, "a"]}), "1", true),
        (json!({"enum": [1, 12, "a"]}), "\"a\"", true),
        (json!({"enum": [1, 12, "a"]}), "2", false),
        (json!({"type": "null"}), "null", true),
        (
            json!({"type": "array", "items": {"type": "number"}}),
            "[1,2.5,-3]",
            true,
        ),
        (
            json!({"type": "array", "items": {"type": "number"}}),
            "[1,]",
            false,
        ),
        (json!({"type": "string"}), "\"\u{7f}\"", true),
        (json!({"type": "string"}), "\"\u{1}\"", false),
        (json!({"type": "string"}), "\"\\u12\"", false),
    ];
    for (schema, document, accepted) in scalars {
        check_document(&schema, document, accepted);
    }
}

#[test]
fn invalid_utf8_is_refused() {
    let schema = Arc::new(Schema::from_json(&json!({"type": "string"})).expect("parses"));
    let cases: [(&[u8], bool); 7] = [
        (b"\"\xc3\xa9\"", true),
        (b"\"\xc3\"", false),
        (b"\"\xc0\xaf\"", false),
        (b"\"\xe0\x80\xaf\"", false),
        (b"\"\xed\xa0\x80\"", false),
        (b"\"\xf4\x90\x80\x80\"", false),
        (b"\"\x80\"", false),
    ];
    for (bytes, accepted) in cases {
        let mut constraint =
            JsonConstraint::new(Arc::clone(&schema), byte_vocab(), 64).expect("a constraint");
        let taken = constraint.advance_bytes(bytes).is_ok() && constraint.is_complete();
        assert_eq!(taken, accepted, "{bytes:?}");
    }
}

/// Forces `tokens` (as byte strings of the synthetic vocabulary) one by one and checks
/// that each passes the mask first.
fn check_tokens(schema: &Value, tokens: &[&[u8]], complete: bool) {
    let (vocab, end) = synthetic_vocab();
    let schema = Arc::new(Schema::from_json(schema).expect("the schema parses"));
    let mut constraint =
        JsonConstraint::new(schema, Arc::clone(&vocab), 512).expect("a constraint");
    for token in tokens {
        let id = (0..vocab.len() as u32)
            .find(|&id| vocab.token_bytes(id) == Some(token))
            .unwrap_or_else(|| panic!("{token:?} is in the vocabulary"));
        let mut logits = vec![0.0f32; vocab.len() + 3];
        constraint.mask_logits(&mut logits);
        assert!(
            logits[id as usize].is_finite(),
            "{:?} masked after {:?}",
            String::from_utf8_lossy(token),
            String::from_utf8_lossy(constraint.text())
        );
        assert!(
            logits[vocab.len() + 1].is_infinite(),
            "ids past the vocabulary are masked"
        );
        constraint.advance(id).expect("an allowed token advances");
    }
    assert_eq!(constraint.is_complete(), complete);
    if complete {
        let mut logits = vec![0.0f32; vocab.len()];
        constraint.mask_logits(&mut logits);
        let allowed: Vec<usize> = (0..logits.len())
            .filter(|&i| logits[i].is_finite())
            .collect();
        assert_eq!(allowed, [end as usize], "only the end token once complete");
        constraint.advance(end).expect("the end token is allowed");
    } else {
        assert!(constraint.advance(end).is_err(), "no end before completion");
    }
}

#[test]
fn tokens_span_structure_and_split_characters() {
    let schema = json!({
        "type": "object",
        "properties": {
            "a": {"type": "array", "items": {"type": "object", "properties": {
                "b": {"type": "string", "maxLength": 4}, "c": {"type": "string"}},
                "required": ["b", "c"]}},
            "d": {"type": "boolean"}
        },
        "required": ["a"]
    });
    let euro = "€".as_bytes();
    let face = "😀".as_bytes();
    let tokens: &[&[u8]] = &[
        b"{\"",
        b"a",
        b"\":[",
        b"{\"",
        b"b",
        b"\":\"",
        &euro[..1],
        &euro[1..],
        &face[..2],
        &face[2..],
        b"\",\"",
        b"c",
        b"\":\"",
        b"\\u00e9",
        b"\\n",
        b"\"},{\"",
        b"b",
        b"\":\"",
        b"\xc3",
        b"\xa9 ok",
        b"\",\"",
        b"c",
        b"\":\"",
        b"\"}",
        b"]",
        b",",
        b"\"",
        b"d",
        b"\":",
        b"true",
        b"}",
    ];
    check_tokens(&schema, tokens, true);
    // A split character may not be followed by a quote before it is finished.
    let (vocab, _) = synthetic_vocab();
    let compiled = Arc::new(Schema::from_json(&json!({"type": "string"})).expect("parses"));
    let mut constraint = JsonConstraint::new(compiled, vocab, 64).expect("a constraint");
    constraint
        .advance_bytes(b"\"\xe2\x82")
        .expect("a partial euro");
    assert!(!constraint.allows_bytes(b"\""));
    assert!(!constraint.allows_bytes("é".as_bytes()));
    assert!(constraint.allows_bytes(b"\xac\""));
    // maxLength counts characters, not bytes.
    let four =
        Arc::new(Schema::from_json(&json!({"type": "string", "maxLength": 2})).expect("parses"));
    let (vocab, _) = synthetic_vocab();
    let mut constraint = JsonConstraint::new(four, vocab, 64).expect("a constraint");
    constraint
        .advance_bytes("\"日本".as_bytes())
        .expect("two characters");
    assert!(!constraint.allows_bytes(b"a"));
    assert!(constraint.allows_bytes(b"\""));
}

#[test]
fn forced_tokens_never_panic() {
    let (vocab, _) = synthetic_vocab();
    let schema = product_needs_schema();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..200 {
        let mut constraint =
            JsonConstraint::new(Arc::clone(&schema), Arc::clone(&vocab), 300).expect("ok");
        for _ in 0..200 {
            let id = rng.below(vocab.len() + 5) as u32;
            let before = constraint.text().len();
            if constraint.advance(id).is_err() {
                assert_eq!(
                    constraint.text().len(),
                    before,
                    "a refused token changes nothing"
                );
            }
        }
    }
}

#[test]
fn small_budgets_are_refused_up_front() {
    let schema = product_needs_schema();
    let needed = schema.min_document_bytes();
    assert_eq!(needed, r#"{"needs":[],"reply":""}"#.len());
    let error = JsonConstraint::new(Arc::clone(&schema), byte_vocab(), needed - 1)
        .expect_err("the budget is too small");
    assert!(
        error.to_string().contains("raise max_document_bytes"),
        "{error}"
    );
    // At exactly the minimum, the only document is the shortest one.
    let mut constraint = JsonConstraint::new(schema, byte_vocab(), needed).expect("a constraint");
    assert!(constraint.allows_bytes(br#"{"needs":[],"reply":""}"#));
    assert!(!constraint.allows_bytes(br#"{"needs":[],"reply":"a"#));
    constraint
        .advance_bytes(br#"{"needs":[],"#)
        .expect("the prefix");
    assert!(!constraint.allows_bytes(b"\"confidence\""));
}

/// Samples documents under `schema` with random logits (uniform among unmasked
/// tokens) and checks that each parses, validates and fits its budget; every few
/// steps it also checks the string fast path against a full trie walk.
fn check_sampling(
    vocab: &Arc<TokenVocab>,
    end: u32,
    documents: usize,
    compare_every_steps: usize,
    seed: u64,
) {
    let schema = product_needs_schema();
    let mut rng = Rng(seed);
    let mut logits = vec![0.0f32; vocab.len() + 7];
    for document in 0..documents {
        let budget = if document % 2 == 0 {
            1200
        } else {
            schema.min_document_bytes() + rng.below(150)
        };
        let mut constraint = JsonConstraint::new(Arc::clone(&schema), Arc::clone(vocab), budget)
            .expect("a constraint");
        let mut steps = 0;
        loop {
            assert!(
                steps <= budget,
                "document {document} ran past {budget} tokens"
            );
            steps += 1;
            if steps % compare_every_steps == 0 {
                let fast = constraint.allowed_ids(true);
                let full = constraint.allowed_ids(false);
                assert_eq!(fast, full, "fast path differs at {:?}", constraint.text());
            }
            for logit in logits.iter_mut() {
                *logit = rng.unit();
            }
            constraint.mask_logits(&mut logits);
            let (best, value) =
                logits
                    .iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (id, &value)| {
                        if value > best.1 { (id, value) } else { best }
                    });
            assert!(
                value.is_finite(),
                "no token allowed after {:?}",
                String::from_utf8_lossy(constraint.text())
            );
            let id = best as u32;
            constraint.advance(id).expect("a sampled token advances");
            if id == end || constraint.is_complete() {
                break;
            }
        }
        let text = constraint.text();
        assert!(text.len() <= budget, "{} bytes > {budget}", text.len());
        let value: Value = serde_json::from_slice(text)
            .unwrap_or_else(|error| panic!("{error}: {:?}", String::from_utf8_lossy(text)));
        validate(&schema, &value).unwrap_or_else(|error| panic!("{error}: {value}"));
    }
}

#[test]
fn sampled_documents_are_valid_with_synthetic_vocab() {
    let (vocab, end) = synthetic_vocab();
    check_sampling(&vocab, end, 300, 7, 0x1234_5678_9ABC_DEF1);
}

#[test]
fn sampled_documents_are_valid_with_smollm2_vocab() {
    let (vocab, end) = smollm2_vocab();
    let missing = vocab.missing_single_bytes();
    assert!(
        !missing.iter().any(|byte| (0x20..0x7F).contains(byte)),
        "printable ASCII bytes without a token: {missing:?}"
    );
    check_sampling(&vocab, end, 200, 41, 0x0DDB_A11C_AFE0_0001);
}
