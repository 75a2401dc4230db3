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
//! On CPUs with AVX-512 the per-tap products give way to a direct kernel: eight output
//! channels by 48 time steps live in registers while every input channel and tap is
//! added in, so the output is read and written once per convolution instead of once per
//! tap. That matters most where channels are few (the last stages have 64 and 32) and a
//! per-tap product is too small to keep the multipliers busy.
//!
//! The result agrees with candle's `conv1d` to float rounding (tested below, on both
//! kernels).

use rayon::prelude::*;

/// Floats of one output tile (channels × time): small enough to stay in a core's L2.
const TILE_FLOATS: usize = 128 * 1024;
/// The shortest and longest tile along time.
const MIN_TILE_LEN: usize = 256;
const MAX_TILE_LEN: usize = 8192;
/// Output channels one pass of the direct kernel keeps in registers.
const DIRECT_CHANNELS: usize = 8;
/// Time steps one pass of the direct kernel keeps in registers (three of 16 floats).
const DIRECT_STEPS: usize = 48;

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
    /// For the AVX-512 direct kernel, [c_out / 8][c_in][kernel tap][8]; `None` where the
    /// CPU lacks AVX-512 or `c_out` is not a multiple of 8.
    direct: Option<Vec<f32>>,
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
        let direct = (direct::available() && c_out.is_multiple_of(DIRECT_CHANNELS)).then(|| {
            direct::pack_weights(c_out, c_in, kernel_size, |out_idx, in_idx, tap_idx| {
                weight[(out_idx * c_in + in_idx) * kernel_size + tap_idx]
            })
        });
        Self {
            c_in,
            c_out,
            kernel_size,
            dilation,
            taps,
            weight: weight.to_vec(),
            bias: bias.map_or_else(|| vec![0.0; c_out], <[f32]>::to_vec),
            direct,
        }
    }

    /// The same convolution without the AVX-512 direct kernel (for tests and comparison).
    pub fn without_direct_kernel(mut self) -> Self {
        self.direct = None;
        self
    }

    /// Whether this convolution runs the AVX-512 direct kernel.
    pub fn uses_direct_kernel(&self) -> bool {
        self.direct.is_some()
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
                            *out = leaky_relu(value, slope);
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
        if let Some(packed) = &self.direct {
            // Work items are (time tile, group of 8 output channels), so short signals
            // still share out across threads.
            let n_groups = self.c_out / DIRECT_CHANNELS;
            let group_weights = self.c_in * self.kernel_size * DIRECT_CHANNELS;
            (0..n_tiles * n_groups)
                .into_par_iter()
                .for_each(|item_idx| {
                    let (tile_idx, group_idx) = (item_idx / n_groups, item_idx % n_groups);
                    let start = tile_idx * tile_len;
                    let len = tile_len.min(n_steps - start);
                    let geometry = direct::Geometry {
                        c_in: self.c_in,
                        kernel_size: self.kernel_size,
                        dilation: self.dilation,
                        in_stride: padded_len,
                        out_stride: n_steps,
                    };
                    // SAFETY: `direct` is only built where `direct::available()` holds.
                    // The weights are this group's [c_in][tap][8]; reads of `padded` stay
                    // below column start + len + (K-1)·d ≤ padded_len of each row; the
                    // item writes only its own 8 rows × [start, start + len) of `output`.
                    unsafe {
                        direct::convolve(
                            &geometry,
                            packed[group_idx * group_weights..].as_ptr(),
                            padded.as_ptr().add(start),
                            output_ptr
                                .get()
                                .add(group_idx * DIRECT_CHANNELS * n_steps + start),
                            len,
                        );
                    }
                });
            return Signal::new(self.c_out, n_steps, output);
        }
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

/// One step of a residual block: convolutions applied in turn, each to the leaky ReLU of
/// the last one's output, with the step's input added to the last output.
pub type ResidualStep<'a> = Vec<&'a FusedConv1d>;

/// The time steps one tile of [`mean_of_residual_blocks`] produces: with its halo and
/// three buffers of 32 to 128 channels it stays within a core's L2.
const BLOCK_TILE_FLOATS: usize = 64 * 1024;

/// The mean of several residual blocks over the same input (a HiFi-GAN upsampling
/// stage), computed tile by tile along time: each tile, with the halo its convolutions
/// need, goes through every block while it is in cache, so the stage reads its input
/// and writes its output once instead of once per convolution.
///
/// `None` when a convolution cannot run the direct kernel (no AVX-512, or channels not a
/// multiple of 8); the caller then runs the blocks one convolution at a time.
pub fn mean_of_residual_blocks(
    input: &Signal,
    blocks: &[Vec<ResidualStep<'_>>],
    slope: f32,
) -> Option<Signal> {
    let n_channels = input.n_channels;
    let all_direct = blocks.iter().flatten().flatten().all(|conv| {
        conv.uses_direct_kernel()
            && conv.c_in == n_channels
            && conv.c_out == n_channels
            && ((conv.kernel_size - 1) * conv.dilation).is_multiple_of(2)
    });
    if blocks.is_empty() || !all_direct {
        return None;
    }
    let n_steps = input.n_steps;
    let tile_len = (BLOCK_TILE_FLOATS / n_channels).clamp(MIN_TILE_LEN, MAX_TILE_LEN);
    let n_tiles = n_steps.div_ceil(tile_len);
    let scale = (blocks.len() as f32).recip();
    let mut output = vec![0f32; n_channels * n_steps];
    let output_ptr = SharedPtr(output.as_mut_ptr());
    (0..n_tiles).into_par_iter().for_each(|tile_idx| {
        let start = tile_idx * tile_len;
        let len = tile_len.min(n_steps - start);
        let mut sum = vec![0f32; n_channels * len];
        for block in blocks {
            let block_out = residual_block_tile(input, block, slope, start, len);
            for (total, value) in sum.iter_mut().zip(&block_out) {
                *total += value;
            }
        }
        for channel_idx in 0..n_channels {
            let row = &sum[channel_idx * len..(channel_idx + 1) * len];
            // SAFETY: tiles write disjoint columns [start, start + len) of each row.
            let dst = unsafe {
                std::slice::from_raw_parts_mut(
                    output_ptr.get().add(channel_idx * n_steps + start),
                    len,
                )
            };
            for (out, value) in dst.iter_mut().zip(row) {
                *out = value * scale;
            }
        }
    });
    Some(Signal::new(n_channels, n_steps, output))
}

/// One residual block over output columns [start, start + len), as `[channel][len]`.
/// Every convolution's input is zero outside the signal, as with "same" padding.
fn residual_block_tile(
    input: &Signal,
    block: &[ResidualStep<'_>],
    slope: f32,
    start: usize,
    len: usize,
) -> Vec<f32> {
    let n_channels = input.n_channels;
    let pad_of = |conv: &FusedConv1d| (conv.kernel_size - 1) * conv.dilation / 2;
    // `x` covers [start - extent, start + len + extent).
    let mut extent: usize = block.iter().flatten().map(|conv| pad_of(conv)).sum();
    let mut x_len = len + 2 * extent;
    let mut x = vec![0f32; n_channels * x_len];
    let (inside, offset) = inside_signal(start, extent, x_len, input.n_steps);
    for (channel_idx, row) in x.chunks_mut(x_len).enumerate() {
        let source = &input.data[channel_idx * input.n_steps..(channel_idx + 1) * input.n_steps];
        row[inside.clone()].copy_from_slice(&source[offset..offset + inside.len()]);
    }
    for step in block {
        let (residual, residual_extent) = (x.clone(), extent);
        for (conv_idx, conv) in step.iter().enumerate() {
            let pad = pad_of(conv);
            // The activated input, zero outside the signal.
            let (inside, _) = inside_signal(start, extent, x_len, input.n_steps);
            let mut activated = x;
            for row in activated.chunks_mut(x_len) {
                row[..inside.start].fill(0.0);
                row[inside.end..].fill(0.0);
                for value in &mut row[inside.clone()] {
                    *value = leaky_relu(*value, slope);
                }
            }
            let y_extent = extent - pad;
            let y_len = len + 2 * y_extent;
            // The output starts as bias, plus the step's input after its last convolution.
            let mut y = vec![0f32; n_channels * y_len];
            let last = conv_idx + 1 == step.len();
            for (channel_idx, row) in y.chunks_mut(y_len).enumerate() {
                let bias = conv.bias[channel_idx];
                if last {
                    let crop = residual_extent - y_extent;
                    let residual_len = len + 2 * residual_extent;
                    let source = &residual[channel_idx * residual_len + crop..][..y_len];
                    for (out, value) in row.iter_mut().zip(source) {
                        *out = value + bias;
                    }
                } else {
                    row.fill(bias);
                }
            }
            if let Some(packed) = &conv.direct {
                let geometry = direct::Geometry {
                    c_in: n_channels,
                    kernel_size: conv.kernel_size,
                    dilation: conv.dilation,
                    in_stride: x_len,
                    out_stride: y_len,
                };
                let group_weights = n_channels * conv.kernel_size * DIRECT_CHANNELS;
                for group_idx in 0..n_channels / DIRECT_CHANNELS {
                    // SAFETY: `direct` exists only where AVX-512 is available; output column
                    // p reads input columns p .. p + (K-1)·d < y_len + 2·pad = x_len of
                    // every row, and writes 8 rows × y_len inside `y`.
                    unsafe {
                        direct::convolve(
                            &geometry,
                            packed[group_idx * group_weights..].as_ptr(),
                            activated.as_ptr(),
                            y.as_mut_ptr().add(group_idx * DIRECT_CHANNELS * y_len),
                            y_len,
                        );
                    }
                }
            }
            x = y;
            x_len = y_len;
            extent = y_extent;
        }
    }
    debug_assert_eq!(extent, 0);
    x
}

/// For a tile buffer covering signal positions [start - extent, start - extent + len):
/// the buffer's range that lies inside the signal [0, n_steps), and the signal position
/// where that range starts.
fn inside_signal(
    start: usize,
    extent: usize,
    len: usize,
    n_steps: usize,
) -> (std::ops::Range<usize>, usize) {
    let skip = extent.saturating_sub(start);
    let first = start + skip - extent;
    let end = (start + len - extent).min(n_steps);
    let n_inside = end.saturating_sub(first);
    (skip..skip + n_inside, first)
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
    /// For the AVX-512 direct kernel, one forward convolution per output phase (see
    /// [`FusedConvTranspose1d::forward_direct`]): [phase][c_out / 8][c_in][tap][8].
    /// `None` without AVX-512, or when `c_out` is not a multiple of 8 or the kernel not a
    /// multiple of the stride.
    phases: Option<Vec<f32>>,
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
        let fits = direct::available()
            && c_out.is_multiple_of(DIRECT_CHANNELS)
            && stride > 0
            && kernel_size.is_multiple_of(stride);
        let phases = fits.then(|| {
            // Phase r's tap t multiplies x[q - (n_taps - 1 - t)] by kernel position
            // r + (n_taps - 1 - t)·stride.
            let n_taps = kernel_size / stride;
            (0..stride)
                .flat_map(|phase_idx| {
                    direct::pack_weights(c_out, c_in, n_taps, |out_idx, in_idx, tap_idx| {
                        let position = phase_idx + (n_taps - 1 - tap_idx) * stride;
                        weight[(in_idx * c_out + out_idx) * kernel_size + position]
                    })
                })
                .collect()
        });
        Self {
            c_in,
            c_out,
            kernel_size,
            stride,
            padding,
            weight_t,
            bias: bias.map_or_else(|| vec![0.0; c_out], <[f32]>::to_vec),
            phases,
        }
    }

    /// The same convolution without the AVX-512 direct kernel (for tests and comparison).
    pub fn without_direct_kernel(mut self) -> Self {
        self.phases = None;
        self
    }

    /// Whether this convolution runs the AVX-512 direct kernel.
    pub fn uses_direct_kernel(&self) -> bool {
        self.phases.is_some()
    }

    /// Where the `n_source` steps whose step i goes to output step
    /// i·stride + offset - padding land inside [0, n_out): the first source step, its
    /// output step and how many land (every `stride`-th output step); `None` if none do.
    fn landing(
        &self,
        offset: usize,
        n_source: usize,
        n_out: usize,
    ) -> Option<(usize, usize, usize)> {
        let first_source = self.padding.saturating_sub(offset).div_ceil(self.stride);
        let first_out = (first_source * self.stride + offset).checked_sub(self.padding)?;
        if first_out >= n_out || first_source >= n_source {
            return None;
        }
        let n_landing = ((n_out - 1 - first_out) / self.stride + 1).min(n_source - first_source);
        Some((first_source, first_out, n_landing))
    }

    /// The transposed convolution as `stride` ordinary ones. Output step o takes input
    /// steps q, q - 1, … with q = (o + padding) / stride, through kernel positions r,
    /// r + stride, … with r = (o + padding) mod stride; so the outputs of one phase r form
    /// a forward convolution of `kernel / stride` taps over the input, and the phases
    /// interleave into the output.
    fn forward_direct(&self, packed: &[f32], input: &Signal, slope: Option<f32>) -> Signal {
        let n_in = input.n_steps;
        let n_out = ((n_in - 1) * self.stride + self.kernel_size).saturating_sub(2 * self.padding);
        let n_taps = self.kernel_size / self.stride;
        // The activated input with n_taps - 1 zeros on each side.
        let halo = n_taps - 1;
        let padded_len = n_in + 2 * halo;
        let mut padded = vec![0f32; self.c_in * padded_len];
        padded
            .par_chunks_mut(padded_len)
            .zip(input.data.par_chunks(n_in))
            .for_each(|(row, source)| {
                for (out, &value) in row[halo..halo + n_in].iter_mut().zip(source) {
                    *out = slope.map_or(value, |slope| leaky_relu(value, slope));
                }
            });
        // Phase r's output q is output step q·stride + r - padding.
        let n_q = n_in + halo;
        let phase_len = self.c_out * self.c_in * n_taps;
        let group_weights = self.c_in * n_taps * DIRECT_CHANNELS;
        let n_groups = self.c_out / DIRECT_CHANNELS;
        let mut phase_out = vec![0f32; self.stride * self.c_out * n_q];
        phase_out
            .par_chunks_mut(DIRECT_CHANNELS * n_q)
            .enumerate()
            .for_each(|(item_idx, rows)| {
                let (phase_idx, group_idx) = (item_idx / n_groups, item_idx % n_groups);
                for (lane, row) in rows.chunks_mut(n_q).enumerate() {
                    row.fill(self.bias[group_idx * DIRECT_CHANNELS + lane]);
                }
                let geometry = direct::Geometry {
                    c_in: self.c_in,
                    kernel_size: n_taps,
                    dilation: 1,
                    in_stride: padded_len,
                    out_stride: n_q,
                };
                // SAFETY: `phases` exists only where AVX-512 is available; output q reads
                // padded columns q .. q + n_taps - 1 < n_q + halo = padded_len, and the
                // item writes its own 8 rows of n_q.
                unsafe {
                    direct::convolve(
                        &geometry,
                        packed[phase_idx * phase_len + group_idx * group_weights..].as_ptr(),
                        padded.as_ptr(),
                        rows.as_mut_ptr(),
                        n_q,
                    );
                }
            });
        let mut output = vec![0f32; self.c_out * n_out];
        output
            .par_chunks_mut(n_out)
            .enumerate()
            .for_each(|(out_idx, row)| {
                for phase_idx in 0..self.stride {
                    let source = &phase_out[(phase_idx * self.c_out + out_idx) * n_q..][..n_q];
                    // Phase output q is output step q·stride + phase - padding.
                    let Some((first_q, first_out, n_landing)) = self.landing(phase_idx, n_q, n_out)
                    else {
                        continue;
                    };
                    for (value, out) in source[first_q..first_q + n_landing]
                        .iter()
                        .zip(row[first_out..].iter_mut().step_by(self.stride))
                    {
                        *out = *value;
                    }
                }
            });
        Signal::new(self.c_out, n_out, output)
    }

    /// `conv_transpose(leaky_relu(input, slope)) + bias`; `slope` `None` skips the
    /// activation.
    pub fn forward(&self, input: &Signal, slope: Option<f32>) -> Signal {
        assert_eq!(input.n_channels, self.c_in, "input channels");
        if let Some(packed) = &self.phases
            && input.n_steps > 0
        {
            return self.forward_direct(packed, input, slope);
        }
        let n_in = input.n_steps;
        let n_out = ((n_in - 1) * self.stride + self.kernel_size).saturating_sub(2 * self.padding);
        let activated: Vec<f32> = match slope {
            Some(slope) => input
                .data
                .iter()
                .map(|&value| leaky_relu(value, slope))
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
                    // Input step i lands on output step i·stride + tap - padding.
                    let Some((first_in, first_out, n_landing)) = self.landing(tap_idx, n_in, n_out)
                    else {
                        continue;
                    };
                    for (value, out) in source[first_in..first_in + n_landing]
                        .iter()
                        .zip(row[first_out..].iter_mut().step_by(self.stride))
                    {
                        *out += value;
                    }
                }
            });
        Signal::new(self.c_out, n_out, output)
    }
}

