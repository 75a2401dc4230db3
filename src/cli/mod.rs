//! The `ideadesk` command line: argument parsing (clap) and the commands' front ends.
//!
//! This is the only library module that uses `anyhow`: every command turns the typed
//! errors of the modules below into a message for a person and an exit code.

mod bench;
mod capture;
mod devices;
mod doctor;
mod export;
mod listen;
mod live_view;
mod look;
mod models;
mod needs;
mod say;
mod transcribe;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::models::{Preset, ResolverOptions, Role};

/// ideadesk — speak a product idea, hold up a sketch, get the needs and the next question.
///
/// Fully local: Whisper hears, a vision model looks, a local LLM captures needs with their
/// evidence and asks back, aloud. Models come from the Hugging Face hub on first use
/// (pinned revisions, verified by sha256), or from a folder given with --models.
#[derive(Debug, Parser)]
#[command(
    name = "ideadesk",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// A local model folder laid out as DIR/<role>/<file> (e.g. models/test). Commands
    /// only read it; `models fetch` downloads into it.
    #[arg(long, global = true, env = "IDEADESK_MODELS", value_name = "DIR")]
    pub models: Option<PathBuf>,

    /// Where sessions, the model lock and caches are kept [default: the XDG data dir,
    /// e.g. ~/.local/share/ideadesk].
    #[arg(long, global = true, env = "IDEADESK_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Use this GGUF file as the language model instead of the preset's (any llama, qwen2
    /// or qwen3 GGUF, e.g. Q4_K_M, Q5_0, Q8_0); its tokenizer is read from the file.
    #[arg(long, global = true, env = "IDEADESK_LLM", value_name = "FILE.gguf")]
    pub llm: Option<PathBuf>,

    /// Model sizes: fast | balanced | quality.
    #[arg(long, global = true, default_value = "balanced", value_parser = parse_preset, value_name = "PRESET")]
    pub preset: Preset,

    /// Run every model on the CPU even when a GPU backend is compiled in and usable.
    #[arg(long, global = true)]
    pub cpu: bool,

    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less output: no progress bars, errors only.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, fetch, verify and convert model weights.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// List microphones, speakers and cameras, with the defaults marked.
    Devices(devices::DevicesArgs),
    /// Check this machine: CPU, GPU, models, espeak-ng, audio and camera — with fixes.
    Doctor(doctor::DoctorArgs),
    /// Transcribe an audio file (or the microphone): one timed line per utterance.
    Transcribe(transcribe::TranscribeArgs),
    /// Measure and describe sketches: image files, or the sharpest second of camera.
    Look(look::LookArgs),
    /// One turn of need capture from text, audio or sketches: stores it, prints the
    /// needs and the next question.
    Capture(capture::CaptureArgs),
    /// List, show and search captured needs.
    #[command(subcommand)]
    Needs(needs::NeedsCommand),
    /// Write a session's brief (Markdown) or everything stored (JSON).
    Export(export::ExportArgs),
    /// Speak text aloud (or into a WAV file) with the Piper voice, or espeak-ng.
    Say(say::SayArgs),
    /// The live session: speak an idea, show a sketch, hear the next question, get a
    /// brief. Microphone, camera and speaker by default; --audio, --images and
    /// --reply-wav run the same loop from files.
    Listen(listen::ListenArgs),
    /// Run a fixed scripted session several times and print each stage's latency
    /// (median, p90) and peak memory.
    Bench(bench::BenchArgs),
}

fn parse_preset(text: &str) -> Result<Preset, String> {
    text.parse()
        .map_err(|err: crate::models::ModelError| err.to_string())
}

/// Parses a role name, listing the valid ones on error.
pub(crate) fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
        .map_err(|err: crate::models::ModelError| err.to_string())
}

