//! `ideadesk say`: speak text aloud (or into a WAV file) with the Piper voice, or with
//! espeak-ng when no Piper voice is present. Sentences play as soon as each is made.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::{Cli, Warnings, missing_model_warning};
use crate::audio::playback::{OutputConfig, Playback, SpeakerConfig, WavFileConfig};
use crate::models::{Resolver, Role};
use crate::tts::espeak::DEFAULT_ESPEAK_VOICE;
use crate::tts::synth::{SpeechOptions, Synthesizer, VoiceKind, VoiceSpec};
use crate::tts::vits::Scales;

/// Arguments of `say`.
#[derive(Debug, Args)]
pub struct SayArgs {
    /// What to say; `-` reads it from standard input.
    text: String,
    /// Which voice: `piper` (the preset's natural voice; downloaded on first use), a Piper
    /// voice by name (`en_US-lessac-medium`, see `models list --role tts`) or file
    /// (`VOICE.onnx`), `espeak` (robotic, needs no model) or an espeak-ng voice
    /// (`espeak:en-gb`) [default: piper when it can be had, else espeak].
    #[arg(long, value_name = "VOICE")]
    voice: Option<VoiceChoice>,
    /// Write the speech to this WAV file instead of playing it.
    #[arg(long, value_name = "FILE.wav")]
    out: Option<PathBuf>,
    /// The speaker to play on (a name from `ideadesk devices`) [default: the system's].
    #[arg(long, value_name = "NAME", conflicts_with = "out")]
    device: Option<String>,
    /// Piper: speaking slowness; 1.2 is 20 % slower [default: the voice's].
    #[arg(long, value_name = "SCALE")]
    length_scale: Option<f32>,
    /// Piper: expressiveness noise; 0 is flat and fully deterministic [default: the voice's].
    #[arg(long, value_name = "SCALE")]
    noise_scale: Option<f32>,
    /// Piper: rhythm noise; 0 is fully deterministic [default: the voice's].
    #[arg(long, value_name = "SCALE")]
    noise_w: Option<f32>,
    /// Piper: the noise seed; the same text, scales and seed give the same audio.
    #[arg(long, default_value_t = SpeechOptions::default().seed)]
    seed: u64,
    /// One JSON object per line: each sentence as it is ready (text, phonemes, ids,
    /// timings), then a summary.
    #[arg(long)]
    json: bool,
}

/// The voices `--voice` offers: `piper` (the preset's Piper voice), a Piper voice by its
/// name in the manifest (`en_US-lessac-medium`) or a local `.onnx` file, `espeak`, or an
/// espeak-ng voice by name (`espeak:en-gb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoiceChoice {
    /// The Piper voice of the `tts` role (VITS on candle).
    Piper,
    /// A Piper voice named in the manifest, such as `en_US-lessac-medium`.
    PiperNamed(String),
    /// A Piper voice file (`.onnx`, with its `.onnx.json` beside it).
    PiperFile(PathBuf),
    /// An espeak-ng voice, such as `en-us` or `en-gb`.
    Espeak(String),
}

impl std::str::FromStr for VoiceChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "give a voice: piper, espeak, espeak:VOICE, a Piper voice name or a .onnx file"
                    .into(),
            );
        }
        let lower = text.to_lowercase();
        Ok(match lower.as_str() {
            "piper" => VoiceChoice::Piper,
            "espeak" | "espeak-ng" => VoiceChoice::Espeak(DEFAULT_ESPEAK_VOICE.to_string()),
            _ => {
                if let Some(voice) = lower
                    .strip_prefix("espeak:")
                    .or_else(|| lower.strip_prefix("espeak-ng:"))
                {
                    VoiceChoice::Espeak(voice.to_string())
                } else if lower.ends_with(".onnx") {
                    VoiceChoice::PiperFile(PathBuf::from(text))
                } else {
                    VoiceChoice::PiperNamed(text.to_string())
                }
            }
        })
    }
}

#[derive(Debug, Serialize)]
struct SentenceLine<'a> {
    kind: &'static str,
    sentence_idx: usize,
    text: &'a str,
    phonemes: &'a str,
    phoneme_ids: &'a [i64],
    n_samples: usize,
    sample_rate_hz: u32,
    audio_s: f64,
    synthesis_ms: f64,
    ready_ms: f64,
}

