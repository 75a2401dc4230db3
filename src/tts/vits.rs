//! The VITS network of a Piper voice, in candle, for inference only.
//!
//! Piper voices are VITS models (Kim et al., 2021) trained with `piper_train`. Speaking a
//! sentence runs four parts in turn:
//!
//! 1. the text encoder (`enc_p`): phoneme embeddings, a transformer with windowed
//!    relative-position attention, and a projection to the prior's mean and log-scale;
//! 2. the stochastic duration predictor (`dp`), run backwards: noise through a chain of
//!    rational-quadratic spline flows conditioned on the encoder, giving each phoneme's
//!    log-duration in spectrogram frames;
//! 3. the normalising flow (`flow`), run backwards: the prior, stretched to the frame
//!    durations and sampled, becomes the decoder's latent;
//! 4. the HiFi-GAN decoder (`dec`): transposed convolutions and residual blocks up to
//!    samples in [-1, 1].
//!
//! The module follows the upstream code's names (`enc_p.encoder.attn_layers.0.conv_q`,
//! `dp.flows.7.proj`, `dec.ups.0`), so weights load straight from a name → tensor map;
//! `tts::piper` builds that map from the voice's ONNX file. Inference runs one sentence
//! at a time (batch 1, no padding), so no sequence masks are needed. Noise comes from the
//! caller's seeded generator, which makes synthesis deterministic for a fixed seed.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, ConvTranspose1d, ConvTranspose1dConfig, VarBuilder};
use rand::Rng;
use rayon::prelude::*;

use super::conv::{
    FusedConv1d, FusedConvTranspose1d, ResidualStep, Signal, mean_of_residual_blocks,
};
use rand_distr::StandardNormal;

/// The attention window of the text encoder: relative positions beyond ±4 are not seen.
const ATTENTION_WINDOW: usize = 4;
/// The kernel size of the duration predictor's dilated depth-separable convolutions.
const DP_KERNEL_SIZE: usize = 3;
/// The number of layers in each of the duration predictor's convolution stacks.
const DP_N_LAYERS: usize = 3;
/// The number of spline flows in the duration predictor.
const DP_N_FLOWS: usize = 4;
/// The number of bins of each rational-quadratic spline.
const SPLINE_N_BINS: usize = 10;
/// Beyond ±5 the splines are the identity ("linear tails").
const SPLINE_TAIL_BOUND: f32 = 5.0;
/// The smallest bin width, bin height and knot derivative of a spline.
const SPLINE_MIN_BIN_WIDTH: f32 = 1e-3;
const SPLINE_MIN_BIN_HEIGHT: f32 = 1e-3;
const SPLINE_MIN_DERIVATIVE: f32 = 1e-3;
/// The coupling layers of the normalising flow.
const FLOW_N_FLOWS: usize = 4;
const FLOW_KERNEL_SIZE: usize = 5;
const FLOW_N_LAYERS: usize = 4;
/// The epsilon of every layer norm.
const LAYER_NORM_EPS: f64 = 1e-5;
/// The negative slope of the decoder's leaky ReLUs, and of the last one before `conv_post`.
const DECODER_LEAKY_SLOPE: f64 = 0.1;
const DECODER_FINAL_LEAKY_SLOPE: f64 = 0.01;

/// The shape of a VITS voice. Field names are the upstream `SynthesizerTrn` arguments.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Config {
    /// The number of phoneme ids.
    pub n_vocab: usize,
    /// Channels of the latent (the prior and the flow).
    pub inter_channels: usize,
    /// Channels of the text encoder.
    pub hidden_channels: usize,
    /// Channels of the encoder's feed-forward layers.
    pub filter_channels: usize,
    /// Attention heads of the text encoder.
    pub n_heads: usize,
    /// Transformer layers of the text encoder.
    pub n_layers: usize,
    /// Kernel size of the encoder's feed-forward convolutions.
    pub kernel_size: usize,
    /// HiFi-GAN residual block type: `"1"` (three conv pairs) or `"2"` (two convs).
    pub resblock: String,
    /// Kernel size of each residual block of an upsampling stage.
    pub resblock_kernel_sizes: Vec<usize>,
    /// Dilations of each residual block's convolutions.
    pub resblock_dilation_sizes: Vec<Vec<usize>>,
    /// The stride of each upsampling stage; their product is the hop length.
    pub upsample_rates: Vec<usize>,
    /// Channels entering the first upsampling stage (halved at each stage).
    pub upsample_initial_channel: usize,
    /// The kernel size of each upsampling stage.
    pub upsample_kernel_sizes: Vec<usize>,
}

impl Config {
    /// How many output samples one spectrogram frame becomes.
    pub fn hop_length(&self) -> usize {
        self.upsample_rates.iter().product()
    }
}

/// How one sentence is spoken. Piper's `.onnx.json` carries a voice's defaults.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Scales {
    /// How much noise is added to the prior (expressiveness); 0 gives the mean.
    pub noise_scale: f32,
    /// Speaking slowness: every duration is multiplied by it.
    pub length_scale: f32,
    /// How much noise enters the duration predictor (rhythm variation).
    pub noise_w: f32,
}

fn conv1d(
    vb: VarBuilder,
    c_in: usize,
    c_out: usize,
    kernel_size: usize,
    dilation: usize,
    groups: usize,
) -> Result<Conv1d> {
    let cfg = Conv1dConfig {
        padding: (kernel_size * dilation - dilation) / 2,
        stride: 1,
        dilation,
        groups,
        cudnn_fwd_algo: None,
    };
    candle_nn::conv1d(c_in, c_out, kernel_size, cfg, vb)
}

fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    x.maximum(&(x * slope)?)
}

/// A layer norm over the channel axis of a [batch, channels, time] tensor.
#[derive(Debug, Clone)]
struct ChannelNorm {
    gamma: Tensor,
    beta: Tensor,
}

impl ChannelNorm {
    fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            gamma: vb.get(channels, "gamma")?,
            beta: vb.get(channels, "beta")?,
        })
    }
}

impl Module for ChannelNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.transpose(1, 2)?.contiguous()?;
        candle_nn::ops::layer_norm(&x, &self.gamma, &self.beta, LAYER_NORM_EPS as f32)?
            .transpose(1, 2)
    }
}

/// Multi-head self-attention with relative-position embeddings shared by all heads.
#[derive(Debug, Clone)]
struct RelativeAttention {
    conv_q: Conv1d,
    conv_k: Conv1d,
    conv_v: Conv1d,
    conv_o: Conv1d,
    /// [2 × window + 1, head channels]: one key embedding per relative position.
    emb_rel_k: Tensor,
    /// [2 × window + 1, head channels]: one value embedding per relative position.
    emb_rel_v: Tensor,
    n_heads: usize,
}

