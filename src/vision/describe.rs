//! The sketch describer: a vision-language model looks at a picture of a product sketch
//! and says what is drawn on it, and a small deterministic parser turns that answer into a
//! [`SketchDescription`] (the answer itself, the text labels it quotes, the UI elements it
//! names).
//!
//! The model is moondream2 through candle: the quantized GGUF build
//! (`santiagomed/candle-moondream`, `model-q4_0.gguf` + `tokenizer.json`) for real use, and
//! the full safetensors layout as well. One worker thread owns the weights (loaded once),
//! the tokenizer and the device; callers hold a cheap `Clone` [`MoondreamDescriber`] whose
//! requests carry their own reply channel, the same shape as the Whisper worker.
//!
//! The pipeline follows moondream2's own: the picture is resized (stretched, so nothing at
//! the edge of the sheet is cropped away) to 378×378, scaled to [-1, 1] and laid out
//! channels first; the vision encoder turns it into 729 image tokens; the text model sees
//! `<|endoftext|>`, the image tokens, then `\n\nQuestion: …\n\nAnswer:`, and decodes
//! greedily until `<|endoftext|>`, `<END>` or the token budget. Every loop is bounded by
//! that budget, and a worker that has stopped answers [`VisionError::WorkerGone`].
//!
//! The answer parser lives in `describe/answer.rs`, next to its tests, so that this file
//! keeps the model and its worker and stays under the project's size limit; its
//! [`parse_answer`] is re-exported here under its old path.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Module, Tensor};
use candle_transformers::models::{moondream, quantized_moondream};
use image::RgbImage;
use image::imageops::FilterType;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use super::VisionError;
use crate::models::ResolvedModel;
use crate::worker::{WorkerErrors, catch_panic, spawn_worker};

mod answer;

pub use answer::parse_answer;

/// Side of the square picture moondream2's vision encoder takes, in pixels.
pub const MOONDREAM_IMAGE_SIZE_PX: u32 = 378;
/// Side of one square vision patch, in pixels (fixed by the encoder).
const MOONDREAM_PATCH_SIZE_PX: u32 = 14;
/// Image tokens the vision encoder produces for one picture: (378 / 14)² = 729.
pub const MOONDREAM_IMAGE_TOKENS: usize = ((MOONDREAM_IMAGE_SIZE_PX / MOONDREAM_PATCH_SIZE_PX)
    * (MOONDREAM_IMAGE_SIZE_PX / MOONDREAM_PATCH_SIZE_PX))
    as usize;
/// The longest sequence the text model (phi-1.5) was trained on, in tokens: the start
/// token, the image tokens, the prompt and the answer must fit in it together.
const MAX_CONTEXT_TOKENS: usize = 2048;
/// How many tokens an answer may have unless the options say otherwise.
pub const DEFAULT_MAX_NEW_TOKENS: usize = 256;
/// moondream2's tokenizer uses this one token both to start the sequence and to end it.
const END_OF_TEXT_TOKEN: &str = "<|endoftext|>";
/// moondream2 writes this text when it has finished an answer.
const END_MARKER: &str = "<END>";
/// The file name of the quantized weights in the manifest's vision entry.
pub const MOONDREAM_WEIGHTS_FILE: &str = "model-q4_0.gguf";
/// The file name of the tokenizer in the manifest's vision entry.
pub const MOONDREAM_TOKENIZER_FILE: &str = "tokenizer.json";

/// What moondream2 is asked about a sketch when the caller gives no question of its own.
pub const DEFAULT_SKETCH_PROMPT: &str = "This is a hand-drawn product sketch. Describe it: \
which screens, boxes and panels are drawn, the text labels you can read on it, and the \
arrows and the flow between the parts.";

/// What the vision model saw on a sketch.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SketchDescription {
    /// The model's answer, trimmed.
    pub summary: String,
    /// Text written on the sketch as the answer quotes it: quoted strings and short
    /// capitalised phrases, in the order they appear, without repeats.
    pub labels: Vec<String>,
    /// UI elements the answer names (screen, button, arrow …), by their singular names, in
    /// the order they first appear, without repeats.
    pub elements: Vec<String>,
}

/// A model that can describe a picture of a sketch. Moondream2 is the first; other candle
/// vision-language models can implement this later.
pub trait SketchDescriber: Send {
    /// Describes the sketch on `image`; `prompt` replaces the default question when given.
    fn describe(
        &self,
        image: &RgbImage,
        prompt: Option<&str>,
    ) -> Result<SketchDescription, VisionError>;

    /// The model's short name, for logs and reports.
    fn name(&self) -> &'static str;
}

/// How to load and run moondream2.
#[derive(Debug, Clone)]
pub struct DescribeOptions {
    /// The model's shape; `None` means moondream2 (`moondream::Config::v2()`), which the
    /// real weights need. Tests pass a tiny configuration here.
    pub config: Option<moondream::Config>,
    /// The most tokens one answer may have; generation stops there at the latest.
    pub max_new_tokens: usize,
    /// The dtype safetensors weights run in; `None` means f16 on CUDA and f32 elsewhere.
    /// GGUF weights always run their activations in f32.
    pub safetensors_dtype: Option<DType>,
}

impl Default for DescribeOptions {
    fn default() -> Self {
        Self {
            config: None,
            max_new_tokens: DEFAULT_MAX_NEW_TOKENS,
            safetensors_dtype: None,
        }
    }
}

/// The layout of the weights file, told by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WeightsFormat {
    /// A quantized `.gguf` file, run with `quantized_moondream`.
    Gguf,
    /// A full-precision `.safetensors` file, run with `moondream`.
    Safetensors,
}

/// Facts about the loaded model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoondreamInfo {
    /// The weights file loaded.
    pub weights: PathBuf,
    /// The tokenizer file loaded.
    pub tokenizer: PathBuf,
    /// The weights' layout.
    pub format: WeightsFormat,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StopReason {
    /// The model produced `<|endoftext|>`.
    EndOfText,
    /// The model wrote `<END>`.
    EndMarker,
    /// The answer reached `max_new_tokens`.
    MaxNewTokens,
}

