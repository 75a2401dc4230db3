//! CTranslate2 Whisper export → whisper.cpp's ggml model file.
//!
//! The ggml file is: magic, eleven int32 hyper-parameters, the mel filterbank (int32
//! n_mels, int32 n_fft_bins, f32 row-major), the ordinary BPE tokens as raw bytes (count,
//! then length + bytes per token; whisper.cpp adds the special tokens itself), then every
//! tensor as (int32 rank, int32 name length, int32 type, int32 dims innermost first, name,
//! row-major data). CTranslate2 fuses the self-attention Q/K/V and the cross-attention
//! K/V projections; they are split into openai-whisper's separate tensors here, and the
//! key projections get no bias (CTranslate2's key biases are all zeros).
//!
//! The 2-D weights can be written quantised (q8_0 or q5_0, as whisper.cpp's `quantize`
//! makes them, byte for byte): the convolutions stay f16 and the biases, norms and
//! positional embeddings f32, as in whisper.cpp's own quantised files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use super::ConvertError;
use super::ct2::{Ct2DType, Ct2Model, Ct2Variable};
use super::mel::mel_filters;

/// whisper.cpp's file magic (`ggml` in ASCII, little-endian).
const GGML_FILE_MAGIC: u32 = 0x6767_6d6c;
/// Whisper's audio sample rate.
const WHISPER_SAMPLE_RATE_HZ: u32 = 16_000;
/// Whisper's FFT size (25 ms at 16 kHz).
const WHISPER_N_FFT: usize = 400;
/// ggml type id of f32 tensors.
const GGML_TYPE_F32: i32 = 0;
/// ggml type id of f16 tensors.
const GGML_TYPE_F16: i32 = 1;
/// ggml type id of q5_0 blocks.
const GGML_TYPE_Q5_0: i32 = 6;
/// ggml type id of q8_0 blocks.
const GGML_TYPE_Q8_0: i32 = 8;
/// The file-level type: mostly f16.
const GGML_FTYPE_MOSTLY_F16: i32 = 1;
/// The file-level type of mostly-q8_0 files.
const GGML_FTYPE_MOSTLY_Q8_0: i32 = 7;
/// The file-level type of mostly-q5_0 files.
const GGML_FTYPE_MOSTLY_Q5_0: i32 = 8;
/// Quantised files add this to their ftype (ggml's quantisation version 2 × 1000).
const GGML_QNT_VERSION_OFFSET: i32 = 2000;
/// Values per quantised block (q8_0 and q5_0).
const QUANT_BLOCK: usize = 32;
/// The most mel bands a model may have; openai-whisper's have 80 or 128.
const MAX_N_MELS: usize = 512;

/// How the 2-D weight matrices are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhisperWeightType {
    /// Half precision, as CTranslate2 ships them.
    #[default]
    F16,
    /// 8-bit blocks of 32 with an f16 scale (34 bytes a block).
    Q8_0,
    /// 5-bit blocks of 32 with an f16 scale (22 bytes a block).
    Q5_0,
}

impl WhisperWeightType {
    /// Its name in whisper.cpp's file names: `f16`, `q8_0`, `q5_0`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F16 => "f16",
            Self::Q8_0 => "q8_0",
            Self::Q5_0 => "q5_0",
        }
    }

    /// Parses `f16`, `q8_0` or `q5_0`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "f16" => Some(Self::F16),
            "q8_0" => Some(Self::Q8_0),
            "q5_0" => Some(Self::Q5_0),
            _ => None,
        }
    }

    fn file_ftype(self) -> i32 {
        match self {
            Self::F16 => GGML_FTYPE_MOSTLY_F16,
            Self::Q8_0 => GGML_QNT_VERSION_OFFSET + GGML_FTYPE_MOSTLY_Q8_0,
            Self::Q5_0 => GGML_QNT_VERSION_OFFSET + GGML_FTYPE_MOSTLY_Q5_0,
        }
    }
}
/// The token that ends the ordinary BPE vocabulary.
const END_OF_TEXT_TOKEN: &str = "<|endoftext|>";

