//! `ideadesk capture`: one turn of need capture from text, an audio file and sketch
//! images. What was said and shown is stored before any model runs; the reply and the
//! session's needs are printed (or written as one JSON object with `--json`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use serde_json::json;

use super::{Cli, Warnings, missing_model_warning};
use crate::audio::source::{FileSource, Pacing};
use crate::llm::engine::{EngineOptions, LlmEngine, LlmHandle, Sampling};
use crate::models::{Resolver, Role};
use crate::needs::Coverage;
use crate::needs::SketchId;
use crate::session::hear::{Hear, HearConfig, HearEvent};
use crate::session::understand::{
    ClauseLabelling, Extraction, TurnInput, TurnOutcome, Understand, UnderstandConfig,
    store_turn_input,
};
use crate::store::embed::Embedder;
use crate::store::{SessionId, SketchInput, Store, StoredNeed, UtteranceInput};
use crate::stt::WhisperConfig;
use crate::vision::describe::SketchDescriber;
use crate::vision::frame::load_image;
use image::RgbImage;

/// Speaking rate used to give typed text plausible times (words per second).
const TYPED_WORDS_PER_S: f64 = 2.5;

/// Arguments of `capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// What the person said, as text (one utterance per sentence).
    #[arg(long, conflicts_with_all = ["text_file", "audio"])]
    text: Option<String>,
    /// A text file of what the person said.
    #[arg(long, value_name = "FILE", conflicts_with = "audio")]
    text_file: Option<PathBuf>,
    /// An audio file of the person speaking (WAV, FLAC, MP3, Ogg): transcribed first.
    #[arg(long, value_name = "FILE")]
    audio: Option<PathBuf>,
    /// A sketch image (PNG or JPEG); repeat for several.
    #[arg(long, value_name = "FILE")]
    image: Vec<PathBuf>,
    /// The session: its id, `new`, or `latest`.
    #[arg(long, default_value = "new", value_name = "ID|new|latest")]
    session: String,
    /// Machine-readable output: one JSON object.
    #[arg(long)]
    json: bool,
    /// How needs are extracted: `split` (a need list, then each need's slots; best for
    /// small models) or `whole` (one call for the whole turn).
    #[arg(long, value_enum, default_value_t = Extraction::Split)]
    extraction: Extraction,
    /// Whether the model labels each clause with what it tells (who, problem, workaround,
    /// how often, wish, measure), which then decides the slot a clause fills: `auto` asks
    /// models of 1 billion parameters or more (a 135 M model's labels are noise), `on`
    /// always, `off` never. One more short model call per turn.
    #[arg(long, value_enum, default_value_t = ClauseLabelling::Auto)]
    clause_labels: ClauseLabelling,
    /// Sample with this temperature instead of always taking the most likely token.
    #[arg(long)]
    temperature: Option<f64>,
    /// Random seed for `--temperature`.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Splits typed text into utterances at sentence ends, with times from a speaking rate.
pub(crate) fn text_utterances(text: &str) -> Vec<UtteranceInput> {
    let mut utterances = Vec::new();
    let mut start_s = 0.0;
    let mut sentence = String::new();
    let mut push = |sentence: &mut String, start_s: &mut f64| {
        let text = sentence.split_whitespace().collect::<Vec<_>>().join(" ");
        sentence.clear();
        if text.is_empty() {
            return;
        }
        let n_words = text.split_whitespace().count() as f64;
        let end_s = *start_s + n_words / TYPED_WORDS_PER_S;
        utterances.push(UtteranceInput {
            start_ms: (*start_s * 1000.0).round() as u64,
            end_ms: (end_s * 1000.0).round() as u64,
            text,
            audio_path: None,
        });
        *start_s = end_s;
    };
    let chars: Vec<char> = text.chars().collect();
    for (char_idx, c) in chars.iter().enumerate() {
        if *c == '\n' && chars.get(char_idx + 1) == Some(&'\n') {
            push(&mut sentence, &mut start_s);
            continue;
        }
        sentence.push(*c);
        let at_sentence_end = matches!(c, '.' | '!' | '?')
            && chars
                .get(char_idx + 1)
                .is_none_or(|next| next.is_whitespace());
        if at_sentence_end {
            push(&mut sentence, &mut start_s);
        }
    }
    push(&mut sentence, &mut start_s);
    utterances
}

