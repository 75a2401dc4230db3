//! Fuzzing of every parser that reads input from outside: audio files, ONNX, GGUF and
//! CTranslate2 model files (and the CTranslate2 → whisper.cpp ggml conversion), images,
//! JSON schemas, the constrained-decoding automaton and the sentence splitters.
//!
//! Each target is one `#[test]` that calls [`check`]. It first runs every seed of the
//! target unmodified: the files under `fuzz/corpus/<target>/` (written by
//! `scripts/fuzz-corpus.py`; for the schema targets also the schemas the product sends to
//! the model). Then it runs a seeded sweep: for seed `S`, `S + 1`, … a ChaCha8 generator
//! seeded with the number drives bolero's generator to pick a seed file and a few byte
//! edits (flip or set a byte, write a 16-, 32- or 64-bit word such as a length or a sample
//! rate, cut, insert, remove, duplicate, splice in bytes of another seed), and optionally
//! to repair the PNG and Ogg checksums so that the edit reaches the parser behind them.
//! The sweep stops after a time budget per target or an iteration cap, whichever comes
//! first, and prints how many inputs it ran.
//!
//! A parser may refuse an input with an error; that is its job. A finding is a panic (or
//! a broken invariant the target asserts, such as the constraint's mask disagreeing with
//! what it accepts), a hang (one input running longer than [`HANG_LIMIT`]) or a single
//! allocation over [`MAX_ALLOCATION_BYTES`] (a size read from the input and trusted). The
//! test then fails, naming the target, the seed and the seed file, and writes the input
//! to `target/fuzz-findings/<target>/`. A hang or an oversized allocation ends the whole
//! test binary, since neither can be unwound.
//!
//! Why: these parsers read files a user downloads or drops in, and a panic, an abort or a
//! hang in one takes the assistant down mid-interview. A short seeded run in every
//! `cargo test` keeps them honest; `make fuzz` runs the same loop for longer from a fresh
//! seed.
//!
//! Environment:
//! - `IDEADESK_FUZZ_SECONDS`: time budget per target (default [`DEFAULT_SECONDS`]).
//! - `IDEADESK_FUZZ_SEED`: the first seed (default 0).
//! - `IDEADESK_FUZZ_MAX_ITERATIONS`: cap on mutated inputs per target.
//! - `IDEADESK_FUZZ_INPUT`: run this one file through the target instead, for replaying a
//!   finding.
//! - `IDEADESK_FUZZ_VERBOSE`: print what each seed did (with `--nocapture`), to see that
//!   the seeds get past the parser's first checks.
//!
//! Replay a finding by its seed (the sweep always runs at least one seed, so a budget of
//! 0 runs exactly that one), or by its file:
//!
//! ```text
//! IDEADESK_FUZZ_SEED=1234 IDEADESK_FUZZ_SECONDS=0 cargo test --test fuzz -- onnx --exact
//! IDEADESK_FUZZ_INPUT=target/fuzz-findings/onnx/seed-1234.bin cargo test --test fuzz -- onnx --exact
//! ```
//!
//! A seed names the same input only with the same seed files; after a corpus change,
//! replay the saved file instead. A finding worth keeping goes into the target's corpus
//! folder (or, better, into `scripts/fuzz-corpus.py`) once fixed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Cursor, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bolero::TypeGenerator;
use bolero::generator::bolero_generator::driver::{Options, Rng as DriverRng};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::Value;

use ideadesk::audio::source::{AudioSource, FileSource};
use ideadesk::llm::LlmTokenizer;
use ideadesk::llm::constrain::{JsonConstraint, TokenConstraint, TokenVocab};
use ideadesk::llm::engine::{inspect_gguf_from, read_gguf_content};
use ideadesk::llm::schema::{Schema, validate};
use ideadesk::models::convert::WhisperWeightType;
use ideadesk::models::convert::ct2::Ct2Model;
use ideadesk::models::convert::whisper_ggml::write_whisper_ggml;
use ideadesk::models::onnx::OnnxModel;
use ideadesk::needs::Slot;
use ideadesk::needs::cues;
use ideadesk::tts::text::{SentenceSplitter, sentences as spoken_sentences};
use ideadesk::vision::frame::load_image_bytes;

/// Time budget of each target's seeded sweep, in seconds, unless `IDEADESK_FUZZ_SECONDS`
/// says otherwise. Nine targets, two at a time in a debug build, stay well under a
/// minute together.
const DEFAULT_SECONDS: f64 = 6.0;
/// Mutated inputs per target at most, unless `IDEADESK_FUZZ_MAX_ITERATIONS` says
/// otherwise: a bound for fast machines, far above what the time budget allows here.
const DEFAULT_MAX_ITERATIONS: u64 = 10_000_000;
/// One input running longer than this is a hang. The slowest seed takes well under a
/// second in a debug build.
const HANG_LIMIT: Duration = Duration::from_secs(5);
/// How often the watchdog looks at the running input.
const WATCHDOG_INTERVAL: Duration = Duration::from_millis(100);
/// A single allocation larger than this while an input runs is a finding: a length or a
/// count read from the input and trusted. The largest legitimate one is the image
/// decoder's, at most 160 MB for a 40-megapixel RGBA image.
const MAX_ALLOCATION_BYTES: usize = 256 << 20;
/// Seeds whose file names start with this run as they are but are not mutated: each run
/// of one takes tens of milliseconds, and mutating it would eat the time budget.
const SLOW_SEED_PREFIX: &str = "slow_";
/// Byte edits per mutated input at most.
const MAX_EDITS: usize = 4;
/// Bytes one insert, duplicate or splice edit moves at most.
const MAX_EDIT_BYTES: usize = 256;
/// Blocks the audio target reads from one input at most (a few seconds of audio; every
/// seed is shorter).
const MAX_AUDIO_BLOCKS: usize = 10_000;
/// The constraint target refuses schemas whose shortest document is longer than this,
/// in bytes, to keep one input fast.
const MAX_CONSTRAINED_DOCUMENT_BYTES: usize = 4096;

