//! The generation engine: a GGUF model, its tokenizer and chat template, and the KV cache
//! kept between requests. [`LlmEngine`] runs synchronously; [`LlmEngine::spawn`] puts it
//! on its own worker thread behind a cheap `Clone` [`LlmHandle`] whose requests carry
//! their own reply channel, like the other model workers.
//!
//! Each request's prompt is tokenised and compared with the tokens whose keys and values
//! are already cached (the previous prompt and the answer generated after it); the cache
//! is truncated to the longest common prefix and only the rest is prefilled, so a
//! conversation that grows turn by turn pays only for its new turn.
//!
//! Decoding streams text in UTF-8-safe pieces (bytes of a character split across tokens
//! wait for the rest), stops at the end-of-turn/EOS ids, at `max_new_tokens`, or when an
//! optional [`TokenConstraint`] says the document is complete; the constraint masks the
//! logits before every sample and is advanced with every chosen token.
//!
//! Threads: the quantized matmuls run on candle's own pool (`CANDLE_NUM_THREADS`) and f32
//! matmuls on rayon (`RAYON_NUM_THREADS`); on a 2-core machine set both to the core count
//! before starting, as the bench does, so the pools do not fight.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Instant;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling as ProcessorSampling};
use serde::{Deserialize, Serialize};

use super::LlmError;
use super::chat::{ChatMessage, ChatTemplate};
use super::constrain::TokenConstraint;
use super::tokenizer::LlmTokenizer;
use super::transformer::{Architecture, Config, LoadOptions, QuantizedDecoder};
use crate::models::ResolvedModel;
use crate::worker::{WorkerErrors, catch_panic, spawn_worker};

/// How many positions the KV cache may hold unless the options say otherwise.
pub const DEFAULT_MAX_CONTEXT_TOKENS: usize = 4096;
/// How many tokens an answer may have unless the request says otherwise.
pub const DEFAULT_MAX_NEW_TOKENS: usize = 512;
/// The file name of a tokenizer that lies next to the GGUF.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// How the engine loads its model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// The most positions (prompt plus answer, across reused turns) the cache holds; the
    /// model's own context length caps it.
    pub max_context_tokens: usize,
    /// Requantise weight types whose CPU kernel is scalar (Q4_1, Q5_0, Q5_1) to Q8_0.
    pub requantize_slow_types: bool,
    /// On a CPU with AVX-512 VNNI, run Q4_1 and Q8_0 matrices on our packed kernel.
    pub packed_kernels: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            max_context_tokens: DEFAULT_MAX_CONTEXT_TOKENS,
            requantize_slow_types: true,
            packed_kernels: true,
        }
    }
}

/// Facts about the loaded model.
#[derive(Debug, Clone, Serialize)]
pub struct LlmInfo {
    /// The GGUF file.
    pub path: PathBuf,
    /// The model's hyper-parameters.
    pub config: Config,
    /// The prompt format.
    pub chat_template: ChatTemplate,
    /// The most positions the cache holds.
    pub max_context_tokens: usize,
    /// The ids that end an answer.
    pub end_token_ids: Vec<u32>,
}

/// What the model is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// A conversation, rendered with the model's chat template and the assistant's turn
    /// opened.
    Chat(Vec<ChatMessage>),
    /// Text sent as it is (special tokens written in it become their ids).
    Raw(String),
}

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Sampling {
    /// Always the most likely token.
    Greedy,
    /// Temperature sampling, restricted to the nucleus of `top_p` probability when given.
    Temperature {
        /// Softmax temperature; higher is more varied.
        temperature: f64,
        /// Nucleus probability mass, in (0, 1].
        top_p: Option<f64>,
        /// Random seed, so a run can be repeated.
        seed: u64,
    },
}

/// One generation request.
pub struct GenerateRequest {
    /// What to answer.
    pub prompt: Prompt,
    /// The most tokens to generate.
    pub max_new_tokens: usize,
    /// How to choose tokens.
    pub sampling: Sampling,
    /// Restricts which tokens may come next (schema-constrained decoding).
    pub constraint: Option<Box<dyn TokenConstraint>>,
    /// Receives the answer's text in UTF-8-safe pieces as it is generated.
    pub stream: Option<Sender<String>>,
    /// When set, the request ends with [`LlmError::Cancelled`] before its prefill and at
    /// the next token.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for GenerateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateRequest")
            .field("prompt", &self.prompt)
            .field("max_new_tokens", &self.max_new_tokens)
            .field("sampling", &self.sampling)
            .field("constrained", &self.constraint.is_some())
            .field("streaming", &self.stream.is_some())
            .finish()
    }
}

impl GenerateRequest {
    /// A greedy, unconstrained, non-streaming request for a conversation.
    pub fn chat(messages: Vec<ChatMessage>) -> Self {
        Self {
            prompt: Prompt::Chat(messages),
            max_new_tokens: DEFAULT_MAX_NEW_TOKENS,
            sampling: Sampling::Greedy,
            constraint: None,
            stream: None,
            cancel: None,
        }
    }

