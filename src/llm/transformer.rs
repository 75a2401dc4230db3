//! Our own quantized decoder-only transformer for the GGUF architectures the assistant
//! runs: `llama` (SmolLM2, Llama 3.x), `qwen2` (q/k/v biases) and `qwen3` (per-head
//! q/k RMS norms). The three share one block layout, so one model with a per-architecture
//! [`Config`] serves them all.
//!
//! Why not candle-transformers' `quantized_llama`/`quantized_qwen*`: they concatenate the
//! whole KV cache every step, copy K/V per head group, and cannot keep a cached prefix
//! across requests. Here every layer owns a preallocated [`KvCache`] that grows by doubling
//! and can be truncated, so a later turn reuses the cached prefix and only prefills its
//! new tokens; grouped-query attention reshapes the queries instead of repeating K/V.
//! On CPUs with AVX-512 VNNI, Q4_1 and Q8_0 matrices are repacked at load for our own
//! kernel ([`super::packed`]); elsewhere weight types whose candle CPU kernel is scalar
//! (Q4_1, Q5_0, Q5_1) can be requantised to Q8_0 at load, which has an AVX2 kernel.

use std::collections::HashMap;
use std::io::{Read, Seek};

use candle_core::quantized::{GgmlDType, QMatMul, QTensor, gguf_file};
use candle_core::{DType, Device, Module, Result, Tensor};
use serde::{Deserialize, Serialize};

use super::packed::{PackedMatrix, cpu_has_vnni};

/// The KV cache's first allocation, in positions; it doubles when full.
const INITIAL_CACHE_POSITIONS: usize = 512;
/// Quantised weights must have rows that are a multiple of this to become Q8_0.
const Q8_0_BLOCK_ELEMENTS: usize = 32;

/// The decoder architectures this model implements, named as in `general.architecture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Llama 2/3 and SmolLM2: interleaved rotary embedding, no biases.
    Llama,
    /// Qwen2 and Qwen2.5: half-split rotary embedding, q/k/v biases.
    Qwen2,
    /// Qwen3: half-split rotary embedding, per-head RMS norms on q and k.
    Qwen3,
}

impl Architecture {
    /// Parses the `general.architecture` value; `None` for architectures we do not run.
    pub fn from_gguf_name(name: &str) -> Option<Self> {
        match name {
            "llama" => Some(Self::Llama),
            "qwen2" => Some(Self::Qwen2),
            "qwen3" => Some(Self::Qwen3),
            _ => None,
        }
    }

    /// The name used in `general.architecture` and as the GGUF metadata key prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Qwen2 => "qwen2",
            Self::Qwen3 => "qwen3",
        }
    }
}

/// The model's hyper-parameters; the fields carry the upstream (Hugging Face
/// `config.json`) names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Which block layout the weights follow.
    pub architecture: Architecture,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Number of transformer blocks.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention when fewer than query heads).
    pub num_key_value_heads: usize,
    /// Width of one attention head.
    pub head_dim: usize,
    /// Epsilon of every RMS norm.
    pub rms_norm_eps: f64,
    /// Base of the rotary embedding's frequencies.
    pub rope_theta: f64,
    /// The longest context the model was trained for, in tokens.
    pub max_position_embeddings: usize,
    /// Rows of the embedding and of the output projection.
    pub vocab_size: usize,
}

impl Config {
    /// The weights of the blocks and of the embedding table, counted from the
    /// hyper-parameters (norms and biases left out; a tied output projection counted
    /// once): about 0.13 billion for SmolLM2-135M, 1.5 billion for Qwen2.5-1.5B.
    pub fn n_params(&self) -> u64 {
        let hidden = self.hidden_size as u64;
        let q_width = (self.num_attention_heads * self.head_dim) as u64;
        let kv_width = (self.num_key_value_heads * self.head_dim) as u64;
        let attention = 2 * hidden * q_width + 2 * hidden * kv_width;
        let mlp = 3 * hidden * self.intermediate_size as u64;
        let embedding = self.vocab_size as u64 * hidden;
        self.num_hidden_layers as u64 * (attention + mlp) + embedding
    }