/// Reads `--text-file`: UTF-8 text, with a message that says what to do otherwise.
fn read_text_file(path: &Path) -> anyhow::Result<String> {
    if path.is_dir() {
        anyhow::bail!(
            "{} is a folder; give the path of a UTF-8 text file",
            path.display()
        );
    }
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the text file {}", path.display()))?;
    String::from_utf8(bytes).map_err(|err| {
        anyhow::anyhow!(
            "the text file {} is not UTF-8 text (byte {} is not); save it as UTF-8 and try again",
            path.display(),
            err.utf8_error().valid_up_to()
        )
    })
}

/// Transcribes an audio file into utterances (Silero VAD, or energy without its weights).
fn audio_utterances(cli: &Cli, path: &Path) -> anyhow::Result<Vec<UtteranceInput>> {
    let mut source = FileSource::open(path, Pacing::AsFastAsPossible)?;
    let detector = super::transcribe::load_detector(
        cli,
        super::transcribe::VadChoice::Silero,
        &mut Warnings::printing(),
    )?;
    let transcriber = super::transcribe::load_transcriber(
        cli,
        WhisperConfig {
            use_gpu: !cli.cpu,
            ..WhisperConfig::default()
        },
    )?;
    let mut hear = Hear::new(
        detector,
        transcriber,
        HearConfig {
            partial_interval_ms: None,
            ..HearConfig::default()
        },
    );
    let mut utterances = Vec::new();
    hear.run(&mut source, None, |event| {
        if let HearEvent::Final(transcript) = event
            && !transcript.text.is_empty()
        {
            utterances.push(UtteranceInput {
                start_ms: (transcript.start_s * 1000.0).round() as u64,
                end_ms: (transcript.end_s * 1000.0).round() as u64,
                text: transcript.text,
                audio_path: Some(path.display().to_string()),
            });
        }
    })?;
    Ok(utterances)
}

/// Loads the language model: the `--llm` file when given, else the preset's (or the
/// `--models` folder's).
pub(crate) fn load_llm(cli: &Cli) -> anyhow::Result<LlmHandle> {
    if let Some(path) = &cli.llm {
        let summary = crate::llm::inspect_gguf(path)?;
        tracing::info!(path = %path.display(), model = %summary.describe(), "language model from --llm");
        let device = crate::compute::select_device(cli.cpu);
        return Ok(LlmEngine::spawn(
            path,
            None,
            device,
            EngineOptions::default(),
        )?);
    }
    let mut resolver = Resolver::new(cli.resolver_options())?;
    let model = resolver.resolve(Role::Llm)?;
    let device = crate::compute::select_device(cli.cpu);
    Ok(LlmEngine::spawn_resolved(
        &model,
        device,
        EngineOptions::default(),
    )?)
}

/// Loads the sentence embedder, or `None` with a warning when its files are missing.
pub(crate) fn load_embedder(
    cli: &Cli,
    warnings: &mut Warnings,
) -> anyhow::Result<Option<Embedder>> {
    let mut resolver = Resolver::new(cli.resolver_options())?;
    match resolver.resolve(Role::Embed) {
        Ok(model) => {
            let device = crate::compute::select_device(cli.cpu);
            Ok(Some(Embedder::spawn_resolved(&model, device)?))
        }
        Err(err) => {
            warnings.warn(missing_model_warning(
                cli,
                Role::Embed,
                "needs are not linked to near-duplicates and search finds words only",
                &err,
            ));
            Ok(None)
        }
    }
}

/// Opens the store in the data dir.
pub(crate) fn open_store(cli: &Cli) -> anyhow::Result<Store> {
    let path = Store::default_path(&cli.data_dir());
    Store::open(&path).with_context(|| format!("opening the store {}", path.display()))
}

/// Reads each sketch and saves it as PNG in the data dir, undescribed: the store gets
/// its row before any model looks at it ([`describe_sketches`]).
fn sketch_inputs(cli: &Cli, images: &[PathBuf]) -> anyhow::Result<Vec<(SketchInput, RgbImage)>> {
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let mut loaded = Vec::new();
    for path in images {
        loaded.push(load_image(path)?);
    }
    let dir = cli.data_dir().join("sketches");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stamp = Utc::now().format("%Y%m%d-%H%M%S%3f");
    let mut sketches = Vec::new();
    for (sketch_idx, image) in loaded.into_iter().enumerate() {
        let saved = dir.join(format!("sketch-{stamp}-{sketch_idx}.png"));
        crate::files::save_png_atomically(&saved, &image.image)?;
        sketches.push((
            SketchInput {
                image_path: saved.display().to_string(),
                description: None,
                labels: Vec::new(),
            },
            image.image,
        ));
    }
    Ok(sketches)
}

