//! `make eval-capture`: how well the interviewer captures what a person says.
//!
//! Every scripted interview in `tests/data/interviews/` is run through the real binary,
//! the way a person would use it:
//! - `capture`: one `ideadesk capture --text … --session latest --json` per turn (a sketch
//!   turn adds `--image`), so each turn is a separate process and the dialogue state
//!   lives only in the store;
//! - `listen`: each turn spoken by espeak-ng, joined with 1.5 s pauses into one WAV, and
//!   `ideadesk listen --audio … --events …` hears it as a person who waits for each answer.
//!
//! What the session stored at its end is scored against the interview's gold needs
//! (`tests/common/interview.rs`): per-slot precision and recall, invented and duplicate
//! needs, questions that asked for what the person had already said, and coverage after
//! each turn; for `listen`, voice-to-voice latency too. Results go to the terminal and to
//! `target/eval-capture/<label>.json`.
//!
//! `cargo bench --bench eval_capture -- [--llm FILE.gguf] [--label NAME] [--paths
//! capture,listen] [--only NAME] [--split dev|held-out] [--extraction split|whole]
//! [--clause-labels auto|on|off] [--bin PATH]`.
//! Under `cargo test` (no `--bench`) it only checks the interview files and the scorer.

#[path = "../tests/common/interview.rs"]
mod interview;
#[path = "../tests/common/scene.rs"]
mod scene;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use interview::{Asked, Captured, Interview, SLOTS, Score, ratio};
use serde_json::{Value, json};

/// Silence between two spoken turns (s).
const PAUSE_BETWEEN_TURNS_S: f64 = 1.5;
/// espeak-ng's speaking rate (words per minute).
const ESPEAK_WORDS_PER_MIN: u32 = 165;