    /// Reads the hyper-parameters from GGUF metadata (`<arch>.block_count` and friends).
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Self> {
        let md = &content.metadata;
        let arch_name = metadata_string(md, "general.architecture")?;
        let architecture = Architecture::from_gguf_name(arch_name).ok_or_else(|| {
            candle_core::Error::Msg(format!("unsupported architecture `{arch_name}`"))
        })?;
        let key = |name: &str| format!("{}.{name}", architecture.as_str());
        let get_u32 = |name: &str| -> Result<usize> {
            let full = key(name);
            md.get(&full)
                .ok_or_else(|| candle_core::Error::Msg(format!("metadata `{full}` is missing")))?
                .to_u32()
                .map(|value| value as usize)
        };
        let hidden_size = get_u32("embedding_length")?;
        let num_attention_heads = get_u32("attention.head_count")?;
        let num_key_value_heads = get_u32("attention.head_count_kv").unwrap_or(num_attention_heads);
        let head_dim = get_u32("attention.key_length")
            .or_else(|_| get_u32("rope.dimension_count"))
            .unwrap_or(hidden_size / num_attention_heads.max(1));
        let rms_norm_eps = md
            .get(&key("attention.layer_norm_rms_epsilon"))
            .map(|value| value.to_f32())
            .transpose()?
            .unwrap_or(1e-6) as f64;
        let rope_theta = md
            .get(&key("rope.freq_base"))
            .map(|value| value.to_f32())
            .transpose()?
            .unwrap_or(10_000.0) as f64;
        let embedding = content
            .tensor_infos
            .get("token_embd.weight")
            .ok_or_else(|| {
                candle_core::Error::Msg("tensor `token_embd.weight` is missing".into())
            })?;
        let vocab_size = embedding.shape.dims()[0];
        let config = Self {
            architecture,
            hidden_size,
            intermediate_size: get_u32("feed_forward_length")?,
            num_hidden_layers: get_u32("block_count")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps,
            rope_theta,
            max_position_embeddings: get_u32("context_length").unwrap_or(4096),
            vocab_size,
        };
        if config.num_key_value_heads == 0
            || !config
                .num_attention_heads
                .is_multiple_of(config.num_key_value_heads)
        {
            candle_core::bail!(
                "{} query heads cannot share {} key/value heads",
                config.num_attention_heads,
                config.num_key_value_heads
            );
        }
        Ok(config)
    }
}

fn metadata_string<'a>(md: &'a HashMap<String, gguf_file::Value>, key: &str) -> Result<&'a String> {
    md.get(key)
        .ok_or_else(|| candle_core::Error::Msg(format!("metadata `{key}` is missing")))?
        .to_string()
}

/// How weights are prepared at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Requantise weight types with a scalar CPU kernel (Q4_1, Q5_0, Q5_1) to Q8_0; with
    /// packed kernels, Q4_1 stays as it is.
    pub requantize_slow_types: bool,
    /// On a CPU with AVX-512 VNNI, repack Q4_1 and Q8_0 matrices for our own kernel
    /// ([`PackedMatrix`]) instead of candle's.
    pub packed_kernels: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            requantize_slow_types: true,
            packed_kernels: true,
        }
    }
}

impl LoadOptions {
    fn packs_on(&self, device: &Device) -> bool {
        self.packed_kernels && device.is_cpu() && cpu_has_vnni()
    }
}

/// A weight matrix and the kernel that multiplies by it.
enum Linear {
    /// Repacked for our AVX-512 VNNI kernel.
    Packed(PackedMatrix),
    /// Candle's own kernels (any device, any type).
    Candle(QMatMul),
}

impl Linear {
    fn new(tensor: QTensor, options: &LoadOptions, device: &Device) -> Result<Self> {
        if options.packs_on(device)
            && let Some(packed) = PackedMatrix::from_qtensor(&tensor)?
        {
            return Ok(Self::Packed(packed));
        }
        Ok(Self::Candle(QMatMul::from_qtensor(tensor)?))
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Self::Packed(packed) => packed.forward(xs),
            Self::Candle(matmul) => matmul.forward(xs),
        }
    }
}

/// Reads tensors from a GGUF file onto a device, requantising where asked.
struct TensorSource<'a, R> {
    content: &'a gguf_file::Content,
    reader: &'a mut R,
    device: &'a Device,
    options: LoadOptions,
}