/// The model's raw answer to one question about one picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The answer text, without the end marker.
    pub text: String,
    /// Tokens generated, not counting the final `<|endoftext|>`; never more than
    /// `max_new_tokens`.
    pub generated_tokens: usize,
    /// Why generation stopped.
    pub stop_reason: StopReason,
    /// Time the worker spent on the request, from the image encoder to the last token.
    pub elapsed: Duration,
}

/// A request to the worker.
struct Request {
    /// The picture, already resized to 378×378.
    image: RgbImage,
    question: String,
    reply: Sender<Result<Answer, VisionError>>,
}

/// A cheap handle to the moondream2 worker thread.
#[derive(Clone)]
pub struct MoondreamDescriber {
    requests: Sender<Request>,
    info: Arc<MoondreamInfo>,
}

impl std::fmt::Debug for MoondreamDescriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoondreamDescriber")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl MoondreamDescriber {
    /// Loads the tokenizer and the weights on a new worker thread and returns once they are
    /// loaded (or failed). `.gguf` weights run quantized, `.safetensors` weights in full.
    pub fn spawn(
        weights: &Path,
        tokenizer: &Path,
        device: Device,
        options: DescribeOptions,
    ) -> Result<Self, VisionError> {
        let weights = weights.to_path_buf();
        let tokenizer = tokenizer.to_path_buf();
        let path = weights.clone();
        let (requests, info) = spawn_worker(
            "ideadesk-vision",
            move || MoondreamModel::load(&weights, &tokenizer, &device, &options),
            |model: &MoondreamModel| model.info.clone(),
            serve,
            WorkerErrors {
                load_panicked: Box::new(move |message| VisionError::ModelLoad {
                    path,
                    reason: format!("the loader failed unexpectedly: {message}"),
                }),
                no_thread: |reason| {
                    VisionError::Inference(format!(
                        "cannot start the vision worker thread: {reason}"
                    ))
                },
                gone: || VisionError::WorkerGone,
            },
        )?;
        Ok(Self {
            requests,
            info: Arc::new(info),
        })
    }

    /// Loads the manifest's vision entry as the resolver found it: the `.gguf` (or
    /// `.safetensors`) weights and `tokenizer.json` among its files.
    pub fn spawn_resolved(
        model: &ResolvedModel,
        device: Device,
        options: DescribeOptions,
    ) -> Result<Self, VisionError> {
        let (weights, tokenizer) = weights_and_tokenizer(&model.paths)?;
        Self::spawn(&weights, &tokenizer, device, options)
    }

    /// Facts about the loaded model.
    pub fn info(&self) -> &MoondreamInfo {
        &self.info
    }

    /// Queues a question about a picture; the answer arrives on the returned channel.
    /// Requests are served in order. The picture is resized here, on the caller's thread,
    /// so only 378×378 pixels travel to the worker.
    pub fn submit(
        &self,
        image: &RgbImage,
        question: &str,
    ) -> Receiver<Result<Answer, VisionError>> {
        let (reply_tx, reply_rx) = mpsc::channel();
        let image = match resize_for_moondream(image) {
            Ok(image) => image.into_owned(),
            Err(err) => {
                let _ = reply_tx.send(Err(err));
                return reply_rx;
            }
        };
        let request = Request {
            image,
            question: question.to_string(),
            reply: reply_tx,
        };
        if let Err(mpsc::SendError(request)) = self.requests.send(request) {
            let _ = request.reply.send(Err(VisionError::WorkerGone));
        }
        reply_rx
    }

    /// Asks a question about a picture and waits for the answer.
    pub fn ask(&self, image: &RgbImage, question: &str) -> Result<Answer, VisionError> {
        self.submit(image, question)
            .recv()
            .map_err(|_| VisionError::WorkerGone)?
    }
}

impl SketchDescriber for MoondreamDescriber {
    /// Asks moondream2 about the sketch (the default question when `prompt` is `None` or
    /// blank) and parses the answer.
    fn describe(
        &self,
        image: &RgbImage,
        prompt: Option<&str>,
    ) -> Result<SketchDescription, VisionError> {
        let question = prompt
            .map(str::trim)
            .filter(|prompt| !prompt.is_empty())
            .unwrap_or(DEFAULT_SKETCH_PROMPT);
        let answer = self.ask(image, question)?;
        Ok(parse_answer(&answer.text))
    }

    fn name(&self) -> &'static str {
        "moondream2"
    }
}

/// Picks the weights (`.gguf` first, else `.safetensors`) and `tokenizer.json` out of a
/// resolved model's files.
fn weights_and_tokenizer(paths: &[PathBuf]) -> Result<(PathBuf, PathBuf), VisionError> {
    let missing = |what: &str| VisionError::ModelLoad {
        path: paths.first().cloned().unwrap_or_default(),
        reason: format!("the vision entry has no {what} file"),
    };
    // A `.gguf` file wins over a `.safetensors` one, as the real entry is the GGUF build.
    let weights = [WeightsFormat::Gguf, WeightsFormat::Safetensors]
        .into_iter()
        .find_map(|format| {
            paths
                .iter()
                .find(|path| weights_format(path) == Some(format))
        })
        .cloned()
        .ok_or_else(|| missing(".gguf or .safetensors weights"))?;
    let tokenizer = paths
        .iter()
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name == MOONDREAM_TOKENIZER_FILE)
        })
        .cloned()
        .ok_or_else(|| missing(MOONDREAM_TOKENIZER_FILE))?;
    Ok((weights, tokenizer))
}

