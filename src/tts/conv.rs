//! A fused 1-D convolution for the CPU, used by the HiFi-GAN decoder's residual blocks,
//! where almost all of a Piper voice's time goes.
//!
//! candle's CPU `conv1d` lowers a convolution to one matrix product over an im2col copy
//! of the input: at the last decoder stage that copy is kernel-size times the activations
//! (tens of MB per convolution), and the leaky ReLU before each convolution and the
//! residual add after it are separate passes over memory. Here a convolution is the sum
//! of one small matrix product per kernel tap, over a shifted view of the input, computed
//! tile by tile along time so each tile's input and output stay in cache. The leaky ReLU
//! is applied while the padded input is laid out, and the output starts from the bias
//! plus the residual, so a residual-block convolution is a single pass.
//!
//! The result agrees with candle's `conv1d` to float rounding (tested below).

use rayon::prelude::*;

/// Floats of one output tile (channels × time): small enough to stay in a core's L2.
const TILE_FLOATS: usize = 128 * 1024;
/// The shortest and longest tile along time.
const MIN_TILE_LEN: usize = 256;
const MAX_TILE_LEN: usize = 8192;

/// A 1-D convolution with "same" padding, its weights laid out for the fused kernel.
#[derive(Debug, Clone)]
pub struct FusedConv1d {
    c_in: usize,
    c_out: usize,
    kernel_size: usize,
    dilation: usize,
    /// [kernel tap][c_out][c_in].
    taps: Vec<f32>,
    /// PyTorch's layout, [c_out][c_in × kernel], for the single-product path.
    weight: Vec<f32>,
    /// [c_out]; zeros when the convolution has no bias.
    bias: Vec<f32>,
}

/// Activations: `n_channels` rows of `n_steps` samples, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// The number of rows.
    pub n_channels: usize,
    /// The length of each row.
    pub n_steps: usize,
    /// `n_channels × n_steps` values.
    pub data: Vec<f32>,
}

impl Signal {
    /// Rows `[start, start + n_rows)` as a signal of their own.
    pub fn rows(&self, start: usize, n_rows: usize) -> Signal {
        Signal::new(
            n_rows,
            self.n_steps,
            self.data[start * self.n_steps..(start + n_rows) * self.n_steps].to_vec(),
        )
    }

    /// The rows in reverse order.
    pub fn flip_rows(&self) -> Signal {
        let data = self
            .data
            .chunks(self.n_steps.max(1))
            .rev()
            .flatten()
            .copied()
            .collect();
        Signal::new(self.n_channels, self.n_steps, data)
    }

    /// Wraps row-major data.
    pub fn new(n_channels: usize, n_steps: usize, data: Vec<f32>) -> Self {
        debug_assert_eq!(data.len(), n_channels * n_steps);
        Self {
            n_channels,
            n_steps,
            data,
        }
    }
}

impl FusedConv1d {
    /// Takes weights in PyTorch's layout, [c_out][c_in][kernel], and an optional bias.
    pub fn new(
        weight: &[f32],
        bias: Option<&[f32]>,
        c_out: usize,
        c_in: usize,
        kernel_size: usize,
        dilation: usize,
    ) -> Self {
        let mut taps = vec![0f32; weight.len()];
        for out_idx in 0..c_out {
            for in_idx in 0..c_in {
                for tap_idx in 0..kernel_size {
                    taps[(tap_idx * c_out + out_idx) * c_in + in_idx] =
                        weight[(out_idx * c_in + in_idx) * kernel_size + tap_idx];
                }
            }
        }
        Self {
            c_in,
            c_out,
            kernel_size,
            dilation,
            taps,
            weight: weight.to_vec(),
            bias: bias.map_or_else(|| vec![0.0; c_out], <[f32]>::to_vec),
        }
    }

    /// The number of output channels.
    pub fn c_out(&self) -> usize {
        self.c_out
    }

