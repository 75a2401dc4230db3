//! A Piper voice: its `.onnx` weights run by our candle VITS (`tts::vits`), and its
//! `.onnx.json` (sample rate, espeak-ng voice, phoneme-id map, default scales).
//!
//! We never execute the ONNX graph. Its initializers give the weights; 318 of the joe
//! voice's 401 are named by module path (`enc_p.encoder.attn_layers.0.conv_q.weight`),
//! and the rest are either anonymous (`onnx::Conv_8168`, whose module path is the name
//! of the Conv node that consumes it, `/flow/flows.6/enc/in_layers.0/Conv`), renamed by
//! the exporter (`sid`, the phoneme embedding, consumed by `/enc_p/emb/Gather`), or
//! folded by it (`/dp/flows.0/Exp_output_0` is `exp(-logs)` of the duration predictor's
//! affine flow). The graph's Conv and ConvTranspose nodes also give the decoder's
//! dilations and strides, which the weights' shapes cannot tell.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use rand::Rng;

use super::TtsError;
use super::vits::{Config, Scales, Vits};
use crate::models::onnx::{AttributeValue, OnnxGraph, OnnxModel};

/// The folded `exp(-logs)` of the duration predictor's affine flow in exported graphs.
const FOLDED_AFFINE_SCALE: &str = "/dp/flows.0/Exp_output_0";
/// Module prefixes of the VITS network's own weights.
const MODULE_PREFIXES: [&str; 4] = ["enc_p.", "dp.", "flow.", "dec."];

/// A voice's `.onnx.json`, the fields we use.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PiperVoiceConfig {
    /// Output format.
    pub audio: PiperAudioConfig,
    /// The espeak-ng voice that makes its phonemes.
    pub espeak: PiperEspeakConfig,
    /// Default scales.
    pub inference: PiperInferenceConfig,
    /// `"espeak"` for espeak-ng IPA phonemes (the only kind we can make).
    #[serde(default)]
    pub phoneme_type: Option<String>,
    /// Each phoneme (one Unicode codepoint) → its id(s).
    pub phoneme_id_map: HashMap<String, Vec<i64>>,
    /// The number of phoneme ids.
    pub num_symbols: usize,
    /// More than one means a multi-speaker voice.
    #[serde(default = "one")]
    pub num_speakers: usize,
}

fn one() -> usize {
    1
}

/// `audio` in a voice's `.onnx.json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PiperAudioConfig {
    /// Output sample rate.
    pub sample_rate: u32,
}

/// `espeak` in a voice's `.onnx.json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PiperEspeakConfig {
    /// The espeak-ng voice name, e.g. `en-us`.
    pub voice: String,
}

/// `inference` in a voice's `.onnx.json`.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct PiperInferenceConfig {
    /// Prior noise.
    pub noise_scale: f32,
    /// Slowness.
    pub length_scale: f32,
    /// Duration noise.
    pub noise_w: f32,
}

/// A loaded Piper voice.
#[derive(Debug, Clone)]
pub struct PiperVoice {
    vits: Vits,
    config: PiperVoiceConfig,
    path: PathBuf,
}

impl PiperVoice {
    /// Loads `voice.onnx` and the `voice.onnx.json` beside it.
    pub fn load(onnx_path: &Path, device: &Device) -> Result<Self, TtsError> {
        let fail = |reason: String| TtsError::LoadVoice {
            path: onnx_path.to_path_buf(),
            reason,
        };
        let json_path = json_path_for(onnx_path);
        let json = std::fs::read_to_string(&json_path).map_err(|err| {
            fail(format!(
                "cannot read its configuration {}: {err}",
                json_path.display()
            ))
        })?;
        let config: PiperVoiceConfig = serde_json::from_str(&json).map_err(|err| {
            fail(format!(
                "{} is not a Piper voice configuration: {err}",
                json_path.display()
            ))
        })?;
        if config.num_speakers > 1 {
            return Err(fail(format!(
                "it has {} speakers; only single-speaker voices are supported",
                config.num_speakers
            )));
        }
        if let Some(kind) = config.phoneme_type.as_deref()
            && kind != "espeak"
        {
            return Err(fail(format!(
                "its phonemes are of type {kind:?}; only espeak-ng phonemes are supported"
            )));
        }
        let model = OnnxModel::load(onnx_path).map_err(|err| fail(err.to_string()))?;
        let weights = vits_weights(&model.graph, device).map_err(fail)?;
        let vits_config = vits_config(&model.graph, &weights, config.num_symbols).map_err(fail)?;
        let vb = VarBuilder::from_tensors(weights, DType::F32, device);
        let vits = Vits::new(&vits_config, vb)
            .map_err(|err| fail(format!("the weights do not fit a Piper VITS voice: {err}")))?;
        Ok(Self {
            vits,
            config,
            path: onnx_path.to_path_buf(),
        })
    }