/// Describes stored sketches when a vision model is present and records what it read; a
/// missing model is a warning and a failing one an error, with the sketches kept either
/// way.
fn describe_sketches(
    cli: &Cli,
    store: &mut Store,
    sketches: &[(SketchId, RgbImage)],
) -> anyhow::Result<()> {
    if sketches.is_empty() {
        return Ok(());
    }
    let Some(describer) = super::look::load_describer(cli, &mut Warnings::printing())? else {
        return Ok(());
    };
    for (sketch_id, image) in sketches {
        let description = describer
            .describe(image, None)
            .with_context(|| format!("describing sketch s{} (it is stored)", sketch_id.0))?;
        store.describe_sketch(*sketch_id, &description.summary, &description.labels)?;
    }
    Ok(())
}

/// Finds or creates the session named by `--session`.
pub(crate) fn session_for(store: &mut Store, wanted: &str) -> anyhow::Result<SessionId> {
    match wanted {
        "new" => {
            let now = Utc::now();
            let title = format!("Session of {}", now.format("%Y-%m-%d %H:%M"));
            Ok(store.create_session(&title, now)?)
        }
        "latest" => Ok(store
            .latest_session()?
            .context("there is no session yet; capture one with `--session new`")?
            .id),
        id => {
            let id: i64 = id.parse().with_context(|| {
                format!("--session takes a session id, `new` or `latest`, not {id:?}")
            })?;
            let session = SessionId(id);
            store.load_session(session)?;
            Ok(session)
        }
    }
}

/// One need as JSON: its fields, coverage, evidence and duplicate links.
pub(crate) fn need_json(stored: &StoredNeed) -> serde_json::Value {
    let coverage = Coverage::of(&stored.need);
    let mut value = serde_json::to_value(&stored.need).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("id".into(), json!(stored.need.id.to_string()));
        object.insert("row_id".into(), json!(stored.row_id.0));
        object.insert("session".into(), json!(stored.session_id.0));
        object.insert("created_at".into(), json!(stored.created_at.to_rfc3339()));
        object.insert(
            "coverage".into(),
            json!({
                "fraction": coverage.fraction(),
                "missing": coverage.missing.iter().map(|slot| slot.field_name()).collect::<Vec<_>>(),
            }),
        );
        object.insert(
            "duplicates".into(),
            json!(
                stored
                    .duplicates
                    .iter()
                    .map(|link| json!({"row_id": link.row_id.0, "session": link.session_id.0, "need": link.number.to_string(), "score": link.score, "text": link.to_string()}))
                    .collect::<Vec<_>>()
            ),
        );
    }
    value
}

fn outcome_json(outcome: &TurnOutcome) -> serde_json::Value {
    json!({
        "session": outcome.session.0,
        "reply": outcome.reply,
        "needs": outcome.needs.iter().map(need_json).collect::<Vec<_>>(),
        "coverage": {
            "fraction": outcome.coverage.fraction(),
            "filled_slots": outcome.coverage.filled_slots(),
            "total_slots": outcome.coverage.total_slots(),
            "complete_needs": outcome.coverage.complete_needs(),
        },
        "asked": crate::session::events::AskedSlot::of(&outcome.question),
        "merge": outcome.report,
        "dialogue": outcome.dialogue,
        "llm_calls": outcome.llm_calls,
        "elapsed_ms": outcome.elapsed_ms,
    })
}

/// Prints one need for people.
pub(crate) fn print_need(stored: &StoredNeed) {
    let need = &stored.need;
    let coverage = Coverage::of(need);
    println!(
        "{} {}  [{}/{} covered]",
        need.id,
        need.statement,
        coverage.filled.len(),
        coverage.filled.len() + coverage.missing.len()
    );
    let at = |start_ms: u64| format!("[{:02}:{:02}]", start_ms / 60_000, start_ms / 1000 % 60);
    for slot in &coverage.filled {
        if let Some(value) = slot.value(need) {
            // Where the person said it, when the evidence records it.
            let said_at = need.evidence.iter().find_map(|evidence| match evidence {
                crate::needs::Evidence::Utterance {
                    start_ms,
                    slot: Some(evidence_slot),
                    ..
                } if evidence_slot == slot => Some(format!("  {}", at(*start_ms))),
                _ => None,
            });
            println!(
                "    {}: {value}{}",
                slot.label(),
                said_at.unwrap_or_default()
            );
        }
    }
    let mut shown: Vec<&str> = Vec::new();
    for evidence in &need.evidence {
        match evidence {
            crate::needs::Evidence::Utterance {
                start_ms, quote, ..
            } => {
                if !shown.contains(&quote.as_str()) {
                    shown.push(quote);
                    println!("    evidence {} \"{quote}\"", at(*start_ms));
                }
            }
            crate::needs::Evidence::Sketch { sketch_id, detail } => {
                println!("    evidence sketch s{}: {detail}", sketch_id.0)
            }
        }
    }
    for link in &stored.duplicates {
        println!("    {link}");
    }
}