#[derive(Debug, Clone)]
struct Args {
    bench: bool,
    llm: Option<PathBuf>,
    label: String,
    paths: Vec<String>,
    only: Option<String>,
    split: Option<String>,
    extraction: Option<String>,
    clause_labels: Option<String>,
    out: PathBuf,
    /// The `ideadesk` binary run (default: the one this bench was built with). A copy
    /// saved elsewhere keeps an evaluation steady while the tree is rebuilt.
    bin: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = Args {
        bench: false,
        llm: None,
        label: String::new(),
        paths: vec!["capture".into(), "listen".into()],
        only: None,
        split: None,
        extraction: None,
        clause_labels: None,
        out: repo.join("target/eval-capture"),
        bin: PathBuf::from(env!("CARGO_BIN_EXE_ideadesk")),
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = || iter.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--bench" => args.bench = true,
            "--llm" => args.llm = Some(value()?.into()),
            "--label" => args.label = value()?,
            "--paths" => args.paths = value()?.split(',').map(str::to_string).collect(),
            "--only" => args.only = Some(value()?),
            "--split" => args.split = Some(value()?),
            "--extraction" => args.extraction = Some(value()?),
            "--clause-labels" => args.clause_labels = Some(value()?),
            "--out" => args.out = value()?.into(),
            "--bin" => args.bin = value()?.into(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.label.is_empty() {
        args.label = match &args.llm {
            Some(path) => path
                .file_stem()
                .map_or("llm".into(), |stem| stem.to_string_lossy().into_owned()),
            None => "test-model".into(),
        };
    }
    for path in &args.paths {
        if !matches!(path.as_str(), "capture" | "listen") {
            return Err(format!("--paths: {path} is neither capture nor listen"));
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    let interviews = match interview::load_all(&interview::interviews_dir()) {
        Ok(interviews) => interviews,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(1);
        }
    };
    if let Err(message) = self_check(&interviews) {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
    if !args.bench {
        println!(
            "eval_capture: {} interviews and the scorer check out; run `make eval-capture` for the eval",
            interviews.len()
        );
        return;
    }
    if let Err(message) = run(&args, &interviews) {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

/// The interviews follow their format's rules, and the scorer gives the gold itself full
/// marks and an empty session none.
fn self_check(interviews: &[Interview]) -> Result<(), String> {
    if interviews.len() < 12 {
        return Err(format!(
            "only {} interviews; the eval needs at least 12",
            interviews.len()
        ));
    }
    for interview in interviews {
        interview.check()?;
        let perfect: Vec<Captured> = interview
            .needs
            .iter()
            .enumerate()
            .map(|(need_idx, gold)| Captured {
                id: format!("N{}", need_idx + 1),
                statement: gold.statement.clone(),
                slots: SLOTS
                    .iter()
                    .filter_map(|slot| {
                        gold.slot(slot)
                            .map(|value| (slot.to_string(), value.to_string()))
                    })
                    .collect(),
                evidence: String::new(),
            })
            .collect();
        let said: Vec<String> = interview
            .turns
            .iter()
            .map(|turn| turn.say.clone())
            .collect();
        let best = interview::score(interview, &perfect, &[], &said);
        let total = best.total();
        if total.recall() != Some(1.0)
            || total.precision() != Some(1.0)
            || !best.invented_needs.is_empty()
        {
            return Err(format!(
                "{}: the gold scores recall {} precision {} invented {:?} against itself; its keywords or values overlap another need's",
                interview.name,
                ratio(total.recall()),
                ratio(total.precision()),
                best.invented_needs
            ));
        }
        let none = interview::score(interview, &[], &[], &said);
        if none.total().recall() != Some(0.0) || none.missed_needs != interview.needs.len() {
            return Err(format!(
                "{}: an empty session does not score zero",
                interview.name
            ));
        }
    }
    Ok(())
}

/// One session's result.
#[derive(Debug, Clone, serde::Serialize)]
struct SessionResult {
    interview: String,
    split: String,
    path: String,
    score: Score,
    needs: Vec<Captured>,
    asked: Vec<Asked>,
    coverage_after_turn: Vec<f64>,
    voice_to_voice_ms: Vec<f64>,
    turn_ms: Vec<f64>,
    n_llm_calls: usize,
    error: Option<String>,
}

fn run(args: &Args, interviews: &[Interview]) -> Result<(), String> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let models = repo.join("models/test");
    if !models.join("llm").is_dir() {
        return Err(format!(
            "{} is missing: run `make test-models`",
            models.display()
        ));
    }
    if let Some(llm) = &args.llm
        && !llm.is_file()
    {
        return Err(format!(
            "{} is missing: `scripts/eval-models.sh` builds the realistic model",
            llm.display()
        ));
    }
    let work = tempfile::tempdir().map_err(|err| format!("a temporary folder: {err}"))?;
    let sketch = work.path().join("sketch.png");
    scene::draw(&scene::Scene::default())
        .save(&sketch)
        .map_err(|err| format!("drawing the sketch: {err}"))?;
    let selected: Vec<&Interview> = interviews
        .iter()
        .filter(|interview| {
            args.only
                .as_ref()
                .is_none_or(|only| interview.name.contains(only.as_str()))
        })
        .filter(|interview| {
            args.split
                .as_ref()
                .is_none_or(|split| &interview.split == split)
        })
        .collect();
    println!(
        "eval-capture [{}]: {} interviews × {:?}, model {}",
        args.label,
        selected.len(),
        args.paths,
        args.llm
            .as_ref()
            .map_or("SmolLM2-135M (models/test)".to_string(), |path| path
                .display()
                .to_string())
    );
    let started = Instant::now();
    let mut results = Vec::new();
    for interview in &selected {
        for path in &args.paths {
            let dir = work.path().join(format!("{}-{path}", interview.name));
            std::fs::create_dir_all(&dir).map_err(|err| err.to_string())?;
            let runner = Runner {
                models: &models,
                args,
                data: dir.join("data"),
                sketch: &sketch,
            };
            let result = match path.as_str() {
                "capture" => runner.capture(interview, &dir),
                _ => runner.listen(interview, &dir),
            };
            print_session(&result);
            results.push(result);
        }
    }
    println!();
    let mut report = json!({
        "label": args.label,
        "llm": args.llm,
        "extraction": args.extraction,
        "clause_labels": args.clause_labels,
        "elapsed_s": started.elapsed().as_secs_f64(),
        "sessions": results,
    });
    let mut totals = serde_json::Map::new();
    for path in &args.paths {
        for split in ["all", "dev", "held-out"] {
            let chosen: Vec<&SessionResult> = results
                .iter()
                .filter(|result| &result.path == path && (split == "all" || result.split == split))
                .collect();
            if chosen.is_empty() {
                continue;
            }
            let summary = summarise(&chosen);
            if split == "all" {
                print_summary(path, &args.label, &chosen, &summary);
            } else {
                let total = chosen.iter().fold(Score::default(), |mut sum, result| {
                    sum.add(&result.score);
                    sum
                });
                println!(
                    "  {split:>8}: recall {} precision {} over {} sessions",
                    ratio(total.total().recall()),
                    ratio(total.total().precision()),
                    chosen.len()
                );
            }
            totals.insert(format!("{path}/{split}"), summary);
        }
    }
    report["totals"] = Value::Object(totals);
    std::fs::create_dir_all(&args.out).map_err(|err| err.to_string())?;
    let out = args.out.join(format!("{}.json", args.label));
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    )
    .map_err(|err| format!("{}: {err}", out.display()))?;
    println!(
        "\nwrote {} ({:.0} s in all)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs one interview through the binary.
struct Runner<'a> {
    models: &'a Path,
    args: &'a Args,
    data: PathBuf,
    sketch: &'a Path,
}

impl Runner<'_> {
    /// `ideadesk` with the test models, this session's data dir, no network.
    fn ideadesk(&self) -> Command {
        let mut command = Command::new(&self.args.bin);
        command
            .env_remove("IDEADESK_MODELS")
            .env_remove("IDEADESK_LLM")
            .env("HF_HUB_OFFLINE", "1")
            .env("HF_HOME", self.data.join("hf-home"))
            .arg("--models")
            .arg(self.models)
            .arg("--data")
            .arg(&self.data)
            .arg("--quiet");
        if let Some(llm) = &self.args.llm {
            command.arg("--llm").arg(llm);
        }
        command
    }

    /// The understanding options passed on: `--extraction` and `--clause-labels`.
    fn extraction_args(&self) -> Vec<String> {
        let extraction = self
            .args
            .extraction
            .iter()
            .flat_map(|extraction| ["--extraction".to_string(), extraction.clone()]);
        let clause_labels = self
            .args
            .clause_labels
            .iter()
            .flat_map(|labels| ["--clause-labels".to_string(), labels.clone()]);
        extraction.chain(clause_labels).collect()
    }

    fn empty_result(&self, interview: &Interview, path: &str) -> SessionResult {
        SessionResult {
            interview: interview.name.clone(),
            split: interview.split.clone(),
            path: path.to_string(),
            score: Score::default(),
            needs: Vec::new(),
            asked: Vec::new(),
            coverage_after_turn: Vec::new(),
            voice_to_voice_ms: Vec::new(),
            turn_ms: Vec::new(),
            n_llm_calls: 0,
            error: None,
        }
    }

    /// One `capture` per turn.
    fn capture(&self, interview: &Interview, _dir: &Path) -> SessionResult {
        let mut result = self.empty_result(interview, "capture");
        let mut said = Vec::new();
        let mut last = Value::Null;
        for (turn_idx, turn) in interview.turns.iter().enumerate() {
            let mut command = self.ideadesk();
            command.arg("capture").arg("--json");
            command
                .arg("--session")
                .arg(if turn_idx == 0 { "new" } else { "latest" });
            if !turn.say.trim().is_empty() {
                command.arg("--text").arg(&turn.say);
            }
            if turn.sketch {
                command.arg("--image").arg(self.sketch);
            }
            command.args(self.extraction_args());
            let started = Instant::now();
            let output = match command.output() {
                Ok(output) => output,
                Err(err) => {
                    result.error = Some(format!("running ideadesk: {err}"));
                    return result;
                }
            };
            result
                .turn_ms
                .push(started.elapsed().as_secs_f64() * 1000.0);
            if !output.status.success() {
                result.error = Some(format!(
                    "turn {}: capture failed: {}",
                    turn_idx + 1,
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
                break;
            }
            let outcome: Value = match serde_json::from_slice(&output.stdout) {
                Ok(outcome) => outcome,
                Err(err) => {
                    result.error = Some(format!("turn {}: capture --json: {err}", turn_idx + 1));
                    break;
                }
            };
            said.push(turn.say.clone());
            result
                .coverage_after_turn
                .push(outcome["coverage"]["fraction"].as_f64().unwrap_or(0.0));
            result.n_llm_calls += outcome["llm_calls"].as_array().map_or(0, Vec::len);
            let needs: Vec<Captured> = outcome["needs"]
                .as_array()
                .map(|needs| needs.iter().map(Captured::from_json).collect())
                .unwrap_or_default();
            result.asked.push(asked_from(
                turn_idx,
                &outcome["asked"],
                outcome["reply"].as_str().unwrap_or_default(),
                &needs,
            ));
            last = outcome;
        }
        result.needs = last["needs"]
            .as_array()
            .map(|needs| needs.iter().map(Captured::from_json).collect())
            .unwrap_or_default();
        result.score = interview::score(interview, &result.needs, &result.asked, &said);
        result
    }

    /// The turns spoken by espeak-ng into one WAV, heard by `listen`.
    fn listen(&self, interview: &Interview, dir: &Path) -> SessionResult {
        let mut result = self.empty_result(interview, "listen");
        let audio = dir.join("interview.wav");
        if let Err(message) = speak_turns(interview, dir, &audio) {
            result.error = Some(message);
            return result;
        }
        let events_path = dir.join("events.jsonl");
        let mut command = self.ideadesk();
        command
            .arg("listen")
            .arg("--audio")
            .arg(&audio)
            .arg("--no-tui")
            .arg("--reply-wav")
            .arg(dir.join("reply.wav"))
            .arg("--events")
            .arg(&events_path)
            .arg("--session")
            .arg("new")
            .arg("--brief")
            .arg(dir.join("brief.md"));
        if interview.turns.iter().any(|turn| turn.sketch) {
            command.arg("--images").arg(self.sketch);
        }
        command.args(self.extraction_args());
        let output = match command.output() {
            Ok(output) => output,
            Err(err) => {
                result.error = Some(format!("running ideadesk: {err}"));
                return result;
            }
        };
        if !output.status.success() {
            result.error = Some(format!(
                "listen failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
            return result;
        }
        let events: Vec<Value> = std::fs::read_to_string(&events_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        // Turns as the system took them: the transcripts before each `understood`.
        let mut said: Vec<String> = Vec::new();
        let mut pending = String::new();
        let mut turn_started_ms = None;
        for event in &events {
            match event["kind"].as_str().unwrap_or_default() {
                "transcript" => {
                    pending.push(' ');
                    pending.push_str(event["text"].as_str().unwrap_or_default());
                }
                "turn_started" => turn_started_ms = event["at_ms"].as_f64(),
                "understood" => {
                    said.push(std::mem::take(&mut pending));
                    result
                        .coverage_after_turn
                        .push(event["coverage"].as_f64().unwrap_or(0.0));
                    if let (Some(start), Some(end)) = (turn_started_ms, event["at_ms"].as_f64()) {
                        result.turn_ms.push(end - start);
                    }
                    let cards: Vec<Captured> = event["needs"]
                        .as_array()
                        .map(|cards| cards.iter().map(card_as_captured).collect())
                        .unwrap_or_default();
                    result
                        .asked
                        .push(asked_from(said.len() - 1, &event["asked"], "", &cards));
                }
                "reply" => {
                    if let Some(last) = result.asked.last_mut() {
                        last.text = event["question"].as_str().unwrap_or_default().to_string();
                    }
                    if let Some(ms) = event["voice_to_voice_ms"].as_f64() {
                        result.voice_to_voice_ms.push(ms);
                    }
                }
                _ => {}
            }
        }
        // The needs as stored at the end.
        let mut command = self.ideadesk();
        command.args(["needs", "list", "--json"]);
        match command.output() {
            Ok(output) if output.status.success() => {
                let needs: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
                result.needs = needs
                    .as_array()
                    .map(|needs| needs.iter().map(Captured::from_json).collect())
                    .unwrap_or_default();
            }
            Ok(output) => {
                result.error = Some(format!(
                    "needs list failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ))
            }
            Err(err) => result.error = Some(format!("running ideadesk: {err}")),
        }
        result.score = interview::score(interview, &result.needs, &result.asked, &said);
        result
    }
}

/// A need card of an `understood` event, as far as it says (id and missing slots).
fn card_as_captured(card: &Value) -> Captured {
    let missing: Vec<&str> = card["missing"]
        .as_array()
        .map(|missing| missing.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Captured {
        id: card["id"].as_str().unwrap_or_default().to_string(),
        statement: card["statement"].as_str().unwrap_or_default().to_string(),
        // Filled slots carry a placeholder: the card shows only which are missing.
        slots: interview::SLOT_LABELS
            .iter()
            .zip(SLOTS)
            .filter(|(label, _)| !missing.contains(label))
            .map(|(_, slot)| (slot.to_string(), "(filled)".to_string()))
            .collect(),
        evidence: String::new(),
    }
}

/// The question asked after a turn, from an `asked` record and the needs as they stood.
fn asked_from(after_turn: usize, asked: &Value, text: &str, needs: &[Captured]) -> Asked {
    let need = asked["need"].as_str().map(str::to_string);
    let slot = asked["slot"]
        .as_str()
        .and_then(interview::slot_from_label)
        .map(str::to_string);
    let filled = match (&need, &slot) {
        (Some(need), Some(slot)) => needs
            .iter()
            .any(|captured| &captured.id == need && captured.slots.contains_key(slot)),
        _ => false,
    };
    Asked {
        after_turn,
        need,
        slot,
        text: text.to_string(),
        filled,
    }
}

/// Speaks each turn with espeak-ng and joins them, with pauses, into one WAV.
fn speak_turns(interview: &Interview, dir: &Path, out: &Path) -> Result<(), String> {
    let gap = dir.join("gap.wav");
    run_tool(
        Command::new("sox")
            .args(["-n", "-r", "22050", "-c", "1", "-b", "16"])
            .arg(&gap)
            .args(["trim", "0.0", &PAUSE_BETWEEN_TURNS_S.to_string()]),
    )?;
    let mut parts = vec![gap.clone()];
    for (turn_idx, turn) in interview.turns.iter().enumerate() {
        if turn.say.trim().is_empty() {
            continue;
        }
        let wav = dir.join(format!("turn-{turn_idx}.wav"));
        run_tool(
            Command::new("espeak-ng")
                .args(["-v", "en-us", "-s", &ESPEAK_WORDS_PER_MIN.to_string(), "-w"])
                .arg(&wav)
                .arg(&turn.say),
        )?;
        parts.push(wav);
        parts.push(gap.clone());
    }
    run_tool(Command::new("sox").args(&parts).arg(out))
}

fn run_tool(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|err| {
        format!(
            "{:?}: {err} (install espeak-ng and sox: `make deps`)",
            command.get_program()
        )
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} failed: {}",
            command.get_program(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn print_session(result: &SessionResult) {
    let total = result.score.total();
    let coverage: Vec<String> = result
        .coverage_after_turn
        .iter()
        .map(|fraction| format!("{:.0}", fraction * 100.0))
        .collect();
    println!(
        "{:<28} {:<7} recall {:>4} precision {:>4} needs {} invented {} dup {} asked-after-said {} coverage% {}{}",
        result.interview,
        result.path,
        ratio(total.recall()),
        ratio(total.precision()),
        result.needs.len(),
        result.score.invented_needs.len(),
        result.score.duplicate_needs,
        result.score.asked_after_said,
        coverage.join("→"),
        result
            .error
            .as_ref()
            .map(|error| format!("  ERROR {error}"))
            .unwrap_or_default()
    );
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

fn summarise(results: &[&SessionResult]) -> Value {
    let mut total = Score::default();
    for result in results {
        total.add(&result.score);
    }
    let counts = total.total();
    let mut voice: Vec<f64> = results
        .iter()
        .flat_map(|result| result.voice_to_voice_ms.iter().copied())
        .collect();
    let mut turns: Vec<f64> = results
        .iter()
        .flat_map(|result| result.turn_ms.iter().copied())
        .collect();
    let per_slot: serde_json::Map<String, Value> = total
        .slots
        .iter()
        .map(|(slot, counts)| {
            (
                slot.clone(),
                json!({"recall": counts.recall(), "precision": counts.precision(), "counts": counts}),
            )
        })
        .collect();
    json!({
        "sessions": results.len(),
        "errors": results.iter().filter(|result| result.error.is_some()).count(),
        "recall": counts.recall(),
        "precision": counts.precision(),
        "per_slot": per_slot,
        "invented_needs": total.invented_needs.len(),
        "invented_needs_per_session": total.invented_needs.len() as f64 / results.len().max(1) as f64,
        "invented": total.invented_needs,
        "duplicate_needs": total.duplicate_needs,
        "missed_needs": total.missed_needs,
        "asked_after_said": total.asked_after_said,
        "asked_after_filled": total.asked_after_filled,
        "asked_more_than_twice": total.asked_more_than_twice,
        "repeated_in_a_row": total.repeated_in_a_row,
        "corrections_not_applied": total.corrections_not_applied,
        "mean_value_words": total.n_value_words as f64 / total.n_values.max(1) as f64,
        "voice_to_voice_median_ms": median(&mut voice),
        "turn_median_ms": median(&mut turns),
        "llm_calls": results.iter().map(|result| result.n_llm_calls).sum::<usize>(),
    })
}

fn print_summary(path: &str, label: &str, results: &[&SessionResult], summary: &Value) {
    let number = |key: &str| summary[key].as_f64();
    println!(
        "\n== {label} / {path}: {} sessions, {} with errors",
        results.len(),
        summary["errors"]
    );
    println!("  slot               recall  precision");
    for slot in SLOTS {
        let row = &summary["per_slot"][slot];
        println!(
            "  {slot:<18} {:>6}  {:>9}",
            ratio(row["recall"].as_f64()),
            ratio(row["precision"].as_f64())
        );
    }
    println!(
        "  {:<18} {:>6}  {:>9}",
        "all slots",
        ratio(number("recall")),
        ratio(number("precision"))
    );
    println!(
        "  invented needs {} ({:.2} per session), duplicates {}, missed {}",
        summary["invented_needs"],
        number("invented_needs_per_session").unwrap_or(0.0),
        summary["duplicate_needs"],
        summary["missed_needs"]
    );
    println!(
        "  questions: asked after said {}, after filled {}, a slot more than twice {}, same twice in a row {}",
        summary["asked_after_said"],
        summary["asked_after_filled"],
        summary["asked_more_than_twice"],
        summary["repeated_in_a_row"]
    );
    println!(
        "  corrections not applied {}; mean words per value {:.1}; llm calls {}",
        summary["corrections_not_applied"],
        number("mean_value_words").unwrap_or(0.0),
        summary["llm_calls"]
    );
    let ms = |key: &str| number(key).map_or("-".to_string(), |ms| format!("{ms:.0} ms"));
    println!(
        "  median turn {}; median voice-to-voice {}",
        ms("turn_median_ms"),
        ms("voice_to_voice_median_ms")
    );
}