    /// A greedy, unconstrained, non-streaming request for raw prompt text.
    pub fn raw(prompt: impl Into<String>) -> Self {
        Self {
            prompt: Prompt::Raw(prompt.into()),
            ..Self::chat(Vec::new())
        }
    }

    /// Sets the token budget.
    pub fn with_max_new_tokens(mut self, max_new_tokens: usize) -> Self {
        self.max_new_tokens = max_new_tokens;
        self
    }

    /// Sets the sampling.
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// Sets the constraint.
    pub fn with_constraint(mut self, constraint: Box<dyn TokenConstraint>) -> Self {
        self.constraint = Some(constraint);
        self
    }

    /// Streams pieces of text to `stream`.
    pub fn with_stream(mut self, stream: Sender<String>) -> Self {
        self.stream = Some(stream);
        self
    }

    /// Ends the request with [`LlmError::Cancelled`] once `cancel` is set (checked before
    /// the prefill and before every token).
    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancel = Some(cancel);
        self
    }

    fn is_cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|cancel| cancel.load(Ordering::SeqCst))
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model chose an end-of-turn or EOS token.
    EndToken,
    /// The constraint reported the document complete.
    ConstraintComplete,
    /// `max_new_tokens` were generated.
    MaxNewTokens,
    /// The KV cache is full.
    ContextFull,
    /// The receiver of the streamed text went away (the caller has what it needs).
    Cancelled,
}

/// Timings and counts of one generation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationStats {
    /// Tokens in the prompt.
    pub n_prompt_tokens: usize,
    /// Prompt tokens whose keys and values were reused from the previous request.
    pub n_reused_prompt_tokens: usize,
    /// Time to prefill the prompt's new tokens, in milliseconds.
    pub prefill_ms: f64,
    /// Time from the first sampled token to the end, in milliseconds.
    pub decode_ms: f64,
    /// Time from the request's start to the first sampled token, in milliseconds.
    pub time_to_first_token_ms: f64,
}

impl GenerationStats {
    /// Prefilled tokens per second (reused tokens not counted).
    pub fn prefill_tokens_per_s(&self) -> f64 {
        let n_prefilled = self.n_prompt_tokens - self.n_reused_prompt_tokens;
        n_prefilled as f64 / (self.prefill_ms / 1000.0).max(f64::EPSILON)
    }
}

/// A finished answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// The answer's text (end tokens left out); equals the streamed pieces joined.
    pub text: String,
    /// The generated token ids (end tokens left out).
    pub token_ids: Vec<u32>,
    /// How many tokens were generated.
    pub n_tokens: usize,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Timings and counts.
    pub stats: GenerationStats,
}

impl Generation {
    /// Generated tokens per second of decoding.
    pub fn decode_tokens_per_s(&self) -> f64 {
        self.n_tokens as f64 / (self.stats.decode_ms / 1000.0).max(f64::EPSILON)
    }
}

/// The model, tokenizer and cache, used from one thread.
pub struct LlmEngine {
    model: QuantizedDecoder,
    tokenizer: Arc<LlmTokenizer>,
    info: Arc<LlmInfo>,
    /// The tokens whose keys and values the cache holds, in order.
    cached_token_ids: Vec<u32>,
}

impl LlmEngine {
    /// Loads a GGUF and its tokenizer: `tokenizer_path`, else `tokenizer.json` next to the
    /// GGUF, else the tokenizer in the GGUF's metadata.
    pub fn load(
        gguf_path: &Path,
        tokenizer_path: Option<&Path>,
        device: &Device,
        options: EngineOptions,
    ) -> Result<Self, LlmError> {
        let mut file = File::open(gguf_path).map_err(|err| {
            if err.kind() == std::io::ErrorKind::NotFound {
                LlmError::ModelMissing {
                    path: gguf_path.to_path_buf(),
                }
            } else {
                LlmError::ModelLoad {
                    path: gguf_path.to_path_buf(),
                    reason: err.to_string(),
                }
            }
        })?;
        let load_error = |reason: String| LlmError::ModelLoad {
            path: gguf_path.to_path_buf(),
            reason,
        };
        let content = read_gguf_content(&mut file)
            .map_err(|err| load_error(format!("not a readable GGUF file: {err}")))?;
        let architecture_name = content
            .metadata
            .get("general.architecture")
            .and_then(|value| value.to_string().ok())
            .cloned()
            .ok_or_else(|| load_error("the GGUF has no general.architecture".into()))?;
        let architecture = Architecture::from_gguf_name(&architecture_name).ok_or_else(|| {
            LlmError::UnsupportedArchitecture {
                path: gguf_path.to_path_buf(),
                architecture: architecture_name.clone(),
            }
        })?;

        let sibling = gguf_path.with_file_name(TOKENIZER_FILE);
        let tokenizer_path = match tokenizer_path {
            Some(path) => Some(path.to_path_buf()),
            None if sibling.is_file() => Some(sibling),
            None => None,
        };
        let tokenizer = match &tokenizer_path {
            Some(path) => LlmTokenizer::from_file(path, Some(&content))?,
            None => LlmTokenizer::from_gguf(&content)?,
        };
        let model = QuantizedDecoder::from_gguf(
            &content,
            &mut file,
            device,
            options.max_context_tokens,
            LoadOptions {
                requantize_slow_types: options.requantize_slow_types,
                packed_kernels: options.packed_kernels,
            },
        )
        .map_err(|err| load_error(err.to_string()))?;
        let chat_template =
            ChatTemplate::detect(architecture, |token| tokenizer.token_to_id(token).is_some());
        let info = LlmInfo {
            path: gguf_path.to_path_buf(),
            config: model.config().clone(),
            chat_template,
            max_context_tokens: model.max_positions(),
            end_token_ids: tokenizer.end_token_ids().to_vec(),
        };
        tracing::info!(
            path = %gguf_path.display(),
            architecture = architecture.as_str(),
            n_layers = info.config.num_hidden_layers,
            "language model loaded"
        );
        Ok(Self {
            model,
            tokenizer: Arc::new(tokenizer),
            info: Arc::new(info),
            cached_token_ids: Vec::new(),
        })
    }