impl RelativeAttention {
    fn new(channels: usize, n_heads: usize, vb: VarBuilder) -> Result<Self> {
        let head_channels = channels / n_heads;
        let n_relative = 2 * ATTENTION_WINDOW + 1;
        Ok(Self {
            conv_q: conv1d(vb.pp("conv_q"), channels, channels, 1, 1, 1)?,
            conv_k: conv1d(vb.pp("conv_k"), channels, channels, 1, 1, 1)?,
            conv_v: conv1d(vb.pp("conv_v"), channels, channels, 1, 1, 1)?,
            conv_o: conv1d(vb.pp("conv_o"), channels, channels, 1, 1, 1)?,
            emb_rel_k: vb
                .get((1, n_relative, head_channels), "emb_rel_k")?
                .squeeze(0)?,
            emb_rel_v: vb
                .get((1, n_relative, head_channels), "emb_rel_v")?
                .squeeze(0)?,
            n_heads,
        })
    }

    /// `x` is [1, channels, n_tokens].
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (batch, channels, n_tokens) = x.dims3()?;
        let head_channels = channels / self.n_heads;
        let heads = |t: Tensor| -> Result<Tensor> {
            t.reshape((batch, self.n_heads, head_channels, n_tokens))?
                .transpose(2, 3)?
                .contiguous()
        };
        let query = (heads(self.conv_q.forward(x)?)? / (head_channels as f64).sqrt())?;
        let key = heads(self.conv_k.forward(x)?)?;
        let value = heads(self.conv_v.forward(x)?)?;

        let (key_index, key_band, value_index, value_band) =
            relative_indices(n_tokens, batch, self.n_heads, x.device())?;
        // Scores: content plus each query's dot product with the embedding of its
        // relative position to every key (zero outside the window).
        let scores = query.matmul(&key.t()?)?;
        let relative_logits = query.broadcast_matmul(&self.emb_rel_k.t()?)?;
        let local = (relative_logits.gather(&key_index, 3)? * &key_band)?;
        let weights = candle_nn::ops::softmax_last_dim(&(scores + local)?)?;
        // Output: content plus the weights regrouped by relative position.
        let output = weights.matmul(&value)?;
        let relative_weights = (weights.gather(&value_index, 3)? * &value_band)?;
        let output = (output + relative_weights.broadcast_matmul(&self.emb_rel_v)?)?;
        let output = output
            .transpose(2, 3)?
            .reshape((batch, channels, n_tokens))?;
        self.conv_o.forward(&output)
    }
}

/// For query `i` and key `j`: the relative-embedding index `j - i + window` (clamped)
/// and whether it lies in the window, as [batch, heads, n, n]; and for query `i` and
/// relative slot `r`: the key index `i + r - window` (clamped) and whether it exists,
/// as [batch, heads, n, 2 × window + 1].
fn relative_indices(
    n_tokens: usize,
    batch: usize,
    n_heads: usize,
    device: &Device,
) -> Result<(Tensor, Tensor, Tensor, Tensor)> {
    let window = ATTENTION_WINDOW as i64;
    let n_relative = 2 * ATTENTION_WINDOW + 1;
    let n = n_tokens as i64;
    let mut key_index = Vec::with_capacity(n_tokens * n_tokens);
    let mut key_band = Vec::with_capacity(n_tokens * n_tokens);
    for i in 0..n {
        for j in 0..n {
            let offset = j - i + window;
            key_index.push(offset.clamp(0, 2 * window) as u32);
            key_band.push(if (j - i).abs() <= window { 1f32 } else { 0.0 });
        }
    }
    let mut value_index = Vec::with_capacity(n_tokens * n_relative);
    let mut value_band = Vec::with_capacity(n_tokens * n_relative);
    for i in 0..n {
        for slot in 0..n_relative as i64 {
            let j = i + slot - window;
            value_index.push(j.clamp(0, n - 1) as u32);
            value_band.push(if (0..n).contains(&j) { 1f32 } else { 0.0 });
        }
    }
    let full = |data: Vec<u32>, width: usize| -> Result<Tensor> {
        Tensor::from_vec(data, (1, 1, n_tokens, width), device)?
            .broadcast_as((batch, n_heads, n_tokens, width))?
            .contiguous()
    };
    let band = |data: Vec<f32>, width: usize| -> Result<Tensor> {
        Tensor::from_vec(data, (1, 1, n_tokens, width), device)
    };
    Ok((
        full(key_index, n_tokens)?,
        band(key_band, n_tokens)?.broadcast_as((batch, n_heads, n_tokens, n_tokens))?,
        full(value_index, n_relative)?,
        band(value_band, n_relative)?.broadcast_as((batch, n_heads, n_tokens, n_relative))?,
    ))
}

/// The transformer's feed-forward block: conv, ReLU, conv, "same" padding.
#[derive(Debug, Clone)]
struct FeedForward {
    conv_1: Conv1d,
    conv_2: Conv1d,
    /// Both convolutions on the CPU's fused kernel (`None` on other devices); the ReLU
    /// is the second one's input activation.
    fused: Option<(FusedConv1d, FusedConv1d)>,
}

impl FeedForward {
    fn new(conv_1: Conv1d, conv_2: Conv1d, device: &Device) -> Result<Self> {
        let fused = if device.is_cpu() {
            Some((fused(&conv_1)?, fused(&conv_2)?))
        } else {
            None
        };
        Ok(Self {
            conv_1,
            conv_2,
            fused,
        })
    }
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (batch, n_channels, n_steps) = x.dims3()?;
        let (Some((fused_1, fused_2)), 1) = (&self.fused, batch) else {
            return self.conv_2.forward(&self.conv_1.forward(x)?.relu()?);
        };
        let signal = Signal::new(n_channels, n_steps, x.flatten_all()?.to_vec1::<f32>()?);
        let hidden = fused_1.forward(&signal, None, None);
        let out = fused_2.forward(&hidden, Some(0.0), None);
        Tensor::from_vec(out.data, (1, out.n_channels, n_steps), x.device())
    }
}

/// The text encoder: phoneme ids → hidden states and the prior's mean and log-scale.
#[derive(Debug, Clone)]
struct TextEncoder {
    emb: candle_nn::Embedding,
    attn_layers: Vec<RelativeAttention>,
    norm_layers_1: Vec<ChannelNorm>,
    ffn_layers: Vec<FeedForward>,
    norm_layers_2: Vec<ChannelNorm>,
    proj: Conv1d,
    hidden_channels: usize,
    inter_channels: usize,
}