impl<R: Read + Seek> TensorSource<'_, R> {
    fn has(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    fn qtensor(&mut self, name: &str) -> Result<QTensor> {
        let tensor = self.content.tensor(self.reader, name, self.device)?;
        let slow = match tensor.dtype() {
            // Our packed kernel runs Q4_1 as it is, reading half the bytes of Q8_0.
            GgmlDType::Q4_1 => {
                !(self.options.packs_on(self.device)
                    && PackedMatrix::fits(tensor.dtype(), tensor.shape().dims()))
            }
            GgmlDType::Q5_0 | GgmlDType::Q5_1 => true,
            _ => false,
        };
        let row_len = tensor.shape().dims().last().copied().unwrap_or(0);
        if self.options.requantize_slow_types
            && self.device.is_cpu()
            && slow
            && row_len.is_multiple_of(Q8_0_BLOCK_ELEMENTS)
        {
            let dense = tensor.dequantize(self.device)?;
            return QTensor::quantize(&dense, GgmlDType::Q8_0);
        }
        Ok(tensor)
    }

    fn matmul(&mut self, name: &str) -> Result<Linear> {
        let tensor = self.qtensor(name)?;
        Linear::new(tensor, &self.options, self.device)
    }

    fn dense(&mut self, name: &str) -> Result<Tensor> {
        self.content
            .tensor(self.reader, name, self.device)?
            .dequantize(self.device)
    }

    fn optional_dense(&mut self, name: &str) -> Result<Option<Tensor>> {
        if self.has(name) {
            self.dense(name).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// A preallocated key or value cache of shape `(1, n_kv_heads, capacity, head_dim)` whose
/// first `n_positions` positions are valid. Appending writes in place; it reallocates
/// (doubling) only when full, and truncating only moves `n_positions`.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    keys: Option<Tensor>,
    values: Option<Tensor>,
    n_positions: usize,
    max_positions: usize,
}

impl KvCache {
    /// An empty cache that will hold at most `max_positions` positions.
    pub fn new(max_positions: usize) -> Self {
        Self {
            keys: None,
            values: None,
            n_positions: 0,
            max_positions,
        }
    }

    /// Positions currently cached.
    pub fn n_positions(&self) -> usize {
        self.n_positions
    }

    /// Forgets every position from `n_positions` on.
    pub fn truncate(&mut self, n_positions: usize) {
        self.n_positions = self.n_positions.min(n_positions);
    }

    fn capacity(&self) -> usize {
        self.keys
            .as_ref()
            .and_then(|keys| keys.dims().get(2).copied())
            .unwrap_or(0)
    }

    fn grow(&mut self, needed: usize, template: &Tensor) -> Result<()> {
        if needed > self.max_positions {
            candle_core::bail!(
                "the context is full: {needed} positions needed, {} allowed",
                self.max_positions
            );
        }
        let mut capacity = self.capacity().max(INITIAL_CACHE_POSITIONS);
        while capacity < needed {
            capacity *= 2;
        }
        let capacity = capacity.min(self.max_positions);
        let (batch, n_heads, _, head_dim) = template.dims4()?;
        let fresh = |old: &Option<Tensor>| -> Result<Tensor> {
            let new = Tensor::zeros(
                (batch, n_heads, capacity, head_dim),
                template.dtype(),
                template.device(),
            )?;
            if let Some(old) = old
                && self.n_positions > 0
            {
                new.slice_set(&old.narrow(2, 0, self.n_positions)?.contiguous()?, 2, 0)?;
            }
            Ok(new)
        };
        let keys = fresh(&self.keys)?;
        let values = fresh(&self.values)?;
        self.keys = Some(keys);
        self.values = Some(values);
        Ok(())
    }

    /// Writes `keys`/`values` (shape `(1, n_kv_heads, n_new, head_dim)`) after the cached
    /// positions and returns views of every valid position.
    pub fn append(&mut self, keys: &Tensor, values: &Tensor) -> Result<(Tensor, Tensor)> {
        let n_new = keys.dim(2)?;
        let needed = self.n_positions + n_new;
        if needed > self.capacity() {
            self.grow(needed, keys)?;
        }
        let (Some(all_keys), Some(all_values)) = (&self.keys, &self.values) else {
            candle_core::bail!("the KV cache was not allocated");
        };
        all_keys.slice_set(&keys.contiguous()?, 2, self.n_positions)?;
        all_values.slice_set(&values.contiguous()?, 2, self.n_positions)?;
        self.n_positions = needed;
        Ok((
            all_keys.narrow(2, 0, needed)?,
            all_values.narrow(2, 0, needed)?,
        ))
    }
}

struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    q_bias: Option<Tensor>,
    k_bias: Option<Tensor>,
    v_bias: Option<Tensor>,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    cache: KvCache,
}

struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate_proj.forward(xs)?)?;
        let up = self.up_proj.forward(xs)?;
        self.down_proj.forward(&(gate * up)?)
    }
}

struct Block {
    input_layernorm: Tensor,
    attention: Attention,
    post_attention_layernorm: Tensor,
    mlp: Mlp,
}

/// The quantized decoder with its KV caches.
pub struct QuantizedDecoder {
    config: Config,
    embed_tokens: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    lm_head: Linear,
    cos: Tensor,
    sin: Tensor,
    device: Device,
    max_positions: usize,
}