    /// Loads on a new worker thread and returns its handle once loading succeeded or failed.
    pub fn spawn(
        gguf_path: &Path,
        tokenizer_path: Option<&Path>,
        device: Device,
        options: EngineOptions,
    ) -> Result<LlmHandle, LlmError> {
        let gguf_path = gguf_path.to_path_buf();
        let tokenizer_path = tokenizer_path.map(Path::to_path_buf);
        let path = gguf_path.clone();
        let (jobs, (info, tokenizer)) = spawn_worker(
            "ideadesk-llm",
            move || LlmEngine::load(&gguf_path, tokenizer_path.as_deref(), &device, options),
            |engine: &LlmEngine| (engine.info.clone(), engine.tokenizer.clone()),
            |engine, jobs| engine.serve(jobs),
            WorkerErrors {
                load_panicked: Box::new(move |message| LlmError::ModelLoad {
                    path,
                    reason: format!("the loader failed unexpectedly: {message}"),
                }),
                no_thread: |reason| {
                    LlmError::Inference(format!("cannot start the LLM worker thread: {reason}"))
                },
                gone: || LlmError::WorkerGone,
            },
        )?;
        Ok(LlmHandle {
            jobs,
            info,
            tokenizer,
        })
    }

    /// Loads the manifest's llm entry as the resolver found it: its `.gguf` file, and its
    /// `tokenizer.json` when the entry has one.
    pub fn spawn_resolved(
        model: &ResolvedModel,
        device: Device,
        options: EngineOptions,
    ) -> Result<LlmHandle, LlmError> {
        let (gguf, tokenizer) = gguf_and_tokenizer(&model.paths)?;
        Self::spawn(&gguf, tokenizer.as_deref(), device, options)
    }

