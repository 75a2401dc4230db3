//! `ideadesk listen`: the live session. Speak a product idea, hold up a sketch, hear the
//! next question, and walk away with a brief. With no flags it listens to the microphone,
//! watches the camera and answers on the speaker, in a live terminal view; `--audio`,
//! `--images` and `--reply-wav` run the very same loop from files, for demos and tests.

use std::fs::File;
use std::io::{IsTerminal, LineWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::capture::{load_embedder, load_llm, session_for};
use super::say::{VoiceChoice, load_synthesizer};
use super::transcribe::{VadChoice, load_detector, load_transcriber};
use super::{Cli, Warnings};
use crate::audio::capture::CaptureConfig;
use crate::audio::playback::{OutputConfig, SpeakerConfig, WavFileConfig};
use crate::audio::source::Pacing;
use crate::session::events::{Control, Event, EventRecord};
use crate::session::hear::HearConfig;
use crate::session::live::{
    self, AudioInput, DEFAULT_ACKNOWLEDGEMENT_MAX_TOKENS, FrameInput, LiveConfig, LiveIo,
    LiveStages, LiveSummary, ReplyOutput,
};
use crate::session::understand::{ClauseLabelling, Extraction, Understand, UnderstandConfig};
use crate::store::{SessionId, Store};
use crate::stt::WhisperConfig;
use crate::tts::synth::SpeechOptions;
use crate::vision::camera::CameraSelector;
use crate::vision::describe::SketchDescriber;

/// Arguments of `listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Hear this audio file instead of the microphone (WAV, FLAC, MP3, Ogg). The file is
    /// a person who waits for each answer before going on.
    #[arg(long, value_name = "FILE")]
    pub audio: Option<PathBuf>,
    /// With --audio: deliver the file in real time, as a microphone would (for demos and
    /// honest latency), instead of as fast as it decodes.
    #[arg(long, requires = "audio")]
    pub realtime: bool,
    /// The microphone to hear (a name from `ideadesk devices`) [default: the system's].
    #[arg(long, value_name = "NAME", conflicts_with = "audio")]
    pub mic: Option<String>,
    /// Open the microphone at this rate (Hz) [default: the device's].
    #[arg(long, value_name = "HZ", conflicts_with = "audio")]
    pub mic_rate: Option<u32>,
    /// Open the microphone with this many channels [default: the device's].
    #[arg(long, value_name = "N", conflicts_with = "audio")]
    pub mic_channels: Option<u16>,
    /// Open the microphone in this sample format [default: the device's].
    #[arg(long, value_enum, conflicts_with = "audio")]
    pub mic_format: Option<MicFormat>,
    /// Sketch images (PNG or JPEG) shown at the start, instead of the camera.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub images: Vec<PathBuf>,
    /// The camera to watch: an index or part of its name [default: the first camera,
    /// unless --audio or --images is given].
    #[arg(long, value_name = "N|NAME", conflicts_with = "images")]
    pub camera: Option<String>,
    /// Write the spoken replies to this WAV file instead of the speaker.
    #[arg(long, value_name = "FILE.wav")]
    pub reply_wav: Option<PathBuf>,
    /// The speaker to answer on (a name from `ideadesk devices`) [default: the system's].
    #[arg(long, value_name = "NAME", conflicts_with = "reply_wav")]
    pub speaker: Option<String>,
    /// Answer in text only: no voice, no speaker.
    #[arg(long, conflicts_with_all = ["reply_wav", "speaker"])]
    pub no_speech: bool,
    /// Which voice answers: `piper`, a Piper voice name or `.onnx` file, `espeak` or
    /// `espeak:VOICE` (as `say --voice`) [default: piper when it can be had].
    #[arg(long, value_name = "VOICE")]
    pub voice: Option<VoiceChoice>,
    /// Let the person talk over the reply, which then stops (use with headphones). By
    /// default the microphone is deaf while ideadesk speaks, so it never hears itself.
    #[arg(long)]
    pub barge_in: bool,
    /// Push-to-talk: the space key starts and ends each utterance, instead of voice
    /// activity detection.
    #[arg(long)]
    pub push_to_talk: bool,
    /// No live view: one line per event on standard output (also when it is not a
    /// terminal).
    #[arg(long)]
    pub no_tui: bool,
    /// Write every event to this file as one JSON object per line (`kind`, `at_ms`, …).
    #[arg(long, value_name = "EVENTS.jsonl")]
    pub events: Option<PathBuf>,
    /// The session: its id, `new`, or `latest`.
    #[arg(long, default_value = "new", value_name = "ID|new|latest")]
    pub session: String,
    /// Where to write the brief at the end [default: DATA/briefs/session-ID-DATE.md].
    #[arg(long, value_name = "FILE.md")]
    pub brief: Option<PathBuf>,
    /// How needs are extracted: `split` (best for small models) or `whole`.
    #[arg(long, value_enum, default_value_t = Extraction::Split)]
    pub extraction: Extraction,
    /// Whether the model labels each clause with what it tells (who, problem, workaround,
    /// how often, wish, measure), which then decides the slot a clause fills: `auto` asks
    /// models of 1 billion parameters or more (a 135 M model's labels are noise), `on`
    /// always, `off` never. One more short model call per turn.
    #[arg(long, value_enum, default_value_t = ClauseLabelling::Auto)]
    pub clause_labels: ClauseLabelling,
    /// Tokens the model may spend on its spoken acknowledgement before the question;
    /// 0 answers with the question alone.
    #[arg(long, default_value_t = DEFAULT_ACKNOWLEDGEMENT_MAX_TOKENS, value_name = "N")]
    pub acknowledgement_tokens: usize,
}