impl TextEncoder {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let hidden = cfg.hidden_channels;
        let encoder = vb.pp("encoder");
        let mut attn_layers = Vec::with_capacity(cfg.n_layers);
        let mut norm_layers_1 = Vec::with_capacity(cfg.n_layers);
        let mut ffn_layers = Vec::with_capacity(cfg.n_layers);
        let mut norm_layers_2 = Vec::with_capacity(cfg.n_layers);
        for layer_idx in 0..cfg.n_layers {
            attn_layers.push(RelativeAttention::new(
                hidden,
                cfg.n_heads,
                encoder.pp(format!("attn_layers.{layer_idx}")),
            )?);
            norm_layers_1.push(ChannelNorm::new(
                hidden,
                encoder.pp(format!("norm_layers_1.{layer_idx}")),
            )?);
            let ffn = encoder.pp(format!("ffn_layers.{layer_idx}"));
            ffn_layers.push(FeedForward::new(
                conv1d(
                    ffn.pp("conv_1"),
                    hidden,
                    cfg.filter_channels,
                    cfg.kernel_size,
                    1,
                    1,
                )?,
                conv1d(
                    ffn.pp("conv_2"),
                    cfg.filter_channels,
                    hidden,
                    cfg.kernel_size,
                    1,
                    1,
                )?,
                vb.device(),
            )?);
            norm_layers_2.push(ChannelNorm::new(
                hidden,
                encoder.pp(format!("norm_layers_2.{layer_idx}")),
            )?);
        }
        Ok(Self {
            emb: candle_nn::embedding(cfg.n_vocab, hidden, vb.pp("emb"))?,
            attn_layers,
            norm_layers_1,
            ffn_layers,
            norm_layers_2,
            proj: conv1d(vb.pp("proj"), hidden, 2 * cfg.inter_channels, 1, 1, 1)?,
            hidden_channels: hidden,
            inter_channels: cfg.inter_channels,
        })
    }

    /// `ids` is [1, n_tokens] (u32). Returns hidden [1, hidden, n], mean and log-scale
    /// [1, inter, n].
    fn forward(&self, ids: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let x = (self.emb.forward(ids)? * (self.hidden_channels as f64).sqrt())?;
        let mut x = x.transpose(1, 2)?.contiguous()?;
        for layer_idx in 0..self.attn_layers.len() {
            let y = self.attn_layers[layer_idx].forward(&x)?;
            x = self.norm_layers_1[layer_idx].forward(&(x + y)?)?;
            let y = self.ffn_layers[layer_idx].forward(&x)?;
            x = self.norm_layers_2[layer_idx].forward(&(x + y)?)?;
        }
        let stats = self.proj.forward(&x)?;
        let mean = stats.narrow(1, 0, self.inter_channels)?;
        let log_scale = stats.narrow(1, self.inter_channels, self.inter_channels)?;
        Ok((x, mean, log_scale))
    }
}

/// A depthwise convolution (one filter per channel, `groups == channels`), written as
/// one multiply-add per kernel tap over shifted views: candle runs a grouped conv1d as
/// one convolution per group, which for 192 channels costs far more than the arithmetic.
#[derive(Debug, Clone)]
struct DepthwiseConv1d {
    /// Per tap, the channel weights as [1, channels, 1].
    taps: Vec<Tensor>,
    /// [1, channels, 1].
    bias: Tensor,
    dilation: usize,
}

impl DepthwiseConv1d {
    fn new(channels: usize, kernel_size: usize, dilation: usize, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get((channels, 1, kernel_size), "weight")?;
        let taps = (0..kernel_size)
            .map(|tap_idx| weight.narrow(2, tap_idx, 1)?.reshape((1, channels, 1)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            taps,
            bias: vb.get(channels, "bias")?.reshape((1, channels, 1))?,
            dilation,
        })
    }
}

impl Module for DepthwiseConv1d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let n_steps = x.dim(2)?;
        let pad = (self.taps.len() - 1) * self.dilation / 2;
        let padded = x.pad_with_zeros(2, pad, pad)?;
        let mut sum = self.bias.broadcast_as(x.shape())?.contiguous()?;
        for (tap_idx, tap) in self.taps.iter().enumerate() {
            let shifted = padded.narrow(2, tap_idx * self.dilation, n_steps)?;
            sum = (sum + shifted.broadcast_mul(tap)?)?;
        }
        Ok(sum)
    }
}

/// Dilated depth-separable convolutions (`DDSConv`), the duration predictor's workhorse.
#[derive(Debug, Clone)]
struct DdsConv {
    convs_sep: Vec<DepthwiseConv1d>,
    convs_1x1: Vec<Conv1d>,
    norms_1: Vec<ChannelNorm>,
    norms_2: Vec<ChannelNorm>,
}

impl DdsConv {
    fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        let mut conv = Self {
            convs_sep: Vec::new(),
            convs_1x1: Vec::new(),
            norms_1: Vec::new(),
            norms_2: Vec::new(),
        };
        for layer_idx in 0..DP_N_LAYERS {
            let dilation = DP_KERNEL_SIZE.pow(layer_idx as u32);
            conv.convs_sep.push(DepthwiseConv1d::new(
                channels,
                DP_KERNEL_SIZE,
                dilation,
                vb.pp(format!("convs_sep.{layer_idx}")),
            )?);
            conv.convs_1x1.push(conv1d(
                vb.pp(format!("convs_1x1.{layer_idx}")),
                channels,
                channels,
                1,
                1,
                1,
            )?);
            conv.norms_1.push(ChannelNorm::new(
                channels,
                vb.pp(format!("norms_1.{layer_idx}")),
            )?);
            conv.norms_2.push(ChannelNorm::new(
                channels,
                vb.pp(format!("norms_2.{layer_idx}")),
            )?);
        }
        Ok(conv)
    }

    fn forward(&self, x: &Tensor, condition: Option<&Tensor>) -> Result<Tensor> {
        let mut x = match condition {
            Some(condition) => (x + condition)?,
            None => x.clone(),
        };
        for layer_idx in 0..self.convs_sep.len() {
            let y = self.convs_sep[layer_idx].forward(&x)?;
            let y = self.norms_1[layer_idx].forward(&y)?.gelu_erf()?;
            let y = self.convs_1x1[layer_idx].forward(&y)?;
            let y = self.norms_2[layer_idx].forward(&y)?.gelu_erf()?;
            x = (x + y)?;
        }
        Ok(x)
    }
}

/// A coupling flow whose second channel goes through a rational-quadratic spline that
/// the first channel parameterises (`ConvFlow`).
#[derive(Debug, Clone)]
struct ConvFlow {
    pre: Conv1d,
    convs: DdsConv,
    proj: Conv1d,
    filter_channels: usize,
}