/// The AVX-512 direct convolution kernel.
mod direct {
    use super::{DIRECT_CHANNELS, DIRECT_STEPS};

    /// The shape of one convolution as the kernel walks it.
    pub(super) struct Geometry {
        pub c_in: usize,
        pub kernel_size: usize,
        pub dilation: usize,
        /// Floats between input rows (the padded length).
        pub in_stride: usize,
        /// Floats between output rows.
        pub out_stride: usize,
    }

    /// Lays out a convolution's weights for the kernel, [c_out / 8][c_in][tap][8], from
    /// `weight_at(out_idx, in_idx, tap_idx)`.
    pub(super) fn pack_weights(
        c_out: usize,
        c_in: usize,
        n_taps: usize,
        weight_at: impl Fn(usize, usize, usize) -> f32,
    ) -> Vec<f32> {
        let mut packed = vec![0f32; c_out * c_in * n_taps];
        for out_idx in 0..c_out {
            let (group_idx, lane) = (out_idx / DIRECT_CHANNELS, out_idx % DIRECT_CHANNELS);
            for in_idx in 0..c_in {
                for tap_idx in 0..n_taps {
                    let at =
                        ((group_idx * c_in + in_idx) * n_taps + tap_idx) * DIRECT_CHANNELS + lane;
                    packed[at] = weight_at(out_idx, in_idx, tap_idx);
                }
            }
        }
        packed
    }