/// Sample formats a microphone can be opened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MicFormat {
    /// Signed 16-bit integers.
    I16,
    /// 32-bit floats.
    F32,
}

impl MicFormat {
    fn sample_format(self) -> cpal::SampleFormat {
        match self {
            MicFormat::I16 => cpal::SampleFormat::I16,
            MicFormat::F32 => cpal::SampleFormat::F32,
        }
    }
}

/// Set by the SIGINT handler; read by the watcher thread.
static INTERRUPTED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigint(_signal: libc::c_int) {
    // A second Ctrl-C ends at once: everything transcribed is already stored.
    if INTERRUPTED.fetch_add(1, Ordering::SeqCst) >= 1 {
        // SAFETY: `_exit` is async-signal-safe and takes no pointers.
        unsafe { libc::_exit(130) };
    }
}

/// Turns Ctrl-C into a `Quit` control: the session flushes, writes the brief and ends.
fn forward_ctrl_c(controls: Sender<Control>, done: &'static AtomicBool) {
    // SAFETY: the handler only touches an atomic and calls the async-signal-safe `_exit`.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    let _ = std::thread::Builder::new()
        .name("ideadesk-sigint".into())
        .spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if INTERRUPTED.load(Ordering::SeqCst) > 0 {
                    let _ = controls.send(Control::Quit);
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
}

/// Everything `listen` and `bench` load before the session starts.
pub(crate) struct Prepared {
    pub stages: LiveStages,
    pub audio: AudioInput,
    pub frames: FrameInput,
    pub output: ReplyOutput,
    pub config: LiveConfig,
    pub session: SessionId,
}

impl ListenArgs {
    /// A scripted session from `audio`, as `listen --audio FILE --no-tui` would run it.
    pub(crate) fn scripted(audio: PathBuf, realtime: bool, reply_wav: Option<PathBuf>) -> Self {
        Self {
            audio: Some(audio),
            realtime,
            mic: None,
            mic_rate: None,
            mic_channels: None,
            mic_format: None,
            images: Vec::new(),
            camera: None,
            no_speech: false,
            reply_wav,
            speaker: None,
            voice: None,
            barge_in: false,
            push_to_talk: false,
            no_tui: true,
            events: None,
            session: "new".into(),
            brief: None,
            extraction: Extraction::Split,
            clause_labels: ClauseLabelling::Auto,
            acknowledgement_tokens: DEFAULT_ACKNOWLEDGEMENT_MAX_TOKENS,
        }
    }
}

/// Loads the models (fetching them on first use, with progress bars) and opens the
/// session named by `--session` in the store under `data_dir`.
pub(crate) fn prepare(cli: &Cli, args: &ListenArgs, data_dir: &Path) -> anyhow::Result<Prepared> {
    // Kept, not printed: the session reports them as events, so the live view shows them.
    let mut warnings = Warnings::kept();
    let detector = if args.push_to_talk {
        None
    } else {
        load_detector(cli, VadChoice::Silero, &mut warnings)?
    };
    let transcriber = load_transcriber(
        cli,
        WhisperConfig {
            use_gpu: !cli.cpu,
            ..WhisperConfig::default()
        },
    )?;
    let llm = load_llm(cli)?;
    let embedder = load_embedder(cli, &mut warnings)?;
    let understand = Understand::new(
        llm,
        embedder,
        UnderstandConfig {
            extraction: args.extraction,
            clause_labels: args.clause_labels,
            ..UnderstandConfig::default()
        },
    );
    let synthesizer = if args.no_speech {
        None
    } else {
        Some(load_synthesizer(cli, args.voice.clone(), &mut warnings)?)
    };
    let frames = if !args.images.is_empty() {
        FrameInput::Images(args.images.clone())
    } else if let Some(camera) = &args.camera {
        FrameInput::Camera(CameraSelector::parse(camera))
    } else if args.audio.is_none() {
        FrameInput::Camera(CameraSelector::parse(""))
    } else {
        FrameInput::None
    };
    let describer: Option<Box<dyn SketchDescriber>> = match frames {
        FrameInput::None => None,
        _ => super::look::load_describer(cli, &mut warnings)?
            .map(|d| Box::new(d) as Box<dyn SketchDescriber>),
    };
    let audio = match &args.audio {
        Some(path) => AudioInput::File {
            path: path.clone(),
            pacing: if args.realtime {
                Pacing::Realtime
            } else {
                Pacing::AsFastAsPossible
            },
        },
        None => AudioInput::Microphone(CaptureConfig {
            device: args.mic.clone(),
            sample_rate_hz: args.mic_rate,
            n_channels: args.mic_channels,
            sample_format: args.mic_format.map(MicFormat::sample_format),
        }),
    };
    let output = if args.no_speech {
        ReplyOutput::None
    } else if let Some(path) = &args.reply_wav {
        ReplyOutput::Sink(OutputConfig::WavFile(WavFileConfig::new(path)))
    } else {
        ReplyOutput::Sink(OutputConfig::Speaker(SpeakerConfig {
            device: args.speaker.clone(),
            ..SpeakerConfig::default()
        }))
    };
    let store_path = Store::default_path(data_dir);
    let mut store = Store::open(&store_path)
        .with_context(|| format!("opening the store {}", store_path.display()))?;
    let session = session_for(&mut store, &args.session)?;
    drop(store);
    let config = LiveConfig {
        // Partial transcripts only slow a file read faster than real time: the final
        // transcript would wait behind them.
        hear: HearConfig {
            partial_interval_ms: if args.audio.is_some() && !args.realtime {
                None
            } else {
                HearConfig::default().partial_interval_ms
            },
            ..HearConfig::default()
        },
        barge_in: args.barge_in,
        push_to_talk: args.push_to_talk,
        speech: SpeechOptions::default(),
        acknowledgement_max_tokens: args.acknowledgement_tokens,
        store_path,
        sketch_dir: data_dir.join("sketches"),
        brief_path: args
            .brief
            .clone()
            .unwrap_or_else(|| live::default_brief_path(data_dir, session)),
        warnings: warnings.into_lines(),
    };
    Ok(Prepared {
        stages: LiveStages {
            detector,
            transcriber,
            understand,
            synthesizer,
            describer,
        },
        audio,
        frames,
        output,
        config,
        session,
    })
}

/// Runs a prepared session, with every event passed to `on_event`.
pub(crate) fn run_prepared(
    prepared: Prepared,
    controls: Receiver<Control>,
    on_event: impl FnMut(&EventRecord),
) -> anyhow::Result<LiveSummary> {
    let Prepared {
        stages,
        audio,
        frames,
        output,
        config,
        session,
    } = prepared;
    let io = LiveIo {
        audio,
        frames,
        output,
    };
    Ok(live::run(config, stages, io, session, controls, on_event)?)
}

/// Opens the events file (one JSON object per line, flushed line by line).
fn open_events(path: &Option<PathBuf>) -> anyhow::Result<Option<LineWriter<File>>> {
    path.as_ref()
        .map(|path| {
            File::create(path)
                .map(LineWriter::new)
                .with_context(|| format!("creating the events file {}", path.display()))
        })
        .transpose()
}

/// Writes one record to the events file; a failing disk is reported once.
fn write_event(file: &mut Option<LineWriter<File>>, record: &EventRecord) {
    if let Some(writer) = file {
        let written = serde_json::to_string(record)
            .map_err(std::io::Error::other)
            .and_then(|line| writeln!(writer, "{line}"));
        if let Err(err) = written {
            eprintln!("warning: the events file could not be written ({err}); it stops here");
            *file = None;
        }
    }
}

/// Runs `listen`.
pub fn run(cli: &Cli, args: &ListenArgs) -> anyhow::Result<ExitCode> {
    // Bad paths and undecodable audio fail before the (large) models load and before a
    // session is created, so the store is left as it was.
    for path in &args.images {
        anyhow::ensure!(
            path.is_file(),
            "{} does not exist or is not a file; give the path of a PNG or JPEG sketch",
            path.display()
        );
    }
    if let Some(path) = &args.audio {
        super::check_audio_file(path)?;
    }
    let mut events_file = open_events(&args.events)?;
    let prepared = prepare(cli, args, &cli.data_dir())?;
    let (control_tx, control_rx) = mpsc::channel();
    static SESSION_DONE: AtomicBool = AtomicBool::new(false);
    let use_tui = !args.no_tui && std::io::stdout().is_terminal();
    // Ctrl-C (or a SIGINT from outside) flushes, writes the brief and ends with code 0.
    forward_ctrl_c(control_tx.clone(), &SESSION_DONE);
    let summary = if use_tui {
        let (event_tx, event_rx) = mpsc::channel();
        let session = std::thread::Builder::new()
            .name("ideadesk-session".into())
            .spawn(move || {
                run_prepared(prepared, control_rx, |record| {
                    write_event(&mut events_file, record);
                    let _ = event_tx.send(record.clone());
                })
            })
            .context("starting the session thread")?;
        let quit = control_tx.clone();
        let view = super::live_view::run(event_rx, control_tx);
        // Whatever ended the view (the session's end, q, or a terminal error), the
        // session ends too; a second Quit is harmless.
        let _ = quit.send(Control::Quit);
        let summary = session
            .join()
            .map_err(|_| anyhow::anyhow!("the session thread panicked; this is a bug"))??;
        SESSION_DONE.store(true, Ordering::SeqCst);
        view.context("drawing the live view")?;
        summary
    } else {
        let quiet = cli.quiet > 0;
        let summary = run_prepared(prepared, control_rx, |record| {
            write_event(&mut events_file, record);
            if !quiet {
                print_event(record);
            }
        });
        SESSION_DONE.store(true, Ordering::SeqCst);
        summary?
    };
    if let Some(path) = &summary.brief_path {
        eprintln!(
            "session {} ended ({}): {} utterance(s), {} turn(s); brief in {}",
            summary.session.0,
            summary.reason,
            summary.n_utterances,
            summary.n_turns,
            path.display()
        );
    }
    if let Some(error) = &summary.hearing_error {
        anyhow::bail!(
            "{error}; what was heard before it is kept in session {}",
            summary.session.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per event for people (the `--no-tui` view).
fn print_event(record: &EventRecord) {
    let at = format!("[{:>8.1} s]", record.at_ms / 1000.0);
    let line = match &record.event {
        Event::Started {
            session_id,
            audio,
            frames,
            sink,
            ..
        } => format!(
            "session {session_id}: hearing {audio}; sketches from {frames}; replies to {sink}. Ctrl-C ends it and writes the brief."
        ),
        Event::Device {
            device,
            status,
            detail,
        } => format!(
            "{} {}: {detail}",
            format!("{device:?}").to_lowercase(),
            format!("{status:?}").to_lowercase()
        ),
        Event::Transcript { text, stt_ms, .. } => {
            format!("you: {text}   (transcribed in {stt_ms:.0} ms)")
        }
        Event::Sketch {
            source,
            description,
            ..
        } => format!(
            "sketch from {source}: {}",
            description
                .as_deref()
                .unwrap_or("(no vision model: stored undescribed)")
        ),
        Event::SketchDescribed { description, .. } => format!("sketch described: {description}"),
        Event::Warning { text } => format!("warning: {text}"),
        Event::Stopping { .. } => "stopping… (writing the brief)".to_string(),
        Event::Speaking { text, .. } => format!("ideadesk: {text}"),
        Event::Understood {
            n_created,
            n_updated,
            needs,
            coverage,
            ..
        } => format!(
            "needs: {n_created} new, {n_updated} updated; {} in all, {:.0} % of their slots covered",
            needs.len(),
            coverage * 100.0
        ),
        Event::Reply {
            voice_to_voice_ms,
            latency,
            ..
        } => format!(
            "latency: voice-to-voice {voice_to_voice_ms:.0} ms (end of turn {:.0}, stt {:.0}, llm first sentence {}, tts first chunk {})",
            latency.end_of_turn_wait_ms,
            latency.stt_ms,
            optional_ms(latency.llm_first_sentence_ms),
            optional_ms(latency.tts_first_chunk_ms)
        ),
        Event::StageError { stage, message } => format!("{stage} failed: {message}"),
        Event::BriefWritten { path } => format!("brief written to {path}"),
        Event::Ended {
            reason,
            n_turns,
            n_utterances,
            n_dropped_samples,
        } => format!(
            "ended ({reason}): {n_utterances} utterance(s), {n_turns} turn(s){}",
            if *n_dropped_samples > 0 {
                format!(", {n_dropped_samples} microphone samples dropped")
            } else {
                String::new()
            }
        ),
        Event::SamplesDropped { n_dropped_samples } => {
            format!("microphone: {n_dropped_samples} samples dropped so far (hearing fell behind)")
        }
        Event::SpeechStarted { .. }
        | Event::Partial { .. }
        | Event::SpeechEnded { .. }
        | Event::Discarded { .. }
        | Event::TurnStarted { .. }
        | Event::ReplyPlayed { .. } => return,
    };
    println!("{at} {line}");
}

fn optional_ms(ms: Option<f64>) -> String {
    ms.map(|ms| format!("{ms:.0}"))
        .unwrap_or_else(|| "–".into())
}