    /// Facts about the loaded model.
    pub fn info(&self) -> &LlmInfo {
        &self.info
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &LlmTokenizer {
        &self.tokenizer
    }

    /// Forgets the cached conversation.
    pub fn reset_cache(&mut self) {
        self.model.truncate_cache(0);
        self.cached_token_ids.clear();
    }

    fn serve(mut self, jobs: Receiver<Job>) {
        for job in jobs {
            match job {
                Job::Generate { request, reply } => {
                    let result = catch_panic(|| self.generate(request)).unwrap_or_else(|message| {
                        self.reset_cache();
                        Err(LlmError::Inference(format!(
                            "generation failed unexpectedly: {message}"
                        )))
                    });
                    let _ = reply.send(result);
                }
                Job::ResetCache => self.reset_cache(),
            }
        }
    }

    /// Renders the prompt with the model's chat template (or takes raw text as it is).
    pub fn render_prompt(&self, prompt: &Prompt) -> String {
        match prompt {
            Prompt::Chat(messages) => self.info.chat_template.render(messages, true),
            Prompt::Raw(text) => text.clone(),
        }
    }

    /// Generates an answer, reusing the cached prefix of the previous request.
    pub fn generate(&mut self, mut request: GenerateRequest) -> Result<Generation, LlmError> {
        if request.is_cancelled() {
            return Err(LlmError::Cancelled);
        }
        let started = Instant::now();
        let prompt_text = self.render_prompt(&request.prompt);
        let prompt_ids = self.tokenizer.encode(&prompt_text)?;
        if prompt_ids.is_empty() {
            return Err(LlmError::EmptyPrompt);
        }
        let max_positions = self.model.max_positions();
        if prompt_ids.len() >= max_positions {
            return Err(LlmError::ContextFull {
                n_tokens: prompt_ids.len(),
                max_context_tokens: max_positions,
            });
        }
        // At least the last prompt token is run again, since its logits start the answer.
        let n_reused = common_prefix_len(&self.cached_token_ids, &prompt_ids)
            .min(prompt_ids.len() - 1)
            .min(self.model.n_cached_positions());
        self.model.truncate_cache(n_reused);
        self.cached_token_ids.truncate(n_reused);

        let new_ids = &prompt_ids[n_reused..];
        let mut logits = self.forward(new_ids)?;
        self.cached_token_ids.extend_from_slice(new_ids);
        let prefill_ms = started.elapsed().as_secs_f64() * 1000.0;

        let mut processor = match request.sampling {
            Sampling::Greedy => LogitsProcessor::from_sampling(0, ProcessorSampling::ArgMax),
            Sampling::Temperature {
                temperature,
                top_p,
                seed,
            } => {
                let sampling = match top_p {
                    Some(p) if p < 1.0 => ProcessorSampling::TopP { p, temperature },
                    _ => ProcessorSampling::All { temperature },
                };
                LogitsProcessor::from_sampling(seed, sampling)
            }
        };
        let end_ids = self.tokenizer.end_token_ids().to_vec();
        let mut text = Utf8Stream::new(request.stream.take());
        let mut token_ids = Vec::new();
        let mut time_to_first_token_ms = None;
        let mut decode_started = None;
        let stop_reason = loop {
            if request.is_cancelled() {
                return Err(LlmError::Cancelled);
            }
            if let Some(constraint) = &request.constraint
                && constraint.is_complete()
            {
                break StopReason::ConstraintComplete;
            }
            if token_ids.len() >= request.max_new_tokens {
                break StopReason::MaxNewTokens;
            }
            let mut values: Vec<f32> = logits
                .to_vec1()
                .map_err(|err| LlmError::Inference(err.to_string()))?;
            if let Some(constraint) = request.constraint.as_mut() {
                constraint.mask_logits(&mut values);
                if values.iter().all(|value| *value == f32::NEG_INFINITY) {
                    return Err(LlmError::Constraint(
                        "the constraint allows no token here; check the schema and the tokenizer's token bytes".into(),
                    ));
                }
            }
            let n_values = values.len();
            let masked = Tensor::from_vec(values, n_values, &Device::Cpu)
                .map_err(|err| LlmError::Inference(err.to_string()))?;
            let token_id = processor
                .sample(&masked)
                .map_err(|err| LlmError::Inference(err.to_string()))?;
            if time_to_first_token_ms.is_none() {
                time_to_first_token_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
                decode_started = Some(Instant::now());
            }
            if end_ids.contains(&token_id) {
                break StopReason::EndToken;
            }
            if let Some(constraint) = request.constraint.as_mut() {
                constraint
                    .advance(token_id)
                    .map_err(|err| LlmError::Constraint(err.to_string()))?;
            }
            token_ids.push(token_id);
            text.push(self.tokenizer.bytes_of(token_id));
            let constraint_done = request
                .constraint
                .as_ref()
                .is_some_and(|constraint| constraint.is_complete());
            if constraint_done {
                break StopReason::ConstraintComplete;
            }
            if token_ids.len() >= request.max_new_tokens {
                break StopReason::MaxNewTokens;
            }
            if text.is_receiver_gone() {
                break StopReason::Cancelled;
            }
            if self.cached_token_ids.len() + 1 > max_positions {
                break StopReason::ContextFull;
            }
            logits = self.forward(&[token_id])?;
            self.cached_token_ids.push(token_id);
        };
        let decode_ms = decode_started
            .map(|instant| instant.elapsed().as_secs_f64() * 1000.0)
            .unwrap_or(0.0);
        let n_tokens = token_ids.len();
        Ok(Generation {
            text: text.finish(),
            token_ids,
            n_tokens,
            stop_reason,
            stats: GenerationStats {
                n_prompt_tokens: prompt_ids.len(),
                n_reused_prompt_tokens: n_reused,
                prefill_ms,
                decode_ms,
                time_to_first_token_ms: time_to_first_token_ms.unwrap_or(prefill_ms),
            },
        })
    }

    /// Runs the model; on failure the cache is dropped so it never holds a half-written
    /// step.
    fn forward(&mut self, token_ids: &[u32]) -> Result<Tensor, LlmError> {
        match self.model.forward(token_ids) {
            Ok(logits) => Ok(logits),
            Err(err) => {
                self.reset_cache();
                Err(LlmError::Inference(err.to_string()))
            }
        }
    }
}

/// Collects generated bytes and hands out the longest complete UTF-8 text so far.
struct Utf8Stream {
    pending: Vec<u8>,
    text: String,
    sink: Option<Sender<String>>,
    receiver_gone: bool,
}

impl Utf8Stream {
    fn new(sink: Option<Sender<String>>) -> Self {
        Self {
            pending: Vec::new(),
            text: String::new(),
            sink,
            receiver_gone: false,
        }
    }

    /// True once a piece could not be delivered because the receiver was dropped.
    fn is_receiver_gone(&self) -> bool {
        self.receiver_gone
    }

    fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let n_ready = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            // Bytes that can never become valid are passed on (as U+FFFD) at once.
            Err(err) => match err.error_len() {
                Some(n_invalid) => err.valid_up_to() + n_invalid,
                None => err.valid_up_to(),
            },
        };
        if n_ready > 0 {
            let ready: Vec<u8> = self.pending.drain(..n_ready).collect();
            self.emit(String::from_utf8_lossy(&ready).into_owned());
        }
    }

    fn emit(&mut self, piece: String) {
        if piece.is_empty() {
            return;
        }
        if let Some(sink) = &self.sink
            && sink.send(piece.clone()).is_err()
        {
            self.receiver_gone = true;
        }
        self.text.push_str(&piece);
    }

    fn finish(mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        self.emit(String::from_utf8_lossy(&rest).into_owned());
        self.text
    }
}