/// The weights' layout from the file's extension, or `None` for an unknown one.
fn weights_format(path: &Path) -> Option<WeightsFormat> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "gguf" => Some(WeightsFormat::Gguf),
        "safetensors" => Some(WeightsFormat::Safetensors),
        _ => None,
    }
}

/// The two builds of moondream2 candle has.
enum MoondreamWeights {
    Quantized(quantized_moondream::Model),
    Full(moondream::Model),
}

/// Everything the worker owns: the model, the tokenizer, the device and what the
/// generation loop needs to know.
pub(crate) struct MoondreamModel {
    weights: MoondreamWeights,
    tokenizer: Tokenizer,
    device: Device,
    /// The dtype the image goes into the vision encoder as.
    dtype: DType,
    end_of_text: u32,
    /// The id of `<END>` where the tokenizer has it as a single token.
    end_marker: Option<u32>,
    max_new_tokens: usize,
    info: MoondreamInfo,
}

impl MoondreamModel {
    /// Loads the tokenizer, then the weights (the slow part), onto `device`.
    pub(crate) fn load(
        weights_path: &Path,
        tokenizer_path: &Path,
        device: &Device,
        options: &DescribeOptions,
    ) -> Result<Self, VisionError> {
        let tokenizer_error = |reason: String| VisionError::ModelLoad {
            path: tokenizer_path.to_path_buf(),
            reason,
        };
        if !tokenizer_path.is_file() {
            return Err(tokenizer_error("no such file".into()));
        }
        let tokenizer = Tokenizer::from_file(tokenizer_path)
            .map_err(|err| tokenizer_error(format!("not a readable tokenizer.json: {err}")))?;
        let end_of_text = tokenizer.token_to_id(END_OF_TEXT_TOKEN).ok_or_else(|| {
            tokenizer_error(format!(
                "the tokenizer has no {END_OF_TEXT_TOKEN} token, so it is not moondream2's"
            ))
        })?;
        let end_marker = tokenizer.token_to_id(END_MARKER);

        let weights_error = |reason: String| VisionError::ModelLoad {
            path: weights_path.to_path_buf(),
            reason,
        };
        let format = weights_format(weights_path).ok_or_else(|| {
            weights_error("unknown weights format: expected a .gguf or .safetensors file".into())
        })?;
        if !weights_path.is_file() {
            return Err(weights_error("no such file".into()));
        }
        let config = options.config.clone().unwrap_or_else(moondream::Config::v2);
        let (weights, dtype) = match format {
            WeightsFormat::Gguf => {
                let vb = candle_transformers::quantized_var_builder::VarBuilder::from_gguf(
                    weights_path,
                    device,
                )
                .map_err(|err| weights_error(format!("not a readable GGUF file: {err}")))?;
                let model = quantized_moondream::Model::new(&config, vb).map_err(|err| {
                    weights_error(format!("does not hold moondream2's tensors: {err}"))
                })?;
                (MoondreamWeights::Quantized(model), DType::F32)
            }
            WeightsFormat::Safetensors => {
                let dtype = options.safetensors_dtype.unwrap_or(if device.is_cuda() {
                    DType::F16
                } else {
                    DType::F32
                });
                // Read into memory rather than memory-mapped: no `unsafe`, and tensors are
                // converted to `dtype` one at a time as the model asks for them.
                let bytes = std::fs::read(weights_path)
                    .map_err(|err| weights_error(format!("cannot read the file: {err}")))?;
                let vb = candle_nn::VarBuilder::from_buffered_safetensors(bytes, dtype, device)
                    .map_err(|err| {
                        weights_error(format!("not a readable safetensors file: {err}"))
                    })?;
                let model = moondream::Model::new(&config, vb).map_err(|err| {
                    weights_error(format!("does not hold moondream2's tensors: {err}"))
                })?;
                (MoondreamWeights::Full(model), dtype)
            }
        };
        tracing::debug!(
            "vision: loaded {} ({format:?}, {dtype:?}) on {device:?}",
            weights_path.display()
        );
        Ok(Self {
            weights,
            tokenizer,
            device: device.clone(),
            dtype,
            end_of_text,
            end_marker,
            max_new_tokens: options.max_new_tokens,
            info: MoondreamInfo {
                weights: weights_path.to_path_buf(),
                tokenizer: tokenizer_path.to_path_buf(),
                format,
            },
        })
    }

    /// Runs the vision encoder on a picture (resized here if it is not 378×378 already);
    /// the result has the shape `[1, 729, text model width]`.
    pub(crate) fn embed_image(&self, image: &RgbImage) -> Result<Tensor, VisionError> {
        let resized = resize_for_moondream(image)?;
        let pixels = image_to_tensor(&resized, &self.device, self.dtype)
            .and_then(|pixels| pixels.unsqueeze(0))
            .map_err(|err| inference_error("cannot turn the picture into a tensor", err))?;
        let embeds = match &self.weights {
            MoondreamWeights::Quantized(model) => model.vision_encoder().forward(&pixels),
            MoondreamWeights::Full(model) => model.vision_encoder().forward(&pixels),
        };
        embeds.map_err(|err| inference_error("the image encoder failed", err))
    }