impl QuantizedDecoder {
    /// Loads the weights named as llama.cpp writes them (`token_embd`, `blk.N.attn_q` …).
    /// At most `max_positions` positions (capped by the model's own context) are cached.
    pub fn from_gguf<R: Read + Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        max_positions: usize,
        options: LoadOptions,
    ) -> Result<Self> {
        let config = Config::from_gguf(content)?;
        let max_positions = max_positions.min(config.max_position_embeddings).max(1);
        let mut source = TensorSource {
            content,
            reader,
            device,
            options,
        };
        let embed_q = source.qtensor("token_embd.weight")?;
        let embed_tokens = embed_q.dequantize(device)?;
        let lm_head = if source.has("output.weight") {
            source.matmul("output.weight")?
        } else {
            Linear::new(embed_q, &options, device)?
        };
        let norm = source.dense("output_norm.weight")?;
        let mut blocks = Vec::with_capacity(config.num_hidden_layers);
        for layer_idx in 0..config.num_hidden_layers {
            let p = format!("blk.{layer_idx}");
            let attention = Attention {
                q_proj: source.matmul(&format!("{p}.attn_q.weight"))?,
                k_proj: source.matmul(&format!("{p}.attn_k.weight"))?,
                v_proj: source.matmul(&format!("{p}.attn_v.weight"))?,
                o_proj: source.matmul(&format!("{p}.attn_output.weight"))?,
                q_bias: source.optional_dense(&format!("{p}.attn_q.bias"))?,
                k_bias: source.optional_dense(&format!("{p}.attn_k.bias"))?,
                v_bias: source.optional_dense(&format!("{p}.attn_v.bias"))?,
                q_norm: source.optional_dense(&format!("{p}.attn_q_norm.weight"))?,
                k_norm: source.optional_dense(&format!("{p}.attn_k_norm.weight"))?,
                cache: KvCache::new(max_positions),
            };
            let mlp = Mlp {
                gate_proj: source.matmul(&format!("{p}.ffn_gate.weight"))?,
                up_proj: source.matmul(&format!("{p}.ffn_up.weight"))?,
                down_proj: source.matmul(&format!("{p}.ffn_down.weight"))?,
            };
            blocks.push(Block {
                input_layernorm: source.dense(&format!("{p}.attn_norm.weight"))?,
                attention,
                post_attention_layernorm: source.dense(&format!("{p}.ffn_norm.weight"))?,
                mlp,
            });
        }
        let (cos, sin) = rotary_tables(&config, max_positions, device)?;
        Ok(Self {
            config,
            embed_tokens,
            blocks,
            norm,
            lm_head,
            cos,
            sin,
            device: device.clone(),
            max_positions,
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The most positions the cache holds.
    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Positions currently in the KV cache.
    pub fn n_cached_positions(&self) -> usize {
        self.blocks
            .first()
            .map(|block| block.attention.cache.n_positions())
            .unwrap_or(0)
    }

    /// Forgets every cached position from `n_positions` on.
    pub fn truncate_cache(&mut self, n_positions: usize) {
        for block in &mut self.blocks {
            block.attention.cache.truncate(n_positions);
        }
    }

    /// Runs `token_ids` at the positions after the cached ones, caches their keys and
    /// values, and returns the logits of the last token as a `(vocab_size,)` f32 tensor.
    pub fn forward(&mut self, token_ids: &[u32]) -> Result<Tensor> {
        let n_tokens = token_ids.len();
        if n_tokens == 0 {
            candle_core::bail!("forward needs at least one token");
        }
        let start_pos = self.n_cached_positions();
        if start_pos + n_tokens > self.max_positions {
            candle_core::bail!(
                "the context is full: {} positions needed, {} allowed",
                start_pos + n_tokens,
                self.max_positions
            );
        }
        let ids = Tensor::new(token_ids, &self.device)?;
        let mut xs = self.embed_tokens.index_select(&ids, 0)?.unsqueeze(0)?;
        let mask = if n_tokens > 1 {
            Some(causal_mask(n_tokens, start_pos, &self.device)?)
        } else {
            None
        };
        let cos = self.cos.narrow(0, start_pos, n_tokens)?;
        let sin = self.sin.narrow(0, start_pos, n_tokens)?;
        let eps = self.config.rms_norm_eps as f32;
        for block in &mut self.blocks {
            let residual = &xs;
            let normed = candle_nn::ops::rms_norm(&xs, &block.input_layernorm, eps)?;
            let attended =
                block
                    .attention
                    .forward(&self.config, &normed, &cos, &sin, mask.as_ref())?;
            let xs_mid = (attended + residual)?;
            let normed = candle_nn::ops::rms_norm(&xs_mid, &block.post_attention_layernorm, eps)?;
            xs = (block.mlp.forward(&normed)? + xs_mid)?;
        }
        let last = xs.narrow(1, n_tokens - 1, 1)?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, eps)?;
        self.lm_head
            .forward(&last)?
            .squeeze(0)?
            .squeeze(0)?
            .to_dtype(DType::F32)
    }
}

impl Attention {
    fn forward(
        &mut self,
        config: &Config,
        xs: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (batch, n_tokens, _) = xs.dims3()?;
        let head_dim = config.head_dim;
        let n_heads = config.num_attention_heads;
        let n_kv_heads = config.num_key_value_heads;
        let n_rep = n_heads / n_kv_heads;
        let project = |proj: &Linear, bias: &Option<Tensor>| -> Result<Tensor> {
            let out = proj.forward(xs)?;
            match bias {
                Some(bias) => out.broadcast_add(bias),
                None => Ok(out),
            }
        };
        let q =
            project(&self.q_proj, &self.q_bias)?.reshape((batch, n_tokens, n_heads, head_dim))?;
        let k = project(&self.k_proj, &self.k_bias)?
            .reshape((batch, n_tokens, n_kv_heads, head_dim))?;
        let v = project(&self.v_proj, &self.v_bias)?
            .reshape((batch, n_tokens, n_kv_heads, head_dim))?;
        let eps = config.rms_norm_eps as f32;
        let q = match &self.q_norm {
            Some(weight) => candle_nn::ops::rms_norm(&q.contiguous()?, weight, eps)?,
            None => q,
        };
        let k = match &self.k_norm {
            Some(weight) => candle_nn::ops::rms_norm(&k.contiguous()?, weight, eps)?,
            None => k,
        };
        let q = q.transpose(1, 2)?.contiguous()?;
        let k = k.transpose(1, 2)?.contiguous()?;
        let v = v.transpose(1, 2)?.contiguous()?;
        let (q, k) = match config.architecture {
            Architecture::Llama => (
                candle_nn::rotary_emb::rope_i(&q, cos, sin)?,
                candle_nn::rotary_emb::rope_i(&k, cos, sin)?,
            ),
            Architecture::Qwen2 | Architecture::Qwen3 => (
                candle_nn::rotary_emb::rope(&q, cos, sin)?,
                candle_nn::rotary_emb::rope(&k, cos, sin)?,
            ),
        };
        let (all_keys, all_values) = self.cache.append(&k, &v)?;
        let n_positions = all_keys.dim(2)?;
        // Query heads that share a key/value head become extra query rows of that head,
        // so K and V are never copied per group.
        let q = q.reshape((batch, n_kv_heads, n_rep * n_tokens, head_dim))?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let scores = (q.matmul(&all_keys.t()?)? * scale)?;
        let scores = match mask {
            Some(mask) => scores
                .reshape((batch, n_kv_heads, n_rep, n_tokens, n_positions))?
                .broadcast_add(mask)?
                .reshape((batch, n_kv_heads, n_rep * n_tokens, n_positions))?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs.matmul(&all_values.contiguous()?)?;
        let out = out
            .reshape((batch, n_heads, n_tokens, head_dim))?
            .transpose(1, 2)?
            .reshape((batch, n_tokens, n_heads * head_dim))?;
        self.o_proj.forward(&out)
    }
}

/// The additive causal mask for `n_tokens` new tokens after `start_pos` cached ones:
/// shape `(n_tokens, start_pos + n_tokens)`, zero where a token may look, `-inf` after it.
fn causal_mask(n_tokens: usize, start_pos: usize, device: &Device) -> Result<Tensor> {
    let n_positions = start_pos + n_tokens;
    let values: Vec<f32> = (0..n_tokens)
        .flat_map(|token_idx| {
            (0..n_positions).map(move |pos| {
                if pos > start_pos + token_idx {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Tensor::from_vec(values, (n_tokens, n_positions), device)
}

/// The rotary embedding's cosine and sine tables, shape `(max_positions, head_dim / 2)`.
fn rotary_tables(
    config: &Config,
    max_positions: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let head_dim = config.head_dim;
    let inv_freq: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / config.rope_theta.powf(i as f64 / head_dim as f64) as f32)
        .collect();
    let n_freqs = inv_freq.len();
    let inv_freq = Tensor::from_vec(inv_freq, (1, n_freqs), device)?;
    let positions = Tensor::arange(0u32, max_positions as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((max_positions, 1))?;
    let angles = positions.matmul(&inv_freq)?;
    Ok((angles.cos()?, angles.sin()?))
}
