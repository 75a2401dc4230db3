//! The Whisper worker: one thread owns the `WhisperContext` (weights, loaded once) and a
//! `WhisperState` (the decoding buffers of our one stream). Callers hold a cheap `Clone`
//! [`Transcriber`] whose requests carry their own reply channel.
//!
//! Parameters are tuned for live use: greedy decoding (beam search optional), no context
//! carried across utterances (one bad utterance cannot poison the next), non-speech tokens
//! suppressed, and whisper.cpp's temperature fallback when a decode looks unsure.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Once};
use std::time::Instant;

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use super::guards::{GuardConfig, RawSegment, drop_reason, strip_repetition_loops};
use super::{SttError, Transcript, TranscriptSegment};

/// Whisper's sample rate.
pub const WHISPER_SAMPLE_RATE_HZ: u32 = 16_000;
/// whisper.cpp wants at least a second of audio; shorter utterances are padded with
/// silence to this many samples (1.1 s).
const MIN_INPUT_SAMPLES: usize = 17_600;
/// whisper.cpp timestamps are in units of 10 ms.
const TIMESTAMP_UNITS_PER_S: f64 = 100.0;

/// How to decode.
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperConfig {
    /// CPU threads for whisper.cpp.
    pub n_threads: usize,
    /// `auto` to detect, or a language code (`en`, `de` …).
    pub language: String,
    /// Beam width; `None` decodes greedily.
    pub beam_size: Option<usize>,
    /// Encoder context in frames of 20 ms (whisper.cpp `audio_ctx`); `None` encodes the full 30 s window.
    pub audio_ctx: Option<usize>,
    /// Run on the GPU when the build has a backend.
    pub use_gpu: bool,
    /// Hallucination guard thresholds.
    pub guards: GuardConfig,
}

impl Default for WhisperConfig {
    fn default() -> Self {
        Self {
            n_threads: std::thread::available_parallelism()
                .map(|n| n.get().min(4))
                .unwrap_or(2),
            language: "en".into(),
            beam_size: None,
            audio_ctx: None,
            use_gpu: true,
            guards: GuardConfig::default(),
        }
    }
}

/// Facts about the loaded model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhisperModelInfo {
    /// The file loaded.
    pub path: PathBuf,
    /// True for multilingual models, false for `.en` ones.
    pub is_multilingual: bool,
}

/// A request to the worker.
struct Request {
    utterance_id: u64,
    start_sample: u64,
    samples: Arc<[f32]>,
    is_partial: bool,
    reply: Sender<Result<Transcript, SttError>>,
}

/// A cheap handle to the Whisper worker thread.
#[derive(Clone)]
pub struct Transcriber {
    requests: Sender<Request>,
    info: Arc<WhisperModelInfo>,
}

impl std::fmt::Debug for Transcriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcriber")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

static LOG_HOOKS: Once = Once::new();

impl Transcriber {
    /// Loads the model on a new worker thread; returns once it is loaded (or failed).
    pub fn spawn(model_path: &Path, config: WhisperConfig) -> Result<Self, SttError> {
        // Route whisper.cpp's chatter into `tracing` instead of stderr.
        LOG_HOOKS.call_once(whisper_rs::install_logging_hooks);
        let (request_tx, request_rx) = mpsc::channel::<Request>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let path = model_path.to_path_buf();
        std::thread::Builder::new()
            .name("ideadesk-stt".into())
            .spawn(move || {
                let loaded = load(&path, &config);
                match loaded {
                    Ok((context, state, info)) => {
                        let _ = ready_tx.send(Ok(info));
                        serve(&context, state, &config, request_rx);
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                    }
                }
            })
            .map_err(|err| SttError::Decode(format!("cannot start the worker thread: {err}")))?;
        let info = ready_rx.recv().map_err(|_| SttError::WorkerGone)??;
        Ok(Self {
            requests: request_tx,
            info: Arc::new(info),
        })
    }

    /// Facts about the loaded model.
    pub fn info(&self) -> &WhisperModelInfo {
        &self.info
    }

    /// Queues an utterance; the transcript arrives on the returned channel. Requests are
    /// served in order.
    pub fn submit(
        &self,
        utterance_id: u64,
        start_sample: u64,
        samples: Arc<[f32]>,
        is_partial: bool,
    ) -> Receiver<Result<Transcript, SttError>> {
        let (reply_tx, reply_rx) = mpsc::channel();
        let request = Request {
            utterance_id,
            start_sample,
            samples,
            is_partial,
            reply: reply_tx,
        };
        if let Err(mpsc::SendError(request)) = self.requests.send(request) {
            let _ = request.reply.send(Err(SttError::WorkerGone));
        }
        reply_rx
    }

    /// Transcribes an utterance and waits for the result.
    pub fn transcribe(
        &self,
        utterance_id: u64,
        start_sample: u64,
        samples: Arc<[f32]>,
    ) -> Result<Transcript, SttError> {
        self.submit(utterance_id, start_sample, samples, false)
            .recv()
            .map_err(|_| SttError::WorkerGone)?
    }
}

