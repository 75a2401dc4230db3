//! Silero VAD v5 (16 kHz) ported to candle: the default voice detector.
//!
//! Silero VAD is a small (309,633 parameters) recurrent network that scores each 32 ms
//! chunk of 16 kHz audio with the probability that it holds speech. It ships as ONNX and
//! TorchScript only; running it in candle keeps the assistant free of an ONNX runtime,
//! and the weights are read straight from either the ONNX file users download
//! (`onnx-community/silero-vad`) or the safetensors export used by the tests.
//!
//! Per chunk the network computes, following the upstream reference
//! (`silero_vad/tinygrad_model.py`): the 512 new samples with the previous 64 samples of
//! context in front (576 samples), reflect-padded by 64 samples on the right; a
//! short-time Fourier transform done as a strided convolution with a fixed basis (256
//! taps, hop 128, 129 frequency bins of real and imaginary parts) and its magnitude; four
//! 3-tap convolutions with ReLU (the middle two with stride 2) that shrink time to one
//! step; an LSTM cell whose state (h, c) carries over between chunks; then ReLU, a 1x1
//! convolution and a sigmoid.
//!
//! [`SileroVad`] is the stateless network, shareable between streams; [`SileroDetector`]
//! holds one stream's context and recurrent state and implements [`VoiceDetector`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, VarBuilder};

use super::{VAD_FRAME_SAMPLES, VAD_SAMPLE_RATE_HZ, VadError, VoiceDetector};
use crate::models::onnx::OnnxModel;

/// Samples of the previous chunk prepended to each new one, at 16 kHz.
pub const SILERO_CONTEXT_SAMPLES: usize = 64;
/// Width of the LSTM state, in values per layer of (h, c).
pub const SILERO_HIDDEN_SIZE: usize = 128;

/// Output channels, stride and tensor name of the four encoder convolutions. The first
/// reads the magnitude spectrum; the last feeds the LSTM.
const ENCODER: [(usize, usize, &str); 4] = [
    (128, 1, "conv1"),
    (64, 2, "conv2"),
    (64, 2, "conv3"),
    (SILERO_HIDDEN_SIZE, 1, "conv4"),
];

/// The shape of the 16 kHz network, with the field names of the upstream code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SileroConfig {
    /// The sample rate the weights were trained for, in Hz.
    pub sampling_rate: u32,
    /// New samples per chunk.
    pub num_samples: usize,
    /// Samples of the previous chunk prepended to each chunk.
    pub context_size: usize,
    /// Taps of the STFT basis (the FFT size), in samples.
    pub n_fft: usize,
    /// Hop between STFT frames, in samples.
    pub stride: usize,
    /// Samples of reflect padding added on the right before the STFT.
    pub pad: usize,
    /// Width of the LSTM cell.
    pub hidden_size: usize,
}

impl Default for SileroConfig {
    /// Silero VAD v5 at 16 kHz.
    fn default() -> Self {
        Self {
            sampling_rate: VAD_SAMPLE_RATE_HZ,
            num_samples: VAD_FRAME_SAMPLES,
            context_size: SILERO_CONTEXT_SAMPLES,
            n_fft: 256,
            stride: 128,
            pad: 64,
            hidden_size: SILERO_HIDDEN_SIZE,
        }
    }
}