    /// The voice's configuration file.
    pub fn config(&self) -> &PiperVoiceConfig {
        &self.config
    }

    /// The network's shape.
    pub fn vits_config(&self) -> &Config {
        self.vits.config()
    }

    /// The `.onnx` file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rate of the samples it makes.
    pub fn sample_rate_hz(&self) -> u32 {
        self.config.audio.sample_rate
    }

    /// The voice's own default scales.
    pub fn default_scales(&self) -> Scales {
        let inference = self.config.inference;
        Scales {
            noise_scale: inference.noise_scale,
            length_scale: inference.length_scale,
            noise_w: inference.noise_w,
        }
    }

    /// Speaks one sentence's phoneme ids (as `tts::phonemize` makes them).
    pub fn speak_ids(
        &self,
        ids: &[i64],
        scales: &Scales,
        rng: &mut impl Rng,
    ) -> Result<Vec<f32>, TtsError> {
        let ids = ids
            .iter()
            .map(|&id| {
                u32::try_from(id).map_err(|_| {
                    TtsError::Synthesis(candle_core::Error::Msg(format!(
                        "phoneme id {id} is negative or too large"
                    )))
                })
            })
            .collect::<Result<Vec<u32>, TtsError>>()?;
        Ok(self.vits.forward(&ids, scales, rng)?.samples)
    }
}

/// `voice.onnx` → `voice.onnx.json`.
pub fn json_path_for(onnx_path: &Path) -> PathBuf {
    let mut name = onnx_path.as_os_str().to_os_string();
    name.push(".json");
    PathBuf::from(name)
}

/// The module path of a node: `/flow/flows.6/enc/in_layers.0/Conv` → `flow.flows.6.enc.in_layers.0`.
fn node_module_path(node_name: &str) -> Option<String> {
    let trimmed = node_name.trim_start_matches('/');
    let (path, _op) = trimmed.rsplit_once('/')?;
    Some(path.replace('/', "."))
}

/// The module path under which a weight the exporter did not name is used, found from
/// the node that consumes it.
fn consumer_weight_name(graph: &OnnxGraph, value: &str) -> Option<String> {
    graph.consumers(value).find_map(|node| {
        let weight_slot = match node.op_type.as_str() {
            "Conv" | "ConvTranspose" => 1,
            "Gather" if node.name.ends_with("/emb/Gather") => 0,
            _ => return None,
        };
        if node.inputs.get(weight_slot).map(String::as_str) != Some(value) {
            return None;
        }
        Some(format!("{}.weight", node_module_path(&node.name)?))
    })
}

/// Every VITS weight of the graph, by upstream module path.
fn vits_weights(graph: &OnnxGraph, device: &Device) -> Result<HashMap<String, Tensor>, String> {
    let mut weights = HashMap::new();
    for weight in graph.initializers.iter() {
        let name = weight.name.as_str();
        let module_name = if MODULE_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
        {
            name.to_string()
        } else if name == FOLDED_AFFINE_SCALE {
            let scale = weight.to_f32_vec().map_err(|err| err.to_string())?;
            let logs: Vec<f32> = scale.iter().map(|value| -value.ln()).collect();
            let tensor =
                Tensor::from_vec(logs, (scale.len(), 1), device).map_err(|err| err.to_string())?;
            weights.insert("dp.flows.0.logs".to_string(), tensor);
            continue;
        } else if let Some(module_name) = consumer_weight_name(graph, name) {
            module_name
        } else {
            // Shape constants and the like.
            continue;
        };
        let tensor = weight
            .to_candle(device)
            .map_err(|err| format!("weight {name}: {err}"))?
            .to_dtype(DType::F32)
            .map_err(|err| format!("weight {name}: {err}"))?;
        weights.insert(module_name, tensor);
    }
    if !weights.contains_key("dp.flows.0.logs") {
        return Err(
            "the duration predictor's affine flow (dp.flows.0) is missing; is this a Piper voice exported for inference?"
                .into(),
        );
    }
    Ok(weights)
}

/// A named node's integer-list attribute, e.g. a Conv's `dilations`.
fn node_ints(graph: &OnnxGraph, node_name: &str, attribute: &str) -> Option<Vec<i64>> {
    let node = graph.nodes.iter().find(|node| node.name == node_name)?;
    match node.attribute(attribute)? {
        AttributeValue::Ints(values) => Some(values.clone()),
        AttributeValue::Int(value) => Some(vec![*value]),
        _ => None,
    }
}

