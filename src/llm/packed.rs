//! Quantized weights repacked for x86-64's AVX-512 VNNI, and their matrix product.
//!
//! Why: candle's CPU kernels are slow for the weight types SmolLM2's GGUF files ship.
//! Its Q4_1 dot product is scalar; its Q8_0 one is AVX2 without VNNI; and its own VNNI
//! path only takes rows whose length is a multiple of 256, which SmolLM2's 576 is not.
//! Here a weight matrix is repacked once, at load, into tiles of 16 output rows by one
//! 32-value block, laid out so that one `vpdpbusd` multiplies 4 values of all 16 rows by
//! the same 4 values of the activation row. Activations are quantized per row to 8 bits
//! per 32-value block, as ggml's Q8_0/Q8_1 do, so each block's product is an exact
//! integer sum that is then scaled.
//!
//! Q4_1 weights stay 4-bit (a decode step reads as many bytes as llama.cpp does); their
//! values are unsigned, which is what `vpdpbusd` wants. Q8_0 weights are stored offset by
//! +128, and the offset is taken back out with the activation block's sum.
//!
//! The same packed layout has a scalar kernel that does the same arithmetic in the same
//! order, so the two agree bit for bit; tests hold the SIMD kernel to it and both to
//! candle's `QMatMul`. On a CPU without AVX-512 VNNI, [`PackedMatrix::from_qtensor`]
//! answers `None` and the caller keeps candle's kernels.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use half::f16;

/// Output rows in one tile: one 512-bit register of 32-bit lanes.
pub const TILE_ROWS: usize = 16;
/// Values in one quantization block (ggml's QK4_1 = QK8_0 = 32).
pub const BLOCK_VALUES: usize = 32;
/// Values that one `vpdpbusd` lane multiplies and adds.
const GROUP_VALUES: usize = 4;
/// Groups of four values in one block.
const N_GROUPS: usize = BLOCK_VALUES / GROUP_VALUES;
/// Activation rows that share one pass over a tile's weights.
const ROWS_PER_PASS: usize = 4;
/// Bytes of one ggml Q4_1 block: f16 scale, f16 minimum, 16 bytes of nibbles.
const Q4_1_BLOCK_BYTES: usize = 20;
/// Bytes of one ggml Q8_0 block: f16 scale, 32 signed bytes.
const Q8_0_BLOCK_BYTES: usize = 34;
/// The offset that makes Q8_0's signed weights unsigned for `vpdpbusd`.
const Q8_0_OFFSET: i32 = 128;

/// 16 rows × one block of Q4_1 weights. `qs` holds four 64-byte pairs of groups; in pair
/// `p`, byte `row * 4 + j` has value `8p + j` of the row in its low nibble and value
/// `8p + 4 + j` in its high nibble.
#[derive(Clone)]
#[repr(C, align(64))]
struct Q4Tile {
    qs: [u8; TILE_ROWS * BLOCK_VALUES / 2],
    d: [f16; TILE_ROWS],
    m: [f16; TILE_ROWS],
}

/// 16 rows × one block of Q8_0 weights, each stored plus 128. Byte
/// `group * 64 + row * 4 + j` is value `4 * group + j` of the row.
#[derive(Clone)]
#[repr(C, align(64))]
struct Q8Tile {
    qs: [u8; TILE_ROWS * BLOCK_VALUES],
    d: [f32; TILE_ROWS],
}

const _: () = assert!(std::mem::size_of::<Q4Tile>() == 320);
const _: () = assert!(std::mem::size_of::<Q8Tile>() == 576);

#[derive(Clone)]
enum Tiles {
    Q4_1(Vec<Q4Tile>),
    Q8_0(Vec<Q8Tile>),
}

/// One 32-value block of a quantized activation row.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(8))]
struct ActivationBlock {
    /// The values as multiples of `d`, four to an `i32` for broadcasting.
    qs: [i32; N_GROUPS],
    /// The scale, rounded through f16 as ggml stores it.
    d: f32,
    /// The sum of the 32 quantized values.
    sum: i32,
    /// `d * sum`: what a Q4_1 row's minimum multiplies.
    d_sum: f32,
}