fn common_prefix_len(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Picks the `.gguf` file and an optional `tokenizer.json` out of a resolved model's files.
/// The four bytes every GGUF file starts with.
const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// What a GGUF file holds, read from its header: enough to tell whether ideadesk can run
/// it, and to describe it.
#[derive(Debug, Clone, Serialize)]
pub struct GgufSummary {
    /// The file.
    pub path: PathBuf,
    /// Its decoder architecture.
    pub architecture: Architecture,
    /// Its transformer blocks.
    pub n_layers: usize,
    /// Its weights, in elements.
    pub n_params: u64,
    /// The weight types by their share of the elements, largest first ("q4k", 0.84).
    pub weight_types: Vec<(String, f64)>,
}

impl GgufSummary {
    /// "qwen2, 28 layers, 1.78 B weights, mostly q4k (q6k 16 %)".
    pub fn describe(&self) -> String {
        let types: Vec<String> = self
            .weight_types
            .iter()
            .skip(1)
            .filter(|(_, share)| *share >= 0.01)
            .map(|(name, share)| format!("{name} {:.0} %", share * 100.0))
            .collect();
        format!(
            "{}, {} layers, {:.2} B weights, mostly {}{}",
            self.architecture.as_str(),
            self.n_layers,
            self.n_params as f64 / 1e9,
            self.weight_types
                .first()
                .map_or("?", |(name, _)| name.as_str()),
            if types.is_empty() {
                String::new()
            } else {
                format!(" ({})", types.join(", "))
            }
        )
    }
}

/// Reads a GGUF file's header and says whether ideadesk can run it: a missing file, a
/// file that is not GGUF and an architecture other than llama, qwen2 or qwen3 are clear
/// errors. Any quantisation candle reads loads (K-quants included).
pub fn inspect_gguf(path: &Path) -> Result<GgufSummary, LlmError> {
    let not_a_model = |reason: String| LlmError::NotAModel {
        path: path.to_path_buf(),
        reason,
    };
    if path.is_dir() {
        return Err(not_a_model("it is a folder".into()));
    }
    let mut file = File::open(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::NotFound {
            not_a_model("the file does not exist".into())
        } else {
            not_a_model(format!("it cannot be read ({err})"))
        }
    })?;
    inspect_gguf_from(&mut file, path)
}

/// [`inspect_gguf`] on an open GGUF: a file, or bytes in a `Cursor`. `path` only names
/// the model in errors.
pub fn inspect_gguf_from<R: Read + Seek>(
    reader: &mut R,
    path: &Path,
) -> Result<GgufSummary, LlmError> {
    let not_a_model = |reason: String| LlmError::NotAModel {
        path: path.to_path_buf(),
        reason,
    };
    let mut magic = [0u8; 4];
    if reader.read_exact(&mut magic).is_err() || &magic != GGUF_MAGIC {
        return Err(not_a_model("it is not a GGUF file".into()));
    }
    reader
        .rewind()
        .map_err(|err| not_a_model(format!("it cannot be read ({err})")))?;
    let content = read_gguf_content(reader)
        .map_err(|err| not_a_model(format!("its GGUF header is damaged ({err})")))?;
    let architecture_name = content
        .metadata
        .get("general.architecture")
        .and_then(|value| value.to_string().ok())
        .cloned()
        .ok_or_else(|| not_a_model("it names no general.architecture".into()))?;
    let architecture = Architecture::from_gguf_name(&architecture_name).ok_or_else(|| {
        LlmError::UnsupportedArchitecture {
            path: path.to_path_buf(),
            architecture: architecture_name.clone(),
        }
    })?;
    let config = Config::from_gguf(&content)
        .map_err(|err| not_a_model(format!("its hyper-parameters are incomplete ({err})")))?;
    let mut by_type: Vec<(String, u64)> = Vec::new();
    for info in content.tensor_infos.values() {
        let name = format!("{:?}", info.ggml_dtype).to_lowercase();
        // `read_gguf_content` checked that the product does not overflow.
        let n_elements = info.shape.elem_count() as u64;
        match by_type.iter_mut().find(|(known, _)| *known == name) {
            Some((_, total)) => *total = total.saturating_add(n_elements),
            None => by_type.push((name, n_elements)),
        }
    }
    let n_params: u64 = by_type
        .iter()
        .fold(0u64, |sum, (_, n)| sum.saturating_add(*n));
    by_type.sort_by_key(|(_, n_elements)| std::cmp::Reverse(*n_elements));
    Ok(GgufSummary {
        path: path.to_path_buf(),
        architecture,
        n_layers: config.num_hidden_layers,
        n_params,
        weight_types: by_type
            .into_iter()
            .map(|(name, n)| (name, n as f64 / n_params.max(1) as f64))
            .collect(),
    })
}