    /// Whether this CPU has AVX-512 F.
    pub(super) fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Adds the convolution of `len` steps into 8 output rows that already hold bias
    /// plus residual.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F (`available`). `weights` points at 8-channel group
    /// weights [c_in][tap][8]; `input` at column `start` of padded row 0, with every
    /// column up to `len + (kernel_size - 1) · dilation` readable on each of `c_in` rows;
    /// `output` at column `start` of the group's first row, `len` columns writable on
    /// each of 8 rows.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn convolve(
        geometry: &Geometry,
        weights: *const f32,
        input: *const f32,
        output: *mut f32,
        len: usize,
    ) {
        let mut step = 0;
        while step + DIRECT_STEPS <= len {
            // SAFETY: the pass stays within [step, step + DIRECT_STEPS) ⊆ [0, len), which
            // the caller allows; the CPU features are the caller's too.
            unsafe { pass::<3>(geometry, weights, input, output, step, u16::MAX) };
            step += DIRECT_STEPS;
        }
        while step + 16 <= len {
            // SAFETY: as above, within [step, step + 16) ⊆ [0, len).
            unsafe { pass::<1>(geometry, weights, input, output, step, u16::MAX) };
            step += 16;
        }
        if step < len {
            let mask = (1u16 << (len - step)) - 1;
            // SAFETY: as above; the mask keeps the lanes within [step, len).
            unsafe { pass::<1>(geometry, weights, input, output, step, mask) };
        }
    }

    /// # Safety
    /// Never called: the direct kernel is only built where AVX-512 is available.
    #[cfg(not(target_arch = "x86_64"))]
    pub(super) unsafe fn convolve(
        _geometry: &Geometry,
        _weights: *const f32,
        _input: *const f32,
        _output: *mut f32,
        _len: usize,
    ) {
        unreachable!("the direct kernel is only built where AVX-512 is available");
    }

    /// One pass: 8 output rows × `N_VECTORS` × 16 steps from `step`; `last_mask`
    /// limits the last vector's lanes (the tail of a tile).
    ///
    /// # Safety
    /// As [`convolve`]'s, for the columns [step, step + 16 · `N_VECTORS`) that the mask
    /// leaves on.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn pass<const N_VECTORS: usize>(
        geometry: &Geometry,
        weights: *const f32,
        input: *const f32,
        output: *mut f32,
        step: usize,
        last_mask: u16,
    ) {
        use std::arch::x86_64::*;
        let mask = |vector_idx: usize| {
            if vector_idx + 1 == N_VECTORS {
                last_mask
            } else {
                u16::MAX
            }
        };
        let mut acc = [[_mm512_setzero_ps(); N_VECTORS]; DIRECT_CHANNELS];
        for (row_idx, row) in acc.iter_mut().enumerate() {
            for (vector_idx, value) in row.iter_mut().enumerate() {
                // SAFETY: masked lanes are not touched; the rest lie in the item's columns.
                *value = unsafe {
                    _mm512_maskz_loadu_ps(
                        mask(vector_idx),
                        output.add(row_idx * geometry.out_stride + step + vector_idx * 16),
                    )
                };
            }
        }
        for in_idx in 0..geometry.c_in {
            // SAFETY: row `in_idx` of the padded input.
            let in_row = unsafe { input.add(in_idx * geometry.in_stride + step) };
            for tap_idx in 0..geometry.kernel_size {
                let mut xs = [_mm512_setzero_ps(); N_VECTORS];
                for (vector_idx, x) in xs.iter_mut().enumerate() {
                    // SAFETY: columns up to len + (K-1)·d of the row are readable.
                    *x = unsafe {
                        _mm512_maskz_loadu_ps(
                            mask(vector_idx),
                            in_row.add(tap_idx * geometry.dilation + vector_idx * 16),
                        )
                    };
                }
                // SAFETY: the group's weights hold [c_in][tap][8].
                let tap_weights = unsafe {
                    weights.add((in_idx * geometry.kernel_size + tap_idx) * DIRECT_CHANNELS)
                };
                for (row_idx, row) in acc.iter_mut().enumerate() {
                    // SAFETY: `row_idx` < DIRECT_CHANNELS, the tap's 8 weights.
                    let weight = _mm512_set1_ps(unsafe { *tap_weights.add(row_idx) });
                    for (value, x) in row.iter_mut().zip(&xs) {
                        *value = _mm512_fmadd_ps(weight, *x, *value);
                    }
                }
            }
        }
        for (row_idx, row) in acc.iter().enumerate() {
            for (vector_idx, value) in row.iter().enumerate() {
                // SAFETY: as for the loads.
                unsafe {
                    _mm512_mask_storeu_ps(
                        output.add(row_idx * geometry.out_stride + step + vector_idx * 16),
                        mask(vector_idx),
                        *value,
                    )
                };
            }
        }
    }
}