    /// `conv(leaky_relu(input, slope)) + bias + residual`, with "same" padding. `slope`
    /// `None` skips the activation; `residual`, when given, has the output's shape.
    pub fn forward(&self, input: &Signal, slope: Option<f32>, residual: Option<&Signal>) -> Signal {
        assert_eq!(input.n_channels, self.c_in, "input channels");
        let n_steps = input.n_steps;
        let pad = (self.kernel_size - 1) * self.dilation / 2;
        let padded_len = n_steps + 2 * pad;
        // The activated input with zero padding on both sides.
        let mut padded = vec![0f32; self.c_in * padded_len];
        padded
            .par_chunks_mut(padded_len)
            .zip(input.data.par_chunks(n_steps))
            .for_each(|(row, source)| {
                let body = &mut row[pad..pad + n_steps];
                match slope {
                    Some(slope) => {
                        for (out, &value) in body.iter_mut().zip(source) {
                            *out = if value >= 0.0 { value } else { value * slope };
                        }
                    }
                    None => body.copy_from_slice(source),
                }
            });

        // The output starts as bias + residual.
        let mut output = vec![0f32; self.c_out * n_steps];
        output
            .par_chunks_mut(n_steps)
            .enumerate()
            .for_each(|(out_idx, row)| {
                let bias = self.bias[out_idx];
                match residual {
                    Some(residual) => {
                        let source = &residual.data[out_idx * n_steps..(out_idx + 1) * n_steps];
                        for (out, &value) in row.iter_mut().zip(source) {
                            *out = value + bias;
                        }
                    }
                    None => row.fill(bias),
                }
            });

        let tile_len = (TILE_FLOATS / self.c_in.max(self.c_out)).clamp(MIN_TILE_LEN, MAX_TILE_LEN);
        let n_tiles = n_steps.div_ceil(tile_len);
        let output_ptr = SharedPtr(output.as_mut_ptr());
        let run_tile = |tile_idx: usize, parallelism: gemm::Parallelism| {
            let start = tile_idx * tile_len;
            let len = tile_len.min(n_steps - start);
            for tap_idx in 0..self.kernel_size {
                let lhs = &self.taps[tap_idx * self.c_out * self.c_in..];
                let rhs = &padded[start + tap_idx * self.dilation..];
                // SAFETY: tiles write disjoint column ranges [start, start + len) of the
                // output; every read stays inside `taps` ([c_out][c_in] per tap) and
                // `padded` (row stride padded_len, columns < start + len + (K-1)·d ≤
                // padded_len); the output outlives this loop.
                unsafe {
                    gemm::gemm(
                        self.c_out,
                        len,
                        self.c_in,
                        output_ptr.get().add(start),
                        1,
                        n_steps as isize,
                        true,
                        lhs.as_ptr(),
                        1,
                        self.c_in as isize,
                        rhs.as_ptr(),
                        1,
                        padded_len as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        parallelism,
                    );
                }
            }
        };
        let n_threads = rayon::current_num_threads();
        if n_tiles < n_threads {
            // Too short to share out by tiles (the flow's few hundred frames): one product
            // over an im2col copy, which is small here, using every thread.
            let n_rows = self.c_in * self.kernel_size;
            let mut columns = vec![0f32; n_rows * n_steps];
            columns
                .par_chunks_mut(n_steps)
                .enumerate()
                .for_each(|(row_idx, row)| {
                    let (in_idx, tap_idx) =
                        (row_idx / self.kernel_size, row_idx % self.kernel_size);
                    let start = in_idx * padded_len + tap_idx * self.dilation;
                    row.copy_from_slice(&padded[start..start + n_steps]);
                });
            // SAFETY: `output` is [c_out][n_steps], `weight` [c_out][n_rows] and `columns`
            // [n_rows][n_steps], all row-major and fully inside their buffers.
            unsafe {
                gemm::gemm(
                    self.c_out,
                    n_steps,
                    n_rows,
                    output.as_mut_ptr(),
                    1,
                    n_steps as isize,
                    true,
                    self.weight.as_ptr(),
                    1,
                    n_rows as isize,
                    columns.as_ptr(),
                    1,
                    n_steps as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(n_threads),
                );
            }
        } else {
            (0..n_tiles)
                .into_par_iter()
                .for_each(|tile_idx| run_tile(tile_idx, gemm::Parallelism::None));
        }
        Signal::new(self.c_out, n_steps, output)
    }
}