impl SileroConfig {
    /// Frequency bins of the STFT: `n_fft / 2 + 1`.
    pub fn cutoff(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Samples the network reads per chunk: context plus new samples.
    pub fn input_samples(&self) -> usize {
        self.context_size + self.num_samples
    }

    fn validate(&self) -> candle_core::Result<()> {
        let input = self.input_samples();
        if self.n_fft == 0 || self.stride == 0 || self.num_samples == 0 || self.hidden_size == 0 {
            candle_core::bail!("Silero config sizes must be positive: {self:?}");
        }
        if self.pad >= input || input + self.pad < self.n_fft {
            candle_core::bail!(
                "Silero config does not fit: {input} input samples, {} of padding, n_fft {}",
                self.pad,
                self.n_fft
            );
        }
        Ok(())
    }
}

/// Gather indices that turn a chunk of `len` samples into STFT frames: the chunk is
/// reflect-padded by `pad` on the right (as `torch.nn.functional.pad(mode="reflect")`:
/// the samples, then `x[len-2], x[len-3], …`), then cut into frames of `n_fft` samples
/// every `stride` samples, laid end to end. Returns the indices and the frame count.
fn frame_index(len: usize, pad: usize, n_fft: usize, stride: usize) -> (Vec<u32>, usize) {
    let padded: Vec<u32> = (0..len)
        .chain((0..pad).map(|i| len - 2 - i))
        .map(|i| i as u32)
        .collect();
    let frames = (padded.len() - n_fft) / stride + 1;
    let index = (0..frames)
        .flat_map(|frame| {
            padded[frame * stride..frame * stride + n_fft]
                .iter()
                .copied()
        })
        .collect();
    (index, frames)
}

/// The Silero VAD network. Stateless: the context and LSTM state are inputs, so one
/// instance can serve any number of streams (see [`SileroDetector`]).
#[derive(Debug, Clone)]
pub struct SileroVad {
    cfg: SileroConfig,
    device: Device,
    /// The padding and framing of a chunk of `cfg.input_samples()` samples, as gather
    /// indices (see [`frame_index`]), and the number of frames.
    frame_index: Tensor,
    frames: usize,
    /// The STFT basis transposed, [n_fft, 2 * cutoff]: real parts, then imaginary parts.
    /// A matrix product with the frames is the strided convolution upstream does, and
    /// several times faster in candle than `conv1d` with a 256-tap kernel.
    stft_basis_t: Tensor,
    encoder: Vec<Conv1d>,
    /// `[weight_ih | weight_hh]` transposed, [input + hidden, 4 * hidden], so the four
    /// gates (PyTorch order i, f, g, o) come from one matrix product.
    lstm_weight_t: Tensor,
    /// `bias_ih + bias_hh`, [1, 4 * hidden].
    lstm_bias: Tensor,
    /// The final 1x1 convolution as a [hidden, 1] matrix.
    final_weight_t: Tensor,
    /// Its bias, [1, 1].
    final_bias: Tensor,
}

impl SileroVad {
    /// Builds the network from weights named as in the safetensors export:
    /// `stft_conv.weight`, `conv1`..`conv4` (`weight`, `bias`), `lstm_cell.weight_ih`,
    /// `weight_hh`, `bias_ih`, `bias_hh`, and `final_conv` (`weight`, `bias`).
    pub fn new(cfg: &SileroConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        cfg.validate()?;
        let device = vb.device().clone();
        let cutoff = cfg.cutoff();
        let hidden = cfg.hidden_size;
        if ENCODER[3].0 != hidden {
            candle_core::bail!(
                "Silero's encoder ends in {} channels; hidden_size {hidden} does not match",
                ENCODER[3].0
            );
        }

        let stft_basis_t = vb
            .get((2 * cutoff, 1, cfg.n_fft), "stft_conv.weight")?
            .reshape((2 * cutoff, cfg.n_fft))?
            .t()?
            .contiguous()?;
        let mut encoder = Vec::with_capacity(ENCODER.len());
        let mut in_channels = cutoff;
        for (out_channels, stride, name) in ENCODER {
            let cfg = Conv1dConfig {
                padding: 1,
                stride,
                ..Default::default()
            };
            encoder.push(candle_nn::conv1d(
                in_channels,
                out_channels,
                3,
                cfg,
                vb.pp(name),
            )?);
            in_channels = out_channels;
        }

        let lstm = vb.pp("lstm_cell");
        let weight_ih = lstm.get((4 * hidden, hidden), "weight_ih")?;
        let weight_hh = lstm.get((4 * hidden, hidden), "weight_hh")?;
        let lstm_weight_t = Tensor::cat(&[&weight_ih, &weight_hh], 1)?
            .t()?
            .contiguous()?;
        let lstm_bias = (lstm.get(4 * hidden, "bias_ih")? + lstm.get(4 * hidden, "bias_hh")?)?
            .reshape((1, 4 * hidden))?;

        let final_conv = vb.pp("final_conv");
        let final_weight_t = final_conv
            .get((1, hidden, 1), "weight")?
            .reshape((hidden, 1))?;
        let final_bias = final_conv.get(1, "bias")?.reshape((1, 1))?;

        let (index, frames) = frame_index(cfg.input_samples(), cfg.pad, cfg.n_fft, cfg.stride);
        let frame_index = Tensor::new(index, &device)?;
        Ok(Self {
            cfg: cfg.clone(),
            device,
            frame_index,
            frames,
            stft_basis_t,
            encoder,
            lstm_weight_t,
            lstm_bias,
            final_weight_t,
            final_bias,
        })
    }