    /// Answers one question about one picture: encode the picture, then decode greedily
    /// for at most `max_new_tokens` steps.
    fn answer(&mut self, image: &RgbImage, question: &str) -> Result<Answer, VisionError> {
        let started = Instant::now();
        let prompt = format!("\n\nQuestion: {question}\n\nAnswer:");
        let prompt_ids = self
            .tokenizer
            .encode(prompt.as_str(), false)
            .map_err(|err| VisionError::Inference(format!("cannot tokenise the question: {err}")))?
            .get_ids()
            .to_vec();
        if prompt_ids.is_empty() {
            return Err(VisionError::Inference(
                "the question tokenised to nothing".into(),
            ));
        }
        let context_tokens = 1 + MOONDREAM_IMAGE_TOKENS + prompt_ids.len() + self.max_new_tokens;
        if context_tokens > MAX_CONTEXT_TOKENS {
            return Err(VisionError::Inference(format!(
                "the question ({} tokens) and the answer budget ({} tokens) do not fit in the \
                 model's {MAX_CONTEXT_TOKENS}-token context next to the picture; ask a shorter \
                 question or lower max_new_tokens",
                prompt_ids.len(),
                self.max_new_tokens
            )));
        }
        let image_embeds = self.embed_image(image)?;

        // A previous request's keys and values must not leak into this one.
        self.clear_kv_cache();
        let result = self.generate(&prompt_ids, &image_embeds);
        // Nor should they hold memory while the worker waits.
        self.clear_kv_cache();
        let (text, generated_tokens, stop_reason) = result?;
        let elapsed = started.elapsed();
        tracing::debug!(
            "vision: {generated_tokens} tokens in {:.2} s ({stop_reason:?})",
            elapsed.as_secs_f64()
        );
        Ok(Answer {
            text: text.trim().to_string(),
            generated_tokens,
            stop_reason,
            elapsed,
        })
    }

    /// The greedy decoding loop; it runs at most `max_new_tokens` model steps.
    fn generate(
        &mut self,
        prompt_ids: &[u32],
        image_embeds: &Tensor,
    ) -> Result<(String, usize, StopReason), VisionError> {
        let mut generated: Vec<u32> = Vec::with_capacity(self.max_new_tokens);
        let mut text = String::new();
        for step in 0..self.max_new_tokens {
            let logits = if step == 0 {
                self.first_step(prompt_ids, image_embeds)
            } else {
                // The previous step pushed a token, so `generated` is not empty here.
                let last = generated.last().copied().unwrap_or(self.end_of_text);
                self.next_step(last)
            }
            .map_err(|err| inference_error("the text model failed", err))?;
            let next = greedy_token(&logits)
                .map_err(|err| inference_error("cannot pick the next token", err))?;
            if next == self.end_of_text {
                return Ok((text, generated.len(), StopReason::EndOfText));
            }
            generated.push(next);
            if Some(next) == self.end_marker {
                return Ok((text, generated.len(), StopReason::EndMarker));
            }
            // Decoding the whole answer each step keeps multi-token characters intact; the
            // answer is at most `max_new_tokens` long, so this stays cheap.
            text = self.tokenizer.decode(&generated, false).map_err(|err| {
                VisionError::Inference(format!("cannot decode the answer: {err}"))
            })?;
            if let Some(end) = text.find(END_MARKER) {
                text.truncate(end);
                return Ok((text, generated.len(), StopReason::EndMarker));
            }
        }
        Ok((text, generated.len(), StopReason::MaxNewTokens))
    }

    /// The first step sees the start token, the image tokens and the whole prompt.
    fn first_step(
        &mut self,
        prompt_ids: &[u32],
        image_embeds: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let start = Tensor::new(&[self.end_of_text], &self.device)?.unsqueeze(0)?;
        let prompt = Tensor::new(prompt_ids, &self.device)?.unsqueeze(0)?;
        match &mut self.weights {
            MoondreamWeights::Quantized(model) => {
                model
                    .text_model
                    .forward_with_img(&start, &prompt, image_embeds)
            }
            MoondreamWeights::Full(model) => {
                model
                    .text_model
                    .forward_with_img(&start, &prompt, image_embeds)
            }
        }
    }

    /// Later steps see only the last token; the rest is in the key-value cache.
    fn next_step(&mut self, token: u32) -> candle_core::Result<Tensor> {
        let input = Tensor::new(&[token], &self.device)?.unsqueeze(0)?;
        match &mut self.weights {
            MoondreamWeights::Quantized(model) => model.text_model.forward(&input),
            MoondreamWeights::Full(model) => model.text_model.forward(&input),
        }
    }

    fn clear_kv_cache(&mut self) {
        match &mut self.weights {
            MoondreamWeights::Quantized(model) => model.text_model.clear_kv_cache(),
            MoondreamWeights::Full(model) => model.text_model.clear_kv_cache(),
        }
    }
}

/// The worker's loop: one request at a time until every handle is gone. A panic inside the
/// model becomes an error for that request; the cache is cleared before the next one.
fn serve(mut model: MoondreamModel, requests: Receiver<Request>) {
    while let Ok(request) = requests.recv() {
        let result = catch_panic(|| model.answer(&request.image, &request.question))
            .unwrap_or_else(|message| {
                Err(VisionError::Inference(format!(
                    "the model failed unexpectedly: {message}"
                )))
            });
        let _ = request.reply.send(result);
    }
}

fn inference_error(context: &str, err: candle_core::Error) -> VisionError {
    VisionError::Inference(format!("{context}: {err}"))
}

/// The id with the highest logit; logits are `[1, vocabulary]`.
fn greedy_token(logits: &Tensor) -> candle_core::Result<u32> {
    logits
        .squeeze(0)?
        .to_dtype(DType::F32)?
        .argmax(0)?
        .to_scalar::<u32>()
}

/// Stretches a picture to 378×378 (the whole sheet stays in view; sketches are rarely far
/// from square). A picture already that size is used as it is.
pub(crate) fn resize_for_moondream(image: &RgbImage) -> Result<Cow<'_, RgbImage>, VisionError> {
    if image.width() == 0 || image.height() == 0 {
        return Err(VisionError::Inference(format!(
            "cannot describe an empty picture ({}×{} pixels)",
            image.width(),
            image.height()
        )));
    }
    if image.width() == MOONDREAM_IMAGE_SIZE_PX && image.height() == MOONDREAM_IMAGE_SIZE_PX {
        return Ok(Cow::Borrowed(image));
    }
    Ok(Cow::Owned(image::imageops::resize(
        image,
        MOONDREAM_IMAGE_SIZE_PX,
        MOONDREAM_IMAGE_SIZE_PX,
        FilterType::CatmullRom,
    )))
}