fn dims(weights: &HashMap<String, Tensor>, name: &str) -> Result<Vec<usize>, String> {
    weights
        .get(name)
        .map(|tensor| tensor.dims().to_vec())
        .ok_or_else(|| format!("weight {name} is missing"))
}

/// The network's shape, from the weights' shapes and the decoder's Conv attributes.
fn vits_config(
    graph: &OnnxGraph,
    weights: &HashMap<String, Tensor>,
    num_symbols: usize,
) -> Result<Config, String> {
    let emb = dims(weights, "enc_p.emb.weight")?;
    let (n_vocab, hidden_channels) = match emb.as_slice() {
        [n_vocab, hidden] => (*n_vocab, *hidden),
        other => return Err(format!("the phoneme embedding has shape {other:?}")),
    };
    if n_vocab != num_symbols {
        return Err(format!(
            "the voice has {n_vocab} phoneme embeddings but its .onnx.json says {num_symbols} symbols"
        ));
    }
    let inter_channels = dims(weights, "enc_p.proj.weight")?[0] / 2;
    let ffn = dims(weights, "enc_p.encoder.ffn_layers.0.conv_1.weight")?;
    let n_layers = (0..)
        .take_while(|layer_idx| {
            weights.contains_key(&format!(
                "enc_p.encoder.attn_layers.{layer_idx}.conv_q.weight"
            ))
        })
        .count();
    let head_channels = *dims(weights, "enc_p.encoder.attn_layers.0.emb_rel_k")?
        .last()
        .ok_or("emb_rel_k has no dimensions")?;
    let resblock = if weights.contains_key("dec.resblocks.0.convs1.0.weight") {
        "1"
    } else {
        "2"
    };
    let mut upsample_rates = Vec::new();
    let mut upsample_kernel_sizes = Vec::new();
    for stage_idx in 0.. {
        let name = format!("dec.ups.{stage_idx}.weight");
        if !weights.contains_key(&name) {
            break;
        }
        upsample_kernel_sizes.push(dims(weights, &name)?[2]);
        let strides = node_ints(
            graph,
            &format!("/dec/ups.{stage_idx}/ConvTranspose"),
            "strides",
        )
        .ok_or_else(|| format!("the graph has no ConvTranspose node for dec.ups.{stage_idx}"))?;
        upsample_rates.push(strides.first().copied().unwrap_or(1) as usize);
    }
    let n_blocks = (0..)
        .take_while(|block_idx| {
            weights.contains_key(&format!("dec.resblocks.{block_idx}.convs.0.weight"))
                || weights.contains_key(&format!("dec.resblocks.{block_idx}.convs1.0.weight"))
        })
        .count();
    if upsample_rates.is_empty() || n_blocks % upsample_rates.len() != 0 {
        return Err(format!(
            "the decoder has {} upsampling stages and {n_blocks} residual blocks",
            upsample_rates.len()
        ));
    }
    let conv_list = if resblock == "1" { "convs1" } else { "convs" };
    let mut resblock_kernel_sizes = Vec::new();
    let mut resblock_dilation_sizes = Vec::new();
    for block_idx in 0..n_blocks / upsample_rates.len() {
        resblock_kernel_sizes.push(
            dims(
                weights,
                &format!("dec.resblocks.{block_idx}.{conv_list}.0.weight"),
            )?[2],
        );
        let mut dilations = Vec::new();
        for conv_idx in 0.. {
            let node = format!("/dec/resblocks.{block_idx}/{conv_list}.{conv_idx}/Conv");
            match node_ints(graph, &node, "dilations") {
                Some(values) => dilations.push(values.first().copied().unwrap_or(1) as usize),
                None => break,
            }
        }
        if dilations.is_empty() {
            return Err(format!(
                "the graph has no Conv nodes for dec.resblocks.{block_idx}"
            ));
        }
        resblock_dilation_sizes.push(dilations);
    }
    Ok(Config {
        n_vocab,
        inter_channels,
        hidden_channels,
        filter_channels: ffn[0],
        n_heads: hidden_channels / head_channels.max(1),
        n_layers,
        kernel_size: ffn[2],
        resblock: resblock.into(),
        resblock_kernel_sizes,
        resblock_dilation_sizes,
        upsample_rates,
        upsample_initial_channel: dims(weights, "dec.conv_pre.weight")?[0],
        upsample_kernel_sizes,
    })
}