/// What a conversion produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhisperGgmlSummary {
    /// The file written.
    pub path: PathBuf,
    /// Rows of the token embedding.
    pub n_vocab: usize,
    /// Ordinary BPE tokens written to the vocabulary section.
    pub n_ordinary_tokens: usize,
    /// Encoder layers.
    pub n_audio_layer: usize,
    /// Decoder layers.
    pub n_text_layer: usize,
    /// Tensors written.
    pub n_tensors: usize,
    /// Bytes written.
    pub n_bytes: u64,
}

/// The model's dimensions, read from the CTranslate2 tensors.
#[derive(Debug, Clone, Copy)]
struct Hparams {
    n_vocab: usize,
    n_audio_ctx: usize,
    n_audio_state: usize,
    n_audio_head: usize,
    n_audio_layer: usize,
    n_text_ctx: usize,
    n_text_state: usize,
    n_text_head: usize,
    n_text_layer: usize,
    n_mels: usize,
}

impl Hparams {
    /// The hyper-parameters in the order of the file's header.
    fn header(&self) -> [usize; 10] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
        ]
    }
}

/// How one output tensor is made from the CTranslate2 variables.
struct TensorPlan {
    name: String,
    source: String,
    /// Rows `[start, start + n)` of the source's outermost dimension, for fused tensors.
    rows: Option<(usize, usize)>,
    /// Store as f32 (else f16).
    as_f32: bool,
    /// Write a 1-D bias as an `[n, 1]` column (whisper.cpp's conv biases).
    as_column: bool,
}

impl TensorPlan {
    fn new(name: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            source: source.into(),
            rows: None,
            as_f32: false,
            as_column: false,
        }
    }

    fn rows(mut self, start: usize, n: usize) -> Self {
        self.rows = Some((start, n));
        self
    }

    fn f32(mut self) -> Self {
        self.as_f32 = true;
        self
    }

    fn column(mut self) -> Self {
        self.as_column = true;
        self
    }
}

/// Converts the CTranslate2 Whisper model in `ct2_dir` (model.bin + vocabulary.txt) to a
/// ggml f16 file at `out`. The file appears under its name only once complete.
pub fn convert_ct2_whisper(
    ct2_dir: &Path,
    out: &Path,
    show_progress: bool,
) -> Result<WhisperGgmlSummary, ConvertError> {
    convert_ct2_whisper_as(ct2_dir, out, WhisperWeightType::F16, show_progress)
}

/// Like [`convert_ct2_whisper`], with the 2-D weights stored as `weight_type`.
pub fn convert_ct2_whisper_as(
    ct2_dir: &Path,
    out: &Path,
    weight_type: WhisperWeightType,
    show_progress: bool,
) -> Result<WhisperGgmlSummary, ConvertError> {
    let model = Ct2Model::read(&ct2_dir.join("model.bin"))?;
    check_whisper_spec(&model)?;
    let vocab_path = ct2_dir.join("vocabulary.txt");
    let tokens = read_ordinary_tokens(&vocab_path)?;
    let hparams = read_hparams(&model)?;
    let plans = plan_tensors(&hparams);

    let partial = partial_path(out);
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConvertError::Io { path, source }
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let file = File::create(&partial).map_err(io_err(&partial))?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let result = write_file(
        &mut writer,
        &model,
        &hparams,
        &tokens,
        &plans,
        weight_type,
        show_progress,
    )
    .and_then(|n_bytes| {
        writer.flush().map_err(io_err(&partial))?;
        writer.get_ref().sync_all().map_err(io_err(&partial))?;
        Ok(n_bytes)
    });
    let n_bytes = match result {
        Ok(n_bytes) => n_bytes,
        Err(err) => {
            let _ = std::fs::remove_file(&partial);
            return Err(err);
        }
    };
    std::fs::rename(&partial, out).map_err(io_err(out))?;
    Ok(WhisperGgmlSummary {
        path: out.to_path_buf(),
        n_vocab: hparams.n_vocab,
        n_ordinary_tokens: tokens.len(),
        n_audio_layer: hparams.n_audio_layer,
        n_text_layer: hparams.n_text_layer,
        n_tensors: plans.len(),
        n_bytes,
    })
}

