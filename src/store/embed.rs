//! Sentence embeddings: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions) on candle, used
//! to find needs that say the same thing in other words.
//!
//! The computation is sentence-transformers' own for this model: WordPiece tokens with
//! `[CLS]`/`[SEP]`, at most [`MAX_SEQUENCE_TOKENS`] of them; the BERT encoder; the mean of
//! the last hidden states over the real (non-padding) tokens; then L2 normalisation, so a
//! dot product of two embeddings is their cosine similarity. Sentences are embedded in
//! batches padded to the longest sentence of the batch.
//!
//! One worker thread owns the weights, the tokenizer and the device; callers hold a cheap
//! `Clone` [`Embedder`] whose requests carry their own reply channel, the same shape as the
//! Whisper and vision workers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::StoreError;
use crate::models::ResolvedModel;
use crate::needs::model::Need;
use crate::worker::{WorkerErrors, catch_panic, spawn_worker};

/// The longest input, in tokens, `[CLS]` and `[SEP]` included; longer text is cut. This is
/// sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2 (the model was trained on
/// 128-token inputs; its position table has 512 rows).
pub const MAX_SEQUENCE_TOKENS: usize = 256;
/// The most sentences run through the encoder at once; longer requests are split.
pub const MAX_BATCH_SENTENCES: usize = 32;
/// The model's configuration file.
pub const CONFIG_FILE: &str = "config.json";
/// The model's tokenizer file.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The model's weights file.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// The three files of a sentence-transformers BERT model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedFiles {
    /// `config.json`.
    pub config: PathBuf,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// `model.safetensors`.
    pub weights: PathBuf,
}

impl EmbedFiles {
    /// The files under their usual names in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            config: dir.join(CONFIG_FILE),
            tokenizer: dir.join(TOKENIZER_FILE),
            weights: dir.join(WEIGHTS_FILE),
        }
    }

    /// The files of the manifest's `embed` entry, as the resolver found them.
    pub fn from_resolved(model: &ResolvedModel) -> Result<Self, StoreError> {
        let find = |name: &str| {
            model
                .path_of(name)
                .map(Path::to_path_buf)
                .ok_or_else(|| StoreError::ModelLoad {
                    path: model.paths.first().cloned().unwrap_or_default(),
                    reason: format!("the embed entry has no {name} file"),
                })
        };
        Ok(Self {
            config: find(CONFIG_FILE)?,
            tokenizer: find(TOKENIZER_FILE)?,
            weights: find(WEIGHTS_FILE)?,
        })
    }
}

/// Facts about the loaded model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedderInfo {
    /// The files loaded.
    pub files: EmbedFiles,
    /// Length of each embedding (384 for MiniLM-L6).
    pub dimension: usize,
}

/// A request to the worker: sentences in, one embedding per sentence out.
struct Request {
    texts: Vec<String>,
    reply: Sender<Result<Vec<Vec<f32>>, StoreError>>,
}

/// A cheap handle to the sentence-embedding worker thread.
#[derive(Clone)]
pub struct Embedder {
    requests: Sender<Request>,
    info: Arc<EmbedderInfo>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads the model on a new worker thread and returns once it is loaded (or failed).
    pub fn spawn(files: &EmbedFiles, device: Device) -> Result<Self, StoreError> {
        let files = files.clone();
        let path = files.weights.clone();
        let (requests, info) = spawn_worker(
            "ideadesk-embed",
            move || EmbedModel::load(&files, &device),
            |model: &EmbedModel| model.info.clone(),
            serve,
            WorkerErrors {
                load_panicked: Box::new(move |message| StoreError::ModelLoad {
                    path,
                    reason: format!("the loader failed unexpectedly: {message}"),
                }),
                no_thread: |reason| {
                    StoreError::Inference(format!(
                        "cannot start the embedding worker thread: {reason}"
                    ))
                },
                gone: || StoreError::WorkerGone,
            },
        )?;
        Ok(Self {
            requests,
            info: Arc::new(info),
        })
    }

    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn spawn_dir(dir: &Path, device: Device) -> Result<Self, StoreError> {
        Self::spawn(&EmbedFiles::in_dir(dir), device)
    }

    /// Loads the manifest's `embed` entry as the resolver found it.
    pub fn spawn_resolved(model: &ResolvedModel, device: Device) -> Result<Self, StoreError> {
        Self::spawn(&EmbedFiles::from_resolved(model)?, device)
    }

    /// Facts about the loaded model.
    pub fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    /// Length of each embedding.
    pub fn dimension(&self) -> usize {
        self.info.dimension
    }

    /// Queues sentences; their embeddings (unit length, in the same order) arrive on the
    /// returned channel. Requests are served in order.
    pub fn submit(&self, texts: Vec<String>) -> Receiver<Result<Vec<Vec<f32>>, StoreError>> {
        let (reply_tx, reply_rx) = mpsc::channel();
        let request = Request {
            texts,
            reply: reply_tx,
        };
        if let Err(mpsc::SendError(request)) = self.requests.send(request) {
            let _ = request.reply.send(Err(StoreError::WorkerGone));
        }
        reply_rx
    }

    /// Embeds sentences and waits for the result.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, StoreError> {
        let texts = texts.iter().map(|text| text.to_string()).collect();
        self.submit(texts)
            .recv()
            .map_err(|_| StoreError::WorkerGone)?
    }

    /// Embeds one sentence.
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>, StoreError> {
        self.embed(&[text])?
            .pop()
            .ok_or_else(|| StoreError::Inference("the model returned no embedding".into()))
    }
}

/// The text a need is embedded by: its statement, the one field every need has and the one
/// two accounts of the same need agree on most.
pub fn need_embedding_text(need: &Need) -> &str {
    need.statement.trim()
}