    /// Loads the 16 kHz network from a `.safetensors` file (names as in [`SileroVad::new`])
    /// or an `.onnx` export of Silero VAD v5, whose 16 kHz weights are found by name (see
    /// [`silero_tensors_from_onnx`]). Every failure is a [`VadError::Load`] naming the file.
    pub fn load(path: &Path, device: &Device) -> Result<Self, VadError> {
        let fail = |reason: String| VadError::Load {
            path: path.to_path_buf(),
            reason,
        };
        let cfg = SileroConfig::default();
        let bytes = std::fs::read(path).map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => fail("the file does not exist".into()),
            _ => fail(format!("cannot read it: {err}")),
        })?;
        let extension = path
            .extension()
            .and_then(|extension| extension.to_str())
            .map(str::to_ascii_lowercase);
        let tensors = match extension.as_deref() {
            Some("safetensors") => candle_core::safetensors::load_buffer(&bytes, device)
                .map_err(|err| fail(format!("not a readable safetensors file: {err}")))?,
            Some("onnx") => {
                let model = OnnxModel::parse(&bytes).map_err(|err| fail(err.to_string()))?;
                silero_tensors_from_onnx(&model, &cfg, device).map_err(fail)?
            }
            _ => {
                return Err(fail(
                    "unknown weights format: expected a .safetensors or .onnx file".into(),
                ));
            }
        };
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        Self::new(&cfg, vb).map_err(|err| {
            fail(format!(
                "the weights do not fit Silero VAD v5 at 16 kHz: {err}"
            ))
        })
    }

    /// The network's shape.
    pub fn config(&self) -> &SileroConfig {
        &self.cfg
    }

    /// The device its weights are on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A zero LSTM state, [2, batch, hidden], as at the start of a stream.
    pub fn zero_state(&self, batch: usize) -> candle_core::Result<Tensor> {
        Tensor::zeros((2, batch, self.cfg.hidden_size), DType::F32, &self.device)
    }

    /// Scores one chunk. `input` is [batch, context + new samples] (576 at 16 kHz: the
    /// last 64 samples of the previous input, then 512 new ones), `state` the LSTM state
    /// [2, batch, hidden] (h, then c). Returns the speech probability [batch, 1] and the
    /// new state.
    pub fn forward(&self, input: &Tensor, state: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let (batch, samples) = input.dims2()?;
        let hidden = self.cfg.hidden_size;
        let cfg = &self.cfg;
        let frames = if samples == cfg.input_samples() {
            input
                .index_select(&self.frame_index, 1)?
                .reshape((batch, self.frames, cfg.n_fft))?
        } else {
            if cfg.pad >= samples || samples + cfg.pad < cfg.n_fft {
                candle_core::bail!("a Silero input of {samples} samples is too short");
            }
            let (index, frames) = frame_index(samples, cfg.pad, cfg.n_fft, cfg.stride);
            input
                .index_select(&Tensor::new(index, &self.device)?, 1)?
                .reshape((batch, frames, cfg.n_fft))?
        };

        // The STFT, [batch, frames, 2 * cutoff]: real parts, then imaginary parts.
        let spectrum = frames.broadcast_matmul(&self.stft_basis_t)?;
        let cutoff = cfg.cutoff();
        let real = spectrum.narrow(2, 0, cutoff)?;
        let imaginary = spectrum.narrow(2, cutoff, cutoff)?;
        let magnitude = (real.sqr()? + imaginary.sqr()?)?.sqrt()?;
        // The encoder reads [batch, channels, time].
        let mut x = magnitude.transpose(1, 2)?.contiguous()?;
        for conv in &self.encoder {
            x = conv.forward(&x)?.relu()?;
        }
        // The encoder leaves one time step for a 576-sample chunk; the LSTM cell reads it.
        let x = x.reshape((batch, hidden))?;

        let h = state.get(0)?;
        let c = state.get(1)?;
        let gates = Tensor::cat(&[&x, &h], 1)?
            .matmul(&self.lstm_weight_t)?
            .broadcast_add(&self.lstm_bias)?;
        let sigmoids = candle_nn::ops::sigmoid(&gates)?;
        let input_gate = sigmoids.narrow(1, 0, hidden)?;
        let forget_gate = sigmoids.narrow(1, hidden, hidden)?;
        let output_gate = sigmoids.narrow(1, 3 * hidden, hidden)?;
        let cell_gate = gates.narrow(1, 2 * hidden, hidden)?.tanh()?;
        let c = ((forget_gate * c)? + (input_gate * cell_gate)?)?;
        let h = (output_gate * c.tanh()?)?;

        // Upstream averages the per-step probabilities over time; with one step that is
        // the probability itself.
        let logit = h
            .relu()?
            .matmul(&self.final_weight_t)?
            .broadcast_add(&self.final_bias)?;
        let probability = candle_nn::ops::sigmoid(&logit)?;
        let state = Tensor::stack(&[&h, &c], 0)?;
        Ok((probability, state))
    }
}