impl ConvFlow {
    fn new(filter_channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            pre: conv1d(vb.pp("pre"), 1, filter_channels, 1, 1, 1)?,
            convs: DdsConv::new(filter_channels, vb.pp("convs"))?,
            proj: conv1d(
                vb.pp("proj"),
                filter_channels,
                3 * SPLINE_N_BINS - 1,
                1,
                1,
                1,
            )?,
            filter_channels,
        })
    }

    /// `z` is [1, 2, n]; `condition` [1, filter, n].
    fn reverse(&self, z: &Tensor, condition: &Tensor) -> Result<Tensor> {
        let x0 = z.narrow(1, 0, 1)?;
        let x1 = z.narrow(1, 1, 1)?;
        let h = self.pre.forward(&x0)?;
        let h = self.convs.forward(&h, Some(condition))?;
        // [1, 29, n] → per time step: 10 widths, 10 heights, 9 inner derivatives.
        let params = self.proj.forward(&h)?.squeeze(0)?.t()?.to_vec2::<f32>()?;
        let x1_values = x1.flatten_all()?.to_vec1::<f32>()?;
        let scale = (self.filter_channels as f32).sqrt().recip();
        let inverted: Vec<f32> = x1_values
            .iter()
            .zip(&params)
            .map(|(&value, step)| {
                let mut widths = [0f32; SPLINE_N_BINS];
                let mut heights = [0f32; SPLINE_N_BINS];
                for bin_idx in 0..SPLINE_N_BINS {
                    widths[bin_idx] = step[bin_idx] * scale;
                    heights[bin_idx] = step[SPLINE_N_BINS + bin_idx] * scale;
                }
                spline_inverse(value, &widths, &heights, &step[2 * SPLINE_N_BINS..])
            })
            .collect();
        let x1 = Tensor::from_vec(inverted, x1.shape(), x1.device())?;
        Tensor::cat(&[&x0, &x1], 1)
    }
}

fn softmax_into(values: &[f32], out: &mut [f32]) {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for (slot, &value) in out.iter_mut().zip(values) {
        *slot = (value - max).exp();
        sum += *slot;
    }
    for slot in out.iter_mut() {
        *slot /= sum;
    }
}

/// The knots of one spline axis: cumulative positions from `-bound` to `bound`.
fn spline_knots(unnormalised: &[f32], min_size: f32) -> [f32; SPLINE_N_BINS + 1] {
    let mut sizes = [0f32; SPLINE_N_BINS];
    softmax_into(unnormalised, &mut sizes);
    let mut knots = [0f32; SPLINE_N_BINS + 1];
    let mut cumulative = 0f32;
    for (bin_idx, size) in sizes.iter().enumerate() {
        cumulative += min_size + (1.0 - min_size * SPLINE_N_BINS as f32) * size;
        knots[bin_idx + 1] = 2.0 * SPLINE_TAIL_BOUND * cumulative - SPLINE_TAIL_BOUND;
    }
    knots[0] = -SPLINE_TAIL_BOUND;
    knots[SPLINE_N_BINS] = SPLINE_TAIL_BOUND;
    knots
}

fn softplus(x: f32) -> f32 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

/// The inverse of a monotone rational-quadratic spline on [-5, 5] with identity tails
/// (Durkan et al., 2019), for one value.
fn spline_inverse(
    value: f32,
    unnormalised_widths: &[f32],
    unnormalised_heights: &[f32],
    unnormalised_inner_derivatives: &[f32],
) -> f32 {
    if !(-SPLINE_TAIL_BOUND..=SPLINE_TAIL_BOUND).contains(&value) {
        return value;
    }
    let x_knots = spline_knots(unnormalised_widths, SPLINE_MIN_BIN_WIDTH);
    let y_knots = spline_knots(unnormalised_heights, SPLINE_MIN_BIN_HEIGHT);
    // The outer derivatives are 1 so the spline meets the identity tails smoothly.
    let mut derivatives = [1f32; SPLINE_N_BINS + 1];
    for (slot, &raw) in derivatives[1..SPLINE_N_BINS]
        .iter_mut()
        .zip(unnormalised_inner_derivatives)
    {
        *slot = SPLINE_MIN_DERIVATIVE + softplus(raw);
    }
    // The bin whose output range holds the value (the last knot nudged up so the top
    // edge belongs to the last bin).
    let bin_idx = y_knots
        .iter()
        .enumerate()
        .filter(|&(knot_idx, &knot)| {
            let knot = if knot_idx == SPLINE_N_BINS {
                knot + 1e-6
            } else {
                knot
            };
            value >= knot
        })
        .count()
        .saturating_sub(1)
        .min(SPLINE_N_BINS - 1);
    let x_start = x_knots[bin_idx];
    let width = x_knots[bin_idx + 1] - x_start;
    let y_start = y_knots[bin_idx];
    let height = y_knots[bin_idx + 1] - y_start;
    let delta = height / width;
    let d0 = derivatives[bin_idx];
    let d1 = derivatives[bin_idx + 1];
    let offset = value - y_start;
    let a = offset * (d0 + d1 - 2.0 * delta) + height * (delta - d0);
    let b = height * d0 - offset * (d0 + d1 - 2.0 * delta);
    let c = -delta * offset;
    let discriminant = (b * b - 4.0 * a * c).max(0.0);
    let root = (2.0 * c) / (-b - discriminant.sqrt());
    root * width + x_start
}

/// The stochastic duration predictor, for inference.
#[derive(Debug, Clone)]
struct DurationPredictor {
    pre: Conv1d,
    convs: DdsConv,
    proj: Conv1d,
    /// `ElementwiseAffine`: the mean and log-scale of the last (first-trained) flow, [2, 1].
    affine_m: Tensor,
    affine_logs: Tensor,
    /// The spline flows in the order inference runs them.
    conv_flows: Vec<ConvFlow>,
}

impl DurationPredictor {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let filter = cfg.hidden_channels;
        // Upstream flows: 0 affine, then (spline, flip) × 4. Inference runs them in
        // reverse and skips the first spline (index 1), which only shapes training.
        let conv_flows = (2..=DP_N_FLOWS)
            .rev()
            .map(|flow_number| {
                ConvFlow::new(filter, vb.pp(format!("flows.{}", 2 * flow_number - 1)))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            pre: conv1d(vb.pp("pre"), cfg.hidden_channels, filter, 1, 1, 1)?,
            convs: DdsConv::new(filter, vb.pp("convs"))?,
            proj: conv1d(vb.pp("proj"), filter, filter, 1, 1, 1)?,
            affine_m: vb.get((2, 1), "flows.0.m")?,
            affine_logs: vb.get((2, 1), "flows.0.logs")?,
            conv_flows,
        })
    }

    /// Log-durations [1, 1, n] from the encoder's hidden states and noise [1, 2, n].
    fn reverse(&self, hidden: &Tensor, noise: &Tensor) -> Result<Tensor> {
        let x = self.pre.forward(hidden)?;
        let x = self.convs.forward(&x, None)?;
        let condition = self.proj.forward(&x)?;
        let flip = |z: &Tensor| -> Result<Tensor> {
            Tensor::cat(&[&z.narrow(1, 1, 1)?, &z.narrow(1, 0, 1)?], 1)
        };
        let mut z = noise.clone();
        for flow in &self.conv_flows {
            z = flow.reverse(&flip(&z)?, &condition)?;
        }
        let z = flip(&z)?;
        let z = z
            .broadcast_sub(&self.affine_m)?
            .broadcast_mul(&self.affine_logs.neg()?.exp()?)?;
        z.narrow(1, 0, 1)
    }
}