/// A weight matrix of `n_rows` output rows by `n_cols` inputs, repacked into tiles.
#[derive(Clone)]
pub struct PackedMatrix {
    n_rows: usize,
    n_cols: usize,
    tiles: Tiles,
    simd: bool,
}

/// Whether this CPU runs the SIMD kernel: AVX-512 F, BW and VNNI.
pub fn cpu_has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl PackedMatrix {
    /// Repacks a CPU `QTensor` of shape (rows, columns) when this CPU has AVX-512 VNNI and
    /// the matrix fits the tiles (rows a multiple of 16, Q4_1 or Q8_0); `None` otherwise,
    /// and the caller keeps candle's kernels.
    pub fn from_qtensor(tensor: &QTensor) -> Result<Option<Self>> {
        if !cpu_has_vnni() {
            return Ok(None);
        }
        Self::repack(tensor, true)
    }

    /// Whether a matrix of this type and shape (rows, columns) can be repacked: Q4_1 or
    /// Q8_0, rows a multiple of 16, columns a multiple of 32.
    pub fn fits(dtype: GgmlDType, dims: &[usize]) -> bool {
        matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q8_0)
            && matches!(dims, &[n_rows, n_cols]
                if n_rows.is_multiple_of(TILE_ROWS) && n_cols.is_multiple_of(BLOCK_VALUES))
    }

    /// Repacks whatever the CPU, for the scalar kernel (`simd` false) or, where
    /// [`cpu_has_vnni`], the SIMD one. `None` when the type or shape does not fit.
    pub fn repack(tensor: &QTensor, simd: bool) -> Result<Option<Self>> {
        let simd = simd && cpu_has_vnni();
        let dims = tensor.shape().dims();
        let (&[n_rows, n_cols], true) = (dims, Self::fits(tensor.dtype(), dims)) else {
            return Ok(None);
        };
        let n_blocks = n_cols / BLOCK_VALUES;
        let data = tensor.data()?;
        let tiles = match tensor.dtype() {
            GgmlDType::Q4_1 => Tiles::Q4_1(pack_q4_1(&data, n_rows, n_blocks)?),
            GgmlDType::Q8_0 => Tiles::Q8_0(pack_q8_0(&data, n_rows, n_blocks)?),
            _ => return Ok(None),
        };
        Ok(Some(Self {
            n_rows,
            n_cols,
            tiles,
            simd,
        }))
    }

    /// Output rows (the product's last dimension).
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Inputs per row (the activation's last dimension).
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Whether products run the AVX-512 VNNI kernel (else the scalar one).
    pub fn is_simd(&self) -> bool {
        self.simd
    }

    /// `xs · Wᵀ` for `xs` of shape (…, n_cols): the shape (…, n_rows), in f32.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let xs = if xs.dtype() == DType::F32 {
            xs.contiguous()?
        } else {
            xs.to_dtype(DType::F32)?.contiguous()?
        };
        xs.apply_op1_no_bwd(self)
    }

    /// The product of `n_active_rows` activation rows (`xs`, row-major, `n_cols` each)
    /// into `out` (`n_active_rows × n_rows`), threaded on candle's CPU pool.
    pub fn matmul(&self, xs: &[f32], out: &mut [f32]) {
        let n_active_rows = xs.len() / self.n_cols;
        debug_assert_eq!(xs.len(), n_active_rows * self.n_cols);
        assert!(out.len() >= n_active_rows * self.n_rows, "output too small");
        let n_blocks = self.n_cols / BLOCK_VALUES;
        let activations = quantize_rows(xs, self.n_cols);
        let n_tiles = self.n_rows / TILE_ROWS;
        let out_addr = out.as_mut_ptr() as usize;
        let run_tiles = |tile_range: std::ops::Range<usize>| {
            for tile_idx in tile_range {
                let mut row_start = 0;
                while row_start < n_active_rows {
                    let n_pass = (n_active_rows - row_start).min(ROWS_PER_PASS);
                    let mut sums = [[0.0f32; TILE_ROWS]; ROWS_PER_PASS];
                    let pass_acts: [&[ActivationBlock]; ROWS_PER_PASS] = std::array::from_fn(|i| {
                        let row = row_start + i.min(n_pass - 1);
                        &activations[row * n_blocks..(row + 1) * n_blocks]
                    });
                    self.tile_product(tile_idx, n_blocks, &pass_acts, n_pass, &mut sums);
                    for (pass_idx, tile_sums) in sums.iter().enumerate().take(n_pass) {
                        let row = row_start + pass_idx;
                        // SAFETY: each tile writes only its own 16 columns of each row, and
                        // `out` holds `n_active_rows * n_rows` values (asserted above).
                        unsafe {
                            let dst = (out_addr as *mut f32)
                                .add(row * self.n_rows + tile_idx * TILE_ROWS);
                            std::ptr::copy_nonoverlapping(tile_sums.as_ptr(), dst, TILE_ROWS);
                        }
                    }
                    row_start += n_pass;
                }
            }
        };
        candle_core::utils::barrier_pool().execute_chunked(n_tiles, run_tiles);
    }

    /// The 16 outputs of one tile for up to four activation rows.
    fn tile_product(
        &self,
        tile_idx: usize,
        n_blocks: usize,
        acts: &[&[ActivationBlock]; ROWS_PER_PASS],
        n_pass: usize,
        sums: &mut [[f32; TILE_ROWS]; ROWS_PER_PASS],
    ) {
        let blocks = tile_idx * n_blocks..(tile_idx + 1) * n_blocks;
        match &self.tiles {
            Tiles::Q4_1(tiles) => run_pass(&tiles[blocks], self.simd, acts, n_pass, sums),
            Tiles::Q8_0(tiles) => run_pass(&tiles[blocks], self.simd, acts, n_pass, sums),
        }
    }
}

