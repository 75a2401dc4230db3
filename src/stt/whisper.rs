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
/// Samples per encoder frame: the encoder's frames are 20 ms (50 a second).
const SAMPLES_PER_ENCODER_FRAME: usize = 320;
/// Encoder frames of Whisper's full 30 s window (`n_audio_ctx` of every Whisper model).
pub const FULL_AUDIO_CTX: usize = 1500;
/// Frames encoded beyond the end of the utterance when the window is fitted to it
/// (1.28 s of the trailing silence Whisper was trained to see after speech).
pub const FIT_MARGIN_FRAMES: usize = 64;
/// The smallest fitted window (10.24 s). Shorter windows lose words on short utterances:
/// with 128–384 frames, tiny.en heard espeak-ng's "Yes." as "S.", "Who pays for it?" as
/// "Who pays for me" and repeated "Maybe twice a week." twice, which 512 frames did not.
pub const MIN_FIT_FRAMES: usize = 512;
/// Fitted windows are rounded up to a multiple of this many frames.
const FIT_ROUND_FRAMES: usize = 32;

/// How much audio the encoder runs on for each utterance.
///
/// Whisper was trained on 30 s windows, and whisper.cpp encodes all 1500 frames of one
/// even for a 2 s utterance; the encoder is most of the time of a short utterance. With
/// [`EncoderWindow::FitUtterance`] (whisper.cpp's `audio_ctx`) only the utterance and a
/// margin of silence after it are encoded. `tests/hear.rs` checks that the words stay
/// those of the full window on real and synthesised speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderWindow {
    /// The utterance's own length (50 frames a second) plus [`FIT_MARGIN_FRAMES`], rounded
    /// up to a multiple of 32 frames, at least [`MIN_FIT_FRAMES`] and at most the full
    /// window.
    #[default]
    FitUtterance,
    /// Whisper's full 30 s window, whatever the utterance's length.
    Full,
    /// A fixed number of 20 ms frames (at most 1500).
    Frames(usize),
}

impl EncoderWindow {
    /// whisper.cpp's `audio_ctx` for an utterance of `n_samples` at 16 kHz: the encoder
    /// frames to run (0 means the full window).
    pub fn audio_ctx(self, n_samples: usize) -> usize {
        match self {
            Self::Full => 0,
            Self::Frames(n_frames) => n_frames.clamp(1, FULL_AUDIO_CTX),
            Self::FitUtterance => {
                let n_frames = n_samples.div_ceil(SAMPLES_PER_ENCODER_FRAME) + FIT_MARGIN_FRAMES;
                let n_frames =
                    (n_frames.div_ceil(FIT_ROUND_FRAMES) * FIT_ROUND_FRAMES).max(MIN_FIT_FRAMES);
                if n_frames >= FULL_AUDIO_CTX {
                    0
                } else {
                    n_frames
                }
            }
        }
    }
}

/// How to decode.
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperConfig {
    /// CPU threads for whisper.cpp.
    pub n_threads: usize,
    /// `auto` to detect, or a language code (`en`, `de` …).
    pub language: String,
    /// Beam width; `None` decodes greedily.
    pub beam_size: Option<usize>,
    /// How much audio the encoder runs on (whisper.cpp `audio_ctx`): by default the
    /// utterance's length, not the full 30 s window.
    pub window: EncoderWindow,
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
            window: EncoderWindow::default(),
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
    params.set_audio_ctx(config.window.audio_ctx(samples.len()) as i32);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_window_covers_the_utterance_and_a_margin() {
        let window = EncoderWindow::FitUtterance;
        // jfk.wav: 11 s = 550 frames, + 64 = 614, rounded up to 640.
        assert_eq!(window.audio_ctx(11 * 16_000), 640);
        // 9 s: 450 + 64 = 514 → 544.
        assert_eq!(window.audio_ctx(9 * 16_000), 544);
        // Short utterances get the smallest window.
        assert_eq!(window.audio_ctx(MIN_INPUT_SAMPLES), MIN_FIT_FRAMES);
        assert_eq!(window.audio_ctx(5 * 16_000), MIN_FIT_FRAMES);
        for n_samples in [16_000, 16_001, 80_000, 123_457, 400_000] {
            let n_frames = window.audio_ctx(n_samples);
            assert!(n_frames * SAMPLES_PER_ENCODER_FRAME >= n_samples + 64 * 320);
            assert!(n_frames >= MIN_FIT_FRAMES);
            assert!(n_frames.is_multiple_of(FIT_ROUND_FRAMES));
            assert!(n_frames < FULL_AUDIO_CTX);
        }
        // 28.8 s and longer need the whole window: 0 asks whisper.cpp for its default.
        assert_eq!(window.audio_ctx(28 * 16_000 + 12_800), 0);
        assert_eq!(window.audio_ctx(30 * 16_000), 0);
        assert_eq!(window.audio_ctx(120 * 16_000), 0);
        assert_eq!(EncoderWindow::Full.audio_ctx(16_000), 0);
        assert_eq!(EncoderWindow::Frames(576).audio_ctx(16_000), 576);
        assert_eq!(
            EncoderWindow::Frames(9_999).audio_ctx(16_000),
            FULL_AUDIO_CTX
        );
    }
}