/// Reads a GGUF header (metadata and tensor descriptions) from the reader's position;
/// the error is the reason in words.
///
/// candle's reader bounds every count and length by the file's size, but trusts two
/// things that a damaged file can break: `general.alignment`, which it divides by, and
/// tensor shapes, whose element counts it multiplies out. Both are checked here: the
/// alignment in a bounded walk of the metadata before candle reads it, the tensors after
/// (each must have a dimension, a countable number of elements and its data inside the
/// file), so that loading the weights later cannot fail on them either.
pub fn read_gguf_content<R: Read + Seek>(reader: &mut R) -> Result<gguf_file::Content, String> {
    let io_error = |err: std::io::Error| format!("it cannot be read ({err})");
    let start = reader.stream_position().map_err(io_error)?;
    let file_len = reader.seek(SeekFrom::End(0)).map_err(io_error)?;
    reader.seek(SeekFrom::Start(start)).map_err(io_error)?;
    let alignment =
        GgufMetadataWalk::declared_alignment(&mut *reader, file_len.saturating_sub(start));
    if let Some(alignment) = alignment
        && !alignment.is_power_of_two()
    {
        return Err(format!(
            "general.alignment is {alignment}, but GGUF alignments are powers of two"
        ));
    }
    reader.seek(SeekFrom::Start(start)).map_err(io_error)?;
    let content = gguf_file::Content::read(reader).map_err(|err| err.to_string())?;
    let mut tensors: Vec<_> = content.tensor_infos.iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(b.0));
    for (name, info) in tensors {
        let dims = info.shape.dims();
        // candle multiplies the dimensions in both directions (the element count and the
        // strides), so the product of the non-zero ones must fit as well.
        let non_zero_product = dims
            .iter()
            .filter(|&&dim| dim != 0)
            .try_fold(1usize, |n, &dim| n.checked_mul(dim))
            .filter(|_| !dims.is_empty())
            .ok_or_else(|| format!("tensor `{name}` has an impossible shape {dims:?}"))?;
        let n_elements = if dims.contains(&0) {
            0
        } else {
            non_zero_product
        };
        let block = info.ggml_dtype.block_size();
        if !n_elements.is_multiple_of(block) {
            return Err(format!(
                "tensor `{name}` has {n_elements} elements, not whole {:?} blocks of {block}",
                info.ggml_dtype
            ));
        }
        let n_bytes = u64::try_from(n_elements / block)
            .ok()
            .and_then(|n_blocks| n_blocks.checked_mul(info.ggml_dtype.type_size() as u64))
            .ok_or_else(|| format!("tensor `{name}` has an impossible shape {dims:?}"))?;
        let data_start = content.tensor_data_offset.saturating_add(info.offset);
        if data_start.saturating_add(n_bytes) > file_len {
            return Err(format!(
                "tensor `{name}` needs {n_bytes} bytes from byte {data_start}, past the end of \
                 the file at byte {file_len} (is the download incomplete?)"
            ));
        }
    }
    Ok(content)
}

/// GGUF metadata value types (the spec's `gguf_type`) that [`GgufMetadataWalk`] reads.
const GGUF_TYPE_STRING: u32 = 8;
const GGUF_TYPE_ARRAY: u32 = 9;
/// How deeply GGUF arrays may nest; candle refuses deeper ones.
const GGUF_MAX_ARRAY_DEPTH: usize = 64;

/// A walk over a GGUF file's metadata that reads no value it does not need and never
/// reads past `remaining` bytes. It gives up (`None`) wherever the file is malformed:
/// candle's reader, which runs next, then says what is wrong.
struct GgufMetadataWalk<R> {
    reader: BufReader<R>,
    remaining: u64,
    /// Whether lengths and counts are 32-bit (GGUF version 1) rather than 64-bit.
    short_lengths: bool,
}

impl<R: Read + Seek> GgufMetadataWalk<R> {
    /// The last `general.alignment` of a type candle reads as the alignment, if any.
    fn declared_alignment(reader: R, remaining: u64) -> Option<u64> {
        let mut walk = Self {
            reader: BufReader::new(reader),
            remaining,
            short_lengths: false,
        };
        let mut magic = [0u8; 4];
        walk.take(4)?;
        walk.reader.read_exact(&mut magic).ok()?;
        if &magic != GGUF_MAGIC {
            return None;
        }
        walk.short_lengths = walk.u32()? == 1;
        walk.length()?;
        let n_metadata = walk.length()?;
        let mut alignment = None;
        for _ in 0..n_metadata {
            const ALIGNMENT_KEY: &[u8] = b"general.alignment";
            let key_len = walk.length()?;
            let is_alignment = if key_len == ALIGNMENT_KEY.len() as u64 {
                walk.take(key_len)?;
                let mut key = [0u8; ALIGNMENT_KEY.len()];
                walk.reader.read_exact(&mut key).ok()?;
                key == ALIGNMENT_KEY
            } else {
                walk.skip(key_len)?;
                false
            };
            let value_type = walk.u32()?;
            let value = walk.value(value_type, 0)?;
            if is_alignment {
                alignment = value;
            }
        }
        alignment
    }