/// A tile type and its two kernels, which do the same arithmetic in the same order.
trait Tile: Sized {
    /// The scalar kernel over `n_pass` activation rows.
    fn scalar_pass(
        tiles: &[Self],
        acts: &[&[ActivationBlock]; ROWS_PER_PASS],
        n_pass: usize,
        sums: &mut [[f32; TILE_ROWS]; ROWS_PER_PASS],
    );

    /// The SIMD kernel over `N_PASS` activation rows.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW and VNNI ([`cpu_has_vnni`]).
    #[cfg(target_arch = "x86_64")]
    unsafe fn simd_pass<const N_PASS: usize>(
        tiles: &[Self],
        acts: &[&[ActivationBlock]; ROWS_PER_PASS],
        sums: &mut [[f32; TILE_ROWS]; ROWS_PER_PASS],
    );
}

impl Tile for Q4Tile {
    fn scalar_pass(
        tiles: &[Self],
        acts: &[&[ActivationBlock]; ROWS_PER_PASS],
        n_pass: usize,
        sums: &mut [[f32; TILE_ROWS]; ROWS_PER_PASS],
    ) {
        scalar_q4_1_pass(tiles, acts, n_pass, sums);
    }

    /// # Safety
    /// As the trait's: the CPU must have AVX-512 F, BW and VNNI.
    #[cfg(target_arch = "x86_64")]
    unsafe fn simd_pass<const N_PASS: usize>(
        tiles: &[Self],
        acts: &[&[ActivationBlock]; ROWS_PER_PASS],
        sums: &mut [[f32; TILE_ROWS]; ROWS_PER_PASS],
    ) {
        // SAFETY: the caller guarantees the CPU features.
        unsafe { simd::q4_1_pass::<N_PASS>(tiles, acts, sums) }
    }
}

impl Tile for Q8Tile {
    fn scalar_pass(
        tiles: &[Self],
        acts: &[&[ActivationBlock]; ROWS_PER_PASS],
        n_pass: usize,
        sums: &mut [[f32; TILE_ROWS]; ROWS_PER_PASS],
    ) {
        scalar_q8_0_pass(tiles, acts, n_pass, sums);
    }