/// Module paths of the Silero weights in the ONNX exports (after any prefix such as
/// `model.` or `If_0_then_branch__Inline_0__`), and the names [`SileroVad::new`] reads.
pub const SILERO_ONNX_NAMES: [(&str, &str); 15] = [
    ("stft.forward_basis_buffer", "stft_conv.weight"),
    ("encoder.0.reparam_conv.weight", "conv1.weight"),
    ("encoder.0.reparam_conv.bias", "conv1.bias"),
    ("encoder.1.reparam_conv.weight", "conv2.weight"),
    ("encoder.1.reparam_conv.bias", "conv2.bias"),
    ("encoder.2.reparam_conv.weight", "conv3.weight"),
    ("encoder.2.reparam_conv.bias", "conv3.bias"),
    ("encoder.3.reparam_conv.weight", "conv4.weight"),
    ("encoder.3.reparam_conv.bias", "conv4.bias"),
    ("decoder.rnn.weight_ih", "lstm_cell.weight_ih"),
    ("decoder.rnn.weight_hh", "lstm_cell.weight_hh"),
    ("decoder.rnn.bias_ih", "lstm_cell.bias_ih"),
    ("decoder.rnn.bias_hh", "lstm_cell.bias_hh"),
    ("decoder.decoder.2.weight", "final_conv.weight"),
    ("decoder.decoder.2.bias", "final_conv.bias"),
];