/// Answers requests until every handle is dropped.
fn serve(model: EmbedModel, requests: Receiver<Request>) {
    while let Ok(request) = requests.recv() {
        let result = catch_panic(|| model.embed(&request.texts)).unwrap_or_else(|message| {
            Err(StoreError::Inference(format!(
                "the model failed unexpectedly: {message}"
            )))
        });
        let _ = request.reply.send(result);
    }
}

/// What the worker owns.
struct EmbedModel {
    bert: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    info: EmbedderInfo,
}

impl EmbedModel {
    fn load(files: &EmbedFiles, device: &Device) -> Result<Self, StoreError> {
        let load_error = |path: &Path, reason: String| StoreError::ModelLoad {
            path: path.to_path_buf(),
            reason,
        };
        for path in [&files.config, &files.tokenizer, &files.weights] {
            if !path.is_file() {
                return Err(load_error(path, "no such file".into()));
            }
        }
        let config_text = std::fs::read_to_string(&files.config)
            .map_err(|err| load_error(&files.config, format!("cannot read the file: {err}")))?;
        let config: Config = serde_json::from_str(&config_text).map_err(|err| {
            load_error(
                &files.config,
                format!("not a BERT config.json this build understands: {err}"),
            )
        })?;

        let mut tokenizer = Tokenizer::from_file(&files.tokenizer).map_err(|err| {
            load_error(
                &files.tokenizer,
                format!("not a readable tokenizer.json: {err}"),
            )
        })?;
        // The file pads every input to a fixed 128 tokens; pad each batch to its longest
        // sentence instead, and cut at the model's sequence limit.
        let pad_token = tokenizer
            .get_padding()
            .map(|padding| padding.pad_token.clone())
            .unwrap_or_else(|| "[PAD]".to_string());
        let pad_id = tokenizer.token_to_id(&pad_token).ok_or_else(|| {
            load_error(
                &files.tokenizer,
                format!("the tokenizer has no {pad_token} token, so it is not a BERT tokenizer"),
            )
        })?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_SEQUENCE_TOKENS.min(config.max_position_embeddings),
                ..TruncationParams::default()
            }))
            .map_err(|err| load_error(&files.tokenizer, format!("cannot set truncation: {err}")))?;

        // Read into memory rather than memory-mapped: no `unsafe`, and the file is 90 MB.
        let bytes = std::fs::read(&files.weights)
            .map_err(|err| load_error(&files.weights, format!("cannot read the file: {err}")))?;
        let vb = candle_nn::VarBuilder::from_buffered_safetensors(bytes, DType::F32, device)
            .map_err(|err| {
                load_error(
                    &files.weights,
                    format!("not a readable safetensors file: {err}"),
                )
            })?;
        let bert = BertModel::load(vb, &config).map_err(|err| {
            load_error(
                &files.weights,
                format!("does not hold the BERT tensors config.json describes: {err}"),
            )
        })?;
        tracing::debug!(
            "embed: loaded {} ({} dims) on {device:?}",
            files.weights.display(),
            config.hidden_size
        );
        Ok(Self {
            bert,
            tokenizer,
            device: device.clone(),
            info: EmbedderInfo {
                files: files.clone(),
                dimension: config.hidden_size,
            },
        })
    }

    /// Embeds every text, [`MAX_BATCH_SENTENCES`] at a time.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, StoreError> {
        let mut embeddings = Vec::with_capacity(texts.len());
        for batch in texts.chunks(MAX_BATCH_SENTENCES) {
            embeddings.extend(self.embed_batch(batch)?);
        }
        Ok(embeddings)
    }

    fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, StoreError> {
        let inference =
            |what: &str, err: candle_core::Error| StoreError::Inference(format!("{what}: {err}"));
        let encodings = self
            .tokenizer
            .encode_batch(texts.iter().map(String::as_str).collect::<Vec<_>>(), true)
            .map_err(|err| StoreError::Inference(format!("cannot tokenise the text: {err}")))?;
        let rows = encodings.len();
        let columns = encodings.first().map_or(0, |encoding| encoding.len());
        if rows == 0 || columns == 0 {
            return Ok(vec![Vec::new(); rows]);
        }
        let mut ids = Vec::with_capacity(rows * columns);
        let mut mask = Vec::with_capacity(rows * columns);
        for encoding in &encodings {
            if encoding.len() != columns {
                return Err(StoreError::Inference(
                    "the tokenizer did not pad the batch to one length".into(),
                ));
            }
            ids.extend_from_slice(encoding.get_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (rows, columns), &self.device)
            .map_err(|err| inference("cannot build the token tensor", err))?;
        let mask = Tensor::from_vec(mask, (rows, columns), &self.device)
            .map_err(|err| inference("cannot build the mask tensor", err))?;
        let token_types = ids
            .zeros_like()
            .map_err(|err| inference("cannot build the token-type tensor", err))?;
        let hidden = self
            .bert
            .forward(&ids, &token_types, Some(&mask))
            .map_err(|err| inference("the encoder failed", err))?;
        let pooled =
            mean_pool_normalised(&hidden, &mask).map_err(|err| inference("pooling failed", err))?;
        pooled
            .to_vec2::<f32>()
            .map_err(|err| inference("cannot read the embeddings", err))
    }
}

/// The mean of `hidden` `[batch, tokens, dims]` over the tokens whose `mask` `[batch,
/// tokens]` is 1, scaled to unit length.
fn mean_pool_normalised(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    // Every sentence has at least `[CLS]` and `[SEP]`, so the count is at least 2; the
    // floor only guards against a division by zero.
    let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norms = mean
        .sqr()?
        .sum_keepdim(1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    mean.broadcast_div(&norms)
}