// ---------------------------------------------------------------- the targets

/// A parser under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    AudioDecode,
    Onnx,
    Gguf,
    Ct2,
    WhisperGgml,
    Image,
    JsonSchema,
    Constrain,
    Sentences,
}

/// What one input did: `Err` is the parser refusing it, which is fine.
type Outcome = Result<(), String>;

impl Target {
    /// The target's name: its test, its corpus folder and its findings folder.
    fn name(self) -> &'static str {
        match self {
            Target::AudioDecode => "audio_decode",
            Target::Onnx => "onnx",
            Target::Gguf => "gguf",
            Target::Ct2 => "ct2",
            Target::WhisperGgml => "whisper_ggml",
            Target::Image => "image",
            Target::JsonSchema => "json_schema",
            Target::Constrain => "constrain",
            Target::Sentences => "sentences",
        }
    }

    /// Runs one input; panics on a finding.
    fn run(self, input: &[u8]) -> Outcome {
        match self {
            Target::AudioDecode => run_audio_decode(input),
            Target::Onnx => run_onnx(input),
            Target::Gguf => run_gguf(input),
            Target::Ct2 => run_ct2(input),
            Target::WhisperGgml => run_whisper_ggml(input),
            Target::Image => run_image(input),
            Target::JsonSchema => run_json_schema(input),
            Target::Constrain => run_constrain(input),
            Target::Sentences => run_sentences(input),
        }
    }

    /// Seeds that come from the code rather than from files.
    fn built_in_seeds(self) -> Vec<Seed> {
        match self {
            Target::JsonSchema | Target::Constrain => {
                let schemas = [
                    ("turn_update_schema", ideadesk::needs::turn_update_schema()),
                    ("answer_schema", ideadesk::needs::dialogue::answer_schema()),
                ];
                schemas
                    .into_iter()
                    .map(|(name, schema)| {
                        let mut bytes = schema.to_string().into_bytes();
                        bytes.push(0);
                        // Drive bytes for the constraint, a document for the schema.
                        bytes.extend((0..160u32).map(|i| (i.wrapping_mul(151) % 251) as u8));
                        Seed {
                            name: format!("<built-in {name}>"),
                            bytes,
                        }
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Fixes the checksums a mutation broke, so the edit reaches the parser behind them.
    fn repair_checksums(self, input: &mut [u8]) {
        match self {
            Target::Image => repair_png_crcs(input),
            Target::AudioDecode => repair_ogg_crcs(input),
            _ => {}
        }
    }
}

/// Decodes the whole stream, as the transcriber's file source does.
fn run_audio_decode(input: &[u8]) -> Outcome {
    let mut source =
        FileSource::from_bytes("fuzz-input", input.to_vec()).map_err(|err| err.to_string())?;
    for _ in 0..MAX_AUDIO_BLOCKS {
        match source.next_block() {
            Ok(Some(block)) => {
                assert!(
                    block.iter().all(|sample| sample.is_finite()),
                    "a decoded block holds a sample that is not finite"
                );
            }
            Ok(None) => return Ok(()),
            Err(err) => return Err(err.to_string()),
        }
    }
    Ok(())
}

/// Parses the model, then reads every weight as each conversion does.
fn run_onnx(input: &[u8]) -> Outcome {
    let model = OnnxModel::parse(input).map_err(|err| err.to_string())?;
    for weight in model.graph.weights() {
        let tensor = weight.tensor;
        let shape = tensor.shape();
        let count = tensor.num_elements();
        if let (Ok(shape), Ok(count)) = (&shape, &count) {
            assert_eq!(
                shape.iter().product::<usize>(),
                *count,
                "the shape of `{}` does not hold its element count",
                weight.name
            );
        }
        let n_values = [
            tensor.to_f32_vec().map(|values| values.len()),
            tensor.to_i64_vec().map(|values| values.len()),
        ];
        for n in n_values.into_iter().flatten() {
            let count = count.as_ref().unwrap_or_else(|err| {
                panic!(
                    "`{}` converts although its shape is invalid ({err})",
                    weight.name
                )
            });
            assert_eq!(
                n, *count,
                "`{}` converts to a different number of values than its shape holds",
                weight.name
            );
        }
        let _ = tensor.to_candle(&candle_core::Device::Cpu);
        let _ = model.graph.consumers(weight.name).count();
    }
    Ok(())
}

/// Inspects the header as `--llm` does, then builds the tokenizer from its metadata as
/// the engine does when no tokenizer.json lies beside the model.
fn run_gguf(input: &[u8]) -> Outcome {
    let summary = inspect_gguf_from(&mut Cursor::new(input), Path::new("fuzz-input.gguf"));
    if let Ok(summary) = &summary {
        let _ = summary.describe();
    }
    if let Ok(content) = read_gguf_content(&mut Cursor::new(input)) {
        let _ = LlmTokenizer::from_gguf(&content);
    }
    summary.map(drop).map_err(|err| err.to_string())
}

/// Parses a CTranslate2 `model.bin` and reads every variable.
fn run_ct2(input: &[u8]) -> Outcome {
    let model = Ct2Model::parse(input)?;
    for variable in model.variables.values() {
        if let Some(values) = variable.to_f32() {
            assert_eq!(values.len(), variable.n_elements());
        }
        let _ = variable.scalar_int();
    }
    for alias in model.aliases.keys() {
        let _ = model.get(alias);
    }
    Ok(())
}

/// Converts a CTranslate2 Whisper export to whisper.cpp's ggml format, in each weight
/// type, into a counting sink. (Nothing of ours reads ggml files: whisper.cpp does, so
/// the conversion that writes them is what takes outside input.)
fn run_whisper_ggml(input: &[u8]) -> Outcome {
    let model = Ct2Model::parse(input)?;
    let tokens: Vec<Vec<u8>> = [&b"a"[..], b"b", b" hello", b"\xe2\x82"]
        .iter()
        .map(|token| token.to_vec())
        .collect();
    let mut refusals = Vec::new();
    for weight_type in [
        WhisperWeightType::F16,
        WhisperWeightType::Q8_0,
        WhisperWeightType::Q5_0,
    ] {
        let mut sink = ByteCounter::default();
        match write_whisper_ggml(&model, &tokens, weight_type, &mut sink) {
            Ok(n_bytes) => assert_eq!(n_bytes, sink.n_bytes, "the byte count is wrong"),
            Err(err) => refusals.push(format!("{}: {err}", weight_type.as_str())),
        }
    }
    // Refused only when no weight type converts (small widths cannot be quantised).
    if refusals.len() == 3 {
        return Err(refusals.join("; "));
    }
    Ok(())
}

/// A writer that only counts.
#[derive(Default)]
struct ByteCounter {
    n_bytes: u64,
}

impl Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.n_bytes += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Loads an image as the `look` command and the session do.
fn run_image(input: &[u8]) -> Outcome {
    let loaded = load_image_bytes(input).map_err(|err| err.to_string())?;
    let (width, height) = loaded.image.dimensions();
    assert!(width >= 1 && height >= 1, "an empty image loaded");
    assert!(
        width.max(height) <= ideadesk::vision::frame::WORKING_MAX_SIDE_PX,
        "a {width}×{height} image was not downscaled"
    );
    Ok(())
}

/// Splits an input into the text before its first NUL byte and the bytes after it.
fn split_at_nul(input: &[u8]) -> (String, &[u8]) {
    match input.iter().position(|&byte| byte == 0) {
        Some(at) => (
            String::from_utf8_lossy(&input[..at]).into_owned(),
            &input[at + 1..],
        ),
        None => (String::from_utf8_lossy(input).into_owned(), &[]),
    }
}

/// Compiles a schema (the text before the first NUL) both ways and validates a
/// document (the bytes after it) against it.
fn run_json_schema(input: &[u8]) -> Outcome {
    let (text, document) = split_at_nul(input);
    let ordered = Schema::from_json_str(&text);
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        let unordered = Schema::from_json(&value);
        assert_eq!(
            ordered.is_ok(),
            unordered.is_ok(),
            "the schema compiles from its text but not from its value, or the other way \
             round: {ordered:?} / {unordered:?}"
        );
    }
    let schema = ordered.map_err(|err| err.to_string())?;
    let _ = schema.min_document_bytes();
    if let Ok(document) = serde_json::from_slice::<Value>(document) {
        let _ = validate(&schema, &document);
    }
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        let _ = validate(&schema, &value);
    }
    Ok(())
}

/// Every single byte, structural pieces, words, split characters, one token with no
/// bytes and, last, the end token.
fn constraint_vocab() -> Arc<TokenVocab> {
    static VOCAB: OnceLock<Arc<TokenVocab>> = OnceLock::new();
    Arc::clone(VOCAB.get_or_init(|| {
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|byte| vec![byte]).collect();
        let pieces: &[&[u8]] = &[
            b"{\"",
            b"\":",
            b"\":\"",
            b"\",\"",
            b"\"}",
            b"\"]",
            b"}]",
            b"[{\"",
            b"null",
            b"true",
            b"false",
            b"low",
            b"high",
            b"needs",
            b"\\n",
            b"\\\"",
            b"\\u00e9",
            b"\\ud83d",
            b"12",
            b"-0",
            b".5",
            b"e+3",
            b"\xc3",
            b"\xa9",
            b"\xe2\x82",
            b"\xf0\x9f\x98",
            b" the",
        ];
        tokens.extend(pieces.iter().map(|piece| piece.to_vec()));
        tokens.push(Vec::new());
        let end = tokens.len() as u32;
        tokens.push(b"<|end|>".to_vec());
        Arc::new(TokenVocab::new(tokens, &[end]))
    }))
}

/// Decodes under a schema (the text before the first NUL) with the bytes after it
/// choosing the tokens: mostly one of the tokens the mask allows, sometimes any token.
/// Checks that the mask and `advance` agree, that the mask never leaves no way on, and
/// that every finished document parses, validates and fits its budget.
fn run_constrain(input: &[u8]) -> Outcome {
    let (text, drive) = split_at_nul(input);
    let schema = Arc::new(Schema::from_json_str(&text).map_err(|err| err.to_string())?);
    let shortest = schema.min_document_bytes();
    if shortest > MAX_CONSTRAINED_DOCUMENT_BYTES {
        return Err(format!("the shortest document takes {shortest} bytes"));
    }
    let Some((&budget_byte, mut drive)) = drive.split_first() else {
        return Ok(());
    };
    // A tight budget forces documents to close; a loose one lets them wander.
    let budget = if budget_byte & 0x80 == 0 {
        shortest + usize::from(budget_byte % 64)
    } else {
        shortest + 1024
    };
    let vocab = constraint_vocab();
    let end_token = vocab.len() as u32 - 1;
    let mut constraint = JsonConstraint::new(Arc::clone(&schema), Arc::clone(&vocab), budget)
        .map_err(|err| err.to_string())?;
    // The model's vocabulary may be larger than the tokenizer's.
    let mut logits = vec![0.0f32; vocab.len() + 7];
    while let Some((&choice, rest)) = drive.split_first() {
        drive = rest;
        logits.fill(0.0);
        constraint.mask_logits(&mut logits);
        let allowed: Vec<u32> = (0..logits.len() as u32)
            .filter(|&id| logits[id as usize].is_finite())
            .collect();
        let document = String::from_utf8_lossy(constraint.text()).into_owned();
        assert!(!allowed.is_empty(), "no token may follow {document:?}");
        let token = if choice & 0x80 == 0 {
            allowed[usize::from(choice) % allowed.len()]
        } else {
            u32::from(choice & 0x7f).wrapping_mul(37) % logits.len() as u32
        };
        let was_allowed = logits[token as usize].is_finite();
        let before = constraint.text().len();
        let advanced = constraint.advance(token);
        assert_eq!(
            advanced.is_ok(),
            was_allowed,
            "token {token} was {} by the mask but {} by advance after {document:?}",
            if was_allowed { "allowed" } else { "refused" },
            if advanced.is_ok() { "taken" } else { "refused" },
        );
        if advanced.is_err() {
            assert_eq!(
                constraint.text().len(),
                before,
                "a refused token changed the text"
            );
            continue;
        }
        assert!(
            constraint.text().len() <= budget,
            "{document:?} ran past its budget of {budget} bytes"
        );
        if token == end_token {
            check_constrained_document(&schema, constraint.text());
            constraint.reset();
        }
    }
    Ok(())
}

/// A document the constraint let end must parse and match its schema.
fn check_constrained_document(schema: &Schema, text: &[u8]) {
    let shown = String::from_utf8_lossy(text);
    let value: Value = serde_json::from_slice(text)
        .unwrap_or_else(|err| panic!("the constraint ended {shown:?}, which is not JSON: {err}"));
    if let Err(err) = validate(schema, &value) {
        panic!("the constraint ended {shown:?}, which does not match its schema: {err}");
    }
}

/// Splits text as the cue rules and the voice do, and runs every cue rule on each
/// sentence and clause.
fn run_sentences(input: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(input);

    let heard = cues::sentences(&text);
    let heard_words: Vec<&str> = heard.iter().flat_map(|s| s.split_whitespace()).collect();
    let text_words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(
        heard_words, text_words,
        "cues::sentences lost or changed words"
    );
    for sentence in &heard {
        assert!(
            !sentence.is_empty(),
            "cues::sentences gave an empty sentence"
        );
        let _ = cues::act(sentence);
        let _ = cues::correction(sentence);
        let _ = cues::is_problem(sentence);
        let _ = cues::is_wish(sentence);
        let _ = cues::describes_need(sentence);
        let _ = cues::actor_phrase(sentence);
        let _ = cues::copula_actor(sentence);
        let _ = cues::frequency_phrase(sentence);
        let _ = cues::actor_of(sentence);
        for clause in cues::clauses(sentence) {
            let _ = cues::explicit_slot(&clause);
            let _ = cues::slot_evidence(&clause);
            let _ = cues::slots_heard(&clause);
            let _ = cues::is_about_frequency(&clause);
            let _ = cues::topic_reference(&clause);
            let _ = cues::clause_value(&clause);
            let _ = cues::head_noun(&clause);
            let _ = cues::is_strong_pain(&clause);
            for slot in Slot::ALL {
                let _ = cues::fits_slot(&clause, slot);
                let _ = cues::slot_value(&clause, slot);
            }
        }
    }

    let spoken = spoken_sentences(&text);
    for sentence in &spoken {
        assert!(
            sentence.chars().any(char::is_alphanumeric),
            "tts::text::sentences gave {sentence:?}, with nothing to speak"
        );
    }
    // Streamed in fragments the input's bytes choose, the text splits the same way.
    let mut splitter = SentenceSplitter::new();
    let mut streamed = Vec::new();
    let mut rest: &str = &text;
    let mut lengths = input.iter().cycle();
    while !rest.is_empty() {
        let wanted = usize::from(lengths.next().copied().unwrap_or(1) % 9) + 1;
        let mut cut = wanted.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (fragment, after) = rest.split_at(cut);
        streamed.extend(splitter.push(fragment));
        rest = after;
    }
    streamed.extend(splitter.finish());
    assert_eq!(
        streamed, spoken,
        "SentenceSplitter in fragments disagrees with tts::text::sentences"
    );
    Ok(())
}

// ---------------------------------------------------------------- checksums

/// Rewrites the CRC of every whole chunk of a PNG.
fn repair_png_crcs(input: &mut [u8]) {
    const SIGNATURE_BYTES: usize = 8;
    let mut at = SIGNATURE_BYTES;
    while at + 12 <= input.len() {
        let length = u32::from_be_bytes([input[at], input[at + 1], input[at + 2], input[at + 3]]);
        let Some(end) = usize::try_from(length)
            .ok()
            .and_then(|length| (at + 8).checked_add(length))
            .filter(|&end| end + 4 <= input.len())
        else {
            return;
        };
        let crc = crc32fast::hash(&input[at + 4..end]);
        input[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
}

/// CRC-32 as Ogg computes it (polynomial 0x04C11DB7, not reflected, no final xor).
fn ogg_crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &byte in bytes {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Rewrites the CRC of every whole Ogg page.
fn repair_ogg_crcs(input: &mut [u8]) {
    const HEADER_BYTES: usize = 27;
    const CRC_AT: usize = 22;
    let mut at = 0;
    while at + HEADER_BYTES <= input.len() {
        if &input[at..at + 4] != b"OggS" {
            at += 1;
            continue;
        }
        let n_segments = usize::from(input[at + 26]);
        let table_end = at + HEADER_BYTES + n_segments;
        if table_end > input.len() {
            return;
        }
        let body: usize = input[at + HEADER_BYTES..table_end]
            .iter()
            .map(|&n| usize::from(n))
            .sum();
        let end = table_end + body;
        if end > input.len() {
            return;
        }
        input[at + CRC_AT..at + CRC_AT + 4].fill(0);
        let crc = ogg_crc32(&input[at..end]);
        input[at + CRC_AT..at + CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
}

// ---------------------------------------------------------------- mutations

/// Values that break parsers more often than random ones: small counts, the limits of
/// each width and their neighbours.
const EDGE_WORDS: [u64; 24] = [
    0,
    1,
    2,
    3,
    7,
    8,
    16,
    255,
    256,
    1000,
    4096,
    32_767,
    32_768,
    65_535,
    65_536,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
    0x1_0000_0000,
    i64::MAX as u64,
    1 << 63,
    u64::MAX - 1,
    u64::MAX,
];

/// A number to write into the input.
#[derive(Debug, Clone, TypeGenerator)]
enum Word {
    /// A small count or index.
    Small(#[generator(0u64..=64)] u64),
    /// One of [`EDGE_WORDS`].
    Edge(#[generator(0..EDGE_WORDS.len())] usize),
    /// A power of two, or one less.
    PowerOfTwo {
        #[generator(0u32..64)]
        exponent: u32,
        minus_one: bool,
    },
    /// Any value.
    Any(u64),
}

impl Word {
    fn value(&self) -> u64 {
        match *self {
            Word::Small(value) | Word::Any(value) => value,
            Word::Edge(index) => EDGE_WORDS[index % EDGE_WORDS.len()],
            Word::PowerOfTwo {
                exponent,
                minus_one,
            } => (1u64 << (exponent % 64)) - u64::from(minus_one),
        }
    }
}

/// One byte edit; offsets wrap around the input's length.
#[derive(Debug, Clone, TypeGenerator)]
enum Edit {
    /// Flips the bits of `mask` in one byte.
    XorByte { offset: usize, mask: u8 },
    /// Sets one byte.
    SetByte { offset: usize, value: u8 },
    /// Writes a 16-bit word.
    SetU16 {
        offset: usize,
        value: Word,
        big_endian: bool,
    },
    /// Writes a 32-bit word (a length, a count, a sample rate).
    SetU32 {
        offset: usize,
        value: Word,
        big_endian: bool,
    },
    /// Writes a 64-bit word.
    SetU64 {
        offset: usize,
        value: Word,
        big_endian: bool,
    },
    /// Cuts the input to `keep` bytes.
    Truncate { keep: usize },
    /// Inserts bytes.
    Insert {
        offset: usize,
        #[generator(Vec::produce().with().len(1usize..=16))]
        bytes: Vec<u8>,
    },
    /// Removes a range.
    Remove {
        offset: usize,
        #[generator(1usize..=MAX_EDIT_BYTES)]
        len: usize,
    },
    /// Copies a range to another place.
    Duplicate {
        offset: usize,
        #[generator(1usize..=MAX_EDIT_BYTES)]
        len: usize,
        to: usize,
    },
    /// Writes a range of another seed over this one.
    Splice {
        seed: usize,
        offset: usize,
        #[generator(1usize..=MAX_EDIT_BYTES)]
        len: usize,
        to: usize,
    },
}

/// What one fuzz seed number makes: which seed file to start from, the edits, and
/// whether to repair checksums afterwards.
#[derive(Debug, Clone, TypeGenerator)]
struct Mutation {
    seed: usize,
    #[generator(Vec::produce().with().len(1usize..=MAX_EDITS))]
    edits: Vec<Edit>,
    repair_checksums: bool,
}

/// The mutation seed number `fuzz_seed` makes: bolero's generator driven by ChaCha8.
fn mutation_for(fuzz_seed: u64) -> Mutation {
    let rng = ChaCha8Rng::seed_from_u64(fuzz_seed);
    let mut driver = DriverRng::new(rng, &Options::default());
    Mutation::generate(&mut driver).expect("the generator always makes a mutation")
}

/// Writes `bytes` at `offset` (wrapped), as far as the input reaches.
fn overwrite(data: &mut [u8], offset: usize, bytes: &[u8]) {
    if data.is_empty() {
        return;
    }
    let at = offset % data.len();
    let n = bytes.len().min(data.len() - at);
    data[at..at + n].copy_from_slice(&bytes[..n]);
}

/// The bytes of a word of `n_bytes` bytes.
fn word_bytes(value: u64, n_bytes: usize, big_endian: bool) -> Vec<u8> {
    let little = value.to_le_bytes();
    let mut bytes = little[..n_bytes].to_vec();
    if big_endian {
        bytes.reverse();
    }
    bytes
}

fn apply(edit: &Edit, data: &mut Vec<u8>, seeds: &[Seed]) {
    let len = data.len();
    match edit {
        Edit::XorByte { offset, mask } => {
            if len > 0 {
                data[offset % len] ^= (*mask).max(1);
            }
        }
        Edit::SetByte { offset, value } => overwrite(data, *offset, &[*value]),
        Edit::SetU16 {
            offset,
            value,
            big_endian,
        } => overwrite(data, *offset, &word_bytes(value.value(), 2, *big_endian)),
        Edit::SetU32 {
            offset,
            value,
            big_endian,
        } => overwrite(data, *offset, &word_bytes(value.value(), 4, *big_endian)),
        Edit::SetU64 {
            offset,
            value,
            big_endian,
        } => overwrite(data, *offset, &word_bytes(value.value(), 8, *big_endian)),
        Edit::Truncate { keep } => data.truncate(keep % (len + 1)),
        Edit::Insert { offset, bytes } => {
            let at = offset % (len + 1);
            data.splice(at..at, bytes.iter().copied());
        }
        Edit::Remove { offset, len: n } => {
            if len > 0 {
                let at = offset % len;
                data.drain(at..(at + n).min(len));
            }
        }
        Edit::Duplicate { offset, len: n, to } => {
            if len > 0 {
                let at = offset % len;
                let copy = data[at..(at + n).min(len)].to_vec();
                let to = to % (len + 1);
                data.splice(to..to, copy);
            }
        }
        Edit::Splice {
            seed,
            offset,
            len: n,
            to,
        } => {
            let other = &seeds[seed % seeds.len()].bytes;
            if other.is_empty() {
                return;
            }
            let at = offset % other.len();
            let piece = &other[at..(at + n).min(other.len())];
            let to = to % (len + 1);
            let overlap = piece.len().min(len - to);
            data[to..to + overlap].copy_from_slice(&piece[..overlap]);
            data.extend_from_slice(&piece[overlap..]);
        }
    }
}

/// The input seed number `fuzz_seed` makes from one of the `mutable` seeds (indices into
/// `seeds`), and the index of the seed it started from.
fn mutated_input(
    target: Target,
    seeds: &[Seed],
    mutable: &[usize],
    fuzz_seed: u64,
) -> (Vec<u8>, usize) {
    let mutation = mutation_for(fuzz_seed);
    let seed_index = mutable[mutation.seed % mutable.len()];
    let mut data = seeds[seed_index].bytes.clone();
    for edit in &mutation.edits {
        apply(edit, &mut data, seeds);
    }
    if mutation.repair_checksums {
        target.repair_checksums(&mut data);
    }
    (data, seed_index)
}

// ---------------------------------------------------------------- the harness

/// One seed input.
#[derive(Debug, Clone)]
struct Seed {
    /// Its file name, or `<built-in …>`.
    name: String,
    bytes: Vec<u8>,
}

/// The target's seed files, sorted by name, then its built-in seeds.
fn seeds_of(target: Target) -> Vec<Seed> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target.name());
    let mut seeds: Vec<Seed> = std::fs::read_dir(&folder)
        .unwrap_or_else(|err| {
            panic!(
                "{}: {err}; regenerate it with scripts/fuzz-corpus.py",
                folder.display()
            )
        })
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let bytes =
                std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            Seed { name, bytes }
        })
        .collect();
    seeds.sort_by(|a, b| a.name.cmp(&b.name));
    seeds.extend(target.built_in_seeds());
    assert!(
        !seeds.is_empty(),
        "{} holds no seeds; run scripts/fuzz-corpus.py",
        folder.display()
    );
    seeds
}

/// Where an input came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A seed, unmodified.
    Seed(usize),
    /// Mutation number `fuzz_seed` of seed `seed`.
    Mutation { fuzz_seed: u64, seed: usize },
    /// The file `IDEADESK_FUZZ_INPUT` names.
    ReplayFile,
}

/// The input this thread is running, for the allocator's report.
struct Running<'a> {
    target: Target,
    origin: Origin,
    seeds: &'a [Seed],
    input: &'a [u8],
}

thread_local! {
    /// The input this thread is running, while it runs.
    static RUNNING: Cell<*const Running<'static>> = const { Cell::new(std::ptr::null()) };
    /// Set while the allocator reports a finding, so its own allocations pass.
    static REPORTING: Cell<bool> = const { Cell::new(false) };
}

/// The system allocator, refusing any single allocation over [`MAX_ALLOCATION_BYTES`]
/// made while a fuzz input runs; the refusal is reported, and Rust then aborts.
struct CappedAllocator;

#[global_allocator]
static ALLOCATOR: CappedAllocator = CappedAllocator;

impl CappedAllocator {
    /// Whether an allocation of `size` bytes may go ahead; reports it when not.
    fn allows(size: usize) -> bool {
        if size <= MAX_ALLOCATION_BYTES {
            return true;
        }
        let running = RUNNING.try_with(Cell::get).unwrap_or(std::ptr::null());
        let reporting = REPORTING.try_with(Cell::get).unwrap_or(true);
        if running.is_null() || reporting {
            return true;
        }
        let _ = REPORTING.try_with(|flag| flag.set(true));
        // SAFETY: `run_one` points RUNNING at a `Running` on its stack for exactly as long
        // as the input runs, on this thread only, and clears it before that value goes
        // out of scope; this allocation happens during that time, on that thread.
        let running = unsafe { &*running };
        let report = finding_report(
            running.target,
            running.origin,
            running.seeds,
            running.input,
            &format!(
                "asked for {size} bytes in one allocation (the cap is {MAX_ALLOCATION_BYTES})"
            ),
        );
        report_uncaught(&format!("{report}\nThe test binary aborts now."));
        false
    }
}

// SAFETY: every method forwards to the system allocator with the caller's arguments,
// except that an allocation over the cap returns null, which `GlobalAlloc` allows.
unsafe impl GlobalAlloc for CappedAllocator {
    /// # Safety
    ///
    /// As `GlobalAlloc::alloc` requires of its caller.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Self::allows(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { System.alloc(layout) }
    }

    /// # Safety
    ///
    /// As `GlobalAlloc::alloc_zeroed` requires of its caller.
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Self::allows(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc_zeroed` requires.
        unsafe { System.alloc_zeroed(layout) }
    }

    /// # Safety
    ///
    /// As `GlobalAlloc::dealloc` requires of its caller.
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from `System`, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    /// # Safety
    ///
    /// As `GlobalAlloc::realloc` requires of its caller.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !Self::allows(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` came from `System` with `layout`, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The input one target's thread is running, for the watchdog.
#[derive(Default)]
struct Watch {
    /// When the running input started, where it came from and its bytes; `None` between
    /// inputs.
    current: Mutex<Option<(Instant, Origin, Vec<u8>)>>,
    /// Set when the target's run is over.
    done: AtomicBool,
}

/// Watches one target's inputs: one that runs past [`HANG_LIMIT`] is reported and ends
/// the test binary, since a running thread cannot be stopped.
fn start_watchdog(target: Target, seeds: Arc<Vec<Seed>>, watch: Arc<Watch>) {
    std::thread::spawn(move || {
        while !watch.done.load(Ordering::Relaxed) {
            std::thread::sleep(WATCHDOG_INTERVAL);
            let current = watch.current.lock().unwrap_or_else(|err| err.into_inner());
            if let Some((started, origin, input)) = current.as_ref()
                && started.elapsed() > HANG_LIMIT
            {
                let problem = format!("still runs after {HANG_LIMIT:?} (a hang)");
                let report = finding_report(target, *origin, &seeds, input, &problem);
                report_uncaught(&format!("{report}\nThe test binary exits now."));
                std::process::exit(101);
            }
        }
    });
}

/// Writes a finding that ends the test binary straight to standard error: the test
/// harness would hold an `eprintln!` back until the test ends, which it never does.
fn report_uncaught(message: &str) {
    let _ = writeln!(std::io::stderr(), "\n{message}");
}

/// Saves a failing input under `target/fuzz-findings/<target>/` and says what happened,
/// to which input, where it is and how to replay it.
fn finding_report(
    target: Target,
    origin: Origin,
    seeds: &[Seed],
    input: &[u8],
    problem: &str,
) -> String {
    let name = target.name();
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    let folder = target_dir.join("fuzz-findings").join(name);
    let file_name = match origin {
        Origin::Seed(index) => format!("seed-file-{index}.bin"),
        Origin::Mutation { fuzz_seed, .. } => format!("seed-{fuzz_seed}.bin"),
        Origin::ReplayFile => "replayed.bin".to_string(),
    };
    let path = folder.join(file_name);
    let what = describe_origin(origin, seeds);
    let mut report = format!("FUZZ FINDING in {name}: {what} {problem}\n");
    match std::fs::create_dir_all(&folder).and_then(|()| std::fs::write(&path, input)) {
        Ok(()) => report.push_str(&format!(
            "The input is saved in {}\nReplay it: IDEADESK_FUZZ_INPUT={} cargo test --test \
             fuzz -- {name} --exact",
            path.display(),
            path.display()
        )),
        Err(err) => report.push_str(&format!("The input could not be saved ({err})")),
    }
    if let Origin::Mutation { fuzz_seed, .. } = origin {
        report.push_str(&format!(
            "\nor by its seed: IDEADESK_FUZZ_SEED={fuzz_seed} IDEADESK_FUZZ_SECONDS=0 cargo test \
             --test fuzz -- {name} --exact"
        ));
    }
    report
}

/// Where an input came from, in words.
fn describe_origin(origin: Origin, seeds: &[Seed]) -> String {
    let seed_name = |index: usize| seeds.get(index).map_or("?", |seed| seed.name.as_str());
    match origin {
        Origin::Seed(index) => format!("the unmodified seed {}", seed_name(index)),
        Origin::Mutation { fuzz_seed, seed } => {
            format!("fuzz seed {fuzz_seed}, a mutation of {}", seed_name(seed))
        }
        Origin::ReplayFile => "the replayed input".to_string(),
    }
}

/// Counts of one target's run.
#[derive(Debug, Default)]
struct Tally {
    n_inputs: u64,
    n_refused: u64,
    /// The longest one input ran, and which input that was.
    slowest: Duration,
    slowest_origin: Option<Origin>,
}

/// Runs one input under the watchdog and the allocation cap and returns what it did;
/// fails the test on a finding.
fn run_one(
    target: Target,
    origin: Origin,
    input: &[u8],
    seeds: &[Seed],
    watch: &Watch,
    tally: &mut Tally,
) -> Outcome {
    let started = Instant::now();
    *watch.current.lock().unwrap_or_else(|err| err.into_inner()) =
        Some((started, origin, input.to_vec()));
    let running = Running {
        target,
        origin,
        seeds,
        input,
    };
    RUNNING.with(|cell| cell.set((&running as *const Running<'_>).cast()));
    let result = panic::catch_unwind(AssertUnwindSafe(|| target.run(input)));
    RUNNING.with(|cell| cell.set(std::ptr::null()));
    let elapsed = started.elapsed();
    *watch.current.lock().unwrap_or_else(|err| err.into_inner()) = None;
    tally.n_inputs += 1;
    if elapsed > tally.slowest {
        tally.slowest = elapsed;
        tally.slowest_origin = Some(origin);
    }
    let problem = match result {
        Ok(outcome) => {
            tally.n_refused += u64::from(outcome.is_err());
            if elapsed <= HANG_LIMIT {
                return outcome;
            }
            format!("took {elapsed:?} (a hang: the limit is {HANG_LIMIT:?})")
        }
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic without a message".into());
            format!("panicked: {message}")
        }
    };
    panic!("{}", finding_report(target, origin, seeds, input, &problem));
}

/// A number from the environment, or `default`.
fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default,
    }
}

/// Runs a target's seeds, then its seeded sweep (see the module header).
fn check(target: Target) {
    let seeds = Arc::new(seeds_of(target));
    let watch = Arc::new(Watch::default());
    start_watchdog(target, Arc::clone(&seeds), Arc::clone(&watch));
    let mut tally = Tally::default();
    if let Ok(path) = std::env::var("IDEADESK_FUZZ_INPUT") {
        let input = std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
        let outcome = run_one(
            target,
            Origin::ReplayFile,
            &input,
            &seeds,
            &watch,
            &mut tally,
        );
        watch.done.store(true, Ordering::Relaxed);
        let shown = outcome.err().unwrap_or_else(|| "ok".into());
        println!(
            "fuzz {}: {path} ran without a finding: {shown}",
            target.name()
        );
        return;
    }
    let started = Instant::now();
    let verbose = std::env::var_os("IDEADESK_FUZZ_VERBOSE").is_some();
    for (index, seed) in seeds.iter().enumerate() {
        let outcome = run_one(
            target,
            Origin::Seed(index),
            &seed.bytes,
            &seeds,
            &watch,
            &mut tally,
        );
        if verbose {
            let shown = outcome.err().unwrap_or_else(|| "ok".into());
            println!("fuzz {}: seed {}: {shown}", target.name(), seed.name);
        }
    }
    let n_seeds_refused = tally.n_refused;
    let seeds_time = started.elapsed();

    let first_seed: u64 = env_number("IDEADESK_FUZZ_SEED", 0);
    let budget = Duration::from_secs_f64(env_number("IDEADESK_FUZZ_SECONDS", DEFAULT_SECONDS));
    let max_iterations: u64 = env_number("IDEADESK_FUZZ_MAX_ITERATIONS", DEFAULT_MAX_ITERATIONS);
    let mutable: Vec<usize> = (0..seeds.len())
        .filter(|&index| !seeds[index].name.starts_with(SLOW_SEED_PREFIX))
        .collect();
    assert!(
        !mutable.is_empty(),
        "every seed of {} is slow",
        target.name()
    );
    let sweep_started = Instant::now();
    let mut fuzz_seed = first_seed;
    loop {
        let (input, seed) = mutated_input(target, &seeds, &mutable, fuzz_seed);
        let _ = run_one(
            target,
            Origin::Mutation { fuzz_seed, seed },
            &input,
            &seeds,
            &watch,
            &mut tally,
        );
        fuzz_seed = fuzz_seed.wrapping_add(1);
        let n_mutations = fuzz_seed.wrapping_sub(first_seed);
        if sweep_started.elapsed() >= budget || n_mutations >= max_iterations {
            break;
        }
    }
    watch.done.store(true, Ordering::Relaxed);
    let n_mutations = fuzz_seed.wrapping_sub(first_seed);
    println!(
        "fuzz {}: {} seeds ({} refused) in {:.2} s, then {n_mutations} mutated inputs (fuzz \
         seeds {first_seed}..{fuzz_seed}, {} refused) in {:.2} s; slowest input {:.0} ms ({})",
        target.name(),
        seeds.len(),
        n_seeds_refused,
        seeds_time.as_secs_f64(),
        tally.n_refused - n_seeds_refused,
        sweep_started.elapsed().as_secs_f64(),
        tally.slowest.as_secs_f64() * 1000.0,
        tally
            .slowest_origin
            .map_or_else(String::new, |origin| describe_origin(origin, &seeds)),
    );
}

// ---------------------------------------------------------------- one test per target

#[test]
fn audio_decode() {
    check(Target::AudioDecode);
}

#[test]
fn onnx() {
    check(Target::Onnx);
}

#[test]
fn gguf() {
    check(Target::Gguf);
}

#[test]
fn ct2() {
    check(Target::Ct2);
}

#[test]
fn whisper_ggml() {
    check(Target::WhisperGgml);
}

#[test]
fn image() {
    check(Target::Image);
}

#[test]
fn json_schema() {
    check(Target::JsonSchema);
}

#[test]
fn constrain() {
    check(Target::Constrain);
}

#[test]
fn sentences() {
    check(Target::Sentences);
}

/// The mutations are the same for a seed on every run and machine, so a seed replays.
#[test]
fn a_fuzz_seed_always_makes_the_same_input() {
    let seeds = vec![
        Seed {
            name: "a".into(),
            bytes: b"RIFF\x24\0\0\0WAVEfmt ".to_vec(),
        },
        Seed {
            name: "b".into(),
            bytes: Vec::new(),
        },
    ];
    for fuzz_seed in [0, 1, 2, 77, u64::MAX] {
        let first = mutated_input(Target::Onnx, &seeds, &[0, 1], fuzz_seed);
        let second = mutated_input(Target::Onnx, &seeds, &[0, 1], fuzz_seed);
        assert_eq!(first, second, "fuzz seed {fuzz_seed}");
    }
    let differing = (0..20)
        .map(|fuzz_seed| mutated_input(Target::Onnx, &seeds, &[0, 1], fuzz_seed).0)
        .collect::<std::collections::BTreeSet<_>>();
    assert!(differing.len() > 10, "seeds should make different inputs");
}

/// The checksum repairs make what the PNG and Ogg readers check.
#[test]
fn checksum_repairs_match_the_formats() {
    // The CRC of the IEND chunk's type, as every PNG ends with it.
    assert_eq!(crc32fast::hash(b"IEND"), 0xAE42_6082);
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\0IEND\0\0\0\0".to_vec();
    repair_png_crcs(&mut png);
    assert_eq!(&png[16..], &[0xAE, 0x42, 0x60, 0x82]);
    let ogg_seed = seeds_of(Target::AudioDecode)
        .into_iter()
        .find(|seed| seed.name.ends_with(".ogg"));
    if let Some(seed) = ogg_seed {
        let mut repaired = seed.bytes.clone();
        repaired[22..26].fill(0);
        repair_ogg_crcs(&mut repaired);
        assert_eq!(repaired, seed.bytes, "the Ogg CRC of {}", seed.name);
    }
}
