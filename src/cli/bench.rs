//! `ideadesk bench`: runs one fixed scripted session several times and prints where a
//! turn's time goes — voice-to-voice and its parts, as median and 90th percentile over
//! every turn of every run — and the process's peak memory.
//!
//! The script is spoken by the session's own voice (so no other program or file is
//! needed), each run uses a fresh store, and the models are loaded once, so the figures
//! are the loop's, not the loading's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::listen::{ListenArgs, prepare, run_prepared};
use super::transcribe::{VadChoice, load_detector};
use super::{Cli, Warnings};
use crate::audio::playback::{OutputConfig, WavFileConfig};
use crate::session::events::{Event, TurnLatency};
use crate::session::live::{LiveStages, ReplyOutput};
use crate::store::Store;
use crate::tts::synth::{SpeechOptions, Synthesizer};

/// The fixed script: a person describing a product idea, one utterance per line.
pub const BENCH_SCRIPT: [&str; 3] = [
    "Freelance designers lose hours every month chasing clients who pay their invoices late.",
    "Today they send reminder emails by hand and keep a spreadsheet of who owes what.",
    "It happens with almost every client, at the end of each month.",
];
/// Silence before, between and after the script's utterances (s).
const SCRIPT_PAUSE_S: f64 = 1.5;
/// The voice's seed for the script, apart from the replies' default.
const SCRIPT_SEED: u64 = 7;

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// How many times to run the session.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Use this audio file instead of the built-in script spoken by the voice.
    #[arg(long, value_name = "FILE")]
    audio: Option<PathBuf>,
    /// Deliver the audio in real time, with partial transcripts, as a microphone would.
    #[arg(long)]
    realtime: bool,
    /// Keep the last run's spoken replies in this WAV file.
    #[arg(long, value_name = "FILE.wav")]
    reply_wav: Option<PathBuf>,
    /// Machine-readable output: one JSON object.
    #[arg(long)]
    json: bool,
}

/// One row of the table.
#[derive(Debug, Serialize)]
struct Row {
    stage: &'static str,
    n: usize,
    median_ms: Option<f64>,
    p90_ms: Option<f64>,
}

