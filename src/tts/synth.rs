//! The speech worker: one thread owns the voice (a Piper voice with its espeak-ng
//! phonemizer, or the espeak-ng voice itself), and callers hold a cheap `Clone` handle,
//! [`Synthesizer`].
//!
//! A request carries its own reply channel and gets one [`SpeechChunk`] per sentence, sent
//! as soon as that sentence is made, so the first sentence can play while the rest are
//! still being synthesised. Dropping the [`SpeechStream`] cancels the rest of the request
//! (this is how barge-in stops synthesis as well as playback).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use candle_core::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::TtsError;
use super::espeak::EspeakVoice;
use super::phonemize::{Phonemizer, phoneme_ids};
use super::piper::PiperVoice;
use super::text::sentences;
use super::vits::Scales;
use crate::worker::{WorkerErrors, catch_panic, spawn_worker};

/// Which voice to load.
#[derive(Debug, Clone, PartialEq)]
pub enum VoiceSpec {
    /// A Piper voice: the `.onnx` file, with its `.onnx.json` beside it.
    Piper {
        /// The `.onnx` file.
        onnx: PathBuf,
    },
    /// The espeak-ng voice (robotic, but always there when espeak-ng is).
    Espeak {
        /// The espeak-ng voice name, e.g. `en-us`.
        voice: String,
    },
}

/// Which kind of voice speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VoiceKind {
    /// A Piper (VITS) voice on candle.
    Piper,
    /// The espeak-ng voice.
    Espeak,
}

/// Facts about the loaded voice.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VoiceInfo {
    /// The kind of voice.
    pub kind: VoiceKind,
    /// Its name: the Piper file's stem or the espeak-ng voice.
    pub name: String,
    /// The rate of the samples it makes.
    pub sample_rate_hz: u32,
    /// A Piper voice's own scales (from its `.onnx.json`); `None` for espeak-ng.
    pub default_scales: Option<Scales>,
}

/// How a request is spoken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeechOptions {
    /// Piper's scales; `None` takes the voice's own defaults. espeak-ng ignores them.
    pub scales: Option<Scales>,
    /// The noise seed. Sentence `n` of a request uses stream `n` of this seed, so the
    /// same text with the same seed always gives the same samples.
    pub seed: u64,
}

impl Default for SpeechOptions {
    fn default() -> Self {
        Self {
            scales: None,
            seed: 0x1dea_de5c,
        }
    }
}

/// One spoken sentence.
#[derive(Debug, Clone)]
pub struct SpeechChunk {
    /// Its position in the request, from 0.
    pub sentence_idx: usize,
    /// The sentence as spoken (after clean-up).
    pub text: String,
    /// The phonemes (IPA) it was spoken from; empty for the espeak-ng voice.
    pub phonemes: String,
    /// The phoneme ids given to the Piper voice; empty for the espeak-ng voice.
    pub phoneme_ids: Vec<i64>,
    /// Mono samples in [-1, 1].
    pub samples: Vec<f32>,
    /// Their rate.
    pub sample_rate_hz: u32,
    /// How long synthesis took.
    pub synthesis_time: Duration,
}

impl SpeechChunk {
    /// The chunk's length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate_hz.max(1))
    }
}

struct Request {
    text: String,
    options: SpeechOptions,
    reply: Sender<Result<SpeechChunk, TtsError>>,
}

/// Sentences of one request, in order, as they are made. Ends after the last sentence
/// or the first error. Dropping it cancels the sentences not yet made.
pub struct SpeechStream {
    chunks: Receiver<Result<SpeechChunk, TtsError>>,
}

impl Iterator for SpeechStream {
    type Item = Result<SpeechChunk, TtsError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.chunks.recv().ok()
    }
}

/// A cheap handle to the speech worker.
#[derive(Clone)]
pub struct Synthesizer {
    requests: Sender<Request>,
    info: Arc<VoiceInfo>,
}

impl std::fmt::Debug for Synthesizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synthesizer")
            .field("info", &self.info)
            .finish()
    }
}

/// The loaded voice, owned by the worker thread.
enum LoadedVoice {
    Piper {
        voice: Box<PiperVoice>,
        phonemizer: Phonemizer,
    },
    Espeak(EspeakVoice),
}

impl LoadedVoice {
    fn load(spec: &VoiceSpec, device: &Device) -> Result<Self, TtsError> {
        match spec {
            VoiceSpec::Piper { onnx } => {
                let voice = PiperVoice::load(onnx, device)?;
                let phonemizer = Phonemizer::new(&voice.config().espeak.voice)?;
                Ok(Self::Piper {
                    voice: Box::new(voice),
                    phonemizer,
                })
            }
            VoiceSpec::Espeak { voice } => Ok(Self::Espeak(EspeakVoice::new(voice)?)),
        }
    }

