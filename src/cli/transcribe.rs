//! `ideadesk transcribe`: an audio file (or the microphone) → utterances → text, one line
//! per utterance, or JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::{Cli, Warnings, missing_model_warning};
use crate::audio::capture::CaptureConfig;
use crate::audio::source::{AudioSource, FileSource, MicSource, Pacing};
use crate::models::{Resolver, Role};
use crate::session::hear::{Hear, HearConfig, HearEvent};
use crate::stt::{Transcriber, WhisperConfig};
use crate::vad::VoiceDetector;
use crate::vad::energy::EnergyDetector;

/// Which voice activity detector cuts the audio into utterances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VadChoice {
    /// Silero VAD (falls back to `energy` with a warning when its weights are missing).
    Silero,
    /// Level above the recent noise floor; needs no weights.
    Energy,
    /// No detection: the audio is cut only at the maximum utterance length.
    None,
}

/// Arguments of `transcribe`.
#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// The audio file: WAV, FLAC, MP3 or OGG/Vorbis, any rate and channel count.
    #[arg(required_unless_present = "mic", conflicts_with = "mic")]
    file: Option<PathBuf>,
    /// Transcribe the microphone instead of a file (Ctrl-C or --seconds stops).
    #[arg(long)]
    mic: bool,
    /// Input device name for --mic (see `ideadesk devices`); default input otherwise.
    #[arg(long, requires = "mic")]
    device: Option<String>,
    /// Stop --mic after this many seconds.
    #[arg(long, requires = "mic")]
    seconds: Option<f64>,
    /// Machine-readable output: {"utterances": [{"id", "start", "end", "text"}]}.
    #[arg(long)]
    json: bool,
    /// Spoken language: `auto` (multilingual models) or a code such as en, de, fr.
    #[arg(long, default_value = "en")]
    language: String,
    /// Voice activity detector.
    #[arg(long, value_enum, default_value_t = VadChoice::Silero)]
    vad: VadChoice,
    /// Silence that ends an utterance, in ms.
    #[arg(long, default_value_t = 500)]
    end_silence_ms: u32,
    /// Print partial transcripts of the open utterance (to stderr) while it grows.
    #[arg(long)]
    partials: bool,
    /// Whisper CPU threads [default: cores, at most 4].
    #[arg(long)]
    threads: Option<usize>,
    /// Beam search with this width instead of greedy decoding.
    #[arg(long)]
    beam: Option<usize>,
    /// Deliver a file no faster than real time, as a microphone would.
    #[arg(long, conflicts_with = "mic")]
    realtime: bool,
}

#[derive(Debug, Serialize)]
struct JsonUtterance {
    id: u64,
    start: f64,
    end: f64,
    text: String,
}

/// Builds the detector asked for, falling back to energy when Silero has no weights.
pub(crate) fn load_detector(
    cli: &Cli,
    choice: VadChoice,
    warnings: &mut Warnings,
) -> anyhow::Result<Option<Box<dyn VoiceDetector>>> {
    match choice {
        VadChoice::None => Ok(None),
        VadChoice::Energy => Ok(Some(Box::new(EnergyDetector::new()))),
        VadChoice::Silero => {
            let mut resolver = Resolver::new(cli.resolver_options())?;
            match resolver.resolve(Role::Vad) {
                Ok(model) => {
                    let path = model.paths.first().cloned().unwrap_or_default();
                    let device = crate::compute::select_device(true);
                    let detector = crate::vad::silero::SileroDetector::load(&path, &device)
                        .with_context(|| {
                            format!("loading the Silero VAD from {}", path.display())
                        })?;
                    Ok(Some(Box::new(detector)))
                }
                Err(err) => {
                    warnings.warn(missing_model_warning(
                        cli,
                        Role::Vad,
                        "a simpler energy detector tells speech from silence",
                        &err,
                    ));
                    Ok(Some(Box::new(EnergyDetector::new())))
                }
            }
        }
    }
}