/// A 378×378 picture as a `[3, 378, 378]` tensor with every channel scaled from
/// 0..=255 to -1..=1 (mean 0.5, standard deviation 0.5).
pub(crate) fn image_to_tensor(
    image: &RgbImage,
    device: &Device,
    dtype: DType,
) -> candle_core::Result<Tensor> {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let values: Vec<f32> = image
        .as_raw()
        .iter()
        .map(|&value| f32::from(value) / 127.5 - 1.0)
        .collect();
    Tensor::from_vec(values, (height, width, 3), device)?
        .permute((2, 0, 1))?
        .contiguous()?
        .to_dtype(dtype)
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
    use candle_nn::{VarBuilder, VarMap};
    use image::Rgb;

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// Width of the tiny text model, in values per token.
    const TINY_TEXT_WIDTH: usize = 32;
    /// Rows of the tiny model's embedding and output layers; more than the tokenizer has.
    const TINY_MODEL_VOCABULARY: usize = 320;
    /// Tokens in the tiny tokenizer.
    const TINY_TOKENIZER_WORDS: usize = 300;
    /// A logit bias that makes one token win every greedy step.
    const FORCING_LOGIT: f32 = 1000.0;
    /// The answer budget of the end-to-end tests, in tokens.
    const TINY_MAX_NEW_TOKENS: usize = 8;
    /// The name of the output bias in moondream2's layout.
    const LM_HEAD_BIAS: &str = "text_model.lm_head.linear.bias";
    /// The name of the vision encoder's position embedding in moondream2's layout.
    const POS_EMBED: &str = "vision_encoder.encoder.model.visual.pos_embed";

    /// moondream2's layout at toy size. The vision side keeps what candle hard-codes (1152
    /// values per patch, 729 patches of a 378×378 picture) with one block and a narrow
    /// MLP; the text side is one phi layer 32 wide.
    fn tiny_config() -> moondream::Config {
        let json = serde_json::json!({
            "phi_config": {
                "vocab_size": TINY_MODEL_VOCABULARY,
                "n_positions": 2048,
                "n_embd": TINY_TEXT_WIDTH,
                "n_layer": 1,
                "n_inner": null,
                "n_head": 2,
                "rotary_dim": 8,
                "activation_function": "gelu",
                "layer_norm_epsilon": 1e-5,
                "tie_word_embeddings": false,
                "pad_vocab_size_multiple": 64
            },
            "vision_config": {
                "image_embedding_dim": 1152,
                "model_dim": TINY_TEXT_WIDTH,
                "hidden_dim": 64,
                "hidden_features": 32,
                "embed_len": MOONDREAM_IMAGE_TOKENS,
                "embed_dim": 1152,
                "num_blocks": 1,
                "num_heads": 2,
                "act": "gelu_pytorch_tanh"
            }
        });
        serde_json::from_value(json).expect("the tiny configuration matches moondream::Config")
    }

    /// The tiny tokenizer's tokens; a token's id is its index.
    fn tiny_vocabulary() -> Vec<String> {
        let named = [
            END_OF_TEXT_TOKEN,
            "[UNK]",
            END_MARKER,
            "Question",
            "Answer",
            ":",
            ",",
            ".",
            "box",
            "screen",
            "button",
            "arrow",
            "Login",
            "Describe",
            "this",
            "sketch",
            "What",
            "is",
            "drawn",
            "?",
        ];
        let mut vocabulary: Vec<String> = named.iter().map(|token| token.to_string()).collect();
        let mut filler = 0;
        while vocabulary.len() < TINY_TOKENIZER_WORDS {
            vocabulary.push(format!("w{filler}"));
            filler += 1;
        }
        vocabulary
    }

    fn token_id(token: &str) -> u32 {
        let id = tiny_vocabulary()
            .iter()
            .position(|known| known == token)
            .expect("the token is in the tiny vocabulary");
        u32::try_from(id).expect("the tiny vocabulary is small")
    }

    /// A word-level tokenizer.json with `<|endoftext|>` as its one special token.
    fn write_tiny_tokenizer(dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
        let vocab: serde_json::Map<String, serde_json::Value> = tiny_vocabulary()
            .into_iter()
            .enumerate()
            .map(|(id, token)| (token, serde_json::Value::from(id)))
            .collect();
        let json = serde_json::json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [{
                "id": 0,
                "content": END_OF_TEXT_TOKEN,
                "single_word": false,
                "lstrip": false,
                "rstrip": false,
                "normalized": false,
                "special": true
            }],
            "normalizer": null,
            "pre_tokenizer": { "type": "Whitespace" },
            "post_processor": null,
            "decoder": null,
            "model": { "type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]" }
        });
        let path = dir.join(MOONDREAM_TOKENIZER_FILE);
        std::fs::write(&path, serde_json::to_vec(&json)?)?;
        Ok(path)
    }

    /// Random-initialised tiny moondream weights under the real tensor names, built by the
    /// model's own constructor. `forced` makes that token win every step.
    fn tiny_weights(forced: Option<&str>) -> Result<VarMap, Box<dyn std::error::Error>> {
        let mut varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        moondream::Model::new(&tiny_config(), vb)?;
        // The constructor zero-fills the position embedding; make it random like the rest.
        let pos_embed = Tensor::randn(0f32, 0.02, (1, MOONDREAM_IMAGE_TOKENS, 1152), &Device::Cpu)?;
        varmap.set_one(POS_EMBED, pos_embed)?;
        if let Some(token) = forced {
            let mut bias = vec![0f32; TINY_MODEL_VOCABULARY];
            bias[token_id(token) as usize] = FORCING_LOGIT;
            varmap.set_one(
                LM_HEAD_BIAS,
                Tensor::from_vec(bias, TINY_MODEL_VOCABULARY, &Device::Cpu)?,
            )?;
        }
        Ok(varmap)
    }

    fn write_safetensors(
        varmap: &VarMap,
        dir: &Path,
    ) -> Result<PathBuf, Box<dyn std::error::Error>> {
        let path = dir.join("model.safetensors");
        varmap.save(&path)?;
        Ok(path)
    }

    /// Writes the weights as GGUF the way a quantized build stores them: matrices whose
    /// rows fill whole q8_0 blocks quantized, everything else (biases, norms, the
    /// position embedding, the 588-wide patch embedding) in f32.
    fn write_gguf(varmap: &VarMap, dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| "the var map lock is poisoned")?;
        let mut tensors: Vec<(String, QTensor)> = Vec::new();
        for (name, var) in data.iter() {
            let tensor = var.as_tensor();
            let is_q8_matrix =
                tensor.rank() == 2 && tensor.dim(1)?.is_multiple_of(GgmlDType::Q8_0.block_size());
            let dtype = if is_q8_matrix {
                GgmlDType::Q8_0
            } else {
                GgmlDType::F32
            };
            tensors.push((name.clone(), QTensor::quantize(tensor, dtype)?));
        }
        let named: Vec<(&str, &QTensor)> = tensors
            .iter()
            .map(|(name, tensor)| (name.as_str(), tensor))
            .collect();
        let path = dir.join(MOONDREAM_WEIGHTS_FILE);
        let mut file = File::create(&path)?;
        gguf_file::write(&mut file, &[], &named)?;
        Ok(path)
    }

    fn tiny_options() -> DescribeOptions {
        DescribeOptions {
            config: Some(tiny_config()),
            max_new_tokens: TINY_MAX_NEW_TOKENS,
            safetensors_dtype: None,
        }
    }

    /// A white 640×480 sheet with two black boxes joined by a line, like a phone photo of
    /// a two-screen sketch.
    fn drawn_sketch() -> RgbImage {
        let black = Rgb([0u8, 0, 0]);
        let mut image = RgbImage::from_pixel(640, 480, Rgb([255, 255, 255]));
        for (left, top, right, bottom) in [(40u32, 60u32, 240u32, 400u32), (400, 60, 600, 400)] {
            for x in left..=right {
                for thickness in 0..3 {
                    image.put_pixel(x, top + thickness, black);
                    image.put_pixel(x, bottom - thickness, black);
                }
            }
            for y in top..=bottom {
                for thickness in 0..3 {
                    image.put_pixel(left + thickness, y, black);
                    image.put_pixel(right - thickness, y, black);
                }
            }
        }
        for x in 240..400 {
            image.put_pixel(x, 230, black);
        }
        image
    }

    fn expect_model_load(
        result: Result<MoondreamDescriber, VisionError>,
        expected_path: &Path,
    ) -> String {
        match result {
            Err(VisionError::ModelLoad { path, reason }) => {
                assert_eq!(path, expected_path, "{reason}");
                reason
            }
            Err(other) => panic!("expected ModelLoad, got {other:?}"),
            Ok(describer) => panic!("expected ModelLoad, got a loaded {describer:?}"),
        }
    }

    #[test]
    fn both_formats_load_and_embed_a_picture_as_729_image_tokens() -> TestResult {
        let dir = tempfile::tempdir()?;
        let tokenizer = write_tiny_tokenizer(dir.path())?;
        let varmap = tiny_weights(None)?;
        let sketch = drawn_sketch();
        for (weights, format) in [
            (
                write_safetensors(&varmap, dir.path())?,
                WeightsFormat::Safetensors,
            ),
            (write_gguf(&varmap, dir.path())?, WeightsFormat::Gguf),
        ] {
            let model = MoondreamModel::load(&weights, &tokenizer, &Device::Cpu, &tiny_options())?;
            assert_eq!(model.info.format, format);
            assert_eq!(model.end_of_text, token_id(END_OF_TEXT_TOKEN));
            assert_eq!(model.end_marker, Some(token_id(END_MARKER)));
            let embeds = model.embed_image(&sketch)?;
            assert_eq!(
                embeds.dims(),
                &[1, MOONDREAM_IMAGE_TOKENS, TINY_TEXT_WIDTH],
                "{format:?}"
            );
            let values: Vec<f32> = embeds.flatten_all()?.to_vec1()?;
            assert!(values.iter().all(|value| value.is_finite()), "{format:?}");
        }
        Ok(())
    }

    #[test]
    fn safetensors_weights_describe_a_drawn_sketch_end_to_end() -> TestResult {
        let dir = tempfile::tempdir()?;
        let tokenizer = write_tiny_tokenizer(dir.path())?;
        let weights = write_safetensors(&tiny_weights(Some("box"))?, dir.path())?;
        let describer =
            MoondreamDescriber::spawn(&weights, &tokenizer, Device::Cpu, tiny_options())?;
        assert_eq!(describer.info().format, WeightsFormat::Safetensors);
        assert_eq!(describer.name(), "moondream2");

        let answer = describer.ask(&drawn_sketch(), "What is drawn?")?;
        assert_eq!(answer.generated_tokens, TINY_MAX_NEW_TOKENS);
        assert_eq!(answer.stop_reason, StopReason::MaxNewTokens);
        assert_eq!(answer.text, ["box"; TINY_MAX_NEW_TOKENS].join(" "));

        // The default prompt, through the trait object, from another thread on a clone:
        // the cache of the first request must not change the second answer.
        let shared: Box<dyn SketchDescriber> = Box::new(describer.clone());
        let description = std::thread::spawn(move || shared.describe(&drawn_sketch(), None))
            .join()
            .map_err(|_| "the describing thread panicked")??;
        assert_eq!(description.summary, answer.text);
        assert_eq!(description.elements, vec!["box".to_string()]);
        assert!(description.labels.is_empty(), "{:?}", description.labels);
        Ok(())
    }

    #[test]
    fn gguf_weights_describe_a_drawn_sketch_end_to_end() -> TestResult {
        let dir = tempfile::tempdir()?;
        let tokenizer = write_tiny_tokenizer(dir.path())?;
        let weights = write_gguf(&tiny_weights(Some("screen"))?, dir.path())?;
        let describer =
            MoondreamDescriber::spawn(&weights, &tokenizer, Device::Cpu, tiny_options())?;
        assert_eq!(describer.info().format, WeightsFormat::Gguf);

        let answer = describer.ask(&drawn_sketch(), DEFAULT_SKETCH_PROMPT)?;
        assert_eq!(answer.generated_tokens, TINY_MAX_NEW_TOKENS);
        assert_eq!(answer.stop_reason, StopReason::MaxNewTokens);
        let description = describer.describe(&drawn_sketch(), Some("  "))?;
        assert_eq!(description.summary, answer.text);
        assert_eq!(description.elements, vec!["screen".to_string()]);
        Ok(())
    }

    #[test]
    fn generation_stops_at_end_of_text_and_at_the_end_marker() -> TestResult {
        let dir = tempfile::tempdir()?;
        let tokenizer = write_tiny_tokenizer(dir.path())?;
        for (forced, stop_reason, generated_tokens) in [
            (END_OF_TEXT_TOKEN, StopReason::EndOfText, 0),
            (END_MARKER, StopReason::EndMarker, 1),
        ] {
            let weights = write_gguf(&tiny_weights(Some(forced))?, dir.path())?;
            let describer =
                MoondreamDescriber::spawn(&weights, &tokenizer, Device::Cpu, tiny_options())?;
            let answer = describer.ask(&drawn_sketch(), "What is drawn?")?;
            assert_eq!(answer.stop_reason, stop_reason, "{forced}");
            assert_eq!(answer.generated_tokens, generated_tokens, "{forced}");
            assert_eq!(answer.text, "", "{forced}");
            assert_eq!(
                describer.describe(&drawn_sketch(), None)?,
                SketchDescription::default()
            );
        }
        Ok(())
    }

    #[test]
    fn random_weights_answer_within_the_token_budget() -> TestResult {
        let dir = tempfile::tempdir()?;
        let tokenizer = write_tiny_tokenizer(dir.path())?;
        let weights = write_gguf(&tiny_weights(None)?, dir.path())?;
        let describer =
            MoondreamDescriber::spawn(&weights, &tokenizer, Device::Cpu, tiny_options())?;
        let answer = describer.ask(&drawn_sketch(), "What is drawn?")?;
        assert!(answer.generated_tokens <= TINY_MAX_NEW_TOKENS, "{answer:?}");
        if answer.stop_reason == StopReason::MaxNewTokens {
            assert_eq!(answer.generated_tokens, TINY_MAX_NEW_TOKENS);
        }
        // A question too long for the context is refused before any work, not truncated.
        let long_question = vec!["box"; MAX_CONTEXT_TOKENS].join(" ");
        match describer.ask(&drawn_sketch(), &long_question) {
            Err(VisionError::Inference(reason)) => assert!(reason.contains("context"), "{reason}"),
            other => panic!("expected an Inference error, got {other:?}"),
        }
        // The worker is still there afterwards.
        describer.ask(&drawn_sketch(), "What is drawn?")?;
        Ok(())
    }

    #[test]
    fn bad_weights_are_a_model_load_error() -> TestResult {
        let dir = tempfile::tempdir()?;
        let tokenizer = write_tiny_tokenizer(dir.path())?;
        let spawn = |weights: &Path, options: DescribeOptions| {
            MoondreamDescriber::spawn(weights, &tokenizer, Device::Cpu, options)
        };

        for missing in ["absent.gguf", "absent.safetensors"] {
            let path = dir.path().join(missing);
            let reason = expect_model_load(spawn(&path, tiny_options()), &path);
            assert!(reason.contains("no such file"), "{reason}");
        }
        let unknown = dir.path().join("model.bin");
        std::fs::write(&unknown, b"weights")?;
        let reason = expect_model_load(spawn(&unknown, tiny_options()), &unknown);
        assert!(reason.contains(".gguf or .safetensors"), "{reason}");

        for (name, bytes) in [
            ("corrupt.gguf", b"GGUF but not really a model".as_slice()),
            (
                "corrupt.safetensors",
                b"\x10\x00\x00\x00\x00\x00\x00\x00{not json".as_slice(),
            ),
            ("empty.gguf", b"".as_slice()),
            ("empty.safetensors", b"".as_slice()),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes)?;
            let reason = expect_model_load(spawn(&path, tiny_options()), &path);
            assert!(reason.contains("not a readable"), "{name}: {reason}");
        }

        // Intact files of the wrong shape: the tiny weights against moondream2's real config.
        let varmap = tiny_weights(None)?;
        for path in [
            write_gguf(&varmap, dir.path())?,
            write_safetensors(&varmap, dir.path())?,
        ] {
            let options = DescribeOptions {
                config: None,
                ..tiny_options()
            };
            let reason = expect_model_load(spawn(&path, options), &path);
            assert!(reason.contains("moondream2's tensors"), "{reason}");
        }
        // A GGUF cut short in its tensor data.
        let full = std::fs::read(dir.path().join(MOONDREAM_WEIGHTS_FILE))?;
        let truncated = dir.path().join("truncated.gguf");
        std::fs::write(&truncated, &full[..full.len() / 2])?;
        expect_model_load(spawn(&truncated, tiny_options()), &truncated);
        Ok(())
    }

    #[test]
    fn bad_tokenizers_are_a_model_load_error() -> TestResult {
        let dir = tempfile::tempdir()?;
        // The tokenizer is checked before the weights are read, so no weights are needed.
        let weights = dir.path().join(MOONDREAM_WEIGHTS_FILE);
        let spawn = |tokenizer: &Path| {
            MoondreamDescriber::spawn(&weights, tokenizer, Device::Cpu, tiny_options())
        };
        let missing = dir.path().join("absent-tokenizer.json");
        let reason = expect_model_load(spawn(&missing), &missing);
        assert!(reason.contains("no such file"), "{reason}");

        let corrupt = dir.path().join("corrupt-tokenizer.json");
        std::fs::write(&corrupt, b"{\"model\": 42")?;
        let reason = expect_model_load(spawn(&corrupt), &corrupt);
        assert!(reason.contains("not a readable tokenizer.json"), "{reason}");

        // A valid tokenizer that is not moondream2's: no <|endoftext|>.
        let tokenizer = write_tiny_tokenizer(dir.path())?;
        let text = std::fs::read_to_string(&tokenizer)?.replace(END_OF_TEXT_TOKEN, "<|other|>");
        let foreign = dir.path().join("foreign-tokenizer.json");
        std::fs::write(&foreign, text)?;
        let reason = expect_model_load(spawn(&foreign), &foreign);
        assert!(reason.contains(END_OF_TEXT_TOKEN), "{reason}");
        Ok(())
    }

    fn fake_info() -> Arc<MoondreamInfo> {
        Arc::new(MoondreamInfo {
            weights: PathBuf::from(MOONDREAM_WEIGHTS_FILE),
            tokenizer: PathBuf::from(MOONDREAM_TOKENIZER_FILE),
            format: WeightsFormat::Gguf,
        })
    }

    #[test]
    fn a_stopped_worker_answers_worker_gone() {
        // The worker has exited: its end of the channel is gone.
        let (requests, worker_end) = mpsc::channel::<Request>();
        drop(worker_end);
        let describer = MoondreamDescriber {
            requests,
            info: fake_info(),
        };
        assert!(matches!(
            describer.ask(&drawn_sketch(), "?"),
            Err(VisionError::WorkerGone)
        ));
        assert!(matches!(
            describer.describe(&drawn_sketch(), None),
            Err(VisionError::WorkerGone)
        ));

        // The worker dies while holding a request, without answering it.
        let (requests, worker_end) = mpsc::channel::<Request>();
        let worker = std::thread::spawn(move || {
            let request = worker_end.recv();
            drop(request);
        });
        let describer = MoondreamDescriber {
            requests,
            info: fake_info(),
        };
        assert!(matches!(
            describer.ask(&drawn_sketch(), "?"),
            Err(VisionError::WorkerGone)
        ));
        assert!(worker.join().is_ok());
        assert!(matches!(
            describer.ask(&drawn_sketch(), "?"),
            Err(VisionError::WorkerGone)
        ));
    }

    #[test]
    fn an_empty_picture_is_refused() {
        let (requests, _worker_end) = mpsc::channel::<Request>();
        let describer = MoondreamDescriber {
            requests,
            info: fake_info(),
        };
        match describer.ask(&RgbImage::new(0, 0), "?") {
            Err(VisionError::Inference(reason)) => assert!(reason.contains("empty"), "{reason}"),
            other => panic!("expected an Inference error, got {other:?}"),
        }
    }

    #[test]
    fn pictures_become_378_square_channels_first_tensors_in_minus_one_to_one() -> TestResult {
        let mut image = RgbImage::from_pixel(
            MOONDREAM_IMAGE_SIZE_PX,
            MOONDREAM_IMAGE_SIZE_PX,
            Rgb([255, 255, 255]),
        );
        image.put_pixel(10, 20, Rgb([255, 0, 0]));
        let resized = resize_for_moondream(&image)?;
        let tensor = image_to_tensor(&resized, &Device::Cpu, DType::F32)?;
        assert_eq!(tensor.dims(), &[3, 378, 378]);
        let pixel = |channel: usize, y: usize, x: usize| -> candle_core::Result<f32> {
            tensor.get(channel)?.get(y)?.get(x)?.to_scalar::<f32>()
        };
        assert_eq!(pixel(0, 0, 0)?, 1.0);
        assert_eq!(pixel(0, 20, 10)?, 1.0);
        assert_eq!(pixel(1, 20, 10)?, -1.0);
        assert_eq!(pixel(2, 20, 10)?, -1.0);
        assert_eq!(pixel(1, 10, 20)?, 1.0);

        // Any other size is stretched to 378×378, whole.
        let sketch = drawn_sketch();
        let resized = resize_for_moondream(&sketch)?;
        assert_eq!(
            resized.dimensions(),
            (MOONDREAM_IMAGE_SIZE_PX, MOONDREAM_IMAGE_SIZE_PX)
        );
        assert!(matches!(
            resize_for_moondream(&RgbImage::new(5, 0)),
            Err(VisionError::Inference(_))
        ));
        Ok(())
    }

    #[test]
    fn the_resolved_vision_entry_gives_weights_and_tokenizer() {
        let gguf = PathBuf::from("/models/vision/model-q4_0.gguf");
        let safetensors = PathBuf::from("/models/vision/model.safetensors");
        let tokenizer = PathBuf::from("/models/vision/tokenizer.json");
        let found = weights_and_tokenizer(&[tokenizer.clone(), safetensors.clone(), gguf.clone()]);
        assert!(
            matches!(found, Ok((ref w, ref t)) if *w == gguf && *t == tokenizer),
            "{found:?}"
        );
        let found = weights_and_tokenizer(&[safetensors.clone(), tokenizer.clone()]);
        assert!(
            matches!(found, Ok((ref w, _)) if *w == safetensors),
            "{found:?}"
        );
        assert!(matches!(
            weights_and_tokenizer(std::slice::from_ref(&tokenizer)),
            Err(VisionError::ModelLoad { .. })
        ));
        assert!(matches!(
            weights_and_tokenizer(&[gguf]),
            Err(VisionError::ModelLoad { .. })
        ));
        assert!(matches!(
            weights_and_tokenizer(&[]),
            Err(VisionError::ModelLoad { .. })
        ));
    }
}