    /// # Safety
    /// As the trait's: the CPU must have AVX-512 F, BW and VNNI.
    #[cfg(target_arch = "x86_64")]
    unsafe fn simd_pass<const N_PASS: usize>(
        tiles: &[Self],
        acts: &[&[ActivationBlock]; ROWS_PER_PASS],
        sums: &mut [[f32; TILE_ROWS]; ROWS_PER_PASS],
    ) {
        // SAFETY: the caller guarantees the CPU features.
        unsafe { simd::q8_0_pass::<N_PASS>(tiles, acts, sums) }
    }
}

/// One pass of up to four activation rows over one tile column, on the SIMD kernel
/// (specialised for the number of live rows) or the scalar one.
fn run_pass<T: Tile>(
    tiles: &[T],
    simd: bool,
    acts: &[&[ActivationBlock]; ROWS_PER_PASS],
    n_pass: usize,
    sums: &mut [[f32; TILE_ROWS]; ROWS_PER_PASS],
) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is only set where `cpu_has_vnni` holds.
        unsafe {
            match n_pass {
                1 => T::simd_pass::<1>(tiles, acts, sums),
                2 => T::simd_pass::<2>(tiles, acts, sums),
                3 => T::simd_pass::<3>(tiles, acts, sums),
                _ => T::simd_pass::<ROWS_PER_PASS>(tiles, acts, sums),
            }
        }
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = simd;
    T::scalar_pass(tiles, acts, n_pass, sums);
}

impl CustomOp1 for PackedMatrix {
    fn name(&self) -> &'static str {
        "packed-q-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("packed matmul needs f32 activations");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("packed matmul needs contiguous activations");
        };
        let dims = layout.shape().dims();
        if dims.last() != Some(&self.n_cols) {
            candle_core::bail!(
                "packed matmul: activations of shape {dims:?} against {} inputs",
                self.n_cols
            );
        }
        let xs = &data[start..end];
        let n_active_rows = xs.len() / self.n_cols;
        let mut out = vec![0.0f32; n_active_rows * self.n_rows];
        self.matmul(xs, &mut out);
        let mut out_dims = dims.to_vec();
        if let Some(last) = out_dims.last_mut() {
            *last = self.n_rows;
        }
        Ok((CpuStorage::F32(out), Shape::from(out_dims)))
    }
}

fn f16_at(bytes: &[u8], offset: usize) -> f16 {
    f16::from_le_bytes([bytes[offset], bytes[offset + 1]])
}

fn check_len(data: &[u8], n_rows: usize, n_blocks: usize, block_bytes: usize) -> Result<()> {
    let expected = n_rows * n_blocks * block_bytes;
    if data.len() != expected {
        candle_core::bail!(
            "quantized data holds {} bytes where {n_rows} rows of {n_blocks} blocks need {expected}",
            data.len()
        );
    }
    Ok(())
}

fn pack_q4_1(data: &[u8], n_rows: usize, n_blocks: usize) -> Result<Vec<Q4Tile>> {
    check_len(data, n_rows, n_blocks, Q4_1_BLOCK_BYTES)?;
    let mut tiles = Vec::with_capacity(n_rows / TILE_ROWS * n_blocks);
    for tile_idx in 0..n_rows / TILE_ROWS {
        for block_idx in 0..n_blocks {
            let mut tile = Q4Tile {
                qs: [0; TILE_ROWS * BLOCK_VALUES / 2],
                d: [f16::ZERO; TILE_ROWS],
                m: [f16::ZERO; TILE_ROWS],
            };
            for lane in 0..TILE_ROWS {
                let row = tile_idx * TILE_ROWS + lane;
                let block =
                    &data[(row * n_blocks + block_idx) * Q4_1_BLOCK_BYTES..][..Q4_1_BLOCK_BYTES];
                tile.d[lane] = f16_at(block, 0);
                tile.m[lane] = f16_at(block, 2);
                // ggml: value j is the low nibble of byte j, value j + 16 its high nibble.
                let value = |value_idx: usize| -> u8 {
                    let byte = block[4 + value_idx % 16];
                    if value_idx < 16 {
                        byte & 0x0F
                    } else {
                        byte >> 4
                    }
                };
                for pair_idx in 0..N_GROUPS / 2 {
                    for j in 0..GROUP_VALUES {
                        let low = value(8 * pair_idx + j);
                        let high = value(8 * pair_idx + 4 + j);
                        tile.qs[pair_idx * 64 + lane * 4 + j] = low | (high << 4);
                    }
                }
            }
            tiles.push(tile);
        }
    }
    Ok(tiles)
}