    /// Counts `n_bytes` against what is left of the file.
    fn take(&mut self, n_bytes: u64) -> Option<()> {
        self.remaining = self.remaining.checked_sub(n_bytes)?;
        Some(())
    }

    fn skip(&mut self, n_bytes: u64) -> Option<()> {
        self.take(n_bytes)?;
        self.reader.seek_relative(i64::try_from(n_bytes).ok()?).ok()
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)?;
        let mut bytes = [0u8; 4];
        self.reader.read_exact(&mut bytes).ok()?;
        Some(u32::from_le_bytes(bytes))
    }

    /// A string length or an element count.
    fn length(&mut self) -> Option<u64> {
        if self.short_lengths {
            return self.u32().map(u64::from);
        }
        self.take(8)?;
        let mut bytes = [0u8; 8];
        self.reader.read_exact(&mut bytes).ok()?;
        Some(u64::from_le_bytes(bytes))
    }

    /// Bytes of a value of a fixed-size type.
    fn fixed_size(value_type: u32) -> Option<u64> {
        match value_type {
            0 | 1 | 7 => Some(1),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        }
    }

    /// Steps over one value; returns it when it is an integer candle would take as an
    /// alignment (u8, u16 or u32, or a non-negative i8, i16 or i32), else `Some(None)`.
    fn value(&mut self, value_type: u32, depth: usize) -> Option<Option<u64>> {
        if let Some(n_bytes) = Self::fixed_size(value_type) {
            self.take(n_bytes)?;
            let mut bytes = [0u8; 8];
            let n_bytes = usize::try_from(n_bytes).ok()?;
            self.reader.read_exact(&mut bytes[..n_bytes]).ok()?;
            let integer = match value_type {
                0 => Some(u64::from(bytes[0])),
                1 => u64::try_from(i8::from_le_bytes([bytes[0]])).ok(),
                2 => Some(u64::from(u16::from_le_bytes([bytes[0], bytes[1]]))),
                3 => u64::try_from(i16::from_le_bytes([bytes[0], bytes[1]])).ok(),
                4 => Some(u64::from(u32::from_le_bytes([
                    bytes[0], bytes[1], bytes[2], bytes[3],
                ]))),
                5 => {
                    u64::try_from(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])).ok()
                }
                _ => None,
            };
            return Some(integer);
        }
        match value_type {
            GGUF_TYPE_STRING => {
                let len = self.length()?;
                self.skip(len)?;
            }
            GGUF_TYPE_ARRAY if depth < GGUF_MAX_ARRAY_DEPTH => {
                let element_type = self.u32()?;
                let n_elements = self.length()?;
                match Self::fixed_size(element_type) {
                    Some(n_bytes) => self.skip(n_elements.checked_mul(n_bytes)?)?,
                    None => {
                        for _ in 0..n_elements {
                            self.value(element_type, depth + 1)?;
                        }
                    }
                }
            }
            _ => return None,
        }
        Some(None)
    }
}

fn gguf_and_tokenizer(paths: &[PathBuf]) -> Result<(PathBuf, Option<PathBuf>), LlmError> {
    let has_extension = |path: &PathBuf, extension: &str| {
        path.extension()
            .is_some_and(|found| found.eq_ignore_ascii_case(extension))
    };
    let gguf = paths
        .iter()
        .find(|path| has_extension(path, "gguf"))
        .cloned()
        .ok_or(LlmError::NoGgufInEntry)?;
    let tokenizer = paths
        .iter()
        .find(|path| path.file_name().is_some_and(|name| name == TOKENIZER_FILE))
        .cloned();
    Ok((gguf, tokenizer))
}

enum Job {
    Generate {
        request: GenerateRequest,
        reply: Sender<Result<Generation, LlmError>>,
    },
    ResetCache,
}

/// A cheap handle to the LLM worker thread.
#[derive(Clone)]
pub struct LlmHandle {
    jobs: Sender<Job>,
    info: Arc<LlmInfo>,
    tokenizer: Arc<LlmTokenizer>,
}