/// Runs `capture`.
pub fn run(cli: &Cli, args: &CaptureArgs) -> anyhow::Result<ExitCode> {
    // Read every input before any model loads, so bad input fails fast.
    let text = match (&args.text, &args.text_file) {
        (Some(text), _) => Some(text.clone()),
        (None, Some(path)) => Some(read_text_file(path)?),
        (None, None) => None,
    };
    if text.is_none() && args.audio.is_none() && args.image.is_empty() {
        anyhow::bail!("nothing to capture: give --text, --text-file, --audio or --image");
    }
    let mut input = TurnInput::default();
    if let Some(text) = &text {
        input.utterances = text_utterances(text);
        if input.utterances.is_empty() && args.image.is_empty() {
            anyhow::bail!("the text is empty; say something about the idea");
        }
    }
    let mut store = open_store(cli)?;
    if let Some(path) = &args.audio {
        input.utterances = audio_utterances(cli, path)?;
        if input.utterances.is_empty() {
            eprintln!("warning: no speech was heard in {}", path.display());
        }
    }
    let sketches = sketch_inputs(cli, &args.image)?;
    input.sketches = sketches.iter().map(|(input, _)| input.clone()).collect();
    // The models load before a session is created, so a model that cannot load leaves the
    // store as it was.
    let llm = load_llm(cli)?;
    let embedder = load_embedder(cli, &mut Warnings::printing())?;
    let session = session_for(&mut store, &args.session)?;
    if text.is_some() {
        // Typed text continues the session's clock, so its quotes keep their order.
        let offset_ms = store
            .load_session(session)?
            .utterances
            .last()
            .map_or(0, |stored| stored.utterance.end_ms);
        for utterance in &mut input.utterances {
            utterance.start_ms += offset_ms;
            utterance.end_ms += offset_ms;
        }
    }

    let sampling = match args.temperature {
        Some(temperature) => Sampling::Temperature {
            temperature,
            top_p: Some(0.95),
            seed: args.seed,
        },
        None => Sampling::Greedy,
    };
    let understand = Understand::new(
        llm,
        embedder,
        UnderstandConfig {
            extraction: args.extraction,
            sampling,
            clause_labels: args.clause_labels,
        },
    );
    // What was said and shown is stored before any model runs on it.
    let started = std::time::Instant::now();
    let (new_utterance_ids, new_sketch_ids) = store_turn_input(&mut store, session, &input)?;
    let images: Vec<(SketchId, RgbImage)> = new_sketch_ids
        .into_iter()
        .zip(sketches.into_iter().map(|(_, image)| image))
        .collect();
    describe_sketches(cli, &mut store, &images)?;
    let mut outcome =
        understand.understand_stored(&mut store, session, &new_utterance_ids, Utc::now())?;
    outcome.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if args.json {
        println!("{}", outcome_json(&outcome));
    } else {
        println!("Session {}\n", outcome.session);
        println!("ideadesk: {}\n", outcome.reply);
        if outcome.needs.is_empty() {
            println!("No needs captured yet.");
        }
        for stored in &outcome.needs {
            print_need(stored);
        }
        println!(
            "\nCoverage {:.0} % ({} of {} slots); turn took {:.1} s",
            outcome.coverage.fraction() * 100.0,
            outcome.coverage.filled_slots(),
            outcome.coverage.total_slots(),
            outcome.elapsed_ms / 1000.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::text_utterances;

    fn check(text: &str, expected: &[&str]) {
        let utterances = text_utterances(text);
        let texts: Vec<&str> = utterances.iter().map(|u| u.text.as_str()).collect();
        assert_eq!(texts, expected, "{text:?}");
        for pair in utterances.windows(2) {
            assert!(pair[0].end_ms <= pair[1].start_ms, "{utterances:?}");
        }
        for utterance in &utterances {
            assert!(utterance.end_ms > utterance.start_ms, "{utterance:?}");
        }
    }

    #[test]
    fn typed_text_becomes_timed_sentences() {
        check("", &[]);
        check("   \n ", &[]);
        check("One sentence", &["One sentence"]);
        check(
            "Teachers lack time. They copy plans!  Why? It costs 2.5 hours.",
            &[
                "Teachers lack time.",
                "They copy plans!",
                "Why?",
                "It costs 2.5 hours.",
            ],
        );
        check(
            "a heading\n\nand a paragraph\nover two lines",
            &["a heading", "and a paragraph over two lines"],
        );
    }
}