fn pack_q8_0(data: &[u8], n_rows: usize, n_blocks: usize) -> Result<Vec<Q8Tile>> {
    check_len(data, n_rows, n_blocks, Q8_0_BLOCK_BYTES)?;
    let mut tiles = Vec::with_capacity(n_rows / TILE_ROWS * n_blocks);
    for tile_idx in 0..n_rows / TILE_ROWS {
        for block_idx in 0..n_blocks {
            let mut tile = Q8Tile {
                qs: [0; TILE_ROWS * BLOCK_VALUES],
                d: [0.0; TILE_ROWS],
            };
            for lane in 0..TILE_ROWS {
                let row = tile_idx * TILE_ROWS + lane;
                let block =
                    &data[(row * n_blocks + block_idx) * Q8_0_BLOCK_BYTES..][..Q8_0_BLOCK_BYTES];
                tile.d[lane] = f16_at(block, 0).to_f32();
                for value_idx in 0..BLOCK_VALUES {
                    let value = block[2 + value_idx] as i8 as i32 + Q8_0_OFFSET;
                    let (group, j) = (value_idx / GROUP_VALUES, value_idx % GROUP_VALUES);
                    tile.qs[group * 64 + lane * 4 + j] = value as u8;
                }
            }
            tiles.push(tile);
        }
    }
    Ok(tiles)
}

/// Quantizes each row's 32-value blocks as ggml's `quantize_row_q8_0` does: the scale is
/// the largest magnitude over 127, values round half away from zero, and the scale is
/// kept as f16.
fn quantize_rows(xs: &[f32], n_cols: usize) -> Vec<ActivationBlock> {
    xs.chunks_exact(n_cols)
        .flat_map(|row| row.chunks_exact(BLOCK_VALUES))
        .map(|values| {
            let amax = values
                .iter()
                .fold(0.0f32, |acc, value| acc.max(value.abs()));
            let scale = amax / 127.0;
            let inverse = if scale != 0.0 { 1.0 / scale } else { 0.0 };
            let mut bytes = [0i8; BLOCK_VALUES];
            let mut sum = 0i32;
            for (byte, value) in bytes.iter_mut().zip(values) {
                *byte = (value * inverse).round() as i8;
                sum += *byte as i32;
            }
            let d = f16::from_f32(scale).to_f32();
            let qs = std::array::from_fn(|group| {
                let at = group * GROUP_VALUES;
                i32::from_le_bytes([
                    bytes[at] as u8,
                    bytes[at + 1] as u8,
                    bytes[at + 2] as u8,
                    bytes[at + 3] as u8,
                ])
            });
            ActivationBlock {
                qs,
                d,
                sum,
                d_sum: d * sum as f32,
            }
        })
        .collect()
}

fn activation_byte(block: &ActivationBlock, value_idx: usize) -> i32 {
    let word = block.qs[value_idx / GROUP_VALUES].to_le_bytes();
    word[value_idx % GROUP_VALUES] as i8 as i32
}

/// The scalar kernel for Q4_1 tiles: per lane exactly the SIMD kernel's operations.
fn scalar_q4_1_pass(
    tiles: &[Q4Tile],
    acts: &[&[ActivationBlock]; ROWS_PER_PASS],
    n_pass: usize,
    sums: &mut [[f32; TILE_ROWS]; ROWS_PER_PASS],
) {
    for (block_idx, tile) in tiles.iter().enumerate() {
        for pass_idx in 0..n_pass {
            let act = &acts[pass_idx][block_idx];
            for (lane, sum) in sums[pass_idx].iter_mut().enumerate() {
                let mut isum = 0i32;
                for value_idx in 0..BLOCK_VALUES {
                    let (pair_idx, in_pair) = (value_idx / 8, value_idx % 8);
                    let byte = tile.qs[pair_idx * 64 + lane * 4 + in_pair % 4];
                    let weight = if in_pair < 4 { byte & 0x0F } else { byte >> 4 };
                    isum += weight as i32 * activation_byte(act, value_idx);
                }
                let scale = tile.d[lane].to_f32() * act.d;
                let acc = (isum as f32).mul_add(scale, *sum);
                *sum = tile.m[lane].to_f32().mul_add(act.d_sum, acc);
            }
        }
    }
}