impl std::fmt::Debug for LlmHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmHandle")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl LlmHandle {
    /// Facts about the loaded model.
    pub fn info(&self) -> &LlmInfo {
        &self.info
    }

    /// The model's tokenizer (for token bytes and end ids).
    pub fn tokenizer(&self) -> &LlmTokenizer {
        &self.tokenizer
    }

    /// Queues a request; the answer arrives on the returned channel. Requests are served
    /// in order.
    pub fn submit(&self, request: GenerateRequest) -> Receiver<Result<Generation, LlmError>> {
        let (reply_tx, reply_rx) = mpsc::channel();
        let job = Job::Generate {
            request,
            reply: reply_tx,
        };
        if let Err(mpsc::SendError(Job::Generate { reply, .. })) = self.jobs.send(job) {
            let _ = reply.send(Err(LlmError::WorkerGone));
        }
        reply_rx
    }

    /// Generates and waits for the answer.
    pub fn generate(&self, request: GenerateRequest) -> Result<Generation, LlmError> {
        self.submit(request)
            .recv()
            .map_err(|_| LlmError::WorkerGone)?
    }

    /// Asks the worker to forget its cached conversation.
    pub fn reset_cache(&self) -> Result<(), LlmError> {
        self.jobs
            .send(Job::ResetCache)
            .map_err(|_| LlmError::WorkerGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_pieces_wait_for_whole_characters() {
        let (tx, rx) = mpsc::channel();
        let mut stream = Utf8Stream::new(Some(tx));
        let emoji = "é🦀".as_bytes();
        for byte in emoji {
            stream.push(&[*byte]);
        }
        let text = stream.finish();
        let pieces: Vec<String> = rx.try_iter().collect();
        assert_eq!(text, "é🦀");
        assert_eq!(pieces, vec!["é".to_string(), "🦀".to_string()]);
    }

    /// A GGUF v3 file: string or u32 metadata, then tensor descriptions as (name, dims
    /// innermost first, ggml type, offset), padded to 32 bytes, then `n_data_bytes` zeros.
    fn gguf_bytes(
        metadata: &[(&str, Result<u32, &str>)],
        tensors: &[(&str, &[u64], u32, u64)],
        n_data_bytes: usize,
    ) -> Vec<u8> {
        let string = |out: &mut Vec<u8>, text: &str| {
            out.extend_from_slice(&(text.len() as u64).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        };
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
        for (key, value) in metadata {
            string(&mut out, key);
            match value {
                Ok(number) => {
                    out.extend_from_slice(&4u32.to_le_bytes());
                    out.extend_from_slice(&number.to_le_bytes());
                }
                Err(text) => {
                    out.extend_from_slice(&8u32.to_le_bytes());
                    string(&mut out, text);
                }
            }
        }
        for (name, dims, ggml_type, offset) in tensors {
            string(&mut out, name);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for dim in *dims {
                out.extend_from_slice(&dim.to_le_bytes());
            }
            out.extend_from_slice(&ggml_type.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
        }
        out.resize(out.len().div_ceil(32) * 32 + n_data_bytes, 0);
        out
    }

    #[test]
    fn damaged_gguf_headers_are_errors_not_panics() {
        const F32: u32 = 0;
        let llama: Vec<(&str, Result<u32, &str>)> = vec![
            ("general.architecture", Err("llama")),
            ("llama.embedding_length", Ok(4)),
            ("llama.feed_forward_length", Ok(8)),
            ("llama.block_count", Ok(1)),
            ("llama.attention.head_count", Ok(1)),
        ];
        let inspect = |bytes: Vec<u8>| {
            inspect_gguf_from(&mut std::io::Cursor::new(bytes), Path::new("m.gguf"))
        };
        let good = gguf_bytes(&llama, &[("token_embd.weight", &[4, 3], F32, 0)], 48);
        let summary = inspect(good).expect("a well-formed GGUF");
        assert_eq!(summary.n_params, 12);

        // Each of these once panicked inside candle or in our reading of its header; they
        // were found by fuzzing (tests/fuzz.rs, target gguf).
        let mut zero_alignment = llama.clone();
        zero_alignment.push(("general.alignment", Ok(0)));
        let cases = [
            (
                gguf_bytes(
                    &zero_alignment,
                    &[("token_embd.weight", &[4, 3], F32, 0)],
                    48,
                ),
                "general.alignment is 0",
            ),
            (
                gguf_bytes(&llama, &[("token_embd.weight", &[], F32, 0)], 4),
                "impossible shape []",
            ),
            (
                gguf_bytes(
                    &llama,
                    &[("token_embd.weight", &[1 << 32, 1 << 32], F32, 0)],
                    4,
                ),
                "impossible shape",
            ),
            (
                gguf_bytes(
                    &llama,
                    &[("token_embd.weight", &[0, 1 << 32, 1 << 32], F32, 0)],
                    4,
                ),
                "impossible shape",
            ),
            (
                gguf_bytes(&llama, &[("token_embd.weight", &[4, 3], F32, 0)], 47),
                "past the end of the file",
            ),
        ];
        for (bytes, fragment) in cases {
            let err = inspect(bytes).expect_err("refused").to_string();
            assert!(err.contains(fragment), "{err} should say {fragment:?}");
            assert!(err.contains("its GGUF header is damaged"), "{err}");
        }
    }

    #[test]
    fn the_resolved_entry_gives_the_gguf_and_an_optional_tokenizer() {
        let paths = vec![
            PathBuf::from("/m/tokenizer.json"),
            PathBuf::from("/m/x.GGUF"),
        ];
        let (gguf, tokenizer) = gguf_and_tokenizer(&paths).expect("a gguf");
        assert_eq!(gguf, PathBuf::from("/m/x.GGUF"));
        assert_eq!(tokenizer, Some(PathBuf::from("/m/tokenizer.json")));
        assert!(matches!(
            gguf_and_tokenizer(&paths[..1]),
            Err(LlmError::NoGgufInEntry)
        ));
    }
}