/// The leaky ReLU that precedes every convolution of the decoder.
fn leaky_relu(value: f32, slope: f32) -> f32 {
    if value >= 0.0 { value } else { value * slope }
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

        let direct = FusedConv1d::new(&weight, Some(&bias), c_out, c_in, kernel_size, dilation);
        if !direct::available() {
            crate::compute::simd_kernel_missing("the direct convolution kernel");
        }
        let expect_direct = direct::available() && c_out.is_multiple_of(DIRECT_CHANNELS);
        assert_eq!(direct.uses_direct_kernel(), expect_direct);
        let per_tap = direct.clone().without_direct_kernel();
        for (kernel, conv) in [("direct", &direct), ("per-tap", &per_tap)] {
            let got = conv.forward(
                &Signal::new(c_in, n_steps, input.clone()),
                Some(slope),
                Some(&Signal::new(c_out, n_steps, residual.clone())),
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
                "{kernel} (in use: {}): c_in {c_in} c_out {c_out} k {kernel_size} d {dilation} n {n_steps}: max |Δ| {max_diff}",
                conv.uses_direct_kernel()
            );
        }
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
        let direct = FusedConvTranspose1d::new(
            &weight,
            Some(&bias),
            c_in,
            c_out,
            kernel_size,
            stride,
            padding,
        );
        if !direct::available() {
            crate::compute::simd_kernel_missing("the direct transposed-convolution kernel");
        }
        let expect_direct = direct::available()
            && c_out.is_multiple_of(DIRECT_CHANNELS)
            && kernel_size.is_multiple_of(stride);
        assert_eq!(direct.uses_direct_kernel(), expect_direct);
        let one_product = direct.clone().without_direct_kernel();
        for (kernel, conv) in [("direct", &direct), ("one product", &one_product)] {
            let got = conv.forward(&Signal::new(c_in, n_steps, input.clone()), Some(0.1));
            assert_eq!(got.data.len(), expected.len(), "{kernel}: length");
            let max_diff = got
                .data
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                max_diff < 1e-4,
                "{kernel} transpose c_in {c_in} c_out {c_out} k {kernel_size} s {stride}: {max_diff}"
            );
        }
    }

    /// A stage of residual blocks, tiled, against the same blocks one convolution at a
    /// time on the whole signal.
    fn check_stage(n_channels: usize, n_steps: usize, resblock_type_1: bool) {
        let kernels_and_dilations: [(usize, &[usize]); 3] =
            [(3, &[1, 2]), (5, &[2, 6]), (7, &[3, 12])];
        let mut seed = 10;
        let mut conv = |kernel_size: usize, dilation: usize| {
            seed += 1;
            let weight = pseudo_random(n_channels * n_channels * kernel_size, seed);
            let bias = pseudo_random(n_channels, seed + 100);
            FusedConv1d::new(
                &weight,
                Some(&bias),
                n_channels,
                n_channels,
                kernel_size,
                dilation,
            )
        };
        let owned: Vec<Vec<Vec<FusedConv1d>>> = kernels_and_dilations
            .iter()
            .map(|(kernel_size, dilations)| {
                dilations
                    .iter()
                    .map(|&dilation| {
                        if resblock_type_1 {
                            vec![conv(*kernel_size, dilation), conv(*kernel_size, 1)]
                        } else {
                            vec![conv(*kernel_size, dilation)]
                        }
                    })
                    .collect()
            })
            .collect();
        let blocks: Vec<Vec<ResidualStep<'_>>> = owned
            .iter()
            .map(|block| block.iter().map(|step| step.iter().collect()).collect())
            .collect();
        let input = Signal::new(n_channels, n_steps, pseudo_random(n_channels * n_steps, 9));
        let Some(tiled) = mean_of_residual_blocks(&input, &blocks, 0.1) else {
            assert!(
                !direct::available(),
                "the tiled stage declined on an AVX-512 CPU"
            );
            crate::compute::simd_kernel_missing("the tiled HiFi-GAN stage");
            return;
        };
        let mut expected = vec![0f32; n_channels * n_steps];
        for block in &blocks {
            let mut x = input.clone();
            for step in block {
                let mut y = x.clone();
                for (conv_idx, conv) in step.iter().enumerate() {
                    let residual = (conv_idx + 1 == step.len()).then_some(&x);
                    y = conv.forward(&y, Some(0.1), residual);
                }
                x = y;
            }
            for (total, value) in expected.iter_mut().zip(&x.data) {
                *total += value / blocks.len() as f32;
            }
        }
        let max_diff = tiled
            .data
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            max_diff < 1e-3,
            "stage of {n_channels} channels, {n_steps} steps, type 1 {resblock_type_1}: max |Δ| {max_diff}"
        );
    }

    #[test]
    fn tiled_stage_agrees_with_one_convolution_at_a_time() {
        // Shorter than the halo, one tile, several tiles with a tail; both block types.
        check_stage(8, 20, false);
        check_stage(32, 5000, false);
        check_stage(64, 1100, false);
        check_stage(16, 3000, true);
    }

    #[test]
    fn transpose_agrees_with_candle_conv_transpose1d() {
        check_transpose(8, 4, 16, 8, 30);
        check_transpose(64, 32, 8, 4, 500);
        check_transpose(256, 128, 16, 8, 100);
        check_transpose(3, 2, 4, 2, 2);
        // The decoder's shapes, a kernel of three strides, and a two-step input.
        check_transpose(128, 64, 16, 8, 61);
        check_transpose(16, 8, 9, 3, 40);
        check_transpose(8, 16, 4, 2, 2);
    }

    #[test]
    fn agrees_with_candle_conv1d() {
        check(4, 3, 3, 1, 10);
        check(32, 32, 7, 12, 5000);
        check(64, 64, 5, 6, 1500);
        check(16, 1, 7, 1, 777);
        check(8, 8, 3, 2, 2);
        check(128, 128, 3, 1, 9000);
        // Tails of every length after whole 48-step passes, and short flow-like signals.
        check(16, 8, 3, 1, 48 + 16 + 7);
        check(24, 16, 5, 3, 47);
        check(192, 384, 5, 1, 300);
    }
}