/// The WaveNet-like stack inside each coupling layer (`WN`), without conditioning.
#[derive(Debug, Clone)]
struct WaveNet {
    in_layers: Vec<Conv1d>,
    res_skip_layers: Vec<Conv1d>,
    /// The same layers for the CPU's fused kernel (empty on other devices).
    fused_in_layers: Vec<FusedConv1d>,
    fused_res_skip_layers: Vec<FusedConv1d>,
    hidden_channels: usize,
}

impl WaveNet {
    fn new(hidden: usize, vb: VarBuilder) -> Result<Self> {
        let mut in_layers = Vec::with_capacity(FLOW_N_LAYERS);
        let mut res_skip_layers = Vec::with_capacity(FLOW_N_LAYERS);
        for layer_idx in 0..FLOW_N_LAYERS {
            in_layers.push(conv1d(
                vb.pp(format!("in_layers.{layer_idx}")),
                hidden,
                2 * hidden,
                FLOW_KERNEL_SIZE,
                1,
                1,
            )?);
            let out = if layer_idx + 1 < FLOW_N_LAYERS {
                2 * hidden
            } else {
                hidden
            };
            res_skip_layers.push(conv1d(
                vb.pp(format!("res_skip_layers.{layer_idx}")),
                hidden,
                out,
                1,
                1,
                1,
            )?);
        }
        let (fused_in_layers, fused_res_skip_layers) = if vb.device().is_cpu() {
            (
                in_layers.iter().map(fused).collect::<Result<_>>()?,
                res_skip_layers.iter().map(fused).collect::<Result<_>>()?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Self {
            in_layers,
            res_skip_layers,
            fused_in_layers,
            fused_res_skip_layers,
            hidden_channels: hidden,
        })
    }

    /// The stack on the CPU's fused kernel.
    fn forward_fused(&self, x: &Signal) -> Signal {
        let hidden = self.hidden_channels;
        let n_steps = x.n_steps;
        let half = hidden * n_steps;
        let mut x = x.clone();
        let mut output = vec![0f32; half];
        for (layer_idx, (in_layer, res_skip_layer)) in self
            .fused_in_layers
            .iter()
            .zip(&self.fused_res_skip_layers)
            .enumerate()
        {
            let x_in = in_layer.forward(&x, None, None);
            let (filter, gate) = x_in.data.split_at(half);
            let mut acts = vec![0f32; half];
            acts.par_chunks_mut(n_steps)
                .zip(filter.par_chunks(n_steps).zip(gate.par_chunks(n_steps)))
                .for_each(|(out, (filter, gate))| {
                    for (value, (&f, &g)) in out.iter_mut().zip(filter.iter().zip(gate)) {
                        *value = tanh_via_exp(f) * (1.0 / (1.0 + (-g).exp()));
                    }
                });
            let res_skip = res_skip_layer.forward(&Signal::new(hidden, n_steps, acts), None, None);
            let skip = if layer_idx + 1 < self.fused_in_layers.len() {
                let (residual, skip) = res_skip.data.split_at(half);
                for (value, add) in x.data.iter_mut().zip(residual) {
                    *value += add;
                }
                skip
            } else {
                &res_skip.data[..]
            };
            for (total, add) in output.iter_mut().zip(skip) {
                *total += add;
            }
        }
        Signal::new(hidden, n_steps, output)
    }
}

impl Module for WaveNet {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let hidden = self.hidden_channels;
        let mut x = x.clone();
        let mut output: Option<Tensor> = None;
        for layer_idx in 0..self.in_layers.len() {
            let x_in = self.in_layers[layer_idx].forward(&x)?;
            let acts = (x_in.narrow(1, 0, hidden)?.tanh()?
                * candle_nn::ops::sigmoid(&x_in.narrow(1, hidden, hidden)?)?)?;
            let res_skip = self.res_skip_layers[layer_idx].forward(&acts)?;
            let skip = if layer_idx + 1 < self.in_layers.len() {
                x = (x + res_skip.narrow(1, 0, hidden)?)?;
                res_skip.narrow(1, hidden, hidden)?
            } else {
                res_skip
            };
            output = Some(match output {
                Some(sum) => (sum + skip)?,
                None => skip,
            });
        }
        output.ok_or_else(|| candle_core::Error::Msg("a WaveNet stack without layers".into()))
    }
}

/// A mean-only affine coupling layer of the normalising flow.
#[derive(Debug, Clone)]
struct CouplingLayer {
    pre: Conv1d,
    enc: WaveNet,
    post: Conv1d,
    /// `pre` and `post` for the CPU's fused kernel (`None` on other devices).
    fused_pre: Option<FusedConv1d>,
    fused_post: Option<FusedConv1d>,
    half_channels: usize,
}

impl CouplingLayer {
    fn new(channels: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        let half = channels / 2;
        let pre = conv1d(vb.pp("pre"), half, hidden, 1, 1, 1)?;
        let post = conv1d(vb.pp("post"), hidden, half, 1, 1, 1)?;
        let (fused_pre, fused_post) = if vb.device().is_cpu() {
            (Some(fused(&pre)?), Some(fused(&post)?))
        } else {
            (None, None)
        };
        Ok(Self {
            pre,
            enc: WaveNet::new(hidden, vb.pp("enc"))?,
            post,
            fused_pre,
            fused_post,
            half_channels: half,
        })
    }

    /// `reverse` on the CPU's fused kernel.
    fn reverse_fused(&self, x: &Signal) -> Result<Signal> {
        let (Some(pre), Some(post)) = (&self.fused_pre, &self.fused_post) else {
            candle_core::bail!("the fused coupling layer is only built on the CPU");
        };
        let half = self.half_channels;
        let x0 = x.rows(0, half);
        let mean = post.forward(
            &self.enc.forward_fused(&pre.forward(&x0, None, None)),
            None,
            None,
        );
        let mut out = x.clone();
        for (value, mean) in out.data[half * x.n_steps..].iter_mut().zip(&mean.data) {
            *value -= mean;
        }
        Ok(out)
    }

    fn reverse(&self, x: &Tensor) -> Result<Tensor> {
        let half = self.half_channels;
        let x0 = x.narrow(1, 0, half)?;
        let x1 = x.narrow(1, half, half)?;
        let mean = self
            .post
            .forward(&self.enc.forward(&self.pre.forward(&x0)?)?)?;
        Tensor::cat(&[&x0, &(x1 - mean)?], 1)
    }
}

/// One HiFi-GAN residual block (type "1": pairs of dilated and plain convs; type "2":
/// single dilated convs).
#[derive(Debug, Clone)]
struct ResBlock {
    convs1: Vec<Conv1d>,
    convs2: Vec<Conv1d>,
    /// The same convolutions for the CPU's fused kernel (empty on other devices).
    fused1: Vec<FusedConv1d>,
    fused2: Vec<FusedConv1d>,
}

/// The fused-kernel copy of a candle convolution (weights read once, at load).
fn fused(conv: &Conv1d) -> Result<FusedConv1d> {
    let (c_out, c_in, kernel_size) = conv.weight().dims3()?;
    let weight = conv.weight().flatten_all()?.to_vec1::<f32>()?;
    let bias = conv.bias().map(|bias| bias.to_vec1::<f32>()).transpose()?;
    Ok(FusedConv1d::new(
        &weight,
        bias.as_deref(),
        c_out,
        c_in,
        kernel_size,
        conv.config().dilation,
    ))
}