/// The value at quantile `q` (nearest rank) of `values`; `None` when empty.
pub(crate) fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// Speaks the script into a 16-bit WAV with pauses around each utterance.
fn write_script(synthesizer: &Synthesizer, path: &Path) -> anyhow::Result<()> {
    let options = SpeechOptions {
        seed: SCRIPT_SEED,
        ..SpeechOptions::default()
    };
    let sample_rate_hz = synthesizer.info().sample_rate_hz;
    let pause = vec![0.0f32; (SCRIPT_PAUSE_S * f64::from(sample_rate_hz)) as usize];
    let mut samples = pause.clone();
    for line in BENCH_SCRIPT {
        for chunk in synthesizer.speak_all(line, options)? {
            samples.extend(chunk.samples);
        }
        samples.extend(&pause);
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: sample_rate_hz,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    crate::files::write_atomically(path, |file| {
        let mut writer = hound::WavWriter::new(file, spec).map_err(std::io::Error::other)?;
        for sample in samples {
            writer
                .write_sample((sample.clamp(-1.0, 1.0) * 32767.0).round() as i16)
                .map_err(std::io::Error::other)?;
        }
        writer.finalize().map_err(std::io::Error::other)
    })?;
    Ok(())
}

/// A scratch folder under the system's temp dir, removed when dropped.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create() -> anyhow::Result<Self> {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S%3f");
        let path =
            std::env::temp_dir().join(format!("ideadesk-bench-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Runs `bench`.
pub fn run(cli: &Cli, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(audio) = &args.audio {
        super::check_audio_file(audio)?;
    }
    let work = WorkDir::create()?;
    let script_path = work.path.join("script.wav");
    let data_dir = work.path.join("data");
    let listen_args = ListenArgs::scripted(
        args.audio.clone().unwrap_or_else(|| script_path.clone()),
        args.realtime,
        args.reply_wav.clone(),
    );
    // Load once; each run gets fresh handles to the same workers and a fresh detector.
    let template = prepare(cli, &listen_args, &data_dir.join("template"))?;
    if args.audio.is_none() {
        let synthesizer = template
            .stages
            .synthesizer
            .as_ref()
            .context("the bench needs a voice to speak its script")?;
        write_script(synthesizer, &script_path)?;
    }
    let mut turns: Vec<(f64, TurnLatency)> = Vec::new();
    let mut n_utterances = 0usize;
    let progress = indicatif::ProgressBar::new(u64::from(args.runs));
    if !cli.show_progress() || args.json {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    for run_idx in 0..args.runs {
        progress.set_message(format!("run {}", run_idx + 1));
        let run_data = data_dir.join(format!("run-{run_idx}"));
        std::fs::create_dir_all(&run_data)?;
        let mut store = Store::open(&Store::default_path(&run_data))?;
        let session = super::capture::session_for(&mut store, "new")?;
        drop(store);
        let mut config = template.config.clone();
        config.store_path = Store::default_path(&run_data);
        config.sketch_dir = run_data.join("sketches");
        config.brief_path = run_data.join("brief.md");
        // Every run speaks into a WAV file as fast as it can be written, so each turn pays
        // for its synthesis; the last run's goes to --reply-wav when given.
        let reply_path = match (&args.reply_wav, run_idx + 1 == args.runs) {
            (Some(path), true) => path.clone(),
            _ => run_data.join("reply.wav"),
        };
        let output = ReplyOutput::Sink(OutputConfig::WavFile(WavFileConfig::new(reply_path)));
        let prepared = super::listen::Prepared {
            stages: LiveStages {
                detector: load_detector(cli, VadChoice::Silero, &mut Warnings::kept())?,
                transcriber: template.stages.transcriber.clone(),
                understand: template.stages.understand.clone(),
                synthesizer: template.stages.synthesizer.clone(),
                describer: None,
            },
            audio: template.audio.clone(),
            frames: template.frames.clone(),
            output,
            config,
            session,
        };
        let (_control_tx, control_rx) = mpsc::channel();
        let summary = run_prepared(prepared, control_rx, |record| {
            if let Event::Reply {
                voice_to_voice_ms,
                latency,
                ..
            } = &record.event
            {
                turns.push((*voice_to_voice_ms, latency.clone()));
            }
        })?;
        n_utterances += summary.n_utterances;
        progress.inc(1);
    }
    progress.finish_and_clear();

    let column = |pick: &dyn Fn(&(f64, TurnLatency)) -> Option<f64>| -> Vec<f64> {
        turns.iter().filter_map(pick).collect()
    };
    let columns: Vec<(&'static str, Vec<f64>)> = vec![
        ("voice-to-voice", column(&|(v, _)| Some(*v))),
        (
            "  end-of-turn wait",
            column(&|(_, l)| Some(l.end_of_turn_wait_ms)),
        ),
        ("  stt", column(&|(_, l)| Some(l.stt_ms))),
        ("  llm first token", column(&|(_, l)| l.llm_first_token_ms)),
        (
            "  llm first sentence",
            column(&|(_, l)| l.llm_first_sentence_ms),
        ),
        ("  tts first chunk", column(&|(_, l)| l.tts_first_chunk_ms)),
        ("extraction", column(&|(_, l)| l.extraction_ms)),
        ("whole turn", column(&|(_, l)| Some(l.turn_ms))),
    ];
    let rows: Vec<Row> = columns
        .iter()
        .map(|(stage, values)| Row {
            stage,
            n: values.len(),
            median_ms: quantile(values, 0.5),
            p90_ms: quantile(values, 0.9),
        })
        .collect();
    let peak_rss = crate::compute::peak_rss_bytes();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "runs": args.runs,
                "turns": turns.len(),
                "utterances": n_utterances,
                "rows": rows,
                "peak_rss_bytes": peak_rss,
            }))?
        );
    } else {
        println!(
            "{} run(s), {} turn(s), {} utterance(s); milliseconds",
            args.runs,
            turns.len(),
            n_utterances
        );
        println!("{:<22} {:>5} {:>9} {:>9}", "stage", "n", "median", "p90");
        let cell = |ms: Option<f64>| {
            ms.map(|ms| format!("{ms:.0}"))
                .unwrap_or_else(|| "–".into())
        };
        for row in &rows {
            println!(
                "{:<22} {:>5} {:>9} {:>9}",
                row.stage,
                row.n,
                cell(row.median_ms),
                cell(row.p90_ms)
            );
        }
        match peak_rss {
            Some(bytes) => println!("peak RSS: {}", super::human_bytes(bytes)),
            None => println!("peak RSS: not available on this system"),
        }
    }
    anyhow::ensure!(
        !turns.is_empty(),
        "no turn was answered: the audio held no speech that was heard"
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let check = |values: &[f64], q: f64, expected: Option<f64>| {
            assert_eq!(quantile(values, q), expected, "{values:?} at {q}")
        };
        check(&[], 0.5, None);
        check(&[3.0], 0.9, Some(3.0));
        check(&[5.0, 1.0, 3.0], 0.5, Some(3.0));
        check(&[1.0, 2.0, 3.0, 4.0], 0.5, Some(2.0));
        check(&(1..=10).map(f64::from).collect::<Vec<_>>(), 0.9, Some(9.0));
        check(&[f64::NAN, 2.0], 0.5, Some(2.0));
    }
}