/// Writes the ggml file of a parsed CTranslate2 Whisper model to `writer` and returns the
/// bytes written: [`convert_ct2_whisper_as`] without the files, so that a conversion can
/// be checked in memory. `tokens` are the ordinary BPE tokens as raw bytes.
pub fn write_whisper_ggml(
    model: &Ct2Model,
    tokens: &[Vec<u8>],
    weight_type: WhisperWeightType,
    writer: &mut impl Write,
) -> Result<u64, ConvertError> {
    check_whisper_spec(model)?;
    let hparams = read_hparams(model)?;
    let plans = plan_tensors(&hparams);
    write_file(writer, model, &hparams, tokens, &plans, weight_type, false)
}

/// Refuses a CTranslate2 model that is not a Whisper export.
fn check_whisper_spec(model: &Ct2Model) -> Result<(), ConvertError> {
    if model.spec_name == "WhisperSpec" {
        return Ok(());
    }
    Err(ConvertError::Unsupported(format!(
        "spec `{}` is not a Whisper model (WhisperSpec)",
        model.spec_name
    )))
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn write_file(
    writer: &mut impl Write,
    model: &Ct2Model,
    hparams: &Hparams,
    tokens: &[Vec<u8>],
    plans: &[TensorPlan],
    weight_type: WhisperWeightType,
    show_progress: bool,
) -> Result<u64, ConvertError> {
    let mut out = CountingWriter {
        inner: writer,
        n_bytes: 0,
    };
    out.u32(GGML_FILE_MAGIC)?;
    for value in hparams.header() {
        out.i32(value as i32)?;
    }
    out.i32(weight_type.file_ftype())?;

    let n_fft_bins = WHISPER_N_FFT / 2 + 1;
    out.i32(hparams.n_mels as i32)?;
    out.i32(n_fft_bins as i32)?;
    for weight in mel_filters(WHISPER_SAMPLE_RATE_HZ, WHISPER_N_FFT, hparams.n_mels) {
        out.bytes(&weight.to_le_bytes())?;
    }

    out.i32(tokens.len() as i32)?;
    for token in tokens {
        out.i32(token.len() as i32)?;
        out.bytes(token)?;
    }

    let bar = if show_progress {
        let bar = ProgressBar::new(plans.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{msg:32!} [{bar:30}] {pos}/{len} tensors")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message("converting Whisper to ggml");
        bar
    } else {
        ProgressBar::hidden()
    };
    for plan in plans {
        let variable = model
            .get(&plan.source)
            .ok_or_else(|| ConvertError::MissingTensor(plan.source.clone()))?;
        write_tensor(&mut out, plan, variable, weight_type)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(out.n_bytes)
}

fn write_tensor(
    out: &mut CountingWriter<'_, impl Write>,
    plan: &TensorPlan,
    variable: &Ct2Variable,
    weight_type: WhisperWeightType,
) -> Result<(), ConvertError> {
    let bad_shape = |expected: &str| ConvertError::BadShape {
        name: plan.source.clone(),
        shape: variable.shape.clone(),
        expected: expected.to_string(),
    };
    if variable.shape.is_empty() {
        return Err(bad_shape("a tensor, not a scalar"));
    }
    let mut shape = variable.shape.clone();
    let values = variable.to_f32().ok_or_else(|| {
        ConvertError::Unsupported(format!(
            "tensor `{}` is {:?}; only float16/float32/bfloat16 exports are supported \
             (re-export the model with --quantization float16)",
            plan.source, variable.dtype
        ))
    })?;
    let row_len: usize = shape[1..].iter().product();
    let values = match plan.rows {
        Some((start, n)) => {
            if start + n > shape[0] {
                return Err(bad_shape(&format!("at least {} rows", start + n)));
            }
            shape[0] = n;
            &values[start * row_len..(start + n) * row_len]
        }
        None => &values[..],
    };
    if plan.as_column {
        shape.push(1);
    }
    // Only matrices are quantised; convolution kernels (3-D) stay f16.
    let quantised = match weight_type {
        _ if plan.as_f32 || shape.len() != 2 => None,
        WhisperWeightType::F16 => None,
        WhisperWeightType::Q8_0 => Some(GGML_TYPE_Q8_0),
        WhisperWeightType::Q5_0 => Some(GGML_TYPE_Q5_0),
    };
    if quantised.is_some() && !shape[1].is_multiple_of(QUANT_BLOCK) {
        return Err(bad_shape(&format!(
            "rows of a multiple of {QUANT_BLOCK} values to be quantised"
        )));
    }
    let ttype = match quantised {
        Some(ttype) => ttype,
        None if plan.as_f32 => GGML_TYPE_F32,
        None => GGML_TYPE_F16,
    };
    out.i32(shape.len() as i32)?;
    out.i32(plan.name.len() as i32)?;
    out.i32(ttype)?;
    for &dim in shape.iter().rev() {
        out.i32(dim as i32)?;
    }
    out.bytes(plan.name.as_bytes())?;
    let mut buffer = Vec::with_capacity(values.len() * 4);
    if quantised == Some(GGML_TYPE_Q8_0) {
        for block in values.chunks_exact(QUANT_BLOCK) {
            quantize_block_q8_0(block, &mut buffer);
        }
    } else if quantised == Some(GGML_TYPE_Q5_0) {
        for block in values.chunks_exact(QUANT_BLOCK) {
            quantize_block_q5_0(block, &mut buffer);
        }
    } else if plan.as_f32 {
        for value in values {
            buffer.extend_from_slice(&value.to_le_bytes());
        }
    } else if variable.dtype == Ct2DType::F16 && plan.rows.is_none() {
        // Already f16: copy the bytes rather than round-tripping through f32.
        buffer.extend_from_slice(&variable.data);
    } else {
        for value in values {
            buffer.extend_from_slice(&half::f16::from_f32(*value).to_le_bytes());
        }
    }
    out.bytes(&buffer)
}

/// One q8_0 block as ggml's `quantize_row_q8_0_ref` makes it: the f16 scale
/// `max |x| / 127`, then 32 signed bytes `round(x / scale)` (halves away from zero).
fn quantize_block_q8_0(block: &[f32], out: &mut Vec<u8>) {
    let amax = block
        .iter()
        .fold(0.0f32, |amax, value| amax.max(value.abs()));
    let scale = amax / 127.0;
    let inverse = if scale != 0.0 { 1.0 / scale } else { 0.0 };
    out.extend_from_slice(&half::f16::from_f32(scale).to_le_bytes());
    // f32::round rounds halves away from zero, as C's roundf.
    out.extend(
        block
            .iter()
            .map(|value| (value * inverse).round() as i8 as u8),
    );
}

/// One q5_0 block as ggml's `quantize_row_q5_0_ref` makes it: the f16 scale `max / -16`
/// (`max` the value of largest magnitude), 32 high bits, then 16 bytes of low nibbles
/// (value `j` in the low nibble of byte `j`, value `16 + j` in its high nibble).
fn quantize_block_q5_0(block: &[f32], out: &mut Vec<u8>) {
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &value in block {
        if amax < value.abs() {
            amax = value.abs();
            max = value;
        }
    }
    let scale = max / -16.0;
    let inverse = if scale != 0.0 { 1.0 / scale } else { 0.0 };
    let level = |value: f32| -> u8 {
        // C's `(int8_t)(x + 16.5f)` truncates toward zero; `as i8` saturates, which is
        // the same on the range reached here ([0.5, 32.5]).
        ((value * inverse + 16.5) as i8).min(31) as u8
    };
    let half_len = QUANT_BLOCK / 2;
    let mut high_bits = 0u32;
    let mut nibbles = [0u8; QUANT_BLOCK / 2];
    for j in 0..half_len {
        let low = level(block[j]);
        let high = level(block[half_len + j]);
        nibbles[j] = (low & 0x0f) | ((high & 0x0f) << 4);
        high_bits |= u32::from((low & 0x10) >> 4) << j;
        high_bits |= u32::from((high & 0x10) >> 4) << (j + half_len);
    }
    out.extend_from_slice(&half::f16::from_f32(scale).to_le_bytes());
    out.extend_from_slice(&high_bits.to_le_bytes());
    out.extend_from_slice(&nibbles);
}

fn read_hparams(model: &Ct2Model) -> Result<Hparams, ConvertError> {
    let tensor = |name: &str| {
        model
            .get(name)
            .ok_or_else(|| ConvertError::MissingTensor(name.to_string()))
    };
    let matrix = |name: &str| -> Result<(usize, usize), ConvertError> {
        let variable = tensor(name)?;
        match variable.shape[..] {
            [rows, cols] => Ok((rows, cols)),
            _ => Err(ConvertError::BadShape {
                name: name.to_string(),
                shape: variable.shape.clone(),
                expected: "2 dimensions".into(),
            }),
        }
    };
    let heads = |name: &str| -> Result<usize, ConvertError> {
        tensor(name)?
            .scalar_int()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ConvertError::Unsupported(format!("`{name}` is not an integer scalar")))
    };
    let count_layers = |prefix: &str| {
        (0..)
            .take_while(|layer_idx| {
                let layer = format!("{prefix}/layer_{layer_idx}/");
                model.variables.keys().any(|name| name.starts_with(&layer))
            })
            .count()
    };
    let (n_vocab, n_text_state) = matrix("decoder/embeddings/weight")?;
    let (n_audio_ctx, n_audio_state) = matrix("encoder/position_encodings/encodings")?;
    let (n_text_ctx, _) = matrix("decoder/position_encodings/encodings")?;
    let conv1 = tensor("encoder/conv1/weight")?;
    // The converter computes an `n_mels` × 201 filterbank, so a damaged shape must not
    // ask for billions of bands.
    let n_mels = match conv1.shape[..] {
        [_, n_mels, _] if (1..=MAX_N_MELS).contains(&n_mels) => n_mels,
        _ => {
            return Err(ConvertError::BadShape {
                name: "encoder/conv1/weight".into(),
                shape: conv1.shape.clone(),
                expected: format!("[n_audio_state, n_mels, 3] with 1 to {MAX_N_MELS} mel bands"),
            });
        }
    };
    let hparams = Hparams {
        n_vocab,
        n_audio_ctx,
        n_audio_state,
        n_audio_head: heads("encoder/num_heads")?,
        n_audio_layer: count_layers("encoder"),
        n_text_ctx,
        n_text_state,
        n_text_head: heads("decoder/num_heads")?,
        n_text_layer: count_layers("decoder"),
        n_mels,
    };
    if hparams.n_audio_layer == 0 || hparams.n_text_layer == 0 {
        return Err(ConvertError::Unsupported(
            "the model has no encoder or decoder layers".into(),
        ));
    }
    if let Some(value) = hparams
        .header()
        .into_iter()
        .find(|&value| i32::try_from(value).is_err())
    {
        return Err(ConvertError::Unsupported(format!(
            "a dimension of {value} does not fit the ggml header's 32-bit fields; is \
             model.bin damaged?"
        )));
    }
    Ok(hparams)
}

/// The 167 tensors of tiny (more for bigger models), openai-whisper names.
fn plan_tensors(hparams: &Hparams) -> Vec<TensorPlan> {
    let mut plans = vec![
        TensorPlan::new(
            "encoder.positional_embedding",
            "encoder/position_encodings/encodings",
        )
        .f32(),
        TensorPlan::new("encoder.conv1.weight", "encoder/conv1/weight"),
        TensorPlan::new("encoder.conv1.bias", "encoder/conv1/bias")
            .f32()
            .column(),
        TensorPlan::new("encoder.conv2.weight", "encoder/conv2/weight"),
        TensorPlan::new("encoder.conv2.bias", "encoder/conv2/bias")
            .f32()
            .column(),
    ];
    let layer_norm = |plans: &mut Vec<TensorPlan>, ours: &str, theirs: &str| {
        plans.push(TensorPlan::new(format!("{ours}.weight"), format!("{theirs}/gamma")).f32());
        plans.push(TensorPlan::new(format!("{ours}.bias"), format!("{theirs}/beta")).f32());
    };
    let linear = |plans: &mut Vec<TensorPlan>, ours: &str, theirs: &str| {
        plans.push(TensorPlan::new(
            format!("{ours}.weight"),
            format!("{theirs}/weight"),
        ));
        plans.push(TensorPlan::new(format!("{ours}.bias"), format!("{theirs}/bias")).f32());
    };
    // A slice of a fused projection: rows `[part * d, (part + 1) * d)`.
    let fused = |plans: &mut Vec<TensorPlan>,
                 ours: &str,
                 theirs: &str,
                 part: usize,
                 d: usize,
                 bias: bool| {
        plans.push(
            TensorPlan::new(format!("{ours}.weight"), format!("{theirs}/weight")).rows(part * d, d),
        );
        if bias {
            plans.push(
                TensorPlan::new(format!("{ours}.bias"), format!("{theirs}/bias"))
                    .rows(part * d, d)
                    .f32(),
            );
        }
    };
    let block_common = |plans: &mut Vec<TensorPlan>, ours: &str, theirs: &str, d: usize| {
        layer_norm(
            plans,
            &format!("{ours}.attn_ln"),
            &format!("{theirs}/self_attention/layer_norm"),
        );
        let qkv = format!("{theirs}/self_attention/linear_0");
        fused(plans, &format!("{ours}.attn.query"), &qkv, 0, d, true);
        fused(plans, &format!("{ours}.attn.key"), &qkv, 1, d, false);
        fused(plans, &format!("{ours}.attn.value"), &qkv, 2, d, true);
        linear(
            plans,
            &format!("{ours}.attn.out"),
            &format!("{theirs}/self_attention/linear_1"),
        );
    };
    let block_mlp = |plans: &mut Vec<TensorPlan>, ours: &str, theirs: &str| {
        layer_norm(
            plans,
            &format!("{ours}.mlp_ln"),
            &format!("{theirs}/ffn/layer_norm"),
        );
        linear(
            plans,
            &format!("{ours}.mlp.0"),
            &format!("{theirs}/ffn/linear_0"),
        );
        linear(
            plans,
            &format!("{ours}.mlp.2"),
            &format!("{theirs}/ffn/linear_1"),
        );
    };
    for layer_idx in 0..hparams.n_audio_layer {
        let ours = format!("encoder.blocks.{layer_idx}");
        let theirs = format!("encoder/layer_{layer_idx}");
        block_common(&mut plans, &ours, &theirs, hparams.n_audio_state);
        block_mlp(&mut plans, &ours, &theirs);
    }
    layer_norm(&mut plans, "encoder.ln_post", "encoder/layer_norm");

    plans.push(
        TensorPlan::new(
            "decoder.positional_embedding",
            "decoder/position_encodings/encodings",
        )
        .f32(),
    );
    plans.push(TensorPlan::new(
        "decoder.token_embedding.weight",
        "decoder/embeddings/weight",
    ));
    for layer_idx in 0..hparams.n_text_layer {
        let ours = format!("decoder.blocks.{layer_idx}");
        let theirs = format!("decoder/layer_{layer_idx}");
        let d = hparams.n_text_state;
        block_common(&mut plans, &ours, &theirs, d);
        layer_norm(
            &mut plans,
            &format!("{ours}.cross_attn_ln"),
            &format!("{theirs}/attention/layer_norm"),
        );
        linear(
            &mut plans,
            &format!("{ours}.cross_attn.query"),
            &format!("{theirs}/attention/linear_0"),
        );
        let kv = format!("{theirs}/attention/linear_1");
        fused(
            &mut plans,
            &format!("{ours}.cross_attn.key"),
            &kv,
            0,
            d,
            false,
        );
        fused(
            &mut plans,
            &format!("{ours}.cross_attn.value"),
            &kv,
            1,
            d,
            true,
        );
        linear(
            &mut plans,
            &format!("{ours}.cross_attn.out"),
            &format!("{theirs}/attention/linear_2"),
        );
        block_mlp(&mut plans, &ours, &theirs);
    }
    layer_norm(&mut plans, "decoder.ln", "decoder/layer_norm");
    plans
}

/// The ordinary BPE tokens of `vocabulary.txt` (one GPT-2 byte-level string per line),
/// decoded to raw bytes, up to the first special token.
fn read_ordinary_tokens(path: &Path) -> Result<Vec<Vec<u8>>, ConvertError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConvertError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |reason: String| ConvertError::BadVocabulary {
        path: path.to_path_buf(),
        reason,
    };
    let lines: Vec<&str> = text.split('\n').collect();
    let n_ordinary = lines
        .iter()
        .position(|line| *line == END_OF_TEXT_TOKEN)
        .ok_or_else(|| bad(format!("no {END_OF_TEXT_TOKEN} line")))?;
    let char_to_byte = gpt2_char_to_byte();
    lines[..n_ordinary]
        .iter()
        .enumerate()
        .map(|(token_idx, line)| {
            line.chars()
                .map(|c| {
                    char_to_byte(c).ok_or_else(|| {
                        bad(format!(
                            "token {token_idx} has {c:?}, outside GPT-2's byte alphabet"
                        ))
                    })
                })
                .collect()
        })
        .collect()
}

/// GPT-2's reversible byte ↔ printable-character map, as char → byte.
fn gpt2_char_to_byte() -> impl Fn(char) -> Option<u8> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut table = std::collections::HashMap::with_capacity(256);
    let mut n_shifted = 0u32;
    for byte in 0..=255u8 {
        let c = if printable(byte) {
            char::from(byte)
        } else {
            n_shifted += 1;
            char::from_u32(255 + n_shifted).unwrap_or('\0')
        };
        table.insert(c, byte);
    }
    move |c| table.get(&c).copied()
}