/// A transposed 1-D convolution (upsampling by `stride`), for the decoder's `ups`.
///
/// One matrix product makes every output contribution, [c_out × kernel] × time, and an
/// overlap-add places them; candle's CPU path does the same but with separate passes
/// for the activation and the layout.
#[derive(Debug, Clone)]
pub struct FusedConvTranspose1d {
    c_in: usize,
    c_out: usize,
    kernel_size: usize,
    stride: usize,
    padding: usize,
    /// [c_out × kernel][c_in].
    weight_t: Vec<f32>,
    bias: Vec<f32>,
}

impl FusedConvTranspose1d {
    /// Takes weights in PyTorch's layout, [c_in][c_out][kernel], and an optional bias.
    pub fn new(
        weight: &[f32],
        bias: Option<&[f32]>,
        c_in: usize,
        c_out: usize,
        kernel_size: usize,
        stride: usize,
        padding: usize,
    ) -> Self {
        let mut weight_t = vec![0f32; weight.len()];
        for in_idx in 0..c_in {
            for out_idx in 0..c_out {
                for tap_idx in 0..kernel_size {
                    weight_t[(out_idx * kernel_size + tap_idx) * c_in + in_idx] =
                        weight[(in_idx * c_out + out_idx) * kernel_size + tap_idx];
                }
            }
        }
        Self {
            c_in,
            c_out,
            kernel_size,
            stride,
            padding,
            weight_t,
            bias: bias.map_or_else(|| vec![0.0; c_out], <[f32]>::to_vec),
        }
    }

    /// `conv_transpose(leaky_relu(input, slope)) + bias`; `slope` `None` skips the
    /// activation.
    pub fn forward(&self, input: &Signal, slope: Option<f32>) -> Signal {
        assert_eq!(input.n_channels, self.c_in, "input channels");
        let n_in = input.n_steps;
        let n_out = ((n_in - 1) * self.stride + self.kernel_size).saturating_sub(2 * self.padding);
        let activated: Vec<f32> = match slope {
            Some(slope) => input
                .data
                .iter()
                .map(|&value| if value >= 0.0 { value } else { value * slope })
                .collect(),
            None => input.data.clone(),
        };
        let n_rows = self.c_out * self.kernel_size;
        let mut contributions = vec![0f32; n_rows * n_in];
        // SAFETY: `contributions` is [n_rows][n_in], `weight_t` [n_rows][c_in] and
        // `activated` [c_in][n_in], all row-major and fully inside their buffers.
        unsafe {
            gemm::gemm(
                n_rows,
                n_in,
                self.c_in,
                contributions.as_mut_ptr(),
                1,
                n_in as isize,
                false,
                self.weight_t.as_ptr(),
                1,
                self.c_in as isize,
                activated.as_ptr(),
                1,
                n_in as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(rayon::current_num_threads()),
            );
        }
        let mut output = vec![0f32; self.c_out * n_out];
        output
            .par_chunks_mut(n_out)
            .enumerate()
            .for_each(|(out_idx, row)| {
                row.fill(self.bias[out_idx]);
                for tap_idx in 0..self.kernel_size {
                    let source =
                        &contributions[(out_idx * self.kernel_size + tap_idx) * n_in..][..n_in];
                    for (in_step, &value) in source.iter().enumerate() {
                        let position = in_step * self.stride + tap_idx;
                        if let Some(out_step) = position.checked_sub(self.padding)
                            && out_step < n_out
                        {
                            row[out_step] += value;
                        }
                    }
                }
            });
        Signal::new(self.c_out, n_out, output)
    }
}

/// A raw pointer the tiles share; each writes only its own columns.
#[derive(Clone, Copy)]
struct SharedPtr(*mut f32);