#[derive(Debug, Serialize)]
struct SummaryLine {
    kind: &'static str,
    voice: VoiceKind,
    voice_name: String,
    n_sentences: usize,
    audio_s: f64,
    synthesis_s: f64,
    real_time_factor: f64,
    first_chunk_ms: f64,
    output: String,
}

/// Loads the voice: Piper from the `tts` role (fetched when missing and allowed), or
/// espeak-ng. With no choice, Piper when it resolves, else espeak-ng with a warning.
pub(crate) fn load_synthesizer(
    cli: &Cli,
    choice: Option<VoiceChoice>,
    warnings: &mut Warnings,
) -> anyhow::Result<Synthesizer> {
    let device = crate::compute::select_device(cli.cpu);
    let espeak = || VoiceSpec::Espeak {
        voice: DEFAULT_ESPEAK_VOICE.to_string(),
    };
    let spec = match choice {
        Some(VoiceChoice::Espeak(voice)) => VoiceSpec::Espeak { voice },
        Some(VoiceChoice::Piper) => piper_spec(cli)?,
        Some(VoiceChoice::PiperNamed(name)) => named_piper_spec(cli, &name)?,
        Some(VoiceChoice::PiperFile(onnx)) => {
            anyhow::ensure!(
                onnx.is_file(),
                "no Piper voice file {}; give a .onnx voice (with its .onnx.json beside it), a voice name from `ideadesk models list --role tts`, or espeak",
                onnx.display()
            );
            VoiceSpec::Piper { onnx }
        }
        None => match piper_spec(cli) {
            Ok(spec) => spec,
            Err(err) => {
                let reason = match err.downcast_ref::<crate::models::ModelError>() {
                    Some(model_error) => missing_model_warning(
                        cli,
                        Role::Tts,
                        "espeak-ng's own voice speaks instead",
                        model_error,
                    ),
                    None => {
                        format!("no Piper voice ({err}), so espeak-ng's own voice speaks instead")
                    }
                };
                warnings.warn(reason);
                espeak()
            }
        },
    };
    Ok(Synthesizer::spawn(spec, device)?)
}

fn piper_spec(cli: &Cli) -> anyhow::Result<VoiceSpec> {
    let mut resolver = Resolver::new(cli.resolver_options())?;
    piper_spec_from(&mut resolver)
}

/// The Piper voice whose manifest file is named `name` (`en_US-lessac-medium`, with or
/// without `.onnx`), from whichever preset (or test entry) lists it.
fn named_piper_spec(cli: &Cli, name: &str) -> anyhow::Result<VoiceSpec> {
    let wanted = name.trim_end_matches(".onnx").to_lowercase();
    let options = cli.resolver_options();
    let manifest = Resolver::new(options.clone())?.manifest().clone();
    let mut known = Vec::new();
    for variant in manifest.variants(Role::Tts) {
        let Some(entry) = manifest.entry(Role::Tts, variant) else {
            continue;
        };
        for file in entry
            .files
            .iter()
            .filter(|file| file.local_name().ends_with(".onnx"))
        {
            let file_name = file.local_name().trim_end_matches(".onnx").to_string();
            if file_name.to_lowercase() != wanted {
                known.push(file_name);
                continue;
            }
            return match variant {
                crate::models::Variant::Preset(preset) => {
                    let mut resolver =
                        Resolver::new(crate::models::ResolverOptions { preset, ..options })?;
                    piper_spec_from(&mut resolver)
                }
                crate::models::Variant::Test => {
                    let dir = options.models_dir.clone().context(
                        "that voice is a test voice: pass --models models/test (after `make test-models`)",
                    )?;
                    Ok(VoiceSpec::Piper {
                        onnx: dir.join("tts").join(file.local_name()),
                    })
                }
            };
        }
    }
    known.sort();
    known.dedup();
    anyhow::bail!(
        "no Piper voice named {name:?}; the manifest has {}, or give a .onnx file, or espeak / espeak:VOICE",
        known.join(", ")
    )
}