impl Cli {
    /// The data directory: `--data`, else the platform's data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(|| {
            dirs::data_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("ideadesk")
        })
    }

    /// Resolver options from the global flags and the environment.
    pub fn resolver_options(&self) -> ResolverOptions {
        ResolverOptions {
            models_dir: self.models.clone(),
            preset: self.preset,
            offline: ResolverOptions::offline_from_env(),
            data_dir: Some(self.data_dir()),
            show_progress: self.show_progress(),
        }
    }

    /// True when progress bars may be drawn (indicatif also hides them off a terminal).
    pub fn show_progress(&self) -> bool {
        self.quiet == 0
    }
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let result = match &cli.command {
        Command::Models(command) => models::run(&cli, command),
        Command::Devices(args) => devices::run(args),
        Command::Doctor(args) => doctor::run(&cli, args),
        Command::Transcribe(args) => transcribe::run(&cli, args),
        Command::Look(args) => look::run(&cli, args),
        Command::Capture(args) => capture::run(&cli, args),
        Command::Needs(command) => needs::run(&cli, command),
        Command::Export(args) => export::run(&cli, args),
        Command::Say(args) => say::run(&cli, args),
        Command::Listen(args) => listen::run(&cli, args),
        Command::Bench(args) => bench::run(&cli, args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", error_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// Checks an audio file given on the command line before any model loads or any session
/// is created: it must be a regular file that decodes to some audio. Decoding is fast next
/// to transcription (milliseconds per minute of audio), so a damaged file fails here, with
/// the store untouched, rather than in the middle of a session.
pub(crate) fn check_audio_file(path: &std::path::Path) -> anyhow::Result<()> {
    // A pipe cannot be read twice: it is refused before it is opened.
    let is_special = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
    anyhow::ensure!(
        !is_special,
        "{} is not a regular file (a pipe or a device); give the path of a WAV, FLAC, MP3 or OGG/Vorbis file",
        path.display()
    );
    let mut file = crate::audio::decode::AudioFile::open(path)?;
    let mut block = Vec::new();
    while file.read_block(&mut block)? {}
    Ok(())
}

/// An error and its causes on one line, each cause once: a cause whose words the message
/// already says (an OS error that a message quotes) is not repeated.
fn error_line(err: &anyhow::Error) -> String {
    let mut line = without_backtrace(&err.to_string());
    for cause in err.chain().skip(1) {
        let cause = without_backtrace(&cause.to_string());
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}

/// A message with the stack frames some libraries append when `RUST_BACKTRACE` is set
/// (candle's errors: lines such as `   3: name` and `             at file:line`) taken out,
/// so an error stays one line for the person who reads it.
fn without_backtrace(message: &str) -> String {
    let is_frame = |line: &str| {
        let trimmed = line.trim_start();
        let indented = trimmed.len() < line.len();
        let numbered = trimmed
            .split_once(": ")
            .is_some_and(|(number, _)| number.chars().all(|c| c.is_ascii_digit()));
        indented && (numbered || trimmed.starts_with("at "))
    };
    let mut kept = String::with_capacity(message.len());
    let mut after_frames = false;
    for (line_idx, line) in message.split('\n').enumerate() {
        if line_idx > 0 && is_frame(line) {
            after_frames = true;
            continue;
        }
        // The text after a backtrace continues the line it interrupted, as does a
        // closing bracket a library put on a line of its own.
        let continues = after_frames || line.starts_with([')', ']']);
        if line_idx > 0 && !continues {
            kept.push('\n');
        }
        kept.push_str(line);
        after_frames = false;
    }
    kept
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (q, _) if q > 0 => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("IDEADESK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("ideadesk={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Warnings a command collects while it sets up: printed at once (`warning: …`) by
/// commands that print as they go, or kept for `listen`, which shows them in its live view
/// and its events.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    lines: Vec<String>,
    print: bool,
}

impl Warnings {
    /// Warnings printed to standard error as they come.
    pub(crate) fn printing() -> Self {
        Self {
            lines: Vec::new(),
            print: true,
        }
    }

    /// Warnings kept for later.
    pub(crate) fn kept() -> Self {
        Self::default()
    }

    /// Records (and, when printing, prints) one warning.
    pub(crate) fn warn(&mut self, line: impl Into<String>) {
        let line = line.into();
        if self.print {
            eprintln!("warning: {line}");
        }
        self.lines.push(line);
    }

    /// The warnings, in order.
    pub(crate) fn into_lines(self) -> Vec<String> {
        self.lines
    }
}

/// The warning for a model that cannot be had: which model, what the command does
/// without it, and the command that fetches it with the current settings (`--models`
/// included). `err` adds its cause when it is not simply a missing file.
pub(crate) fn missing_model_warning(
    cli: &Cli,
    role: Role,
    without_it: &str,
    err: &crate::models::ModelError,
) -> String {
    let fetch = crate::models::Resolver::new(cli.resolver_options())
        .map(|resolver| resolver.fetch_command(role, resolver.variant_for(role)))
        .unwrap_or_else(|_| format!("ideadesk models fetch --role {role}"));
    let place = cli
        .models
        .as_ref()
        .map(|dir| format!(" in {}", dir.display()))
        .unwrap_or_default();
    match err {
        crate::models::ModelError::Missing { .. } => {
            format!("no {role} model{place}, so {without_it}; fetch it with `{fetch}`")
        }
        crate::models::ModelError::NoNetwork { host } => format!(
            "no {role} model here and {host} cannot be reached to fetch it, so {without_it}; pass --models DIR, or run `{fetch}` where there is network"
        ),
        other => {
            let cause = other.to_string();
            let cause = cause.split("; ").next().unwrap_or_default();
            format!(
                "the {role} model{place} cannot be used ({cause}), so {without_it}; fetch it again with `{fetch}`"
            )
        }
    }
}

/// Formats a byte count for people: `75.5 MB`.
pub(crate) fn human_bytes(n_bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n_bytes as f64;
    let mut unit_idx = 0;
    while value >= 1000.0 && unit_idx + 1 < UNITS.len() {
        value /= 1000.0;
        unit_idx += 1;
    }
    if unit_idx == 0 {
        format!("{n_bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit_idx])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn human_bytes_cases() {
        let check = |n_bytes, expected: &str| assert_eq!(human_bytes(n_bytes), expected);
        check(0, "0 B");
        check(999, "999 B");
        check(1000, "1.0 kB");
        check(77_704_715, "77.7 MB");
        check(2_497_280_256, "2.5 GB");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read audio file x.wav: {0}")]
    struct QuotingError(std::io::Error);

    impl QuotingError {
        fn new() -> Self {
            Self(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file",
            ))
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read audio file x.wav: {source}")]
    struct QuotingSourceError {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn error_line_cases() {
        let check = |err: anyhow::Error, expected: &str| assert_eq!(error_line(&err), expected);
        check(
            anyhow::Error::new(QuotingError::new()),
            "cannot read audio file x.wav: no such file",
        );
        // A cause the message already quotes is said once.
        check(
            anyhow::Error::new(QuotingSourceError {
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            }),
            "cannot read audio file x.wav: no such file",
        );
        // A cause the message does not quote is added.
        check(
            anyhow::Error::new(QuotingError::new()).context("loading the session"),
            "loading the session: cannot read audio file x.wav: no such file",
        );
        // A backtrace inside a library's message is dropped; the text after it continues.
        check(
            anyhow::anyhow!(
                "x.gguf is damaged (bad magic\n   0: bt\n             at src/error.rs:260:25\n  12: read<File>\n); pass a GGUF file"
            ),
            "x.gguf is damaged (bad magic); pass a GGUF file",
        );
        check(
            anyhow::anyhow!("cannot read x.jpg (expected 162 bytes but found 89\n)"),
            "cannot read x.jpg (expected 162 bytes but found 89)",
        );
        // Ordinary line breaks stay.
        check(anyhow::anyhow!("first\nsecond"), "first\nsecond");
    }
}