impl ResBlock {
    fn new(
        kind: &str,
        channels: usize,
        kernel_size: usize,
        dilations: &[usize],
        vb: VarBuilder,
    ) -> Result<Self> {
        let mut block = Self {
            convs1: Vec::new(),
            convs2: Vec::new(),
            fused1: Vec::new(),
            fused2: Vec::new(),
        };
        for (conv_idx, &dilation) in dilations.iter().enumerate() {
            match kind {
                "1" => {
                    block.convs1.push(conv1d(
                        vb.pp(format!("convs1.{conv_idx}")),
                        channels,
                        channels,
                        kernel_size,
                        dilation,
                        1,
                    )?);
                    block.convs2.push(conv1d(
                        vb.pp(format!("convs2.{conv_idx}")),
                        channels,
                        channels,
                        kernel_size,
                        1,
                        1,
                    )?);
                }
                _ => block.convs1.push(conv1d(
                    vb.pp(format!("convs.{conv_idx}")),
                    channels,
                    channels,
                    kernel_size,
                    dilation,
                    1,
                )?),
            }
        }
        if vb.device().is_cpu() {
            block.fused1 = block.convs1.iter().map(fused).collect::<Result<_>>()?;
            block.fused2 = block.convs2.iter().map(fused).collect::<Result<_>>()?;
        }
        Ok(block)
    }

    /// The block's residual steps for the tiled stage: each is a convolution pair (type
    /// 1) or a single convolution (type 2).
    fn residual_steps(&self) -> Vec<ResidualStep<'_>> {
        self.fused1
            .iter()
            .enumerate()
            .map(|(conv_idx, conv)| match self.fused2.get(conv_idx) {
                Some(conv2) => vec![conv, conv2],
                None => vec![conv],
            })
            .collect()
    }

    /// The block on the CPU's fused kernel: each convolution takes the leaky ReLU of its
    /// input and, where the block adds one, its residual, in one pass.
    fn forward_fused(&self, x: &Signal) -> Signal {
        let mut x = x.clone();
        for (conv_idx, conv) in self.fused1.iter().enumerate() {
            x = match self.fused2.get(conv_idx) {
                Some(conv2) => {
                    let xt = conv.forward(&x, Some(DECODER_LEAKY_SLOPE as f32), None);
                    conv2.forward(&xt, Some(DECODER_LEAKY_SLOPE as f32), Some(&x))
                }
                None => conv.forward(&x, Some(DECODER_LEAKY_SLOPE as f32), Some(&x)),
            };
        }
        x
    }
}

impl Module for ResBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for (conv_idx, conv) in self.convs1.iter().enumerate() {
            let mut xt = conv.forward(&leaky_relu(&x, DECODER_LEAKY_SLOPE)?)?;
            if let Some(conv2) = self.convs2.get(conv_idx) {
                xt = conv2.forward(&leaky_relu(&xt, DECODER_LEAKY_SLOPE)?)?;
            }
            x = (xt + x)?;
        }
        Ok(x)
    }
}

/// The HiFi-GAN generator: latent frames → samples.
#[derive(Debug, Clone)]
struct Generator {
    conv_pre: Conv1d,
    ups: Vec<ConvTranspose1d>,
    resblocks: Vec<ResBlock>,
    conv_post: Conv1d,
    /// `conv_pre` for the CPU's fused kernel (`None` on other devices).
    fused_pre: Option<FusedConv1d>,
    /// `conv_post` for the CPU's fused kernel (`None` on other devices).
    fused_post: Option<FusedConv1d>,
    /// `ups` for the CPU's fused kernel (empty on other devices).
    fused_ups: Vec<FusedConvTranspose1d>,
    n_kernels: usize,
}