fn load(
    path: &Path,
    config: &WhisperConfig,
) -> Result<(WhisperContext, WhisperState, WhisperModelInfo), SttError> {
    let load_error = |reason: String| SttError::Load {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(load_error("no such file".into()));
    }
    let path_str = path
        .to_str()
        .ok_or_else(|| load_error("the path is not valid UTF-8".into()))?;
    let mut params = WhisperContextParameters::default();
    params.use_gpu(config.use_gpu);
    let context = WhisperContext::new_with_params(path_str, params)
        .map_err(|err| load_error(format!("{err} (not a whisper.cpp ggml model, or damaged)")))?;
    let is_multilingual = context.is_multilingual();
    if !is_multilingual && config.language != "en" {
        return Err(SttError::Language(format!(
            "{} is English-only; `--language {}` needs a multilingual model (use --language en)",
            path.display(),
            config.language
        )));
    }
    if config.language != "auto" && whisper_rs::get_lang_id(&config.language).is_none() {
        return Err(SttError::Language(format!(
            "unknown language `{}`; use `auto` or a code such as en, de, fr, es",
            config.language
        )));
    }
    let state = context
        .create_state()
        .map_err(|err| load_error(format!("cannot allocate decoding state: {err}")))?;
    Ok((
        context,
        state,
        WhisperModelInfo {
            path: path.to_path_buf(),
            is_multilingual,
        },
    ))
}

fn serve(
    context: &WhisperContext,
    mut state: WhisperState,
    config: &WhisperConfig,
    requests: Receiver<Request>,
) {
    while let Ok(request) = requests.recv() {
        let result = decode(context, &mut state, config, &request);
        let _ = request.reply.send(result);
    }
}

fn decode(
    context: &WhisperContext,
    state: &mut WhisperState,
    config: &WhisperConfig,
    request: &Request,
) -> Result<Transcript, SttError> {
    let started = Instant::now();
    let strategy = match config.beam_size {
        Some(beam_size) => SamplingStrategy::BeamSearch {
            beam_size: beam_size as i32,
            patience: -1.0,
        },
        None => SamplingStrategy::Greedy { best_of: 1 },
    };
    let mut params = FullParams::new(strategy);
    params.set_n_threads(config.n_threads as i32);
    params.set_language(Some(config.language.as_str()));
    params.set_no_context(true);
    params.set_suppress_blank(true);
    params.set_suppress_nst(true);
    params.set_temperature(0.0);
    params.set_temperature_inc(0.2);
    params.set_no_speech_thold(config.guards.no_speech_threshold);
    params.set_logprob_thold(config.guards.logprob_threshold);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    params.set_print_timestamps(false);
    if request.is_partial {
        params.set_single_segment(true);
    }
    if let Some(audio_ctx) = config.audio_ctx {
        params.set_audio_ctx(audio_ctx as i32);
    }
    let padded: Vec<f32>;
    let samples: &[f32] = if request.samples.len() < MIN_INPUT_SAMPLES {
        padded = request
            .samples
            .iter()
            .copied()
            .chain(std::iter::repeat(0.0))
            .take(MIN_INPUT_SAMPLES)
            .collect();
        &padded
    } else {
        &request.samples
    };
    state
        .full(params, samples)
        .map_err(|err| SttError::Decode(err.to_string()))?;

    let start_s = request.start_sample as f64 / f64::from(WHISPER_SAMPLE_RATE_HZ);
    let audio_end_s = start_s + request.samples.len() as f64 / f64::from(WHISPER_SAMPLE_RATE_HZ);
    let eot = context.token_eot();
    let mut segments = Vec::new();
    for segment in state.as_iter() {
        let text = segment
            .to_str_lossy()
            .map_err(|err| SttError::Decode(err.to_string()))?
            .into_owned();
        let plogs: Vec<f32> = (0..segment.n_tokens())
            .filter_map(|token_idx| segment.get_token(token_idx))
            .filter(|token| token.token_id() < eot)
            .map(|token| token.token_data().plog)
            .collect();
        let avg_logprob = if plogs.is_empty() {
            0.0
        } else {
            plogs.iter().sum::<f32>() / plogs.len() as f32
        };
        let raw = RawSegment {
            text: text.clone(),
            no_speech_probability: segment.no_speech_probability(),
            avg_logprob,
        };
        if let Some(reason) = drop_reason(&raw, &config.guards) {
            tracing::debug!("stt: dropped {text:?} ({reason})");
            continue;
        }
        let text = strip_repetition_loops(text.trim(), config.guards.max_repeats);
        if text.is_empty() {
            continue;
        }
        let seg_start_s = start_s + segment.start_timestamp() as f64 / TIMESTAMP_UNITS_PER_S;
        let seg_end_s =
            (start_s + segment.end_timestamp() as f64 / TIMESTAMP_UNITS_PER_S).min(audio_end_s);
        segments.push(TranscriptSegment {
            start_s: seg_start_s.min(audio_end_s),
            end_s: seg_end_s.max(seg_start_s.min(audio_end_s)),
            text,
        });
    }
    let text = strip_repetition_loops(
        &segments
            .iter()
            .map(|segment| segment.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        config.guards.max_repeats,
    );
    let language = whisper_rs::get_lang_str(state.full_lang_id_from_state()).map(str::to_string);
    Ok(Transcript {
        utterance_id: request.utterance_id,
        start_s,
        end_s: audio_end_s,
        text,
        segments,
        is_partial: request.is_partial,
        language,
        decode_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}