/// The 16 kHz Silero weights of an ONNX export, named as [`SileroVad::new`] reads them.
///
/// Exports hold the weights as initializers (`model.encoder.0.reparam_conv.weight` in
/// `silero_vad_16k_op15.onnx`; `model.` and `model_8k.` side by side in the if-less
/// export) or as `Constant` nodes inside the branches of an `If` on the sample rate
/// (`If_0_then_branch__Inline_0__encoder.0.reparam_conv.weight` in `silero_vad.onnx`).
/// Weights are grouped by the prefix in front of the module path, and the group whose
/// STFT basis is [2 * cutoff, 1, n_fft] ([258, 1, 256]) is the 16 kHz network; the 8 kHz
/// one has a [130, 1, 128] basis.
pub fn silero_tensors_from_onnx(
    model: &OnnxModel,
    cfg: &SileroConfig,
    device: &Device,
) -> Result<HashMap<String, Tensor>, String> {
    let weights = model.graph.weights();
    // prefix → (our name → ONNX tensor), in file order of the prefixes.
    let mut groups: Vec<(&str, HashMap<&str, &crate::models::onnx::NamedTensor<'_>>)> = Vec::new();
    for weight in &weights {
        for (suffix, ours) in SILERO_ONNX_NAMES {
            let Some(prefix) = weight.name.strip_suffix(suffix) else {
                continue;
            };
            if !(prefix.is_empty() || prefix.ends_with(['.', '_', '/', ':'])) {
                continue;
            }
            let index = match groups.iter().position(|(p, _)| *p == prefix) {
                Some(index) => index,
                None => {
                    groups.push((prefix, HashMap::new()));
                    groups.len() - 1
                }
            };
            groups[index].1.entry(ours).or_insert(weight);
        }
    }

    let basis_dims = [2 * cfg.cutoff() as i64, 1, cfg.n_fft as i64];
    let describe = |prefix: &str| {
        if prefix.is_empty() {
            "(none)".to_string()
        } else {
            format!("`{prefix}`")
        }
    };
    let mut matching = groups.iter().filter(|(_, group)| {
        group
            .get("stft_conv.weight")
            .is_some_and(|basis| basis.tensor.dims == basis_dims)
    });
    let Some((prefix, group)) = matching.next() else {
        let found: Vec<String> = groups
            .iter()
            .map(|(prefix, group)| {
                let basis = group
                    .get("stft_conv.weight")
                    .map(|basis| format!("{:?}", basis.tensor.dims))
                    .unwrap_or_else(|| "none".into());
                format!("prefix {} (STFT basis {basis})", describe(prefix))
            })
            .collect();
        return Err(format!(
            "no 16 kHz Silero VAD weights in this ONNX file: expected a tensor named \
             `…stft.forward_basis_buffer` of shape {basis_dims:?}; found {}",
            if found.is_empty() {
                "no Silero weights at all".to_string()
            } else {
                found.join(", ")
            }
        ));
    };
    if let Some((other, _)) = matching.next() {
        return Err(format!(
            "this ONNX file holds more than one 16 kHz Silero VAD network (prefixes {} and {})",
            describe(prefix),
            describe(other)
        ));
    }

    let mut tensors = HashMap::with_capacity(SILERO_ONNX_NAMES.len());
    for (suffix, ours) in SILERO_ONNX_NAMES {
        let weight = group.get(ours).ok_or_else(|| {
            format!(
                "the 16 kHz Silero VAD weights (prefix {}) lack `{prefix}{suffix}`",
                describe(prefix)
            )
        })?;
        let tensor = weight
            .tensor
            .to_candle(device)
            .map_err(|err| format!("cannot read `{}`: {err}", weight.name))?;
        tensors.insert(ours.to_string(), tensor);
    }
    Ok(tensors)
}

/// One audio stream's Silero detector: the shared network, the last
/// [`SILERO_CONTEXT_SAMPLES`] samples and the LSTM state.
#[derive(Debug)]
pub struct SileroDetector {
    model: Arc<SileroVad>,
    /// The network's input for the next chunk: context, then room for the new samples.
    input: Vec<f32>,
    state: Tensor,
    zero_state: Tensor,
}

impl SileroDetector {
    /// A detector at the start of a stream.
    pub fn new(model: Arc<SileroVad>) -> Result<Self, VadError> {
        let zero_state = model.zero_state(1)?;
        Ok(Self {
            input: vec![0.0; model.config().input_samples()],
            state: zero_state.clone(),
            zero_state,
            model,
        })
    }

    /// Loads the weights (see [`SileroVad::load`]) and starts a stream.
    pub fn load(path: &Path, device: &Device) -> Result<Self, VadError> {
        Self::new(Arc::new(SileroVad::load(path, device)?))
    }

    /// The shared network.
    pub fn model(&self) -> &Arc<SileroVad> {
        &self.model
    }
}

impl VoiceDetector for SileroDetector {
    fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, VadError> {
        let cfg = self.model.config();
        let (context, new) = (cfg.context_size, cfg.num_samples);
        if frame.len() != new {
            return Err(VadError::FrameSize {
                expected: new,
                got: frame.len(),
            });
        }
        self.input[context..].copy_from_slice(frame);
        let input = Tensor::from_slice(&self.input, (1, context + new), self.model.device())?;
        let (probability, state) = self.model.forward(&input, &self.state)?;
        let probability = probability.flatten_all()?.to_vec1::<f32>()?[0];
        // Only a chunk that scored moves the stream on: its last samples become context.
        self.state = state;
        self.input.copy_within(new.., 0);
        Ok(probability)
    }

    fn reset(&mut self) {
        self.input.fill(0.0);
        self.state = self.zero_state.clone();
    }

    fn name(&self) -> &'static str {
        "silero"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Instant;

    /// `models/test/` (or `IDEADESK_TEST_MODELS`).
    fn test_model(name: &str) -> PathBuf {
        let dir = std::env::var_os("IDEADESK_TEST_MODELS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/test"));
        let path = dir.join("vad").join(name);
        assert!(
            path.is_file(),
            "{} is missing: run `make test-models`",
            path.display()
        );
        path
    }

    /// A file of the repository's test data (`tests/data/`).
    fn test_data(name: &str) -> PathBuf {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        assert!(
            path.is_file(),
            "{} is missing: it is part of the repository; restore it with `git checkout -- tests/data`",
            path.display()
        );
        path
    }

    fn safetensors_model() -> Arc<SileroVad> {
        let path = test_model("silero_vad_16k.safetensors");
        Arc::new(SileroVad::load(&path, &Device::Cpu).unwrap())
    }

    /// jfk.wav as f32 samples, zero-padded to whole frames as upstream does.
    fn jfk() -> Vec<f32> {
        let mut reader = hound::WavReader::open(test_data("jfk.wav")).unwrap();
        let spec = reader.spec();
        assert_eq!((spec.sample_rate, spec.channels), (VAD_SAMPLE_RATE_HZ, 1));
        assert_eq!(spec.sample_format, hound::SampleFormat::Int);
        let scale = (1u32 << (spec.bits_per_sample - 1)) as f32;
        let mut samples: Vec<f32> = reader
            .samples::<i32>()
            .map(|sample| sample.unwrap() as f32 / scale)
            .collect();
        samples.resize(
            samples.len().div_ceil(VAD_FRAME_SAMPLES) * VAD_FRAME_SAMPLES,
            0.0,
        );
        samples
    }

    /// The probability of every frame of `audio`, from a fresh detector.
    fn probabilities(model: &Arc<SileroVad>, audio: &[f32]) -> Vec<f32> {
        let mut detector = SileroDetector::new(model.clone()).unwrap();
        audio
            .chunks(VAD_FRAME_SAMPLES)
            .map(|frame| detector.speech_probability(frame).unwrap())
            .collect()
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[derive(serde::Deserialize)]
    struct Reference {
        chunk_samples: usize,
        probabilities: Vec<f32>,
    }

    /// Each weights file against onnxruntime running the same weights (see
    /// scripts/dev/silero_reference.py). The wheel's safetensors and ONNX files hold
    /// different checkpoints, so each has its own reference.
    #[test]
    fn matches_onnxruntime_on_jfk() {
        let audio = jfk();
        let check = |weights: &str, reference: &str| {
            let reference: Reference = serde_json::from_str(reference).unwrap();
            assert_eq!(reference.chunk_samples, VAD_FRAME_SAMPLES);
            let model = Arc::new(SileroVad::load(&test_model(weights), &Device::Cpu).unwrap());
            let start = Instant::now();
            let ours = probabilities(&model, &audio);
            let per_frame = start.elapsed() / ours.len() as u32;
            let diff = max_abs_diff(&ours, &reference.probabilities);
            eprintln!(
                "silero ({weights}) vs onnxruntime on jfk.wav: {} frames, max abs diff \
                 {diff:.2e}, {:.0} µs per frame (CPU, test profile)",
                ours.len(),
                per_frame.as_secs_f64() * 1e6
            );
            assert!(diff < 1e-3, "{weights}: max abs diff {diff}");
            // The speech is found: most frames of the speech score high.
            let speech = ours.iter().filter(|&&p| p > 0.5).count();
            assert!(speech > ours.len() / 2, "{weights}: {speech} speech frames");
        };
        check(
            "silero_vad_16k.safetensors",
            include_str!("../../tests/data/silero_jfk_reference_safetensors.json"),
        );
        check(
            "silero_vad.onnx",
            include_str!("../../tests/data/silero_jfk_reference.json"),
        );
    }

    /// The ONNX and safetensors loaders build the same network from the same weights: the
    /// 16 kHz tensors found in the ONNX file, saved as safetensors and loaded back, score
    /// jfk.wav as the ONNX file does.
    #[test]
    fn onnx_and_safetensors_loaders_agree() {
        let onnx_path = test_model("silero_vad.onnx");
        let onnx = Arc::new(SileroVad::load(&onnx_path, &Device::Cpu).unwrap());
        let model = OnnxModel::load(&onnx_path).unwrap();
        let tensors =
            silero_tensors_from_onnx(&model, &SileroConfig::default(), &Device::Cpu).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let converted = dir.path().join("converted.safetensors");
        candle_core::safetensors::save(&tensors, &converted).unwrap();
        let safetensors = Arc::new(SileroVad::load(&converted, &Device::Cpu).unwrap());

        let audio = jfk();
        let diff = max_abs_diff(
            &probabilities(&onnx, &audio),
            &probabilities(&safetensors, &audio),
        );
        eprintln!("silero ONNX vs safetensors loader on jfk.wav: max abs diff {diff:.2e}");
        assert!(diff < 1e-4, "max abs diff {diff}");

        // A cut-short ONNX file is a load error, not a panic.
        let bytes = std::fs::read(&onnx_path).unwrap();
        let truncated = dir.path().join("truncated.onnx");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        let err = SileroVad::load(&truncated, &Device::Cpu).unwrap_err();
        assert!(matches!(err, VadError::Load { .. }), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn reset_restarts_the_stream() {
        let model = safetensors_model();
        let audio = jfk();
        let mut detector = SileroDetector::new(model.clone()).unwrap();
        let first: Vec<f32> = audio[..8 * VAD_FRAME_SAMPLES]
            .chunks(VAD_FRAME_SAMPLES)
            .map(|frame| detector.speech_probability(frame).unwrap())
            .collect();
        detector.reset();
        let again: Vec<f32> = audio[..8 * VAD_FRAME_SAMPLES]
            .chunks(VAD_FRAME_SAMPLES)
            .map(|frame| detector.speech_probability(frame).unwrap())
            .collect();
        assert_eq!(first, again);
        assert_eq!(detector.name(), "silero");
    }

    #[test]
    fn non_speech_scores_low() {
        // onnxruntime gives at most 0.009 on silence and 0.003 on the sine.
        let model = safetensors_model();
        let check = |name: &str, audio: Vec<f32>| {
            let got = probabilities(&model, &audio);
            assert_eq!(got.len(), 31, "{name}");
            let max = got.iter().copied().fold(0.0, f32::max);
            eprintln!("silero on {name}: max {max:.4}");
            assert!(max < 0.05, "{name}: a frame scored {max}: {got:?}");
        };
        let one_second = VAD_SAMPLE_RATE_HZ as usize / VAD_FRAME_SAMPLES * VAD_FRAME_SAMPLES;
        check("digital silence", vec![0.0; one_second]);
        check(
            "440 Hz sine at half scale",
            (0..one_second)
                .map(|i| {
                    let t = i as f32 / VAD_SAMPLE_RATE_HZ as f32;
                    0.5 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
                })
                .collect(),
        );
    }

    #[test]
    fn wrong_frame_size_is_an_error() {
        let mut detector = SileroDetector::new(safetensors_model()).unwrap();
        for len in [0, 511, 513, 576] {
            match detector.speech_probability(&vec![0.0; len]) {
                Err(VadError::FrameSize { expected, got }) => {
                    assert_eq!((expected, got), (VAD_FRAME_SAMPLES, len));
                }
                other => panic!("{len} samples gave {other:?}"),
            }
        }
    }

    #[test]
    fn bad_weights_files_are_load_errors() {
        let dir = tempfile::tempdir().unwrap();
        let safetensors = std::fs::read(test_model("silero_vad_16k.safetensors")).unwrap();
        // A valid file with one tensor renamed away.
        let renamed = {
            let mut tensors =
                candle_core::safetensors::load_buffer(&safetensors, &Device::Cpu).unwrap();
            let bias = tensors.remove("conv2.bias").unwrap();
            tensors.insert("conv2.b".into(), bias);
            let path = dir.path().join("renamed.safetensors");
            candle_core::safetensors::save(&tensors, &path).unwrap();
            std::fs::read(path).unwrap()
        };
        let check = |name: &str, bytes: &[u8], want: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            match SileroVad::load(&path, &Device::Cpu) {
                Err(err @ VadError::Load { .. }) => {
                    let text = err.to_string();
                    assert!(
                        text.contains(want),
                        "{name}: {text} should mention {want:?}"
                    );
                    assert!(text.contains(name), "{name}: {text} should name the file");
                }
                Err(other) => panic!("{name}: expected a load error, got {other}"),
                Ok(_) => panic!("{name}: loaded"),
            }
        };
        check(
            "truncated.safetensors",
            &safetensors[..safetensors.len() / 2],
            "safetensors",
        );
        check("empty.safetensors", b"", "safetensors");
        check("renamed.safetensors", &renamed, "conv2.bias");
        check("truncated.onnx", &safetensors[..100], "ONNX");
        check("weights.bin", &safetensors, "unknown weights format");

        let missing = dir.path().join("absent.safetensors");
        let err = SileroVad::load(&missing, &Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(matches!(err, VadError::Load { .. }));
    }
}