    fn info(&self, spec: &VoiceSpec) -> VoiceInfo {
        match (self, spec) {
            (Self::Piper { voice, .. }, VoiceSpec::Piper { onnx }) => VoiceInfo {
                kind: VoiceKind::Piper,
                name: onnx
                    .file_stem()
                    .map(|stem| stem.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                sample_rate_hz: voice.sample_rate_hz(),
                default_scales: Some(voice.default_scales()),
            },
            (Self::Espeak(voice), VoiceSpec::Espeak { voice: name }) => VoiceInfo {
                kind: VoiceKind::Espeak,
                name: name.clone(),
                sample_rate_hz: voice.sample_rate_hz(),
                default_scales: None,
            },
            // The spec and the loaded voice always agree; this arm keeps the match total.
            (Self::Piper { voice, .. }, _) => VoiceInfo {
                kind: VoiceKind::Piper,
                name: String::new(),
                sample_rate_hz: voice.sample_rate_hz(),
                default_scales: Some(voice.default_scales()),
            },
            (Self::Espeak(voice), _) => VoiceInfo {
                kind: VoiceKind::Espeak,
                name: String::new(),
                sample_rate_hz: voice.sample_rate_hz(),
                default_scales: None,
            },
        }
    }

    fn speak(
        &self,
        sentence_idx: usize,
        sentence: &str,
        options: &SpeechOptions,
    ) -> Result<SpeechChunk, TtsError> {
        let started = Instant::now();
        let (phonemes, ids, samples, sample_rate_hz) = match self {
            Self::Piper { voice, phonemizer } => {
                let phonemes = phonemizer.phonemize(sentence)?;
                let ids = phoneme_ids(&phonemes, &voice.config().phoneme_id_map);
                let scales = options.scales.unwrap_or_else(|| voice.default_scales());
                let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
                rng.set_stream(sentence_idx as u64);
                let samples = voice.speak_ids(&ids, &scales, &mut rng)?;
                (phonemes, ids, samples, voice.sample_rate_hz())
            }
            Self::Espeak(voice) => (
                String::new(),
                Vec::new(),
                voice.synthesize(sentence)?,
                voice.sample_rate_hz(),
            ),
        };
        Ok(SpeechChunk {
            sentence_idx,
            text: sentence.to_string(),
            phonemes,
            phoneme_ids: ids,
            samples,
            sample_rate_hz,
            synthesis_time: started.elapsed(),
        })
    }
}

impl Synthesizer {
    /// Loads the voice on a new worker thread and waits until it is ready.
    pub fn spawn(spec: VoiceSpec, device: Device) -> Result<Self, TtsError> {
        let spec_for_info = spec.clone();
        let (requests, info) = spawn_worker(
            "ideadesk-tts",
            move || LoadedVoice::load(&spec, &device),
            move |voice: &LoadedVoice| voice.info(&spec_for_info),
            |voice, requests| serve(&voice, requests),
            WorkerErrors {
                load_panicked: Box::new(|message| {
                    TtsError::WorkerGone(format!(
                        "loading the voice failed unexpectedly: {message}"
                    ))
                }),
                no_thread: |reason| {
                    TtsError::WorkerGone(format!("cannot start the speech worker thread: {reason}"))
                },
                gone: || TtsError::WorkerGone("the speech worker stopped while loading".into()),
            },
        )?;
        Ok(Self {
            requests,
            info: Arc::new(info),
        })
    }

    /// Facts about the loaded voice.
    pub fn info(&self) -> &VoiceInfo {
        &self.info
    }

    /// Starts speaking `text`: its sentences arrive on the returned stream as they are
    /// made. Text with nothing speakable gives one `NothingToSay` error.
    pub fn speak(&self, text: &str, options: SpeechOptions) -> SpeechStream {
        let (reply_tx, reply_rx) = mpsc::channel();
        let request = Request {
            text: text.to_string(),
            options,
            reply: reply_tx,
        };
        if let Err(mpsc::SendError(request)) = self.requests.send(request) {
            let _ = request.reply.send(Err(TtsError::WorkerGone(
                "the speech worker has exited".into(),
            )));
        }
        SpeechStream { chunks: reply_rx }
    }

    /// Speaks `text` and waits for every sentence.
    pub fn speak_all(
        &self,
        text: &str,
        options: SpeechOptions,
    ) -> Result<Vec<SpeechChunk>, TtsError> {
        self.speak(text, options).collect()
    }
}

fn serve(voice: &LoadedVoice, requests: Receiver<Request>) {
    for request in requests {
        let sentences = sentences(&request.text);
        if sentences.is_empty() {
            let _ = request.reply.send(Err(TtsError::NothingToSay));
            continue;
        }
        for (sentence_idx, sentence) in sentences.iter().enumerate() {
            let spoken = catch_panic(|| voice.speak(sentence_idx, sentence, &request.options))
                .unwrap_or_else(|message| {
                    Err(TtsError::WorkerGone(format!(
                        "synthesis failed unexpectedly: {message}"
                    )))
                });
            let failed = spoken.is_err();
            // A closed reply channel means the caller no longer wants this request.
            if request.reply.send(spoken).is_err() || failed {
                break;
            }
        }
    }
}