impl Generator {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let conv_pre = conv1d(
            vb.pp("conv_pre"),
            cfg.inter_channels,
            cfg.upsample_initial_channel,
            7,
            1,
            1,
        )?;
        let mut ups = Vec::new();
        let mut resblocks = Vec::new();
        let mut channels = cfg.upsample_initial_channel;
        for (stage_idx, (&rate, &kernel_size)) in cfg
            .upsample_rates
            .iter()
            .zip(&cfg.upsample_kernel_sizes)
            .enumerate()
        {
            let up_cfg = ConvTranspose1dConfig {
                padding: (kernel_size - rate) / 2,
                output_padding: 0,
                stride: rate,
                dilation: 1,
                groups: 1,
            };
            ups.push(candle_nn::conv_transpose1d(
                channels,
                channels / 2,
                kernel_size,
                up_cfg,
                vb.pp(format!("ups.{stage_idx}")),
            )?);
            channels /= 2;
            for (kernel_idx, (&block_kernel, dilations)) in cfg
                .resblock_kernel_sizes
                .iter()
                .zip(&cfg.resblock_dilation_sizes)
                .enumerate()
            {
                let block_idx = stage_idx * cfg.resblock_kernel_sizes.len() + kernel_idx;
                resblocks.push(ResBlock::new(
                    &cfg.resblock,
                    channels,
                    block_kernel,
                    dilations,
                    vb.pp(format!("resblocks.{block_idx}")),
                )?);
            }
        }
        let conv_post = candle_nn::conv1d_no_bias(
            channels,
            1,
            7,
            Conv1dConfig {
                padding: 3,
                ..Default::default()
            },
            vb.pp("conv_post"),
        )?;
        let fused_pre = if vb.device().is_cpu() {
            Some(fused(&conv_pre)?)
        } else {
            None
        };
        let (fused_post, fused_ups) = if vb.device().is_cpu() {
            let fused_ups = ups
                .iter()
                .map(|up: &ConvTranspose1d| -> Result<FusedConvTranspose1d> {
                    let (c_in, c_out, kernel_size) = up.weight().dims3()?;
                    let weight = up.weight().flatten_all()?.to_vec1::<f32>()?;
                    let bias = up.bias().map(|bias| bias.to_vec1::<f32>()).transpose()?;
                    let cfg = up.config();
                    Ok(FusedConvTranspose1d::new(
                        &weight,
                        bias.as_deref(),
                        c_in,
                        c_out,
                        kernel_size,
                        cfg.stride,
                        cfg.padding,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            (Some(fused(&conv_post)?), fused_ups)
        } else {
            (None, Vec::new())
        };
        Ok(Self {
            conv_pre,
            ups,
            resblocks,
            conv_post,
            fused_pre,
            fused_post,
            fused_ups,
            n_kernels: cfg.resblock_kernel_sizes.len(),
        })
    }

    /// The decoder on the CPU's fused kernels: `conv_pre`, the upsampling, each stage's
    /// residual blocks (tile by tile where the direct kernel runs) and the last
    /// convolution. Returns the samples.
    fn forward_fused(&self, x: &Tensor, fused_post: &FusedConv1d) -> Result<Vec<f32>> {
        let (_, n_channels, n_steps) = x.dims3()?;
        let latent = Signal::new(n_channels, n_steps, x.flatten_all()?.to_vec1::<f32>()?);
        let mut signal = match &self.fused_pre {
            Some(pre) => pre.forward(&latent, None, None),
            None => {
                let x = self.conv_pre.forward(x)?;
                let (_, n_channels, n_steps) = x.dims3()?;
                Signal::new(n_channels, n_steps, x.flatten_all()?.to_vec1::<f32>()?)
            }
        };
        for (stage_idx, up) in self.fused_ups.iter().enumerate() {
            let input = up.forward(&signal, Some(DECODER_LEAKY_SLOPE as f32));
            let stage_blocks =
                &self.resblocks[stage_idx * self.n_kernels..(stage_idx + 1) * self.n_kernels];
            let steps: Vec<Vec<ResidualStep<'_>>> =
                stage_blocks.iter().map(ResBlock::residual_steps).collect();
            if let Some(mean) = mean_of_residual_blocks(&input, &steps, DECODER_LEAKY_SLOPE as f32)
            {
                signal = mean;
                continue;
            }
            let mut sum = vec![0f32; input.data.len()];
            for block in stage_blocks {
                let y = block.forward_fused(&input);
                for (total, value) in sum.iter_mut().zip(&y.data) {
                    *total += value;
                }
            }
            let scale = (self.n_kernels as f32).recip();
            for total in sum.iter_mut() {
                *total *= scale;
            }
            signal = Signal::new(input.n_channels, input.n_steps, sum);
        }
        let mut samples = fused_post
            .forward(&signal, Some(DECODER_FINAL_LEAKY_SLOPE as f32), None)
            .data;
        for sample in samples.iter_mut() {
            *sample = tanh_via_exp(*sample);
        }
        Ok(samples)
    }
}

impl Module for Generator {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = self.conv_pre.forward(x)?;
        for (stage_idx, up) in self.ups.iter().enumerate() {
            x = up.forward(&leaky_relu(&x, DECODER_LEAKY_SLOPE)?)?;
            let mut sum: Option<Tensor> = None;
            for block in
                &self.resblocks[stage_idx * self.n_kernels..(stage_idx + 1) * self.n_kernels]
            {
                let y = block.forward(&x)?;
                sum = Some(match sum {
                    Some(sum) => (sum + y)?,
                    None => y,
                });
            }
            if let Some(sum) = sum {
                x = (sum / self.n_kernels as f64)?;
            }
        }
        let x = leaky_relu(&x, DECODER_FINAL_LEAKY_SLOPE)?;
        self.conv_post.forward(&x)?.tanh()
    }
}

/// `tanh` through one `exp`: libm's `tanhf` goes through `expm1f` and costs about three
/// times as much, and the gated activations of the flow call it a million times a
/// sentence. Off by at most about 1e-7 absolutely (the cancellation in `e - 1` near 0),
/// far below what 16-bit audio resolves.
fn tanh_via_exp(x: f32) -> f32 {
    // tanh is ±1 in f32 beyond |x| ≈ 9; clamping keeps exp finite.
    let e = (2.0 * x.clamp(-10.0, 10.0)).exp();
    (e - 1.0) / (e + 1.0)
}

/// The whole voice network.
#[derive(Debug, Clone)]
pub struct Vits {
    enc_p: TextEncoder,
    dp: DurationPredictor,
    flows: Vec<CouplingLayer>,
    dec: Generator,
    cfg: Config,
    device: Device,
}

/// What one sentence became, with the intermediate sizes for diagnostics.
#[derive(Debug, Clone)]
pub struct VitsOutput {
    /// Mono samples in [-1, 1].
    pub samples: Vec<f32>,
    /// How many spectrogram frames each phoneme id was given.
    pub durations: Vec<usize>,
}

impl Vits {
    /// Builds the network from weights named by their upstream module paths.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let flow = vb.pp("flow");
        let flows = (0..FLOW_N_FLOWS)
            .map(|flow_number| {
                CouplingLayer::new(
                    cfg.inter_channels,
                    cfg.hidden_channels,
                    flow.pp(format!("flows.{}", 2 * flow_number)),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            enc_p: TextEncoder::new(cfg, vb.pp("enc_p"))?,
            dp: DurationPredictor::new(cfg, vb.pp("dp"))?,
            flows,
            dec: Generator::new(cfg, vb.pp("dec"))?,
            cfg: cfg.clone(),
            device: vb.device().clone(),
        })
    }

    /// The network's shape.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Speaks one sentence's phoneme ids. Noise is drawn from `rng`, so a generator
    /// seeded the same way gives the same samples.
    pub fn forward(&self, ids: &[u32], scales: &Scales, rng: &mut impl Rng) -> Result<VitsOutput> {
        if ids.is_empty() {
            candle_core::bail!("no phoneme ids to speak");
        }
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.cfg.n_vocab) {
            candle_core::bail!(
                "phoneme id {bad} is outside the voice's {} symbols",
                self.cfg.n_vocab
            );
        }
        let n_tokens = ids.len();
        let ids = Tensor::from_slice(ids, (1, n_tokens), &self.device)?;
        let (hidden, mean, log_scale) = self.enc_p.forward(&ids)?;

        let dp_noise = gaussian(
            rng,
            2 * n_tokens,
            scales.noise_w,
            (1, 2, n_tokens),
            &self.device,
        )?;
        let log_durations = self.dp.reverse(&hidden, &dp_noise)?;
        let durations: Vec<usize> = log_durations
            .flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .map(|&log_w| {
                let frames = (log_w.exp() * scales.length_scale).ceil();
                if frames.is_finite() && frames > 0.0 {
                    frames as usize
                } else {
                    0
                }
            })
            .collect();
        let mut frame_to_token: Vec<u32> = Vec::new();
        for (token_idx, &n_frames) in durations.iter().enumerate() {
            frame_to_token.extend(std::iter::repeat_n(token_idx as u32, n_frames));
        }
        if frame_to_token.is_empty() {
            // Upstream clamps the length to at least one frame.
            frame_to_token.push(0);
        }
        let n_frames = frame_to_token.len();
        let frame_index = Tensor::from_vec(frame_to_token, n_frames, &self.device)?;
        let mean = mean.index_select(&frame_index, 2)?;
        let log_scale = log_scale.index_select(&frame_index, 2)?;
        let prior_noise = gaussian(
            rng,
            self.cfg.inter_channels * n_frames,
            scales.noise_scale,
            (1, self.cfg.inter_channels, n_frames),
            &self.device,
        )?;
        let mut z = (mean + (prior_noise * log_scale.exp()?)?)?;

        let reversed_channels: Vec<u32> = (0..self.cfg.inter_channels as u32).rev().collect();
        let reversed_channels = Tensor::new(reversed_channels.as_slice(), &self.device)?;
        if self.device.is_cpu() {
            let (_, n_channels, n_steps) = z.dims3()?;
            let mut signal = Signal::new(n_channels, n_steps, z.flatten_all()?.to_vec1::<f32>()?);
            for layer in self.flows.iter().rev() {
                signal = layer.reverse_fused(&signal.flip_rows())?;
            }
            z = Tensor::from_vec(signal.data, (1, n_channels, n_steps), &self.device)?;
        } else {
            for layer in self.flows.iter().rev() {
                z = z.index_select(&reversed_channels, 1)?;
                z = layer.reverse(&z)?;
            }
        }
        let samples = match &self.dec.fused_post {
            Some(fused_post) => self.dec.forward_fused(&z, fused_post)?,
            None => self
                .dec
                .forward(&z)?
                .flatten_all()?
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()?,
        };
        Ok(VitsOutput { samples, durations })
    }
}

/// Standard-normal noise times `scale`, shaped as asked. A zero scale draws nothing, so
/// the generator's stream (and the output) does not depend on unused noise.
fn gaussian(
    rng: &mut impl Rng,
    n_values: usize,
    scale: f32,
    shape: (usize, usize, usize),
    device: &Device,
) -> Result<Tensor> {
    if scale == 0.0 {
        return Tensor::zeros(shape, DType::F32, device);
    }
    let values: Vec<f32> = (0..n_values)
        .map(|_| rng.sample::<f32, _>(StandardNormal) * scale)
        .collect();
    Tensor::from_vec(values, shape, device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::IndexOp;

    /// The spline forward transform, written independently of the inverse, to check it.
    fn spline_forward(x: f32, widths: &[f32], heights: &[f32], inner_derivatives: &[f32]) -> f32 {
        if !(-SPLINE_TAIL_BOUND..=SPLINE_TAIL_BOUND).contains(&x) {
            return x;
        }
        let xk = spline_knots(widths, SPLINE_MIN_BIN_WIDTH);
        let yk = spline_knots(heights, SPLINE_MIN_BIN_HEIGHT);
        let mut d = [1f32; SPLINE_N_BINS + 1];
        for (slot, &raw) in d[1..SPLINE_N_BINS].iter_mut().zip(inner_derivatives) {
            *slot = SPLINE_MIN_DERIVATIVE + softplus(raw);
        }
        let k = (0..SPLINE_N_BINS).rfind(|&k| x >= xk[k]).unwrap_or(0);
        let w = xk[k + 1] - xk[k];
        let h = yk[k + 1] - yk[k];
        let s = h / w;
        let theta = (x - xk[k]) / w;
        let numerator = h * (s * theta * theta + d[k] * theta * (1.0 - theta));
        let denominator = s + (d[k + 1] + d[k] - 2.0 * s) * theta * (1.0 - theta);
        yk[k] + numerator / denominator
    }

    fn check(x: f32, seed: u32) {
        // Deterministic pseudo-random parameters from the seed.
        let param = |i: u32| {
            ((seed.wrapping_mul(2_654_435_761).wrapping_add(i * 97)) % 1000) as f32 / 250.0 - 2.0
        };
        let widths: Vec<f32> = (0..10).map(param).collect();
        let heights: Vec<f32> = (10..20).map(param).collect();
        let derivatives: Vec<f32> = (20..29).map(param).collect();
        let y = spline_forward(x, &widths, &heights, &derivatives);
        let back = spline_inverse(y, &widths, &heights, &derivatives);
        assert!(
            (back - x).abs() < 1e-3,
            "inverse(forward({x})) = {back} (via {y}), seed {seed}"
        );
    }

    #[test]
    fn spline_inverse_undoes_the_forward_spline() {
        for (seed, x) in [
            (1, 0.0),
            (2, -4.99),
            (3, 4.99),
            (4, 1.234),
            (5, -2.5),
            (6, 0.001),
            (7, 3.3),
            (8, -0.7),
        ] {
            check(x, seed);
        }
    }

    #[test]
    fn tanh_via_exp_matches_libm() {
        for step in -4000..=4000 {
            let x = step as f32 * 0.005;
            let (ours, libm) = (tanh_via_exp(x), x.tanh());
            assert!(
                (ours - libm).abs() <= 2e-7,
                "tanh({x}): {ours} against {libm}"
            );
        }
        assert_eq!(tanh_via_exp(1e4), 1.0);
        assert_eq!(tanh_via_exp(-1e4), -1.0);
    }

    #[test]
    fn spline_tails_are_the_identity() {
        let zeros = [0f32; 10];
        for x in [-7.5f32, 5.01, 100.0] {
            assert_eq!(spline_inverse(x, &zeros, &zeros, &zeros[..9]), x);
        }
    }

    #[test]
    fn depthwise_conv_matches_a_grouped_conv1d() {
        let device = Device::Cpu;
        let (channels, kernel_size, n_steps) = (6, 3, 20);
        let weight = Tensor::randn(0f32, 1.0, (channels, 1, kernel_size), &device).unwrap();
        let bias = Tensor::randn(0f32, 1.0, channels, &device).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, channels, n_steps), &device).unwrap();
        for dilation in [1, 3, 9] {
            let tensors = std::collections::HashMap::from([
                ("weight".to_string(), weight.clone()),
                ("bias".to_string(), bias.clone()),
            ]);
            let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
            let ours = DepthwiseConv1d::new(channels, kernel_size, dilation, vb.clone())
                .unwrap()
                .forward(&x)
                .unwrap();
            let reference = conv1d(vb, channels, channels, kernel_size, dilation, channels)
                .unwrap()
                .forward(&x)
                .unwrap();
            let max_diff = (ours - reference)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(max_diff < 1e-5, "dilation {dilation}: {max_diff}");
        }
    }

    #[test]
    fn relative_indices_follow_the_window() {
        let (key_index, key_band, value_index, value_band) =
            relative_indices(6, 1, 1, &Device::Cpu).unwrap();
        let key_index = key_index.i((0, 0)).unwrap().to_vec2::<u32>().unwrap();
        let key_band = key_band.i((0, 0)).unwrap().to_vec2::<f32>().unwrap();
        // Query 0, key 5 is 5 to the right: outside the ±4 window.
        assert_eq!(key_band[0][5], 0.0);
        assert_eq!(key_band[0][4], 1.0);
        assert_eq!(key_index[0][4], 8);
        assert_eq!(key_index[3][1], 2);
        let value_index = value_index.i((0, 0)).unwrap().to_vec2::<u32>().unwrap();
        let value_band = value_band.i((0, 0)).unwrap().to_vec2::<f32>().unwrap();
        // Query 2, slot 0 is key -2: does not exist; slot 4 is key 2 itself.
        assert_eq!(value_band[2][0], 0.0);
        assert_eq!(value_index[2][4], 2);
        assert_eq!(value_band[2][7], 1.0);
        assert_eq!(value_index[2][7], 5);
        assert_eq!(value_band[2][8], 0.0);
    }
}