/// The scalar kernel for Q8_0 tiles: per lane exactly the SIMD kernel's operations.
fn scalar_q8_0_pass(
    tiles: &[Q8Tile],
    acts: &[&[ActivationBlock]; ROWS_PER_PASS],
    n_pass: usize,
    sums: &mut [[f32; TILE_ROWS]; ROWS_PER_PASS],
) {
    for (block_idx, tile) in tiles.iter().enumerate() {
        for pass_idx in 0..n_pass {
            let act = &acts[pass_idx][block_idx];
            for (lane, sum) in sums[pass_idx].iter_mut().enumerate() {
                let mut isum = 0i32;
                for value_idx in 0..BLOCK_VALUES {
                    let (group, j) = (value_idx / GROUP_VALUES, value_idx % GROUP_VALUES);
                    let weight = tile.qs[group * 64 + lane * 4 + j] as i32;
                    isum += weight * activation_byte(act, value_idx);
                }
                isum -= Q8_0_OFFSET * act.sum;
                let scale = tile.d[lane] * act.d;
                *sum = (isum as f32).mul_add(scale, *sum);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    //! The AVX-512 VNNI kernels, generic over how many activation rows (1 to 4) share
    //! one pass over a tile's weights: decode runs one, prefill four at a time.

    use std::arch::x86_64::*;

    use super::{ActivationBlock, N_GROUPS, Q4Tile, Q8_0_OFFSET, Q8Tile, ROWS_PER_PASS, TILE_ROWS};

    /// # Safety
    /// The CPU must have AVX-512 F, BW and VNNI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn q4_1_pass<const N_PASS: usize>(
        tiles: &[Q4Tile],
        acts: &[&[ActivationBlock]; ROWS_PER_PASS],
        sums: &mut [[f32; TILE_ROWS]; ROWS_PER_PASS],
    ) {
        let low_nibbles = _mm512_set1_epi8(0x0F);
        let mut acc = [_mm512_setzero_ps(); N_PASS];
        for (block_idx, tile) in tiles.iter().enumerate() {
            let mut weights = [_mm512_setzero_si512(); N_GROUPS];
            for pair_idx in 0..N_GROUPS / 2 {
                // SAFETY: the tile is 64-byte aligned and holds four 64-byte pairs.
                let packed = unsafe {
                    _mm512_load_si512(tile.qs.as_ptr().add(pair_idx * 64) as *const __m512i)
                };
                weights[2 * pair_idx] = _mm512_and_si512(packed, low_nibbles);
                weights[2 * pair_idx + 1] =
                    _mm512_and_si512(_mm512_srli_epi16::<4>(packed), low_nibbles);
            }
            // SAFETY: `d` and `m` are 16 f16s each, 32-byte aligned inside the tile.
            let (d, m) = unsafe {
                (
                    _mm512_cvtph_ps(_mm256_load_si256(tile.d.as_ptr() as *const __m256i)),
                    _mm512_cvtph_ps(_mm256_load_si256(tile.m.as_ptr() as *const __m256i)),
                )
            };
            for (pass_idx, lane_acc) in acc.iter_mut().enumerate() {
                let act = &acts[pass_idx][block_idx];
                let mut isum = _mm512_setzero_si512();
                for (group, weight) in weights.iter().enumerate() {
                    isum = _mm512_dpbusd_epi32(isum, *weight, _mm512_set1_epi32(act.qs[group]));
                }
                let scale = _mm512_mul_ps(d, _mm512_set1_ps(act.d));
                let with_products = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, *lane_acc);
                *lane_acc = _mm512_fmadd_ps(m, _mm512_set1_ps(act.d_sum), with_products);
            }
        }
        for (pass_idx, lane_acc) in acc.iter().enumerate() {
            // SAFETY: each row of `sums` holds 16 f32s.
            unsafe { _mm512_storeu_ps(sums[pass_idx].as_mut_ptr(), *lane_acc) };
        }
    }

    /// # Safety
    /// The CPU must have AVX-512 F, BW and VNNI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn q8_0_pass<const N_PASS: usize>(
        tiles: &[Q8Tile],
        acts: &[&[ActivationBlock]; ROWS_PER_PASS],
        sums: &mut [[f32; TILE_ROWS]; ROWS_PER_PASS],
    ) {
        let mut acc = [_mm512_setzero_ps(); N_PASS];
        for (block_idx, tile) in tiles.iter().enumerate() {
            let mut weights = [_mm512_setzero_si512(); N_GROUPS];
            for (group, weight) in weights.iter_mut().enumerate() {
                // SAFETY: the tile is 64-byte aligned and holds eight 64-byte groups.
                *weight = unsafe {
                    _mm512_load_si512(tile.qs.as_ptr().add(group * 64) as *const __m512i)
                };
            }
            // SAFETY: `d` is 16 f32s, 64-byte aligned inside the tile.
            let d = unsafe { _mm512_load_ps(tile.d.as_ptr()) };
            for (pass_idx, lane_acc) in acc.iter_mut().enumerate() {
                let act = &acts[pass_idx][block_idx];
                let mut isum = _mm512_setzero_si512();
                for (group, weight) in weights.iter().enumerate() {
                    isum = _mm512_dpbusd_epi32(isum, *weight, _mm512_set1_epi32(act.qs[group]));
                }
                let isum = _mm512_sub_epi32(isum, _mm512_set1_epi32(Q8_0_OFFSET * act.sum));
                let scale = _mm512_mul_ps(d, _mm512_set1_ps(act.d));
                *lane_acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, *lane_acc);
            }
        }
        for (pass_idx, lane_acc) in acc.iter().enumerate() {
            // SAFETY: each row of `sums` holds 16 f32s.
            unsafe { _mm512_storeu_ps(sums[pass_idx].as_mut_ptr(), *lane_acc) };
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::QMatMul;
    use candle_core::{Device, Module};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn random_tensor(rng: &mut ChaCha8Rng, dims: &[usize], spread: f32) -> Tensor {
        let n: usize = dims.iter().product();
        let values: Vec<f32> = (0..n).map(|_| rng.random_range(-spread..spread)).collect();
        Tensor::from_vec(values, dims, &Device::Cpu).unwrap()
    }

    /// Repacks a random matrix of `dtype`, multiplies `n_active_rows` random rows, and
    /// holds the result to candle's `QMatMul` on the same weights and the SIMD kernel to
    /// the scalar one, bit for bit.
    ///
    /// Where candle quantizes activations in 32-value blocks as we do (all of Q4_1, and
    /// Q8_0 rows that are not a multiple of 256), the two agree within the rounding of a
    /// different summation order. For Q8_0 rows of a multiple of 256, candle's VNNI path
    /// quantizes activations in 256-value blocks; there both are held to the exact
    /// product of the quantized weights, and ours must be no further from it.
    fn check(dtype: GgmlDType, n_rows: usize, n_cols: usize, n_active_rows: usize) {
        let label = format!("{dtype:?} {n_rows}x{n_cols}, {n_active_rows} rows");
        let mut rng = ChaCha8Rng::seed_from_u64((n_rows * 31 + n_cols * 7 + n_active_rows) as u64);
        let weights = random_tensor(&mut rng, &[n_rows, n_cols], 0.5);
        let qtensor = QTensor::quantize(&weights, dtype).unwrap();
        let xs = random_tensor(&mut rng, &[1, n_active_rows, n_cols], 2.0);

        let expected = QMatMul::from_qtensor(QTensor::quantize(&weights, dtype).unwrap())
            .unwrap()
            .forward(&xs)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let scalar = PackedMatrix::repack(&qtensor, false).unwrap().unwrap();
        assert!(!scalar.is_simd());
        let scalar_out = scalar.forward(&xs).unwrap();
        assert_eq!(scalar_out.dims(), &[1, n_active_rows, n_rows], "{label}");
        let scalar_out = scalar_out.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let magnitude = expected.iter().fold(0.0f32, |acc, v| acc.max(v.abs()));
        let same_activation_blocks = dtype == GgmlDType::Q4_1 || !n_cols.is_multiple_of(256);
        if same_activation_blocks {
            for (idx, (ours, theirs)) in scalar_out.iter().zip(&expected).enumerate() {
                assert!(
                    (ours - theirs).abs() <= 1e-3 * magnitude,
                    "{label}: output {idx} is {ours}, candle says {theirs}"
                );
            }
        } else {
            let dense = qtensor
                .dequantize(&Device::Cpu)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            let xs_rows = xs.squeeze(0).unwrap().to_vec2::<f32>().unwrap();
            let (mut our_error, mut candle_error) = (0.0f64, 0.0f64);
            for (row_idx, x_row) in xs_rows.iter().enumerate() {
                for (out_idx, w_row) in dense.iter().enumerate() {
                    let exact: f64 = x_row
                        .iter()
                        .zip(w_row)
                        .map(|(x, w)| *x as f64 * *w as f64)
                        .sum();
                    let at = row_idx * n_rows + out_idx;
                    our_error = our_error.max((scalar_out[at] as f64 - exact).abs());
                    candle_error = candle_error.max((expected[at] as f64 - exact).abs());
                }
            }
            assert!(
                our_error <= candle_error.max(1e-3 * magnitude as f64),
                "{label}: ours is {our_error} from the exact product, candle {candle_error}"
            );
        }

        if cpu_has_vnni() {
            let simd = PackedMatrix::from_qtensor(&qtensor).unwrap().unwrap();
            assert!(simd.is_simd());
            let simd_out = simd
                .forward(&xs)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            for (idx, (fast, slow)) in simd_out.iter().zip(&scalar_out).enumerate() {
                assert_eq!(
                    fast.to_bits(),
                    slow.to_bits(),
                    "{label}: SIMD output {idx} is {fast}, scalar {slow}"
                );
            }
        } else {
            crate::compute::simd_kernel_missing(&format!("{label}: the packed VNNI kernel"));
        }
    }

    #[test]
    fn agrees_with_candle_and_the_scalar_kernel() {
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            // Decode (one row), a partial pass, several passes, and SmolLM2's shapes.
            // (candle's Q4_1 kernel wants an even number of blocks per row.)
            for (n_rows, n_cols, n_active_rows) in [
                (16, 64, 1),
                (32, 64, 3),
                (48, 128, 9),
                (192, 576, 1),
                (576, 1536, 5),
                (1536, 576, 4),
            ] {
                check(dtype, n_rows, n_cols, n_active_rows);
            }
        }
    }

    #[test]
    fn zero_activations_give_zero() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let weights = random_tensor(&mut rng, &[32, 64], 1.0);
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let packed = PackedMatrix::repack(&QTensor::quantize(&weights, dtype).unwrap(), true)
                .unwrap()
                .unwrap();
            let xs = Tensor::zeros((2, 64), DType::F32, &Device::Cpu).unwrap();
            let out = packed.forward(&xs).unwrap().flatten_all().unwrap();
            assert!(
                out.to_vec1::<f32>().unwrap().iter().all(|v| *v == 0.0),
                "{dtype:?}"
            );
        }
    }

    #[test]
    fn shapes_and_types_that_do_not_fit_are_declined() {
        let weights = Tensor::zeros((24, 64), DType::F32, &Device::Cpu).unwrap();
        let rows_not_tiled = QTensor::quantize(&weights, GgmlDType::Q8_0).unwrap();
        assert!(
            PackedMatrix::repack(&rows_not_tiled, false)
                .unwrap()
                .is_none()
        );
        let weights = Tensor::zeros((32, 256), DType::F32, &Device::Cpu).unwrap();
        let other_type = QTensor::quantize(&weights, GgmlDType::Q4K).unwrap();
        assert!(PackedMatrix::repack(&other_type, false).unwrap().is_none());
    }
}