fn piper_spec_from(resolver: &mut Resolver) -> anyhow::Result<VoiceSpec> {
    let model = resolver.resolve(Role::Tts)?;
    let onnx = model
        .entry
        .files
        .iter()
        .zip(&model.paths)
        .find(|(spec, _)| spec.local_name().ends_with(".onnx"))
        .map(|(_, path)| path.clone())
        .context("the tts entry lists no .onnx voice file")?;
    Ok(VoiceSpec::Piper { onnx })
}

fn read_text(text: &str) -> anyhow::Result<String> {
    if text != "-" {
        return Ok(text.to_string());
    }
    let mut buffer = String::new();
    std::io::stdin()
        .read_to_string(&mut buffer)
        .context("reading the text from standard input")?;
    Ok(buffer)
}

/// Runs `say`.
pub fn run(cli: &Cli, args: &SayArgs) -> anyhow::Result<ExitCode> {
    let text = read_text(&args.text)?;
    let n_sentences_expected = crate::tts::text::sentences(&text).len();
    if n_sentences_expected == 0 {
        anyhow::bail!(
            "nothing to say: the text has no words or numbers in it (give the text, e.g. `ideadesk say \"Hello there\"`)"
        );
    }
    let synthesizer = load_synthesizer(cli, args.voice.clone(), &mut Warnings::printing())?;
    let output = match &args.out {
        Some(path) => OutputConfig::WavFile(WavFileConfig::new(path)),
        None => OutputConfig::Speaker(SpeakerConfig {
            device: args.device.clone(),
            ..SpeakerConfig::default()
        }),
    };
    // Open the output before synthesising. A missing speaker is a warning: there is nowhere
    // to play, and the text can still be written to a WAV file.
    let playback = match Playback::open(&output) {
        Ok(playback) => playback,
        Err(
            err @ (crate::audio::AudioError::NoOutputDevice(_)
            | crate::audio::AudioError::OpenOutputDevice { .. }),
        ) if args.out.is_none() => {
            eprintln!(
                "warning: {}; nothing was played. Write the speech to a file with `ideadesk say TEXT --out F.wav`",
                err.to_string().split("; ").next().unwrap_or_default()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Err(err) => return Err(err.into()),
    };
    let options = SpeechOptions {
        scales: scales_from_args(args, &synthesizer)?,
        seed: args.seed,
    };

    let progress = sentence_progress(cli, args, n_sentences_expected);
    let started = Instant::now();
    let mut first_chunk: Option<Duration> = None;
    let mut n_sentences = 0;
    let mut audio_s = 0.0;
    let mut synthesis_s = 0.0;
    for chunk in synthesizer.speak(&text, options) {
        let chunk = chunk?;
        let ready = started.elapsed();
        first_chunk.get_or_insert(ready);
        n_sentences += 1;
        audio_s += chunk.duration_s();
        synthesis_s += chunk.synthesis_time.as_secs_f64();
        if args.json {
            let line = SentenceLine {
                kind: "sentence",
                sentence_idx: chunk.sentence_idx,
                text: &chunk.text,
                phonemes: &chunk.phonemes,
                phoneme_ids: &chunk.phoneme_ids,
                n_samples: chunk.samples.len(),
                sample_rate_hz: chunk.sample_rate_hz,
                audio_s: chunk.duration_s(),
                synthesis_ms: chunk.synthesis_time.as_secs_f64() * 1e3,
                ready_ms: ready.as_secs_f64() * 1e3,
            };
            println!("{}", serde_json::to_string(&line)?);
        }
        playback.play(chunk.samples, chunk.sample_rate_hz)?;
        progress.inc(1);
    }
    progress.finish_and_clear();
    // Give the device the audio's own length plus a margin to play out.
    let timeout = Duration::from_secs_f64(audio_s) + Duration::from_secs(10);
    if !playback.wait_until_drained(timeout) {
        eprintln!("warning: the output did not finish playing within {timeout:?}");
    }
    let output_name = playback.info().name.clone();
    playback.close()?;

    let info = synthesizer.info();
    let first_chunk_ms = first_chunk.unwrap_or_default().as_secs_f64() * 1e3;
    let real_time_factor = synthesis_s / audio_s.max(1e-9);
    if args.json {
        let summary = SummaryLine {
            kind: "summary",
            voice: info.kind,
            voice_name: info.name.clone(),
            n_sentences,
            audio_s,
            synthesis_s,
            real_time_factor,
            first_chunk_ms,
            output: output_name,
        };
        println!("{}", serde_json::to_string(&summary)?);
    } else if cli.quiet == 0 {
        eprintln!(
            "{n_sentences} sentence(s), {audio_s:.2} s of speech made in {synthesis_s:.2} s (real-time factor {real_time_factor:.3}); first audio after {first_chunk_ms:.0} ms; {} voice {}; {}",
            match info.kind {
                VoiceKind::Piper => "Piper",
                VoiceKind::Espeak => "espeak-ng",
            },
            info.name,
            match &args.out {
                Some(path) => format!("written to {}", path.display()),
                None => format!("played on {output_name}"),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Texts of more sentences than this show a progress bar while they are made.
const MIN_SENTENCES_FOR_PROGRESS: usize = 8;

/// A progress bar over the sentences of a long text, on a terminal only, and never with
/// `--json` or `--quiet`.
fn sentence_progress(cli: &Cli, args: &SayArgs, n_sentences: usize) -> ProgressBar {
    if args.json || cli.quiet > 0 || n_sentences < MIN_SENTENCES_FOR_PROGRESS {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(n_sentences as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} sentences, {elapsed} (about {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(if args.out.is_some() {
        "speaking into the file"
    } else {
        "speaking"
    });
    bar
}

/// The longest `--length-scale` (ten times slower than the voice's pace).
const MAX_LENGTH_SCALE: f32 = 10.0;
/// The largest noise scale; Piper voices use 0.3–1.
const MAX_NOISE_SCALE: f32 = 5.0;

fn scales_from_args(args: &SayArgs, synthesizer: &Synthesizer) -> anyhow::Result<Option<Scales>> {
    if args.length_scale.is_none() && args.noise_scale.is_none() && args.noise_w.is_none() {
        return Ok(None);
    }
    let Some(defaults) = synthesizer.info().default_scales else {
        eprintln!(
            "warning: --length-scale, --noise-scale and --noise-w only apply to Piper voices"
        );
        return Ok(None);
    };
    let scales = Scales {
        noise_scale: args.noise_scale.unwrap_or(defaults.noise_scale),
        length_scale: args.length_scale.unwrap_or(defaults.length_scale),
        noise_w: args.noise_w.unwrap_or(defaults.noise_w),
    };
    if !(scales.length_scale > 0.0 && scales.length_scale <= MAX_LENGTH_SCALE) {
        anyhow::bail!(
            "--length-scale must be above 0 and at most {MAX_LENGTH_SCALE} (1 is the voice's pace), not {}",
            scales.length_scale
        );
    }
    for (flag, value) in [
        ("--noise-scale", scales.noise_scale),
        ("--noise-w", scales.noise_w),
    ] {
        if !(0.0..=MAX_NOISE_SCALE).contains(&value) {
            anyhow::bail!("{flag} must be between 0 and {MAX_NOISE_SCALE}, not {value}");
        }
    }
    Ok(Some(scales))
}

#[cfg(test)]
mod voice_tests {
    use super::*;

    #[test]
    fn voices_are_named_as_a_person_would() {
        let check = |text: &str, expected: Option<VoiceChoice>| {
            assert_eq!(text.parse::<VoiceChoice>().ok(), expected, "{text:?}");
        };
        check("piper", Some(VoiceChoice::Piper));
        check("Piper", Some(VoiceChoice::Piper));
        check(
            "espeak",
            Some(VoiceChoice::Espeak(DEFAULT_ESPEAK_VOICE.to_string())),
        );
        check("espeak:en-gb", Some(VoiceChoice::Espeak("en-gb".into())));
        check("espeak-ng:fr", Some(VoiceChoice::Espeak("fr".into())));
        check(
            "voices/Amy.onnx",
            Some(VoiceChoice::PiperFile(PathBuf::from("voices/Amy.onnx"))),
        );
        check(
            "en_US-lessac-medium",
            Some(VoiceChoice::PiperNamed("en_US-lessac-medium".into())),
        );
        check("  ", None);
    }
}