// SAFETY: see the tile loop: writes through the pointer never overlap.
unsafe impl Send for SharedPtr {}
unsafe impl Sync for SharedPtr {}

impl SharedPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn pseudo_random(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    /// Our convolution against candle's, with the activation and residual done by candle.
    fn check(c_in: usize, c_out: usize, kernel_size: usize, dilation: usize, n_steps: usize) {
        let device = Device::Cpu;
        let weight = pseudo_random(c_out * c_in * kernel_size, 1);
        let bias = pseudo_random(c_out, 2);
        let input = pseudo_random(c_in * n_steps, 3);
        let residual = pseudo_random(c_out * n_steps, 4);
        let slope = 0.1f32;

        let x = Tensor::from_slice(&input, (1, c_in, n_steps), &device).unwrap();
        let activated = x.maximum(&(&x * f64::from(slope)).unwrap()).unwrap();
        let w = Tensor::from_slice(&weight, (c_out, c_in, kernel_size), &device).unwrap();
        let b = Tensor::from_slice(&bias, (1, c_out, 1), &device).unwrap();
        let r = Tensor::from_slice(&residual, (1, c_out, n_steps), &device).unwrap();
        let pad = (kernel_size - 1) * dilation / 2;
        let expected = activated
            .conv1d(&w, pad, 1, dilation, 1)
            .unwrap()
            .broadcast_add(&b)
            .unwrap()
            .add(&r)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();

        let conv = FusedConv1d::new(&weight, Some(&bias), c_out, c_in, kernel_size, dilation);
        let got = conv.forward(
            &Signal::new(c_in, n_steps, input),
            Some(slope),
            Some(&Signal::new(c_out, n_steps, residual)),
        );
        assert_eq!(got.data.len(), expected.len());
        let max_diff = got
            .data
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            max_diff < 1e-4,
            "c_in {c_in} c_out {c_out} k {kernel_size} d {dilation} n {n_steps}: max |Δ| {max_diff}"
        );
    }

    fn check_transpose(
        c_in: usize,
        c_out: usize,
        kernel_size: usize,
        stride: usize,
        n_steps: usize,
    ) {
        let device = Device::Cpu;
        let padding = (kernel_size - stride) / 2;
        let weight = pseudo_random(c_in * c_out * kernel_size, 5);
        let bias = pseudo_random(c_out, 6);
        let input = pseudo_random(c_in * n_steps, 7);
        let x = Tensor::from_slice(&input, (1, c_in, n_steps), &device).unwrap();
        let activated = x.maximum(&(&x * 0.1).unwrap()).unwrap();
        let w = Tensor::from_slice(&weight, (c_in, c_out, kernel_size), &device).unwrap();
        let b = Tensor::from_slice(&bias, (1, c_out, 1), &device).unwrap();
        let expected = activated
            .conv_transpose1d(&w, padding, 0, stride, 1, 1)
            .unwrap()
            .broadcast_add(&b)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let conv = FusedConvTranspose1d::new(
            &weight,
            Some(&bias),
            c_in,
            c_out,
            kernel_size,
            stride,
            padding,
        );
        let got = conv.forward(&Signal::new(c_in, n_steps, input), Some(0.1));
        assert_eq!(got.data.len(), expected.len(), "length");
        let max_diff = got
            .data
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            max_diff < 1e-4,
            "transpose c_in {c_in} c_out {c_out} k {kernel_size} s {stride}: {max_diff}"
        );
    }

    #[test]
    fn transpose_agrees_with_candle_conv_transpose1d() {
        check_transpose(8, 4, 16, 8, 30);
        check_transpose(64, 32, 8, 4, 500);
        check_transpose(256, 128, 16, 8, 100);
        check_transpose(3, 2, 4, 2, 2);
    }

    #[test]
    fn agrees_with_candle_conv1d() {
        check(4, 3, 3, 1, 10);
        check(32, 32, 7, 12, 5000);
        check(64, 64, 5, 6, 1500);
        check(16, 1, 7, 1, 777);
        check(8, 8, 3, 2, 2);
        check(128, 128, 3, 1, 9000);
    }
}