struct CountingWriter<'a, W: Write> {
    inner: &'a mut W,
    n_bytes: u64,
}

impl<W: Write> CountingWriter<'_, W> {
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), ConvertError> {
        self.inner
            .write_all(bytes)
            .map_err(|source| ConvertError::Io {
                path: PathBuf::from("(output)"),
                source,
            })?;
        self.n_bytes += bytes.len() as u64;
        Ok(())
    }

    fn i32(&mut self, value: i32) -> Result<(), ConvertError> {
        self.bytes(&value.to_le_bytes())
    }

    fn u32(&mut self, value: u32) -> Result<(), ConvertError> {
        self.bytes(&value.to_le_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_byte_map_is_a_bijection_with_the_usual_space() {
        let char_to_byte = gpt2_char_to_byte();
        assert_eq!(char_to_byte('Ġ'), Some(b' '));
        assert_eq!(char_to_byte('Ċ'), Some(b'\n'));
        assert_eq!(char_to_byte('a'), Some(b'a'));
        let mut seen = [false; 256];
        for code in 0..=0x200u32 {
            if let Some(byte) = char::from_u32(code).and_then(&char_to_byte) {
                assert!(!seen[byte as usize], "byte {byte} mapped twice");
                seen[byte as usize] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn tiny_plan_has_whisper_cpp_tensor_count() {
        let hparams = Hparams {
            n_vocab: 51864,
            n_audio_ctx: 1500,
            n_audio_state: 384,
            n_audio_head: 6,
            n_audio_layer: 4,
            n_text_ctx: 448,
            n_text_state: 384,
            n_text_head: 6,
            n_text_layer: 4,
            n_mels: 80,
        };
        let plans = plan_tensors(&hparams);
        assert_eq!(plans.len(), 167);
        let names: std::collections::HashSet<_> = plans.iter().map(|plan| &plan.name).collect();
        assert_eq!(names.len(), plans.len(), "names are unique");
        assert!(names.contains(&"decoder.blocks.3.cross_attn.value.bias".to_string()));
        assert!(!names.contains(&"encoder.blocks.0.attn.key.bias".to_string()));
    }

    unsafe extern "C" {
        /// ggml's own quantiser (linked in through whisper-rs-sys).
        fn ggml_quantize_chunk(
            ttype: u32,
            src: *const f32,
            dst: *mut std::ffi::c_void,
            start: i64,
            n_rows: i64,
            n_per_row: i64,
            imatrix: *const f32,
        ) -> usize;
    }

    fn ggml_quantize(ttype: i32, values: &[f32], block_bytes: usize) -> Vec<u8> {
        let mut out = vec![0u8; values.len() / QUANT_BLOCK * block_bytes];
        // SAFETY: `values` holds one row of whole blocks and `out` the bytes ggml writes
        // for them; no importance matrix is passed (neither type needs one).
        let n_written = unsafe {
            ggml_quantize_chunk(
                ttype as u32,
                values.as_ptr(),
                out.as_mut_ptr().cast(),
                0,
                1,
                values.len() as i64,
                std::ptr::null(),
            )
        };
        assert_eq!(n_written, out.len());
        out
    }

    #[test]
    fn quantised_blocks_match_ggml_byte_for_byte() {
        // Values like weights (a deterministic spread), plus blocks that test the corner
        // cases: all zeros, exact halves (rounding), one large outlier, negative maximum.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut values: Vec<f32> = (0..QUANT_BLOCK * 64)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * 0.2
            })
            .collect();
        values.extend([0.0; QUANT_BLOCK]);
        values.extend((0..QUANT_BLOCK).map(|j| (j as f32 - 15.5) * 0.5));
        values.extend((0..QUANT_BLOCK).map(|j| if j == 7 { 40.0 } else { j as f32 * 0.01 }));
        values.extend((0..QUANT_BLOCK).map(|j| if j == 3 { -2.5 } else { 0.3 - j as f32 * 0.02 }));
        for value in &mut values {
            // The converter quantises f16 weights widened to f32.
            *value = half::f16::from_f32(*value).to_f32();
        }
        let ours = |quantize: fn(&[f32], &mut Vec<u8>)| {
            let mut out = Vec::new();
            for block in values.chunks_exact(QUANT_BLOCK) {
                quantize(block, &mut out);
            }
            out
        };
        assert_eq!(
            ours(quantize_block_q8_0),
            ggml_quantize(GGML_TYPE_Q8_0, &values, 34)
        );
        assert_eq!(
            ours(quantize_block_q5_0),
            ggml_quantize(GGML_TYPE_Q5_0, &values, 22)
        );
    }

    /// The smallest CTranslate2 Whisper export `read_hparams` takes, with conv1 of
    /// `conv1_shape` (f16, no data when a dimension is 0).
    fn minimal_whisper(conv1_shape: Vec<usize>) -> Ct2Model {
        let f16_zeros = |shape: &[usize]| vec![0u8; shape.iter().product::<usize>() * 2];
        let matrix = |name: &'static str| (name, vec![2, 2], 4, f16_zeros(&[2, 2]));
        let conv1 = f16_zeros(&conv1_shape);
        let bytes = super::super::ct2::tests::encode(
            &[
                matrix("decoder/embeddings/weight"),
                matrix("encoder/position_encodings/encodings"),
                matrix("decoder/position_encodings/encodings"),
                ("encoder/conv1/weight", conv1_shape, 4, conv1),
                ("encoder/num_heads", vec![], 3, 1i32.to_le_bytes().to_vec()),
                ("decoder/num_heads", vec![], 3, 1i32.to_le_bytes().to_vec()),
                matrix("encoder/layer_0/ffn/linear_0/weight"),
                matrix("decoder/layer_0/ffn/linear_0/weight"),
            ],
            &[],
        );
        Ct2Model::parse(&bytes).expect("a well-formed model.bin")
    }

    #[test]
    fn a_damaged_mel_band_count_is_refused_before_the_filterbank_is_built() {
        assert_eq!(
            read_hparams(&minimal_whisper(vec![2, 80, 3]))
                .expect("80 bands")
                .n_mels,
            80
        );
        // Found by fuzzing: a width of 0 makes the tensor hold no data whatever the band
        // count, and 2^32 - 1 bands once asked for a 34 GB filterbank.
        for n_mels in [0, MAX_N_MELS + 1, u32::MAX as usize] {
            let model = minimal_whisper(vec![0, n_mels, 3]);
            let err = write_whisper_ggml(&model, &[], WhisperWeightType::F16, &mut std::io::sink())
                .expect_err("refused");
            assert!(err.to_string().contains("mel bands"), "{n_mels}: {err}");
        }
    }

    #[test]
    fn vocabulary_stops_at_end_of_text_and_rejects_foreign_characters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocabulary.txt");
        std::fs::write(&path, "a\nĠb\n<|endoftext|>\n<|startoftranscript|>").unwrap();
        assert_eq!(
            read_ordinary_tokens(&path).unwrap(),
            vec![b"a".to_vec(), b" b".to_vec()]
        );
        std::fs::write(&path, "a\nb").unwrap();
        assert!(read_ordinary_tokens(&path).is_err());
        std::fs::write(&path, "日\n<|endoftext|>").unwrap();
        let err = read_ordinary_tokens(&path).unwrap_err().to_string();
        assert!(err.contains("outside GPT-2's byte alphabet"), "{err}");
    }
}