/// Loads the Whisper worker for the current preset or `--models` folder.
pub(crate) fn load_transcriber(cli: &Cli, config: WhisperConfig) -> anyhow::Result<Transcriber> {
    let mut resolver = Resolver::new(cli.resolver_options())?;
    let model = resolver.resolve(Role::Stt)?;
    let path = model
        .paths
        .first()
        .cloned()
        .context("the stt entry lists no file")?;
    Ok(Transcriber::spawn(&path, config)?)
}

/// `mm:ss.cc`, or `h:mm:ss.cc` past an hour.
fn clock(seconds: f64) -> String {
    let centis = (seconds.max(0.0) * 100.0).round() as u64;
    let (hours, rest) = (centis / 360_000, centis % 360_000);
    let (minutes, rest) = (rest / 6000, rest % 6000);
    let (secs, centis) = (rest / 100, rest % 100);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{secs:02}.{centis:02}")
    } else {
        format!("{minutes:02}:{secs:02}.{centis:02}")
    }
}

/// Runs `transcribe`.
pub fn run(cli: &Cli, args: &TranscribeArgs) -> anyhow::Result<ExitCode> {
    // Open the input first: a bad file should fail before any model loads.
    let mut source: Box<dyn AudioSource> = match &args.file {
        Some(path) => {
            let pacing = if args.realtime {
                Pacing::Realtime
            } else {
                Pacing::AsFastAsPossible
            };
            Box::new(FileSource::open(path, pacing)?)
        }
        None => Box::new(MicSource::open(&CaptureConfig {
            device: args.device.clone(),
            ..CaptureConfig::default()
        })?),
    };
    let detector = load_detector(cli, args.vad, &mut Warnings::printing())?;
    let mut whisper = WhisperConfig {
        language: args.language.clone(),
        beam_size: args.beam,
        use_gpu: !cli.cpu,
        ..WhisperConfig::default()
    };
    if let Some(n_threads) = args.threads {
        whisper.n_threads = n_threads.max(1);
    }
    let transcriber = load_transcriber(cli, whisper)?;
    let mut config = HearConfig {
        partial_interval_ms: args.partials.then_some(1000),
        ..HearConfig::default()
    };
    config.segmenter.end_of_turn_ms = args.end_silence_ms;
    let mut hear = Hear::new(detector, transcriber, config);

    let stop = Arc::new(AtomicBool::new(false));
    if let Some(seconds) = args.seconds {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(seconds.max(0.0)));
            stop.store(true, Ordering::Relaxed);
        });
    }
    let started = Instant::now();
    let mut utterances = Vec::new();
    let json = args.json;
    let summary = hear.run(source.as_mut(), Some(&stop), |event| match event {
        HearEvent::Final(transcript) if !transcript.text.is_empty() => {
            if !json {
                println!(
                    "[{} → {}] {}",
                    clock(transcript.start_s),
                    clock(transcript.end_s),
                    transcript.text
                );
            }
            utterances.push(JsonUtterance {
                id: transcript.utterance_id,
                start: (transcript.start_s * 100.0).round() / 100.0,
                end: (transcript.end_s * 100.0).round() / 100.0,
                text: transcript.text,
            });
        }
        HearEvent::Partial(transcript) => {
            eprintln!("… [{}] {}", clock(transcript.start_s), transcript.text);
        }
        _ => {}
    })?;
    if json {
        println!("{}", serde_json::json!({ "utterances": utterances }));
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    tracing::info!(
        "transcribed {:.1} s of audio in {:.2} s (real-time factor {:.3}); {} utterances, {} partials; peak RSS {} MB",
        summary.audio_s,
        elapsed_s,
        elapsed_s / summary.audio_s.max(1e-9),
        summary.n_utterances,
        summary.n_partials,
        crate::compute::peak_rss_bytes()
            .map(|bytes| bytes / 1_000_000)
            .unwrap_or(0)
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::clock;

    #[test]
    fn clock_cases() {
        let check = |seconds: f64, expected: &str| assert_eq!(clock(seconds), expected);
        check(0.0, "00:00.00");
        check(1.2, "00:01.20");
        check(4.855, "00:04.86");
        check(61.0, "01:01.00");
        check(3_725.5, "1:02:05.50");
    }
}
