//! Weight-matrix kernels: `y = x · Wᵀ` for the weight types GGUF chat models ship: Q4_0, Q4_1,
//! Q5_0, Q5_1, Q8_0 (here), Q4_K, Q5_K, Q6_K (`kquants`) and F32, F16, BF16 (`float`). Every
//! weight is used as the file stores it (repacked, never re-quantized). Portable safe Rust,
//! except every integer type on x86-64 CPUs with AVX2 or AVX-512 VNNI (`simd`, detected at
//! repack time; `PARLEY_KERNELS=portable` opts out): 2-4x the portable kernels in prefill, and
//! what brings Q4_K_M files to llama.cpp's speed. Both give the same bits.
//!
//! Design:
//! - Weights are repacked at load into groups of `G` = 16 output rows ("rows in lanes"):
//!   for one group and one 32-element block, the quants of the 16 rows are interleaved so
//!   that one SIMD register holds the same element of 16 rows. Scales (and Q4_1 minimums)
//!   live in separate arrays of raw f16 bits in the same group/block order (Q4_1: 20 bytes
//!   per 32 weights, as in the file; Q8_0: 34). Every inner-loop operation is lane-parallel
//!   (no horizontal sums), which LLVM vectorises reliably (checked with `objdump`: `vpmullw`,
//!   `vpaddw`, `vpmovzxbw`/`vpmovsxbw` on ymm, f32 scaling on zmm).
//! - Activations are quantized per 32-block to i8-range integers (kept as i16) with a scale
//!   `dx` and the block sum `sx = dx·Σq` (Q8_1-style, for Q4_1's minimum term).
//! - Q4_1 block: `Σ (d·q_w + m)·dx·q_x = d·dx·Σ q_w·q_x + m·sx`. The integer dot runs in
//!   i16 over 8 element pairs (16 products ≤ 15·127 each, ≤ 30 480, no overflow), then i32.
//! - Q8_0 block: `d·dx·Σ q_w·q_x`, two products (≤ 2·127², fits i16) per i16 step, then i32.
//! - Q5_0 and Q5_1 are held in the Q8_0 layout, one byte per 5-bit quant (exact: Q5_0's
//!   `d·(q − 16)` is a Q8_0 block with quants in −16..=15; Q5_1's `d·q + m` adds the minimum
//!   term `m·sx` as Q4_1 does). That costs 34 bytes per 32 weights instead of 22–24.
//! - K-quants: the same lane layout per 32-weight chunk, 6-bit sub-block scales unpacked to
//!   bytes, see `kquants`. Float weights: f32 multiply-adds, activations not quantized.
//! - Loop shapes matter more than anything else here: LLVM must vectorise across the 16 rows
//!   of a group. A fixed-count loop over a chunk's elements around the row loop can make it
//!   vectorise across elements instead (byte inserts, 3–10x slower); the kernels use a flat
//!   loop with a runtime trip count or fixed-size chunks where that happened. Check with
//!   `objdump -d` (no `vpinsrb` in a `*_row` function) and `kernels_bench_k_quants`.
//! - Every row of activations is quantized and reduced the same way whatever the batch size,
//!   so prefilling tokens one at a time or all at once gives the same numbers: a conversation
//!   resumed from its KV cache continues exactly like a fresh prefill of the same text.
//!   Opt-in ([`QuantMatrix::with_gemm_prefill`], `--weights kernels-gemm`): from
//!   [`GEMM_MIN_ROWS`] rows on, dequantize to f32 and use candle's f32 matmul (the `gemm`
//!   crate), ~1.5x faster prefill at m = 512 (see the ignored test `kernels_bench`) at the price of that
//!   exactness.
//! - Above `PARALLEL_MIN_MACS` (1M multiply-adds) the row groups are shared, in pieces, between
//!   the calling thread and candle's rayon pool (`QuantMatrix::matmul_shared`);
//!   `threads == 1` (or a small matrix) runs on the calling thread and spawns nothing.

use std::borrow::Cow;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use half::f16;

use crate::{Error, Result};

mod float;
mod kquants;
mod simd;

use simd::Simd;

/// Elements per quantization block.
const QK: usize = 32;
/// Output rows per interleaved group.
const G: usize = 16;
/// From this many activation rows on, [`QuantMatrix::matmul`] dequantizes and runs an f32 gemm.
pub const GEMM_MIN_ROWS: usize = 32;
/// Below this many multiply-adds the integer kernel stays on one thread (lower thresholds,
/// 128K and 256K, measured no faster at 2 threads, the latter also with the shared pieces).
const PARALLEL_MIN_MACS: usize = 1 << 20;
/// Pieces of a parallel matmul per thread (see [`QuantMatrix::matmul_shared`]).
const PIECES_PER_THREAD: usize = 4;

#[derive(Clone)]
enum Quants {
    /// Per group and block, 256 bytes: `q[e*16 + r] = w[r][e] | w[r][e+16] << 4`, `e < 16`.
    /// Q4_0 (`d·(q − 8)`) is held the same way with the minimum `−8·d` (exact in f16).
    /// In the SIMD layout (`simd`) the bytes of a block are ordered as in [`q_at`].
    Q4_1 {
        q: Vec<u8>,
        d: Vec<u16>,
        m: Vec<u16>,
        simd: Option<Simd>,
    },
    /// Per group and block, 512 bytes: `q[e*16 + r] = w[r][e]` (clamped to ±127). Q5_0 and
    /// Q5_1 are held the same way; Q5_1 adds its per-block minimum in `m`. In the SIMD layout
    /// the bytes are ordered as in [`q_at`].
    Q8_0 {
        q: Vec<i8>,
        d: Vec<u16>,
        m: Option<Vec<u16>>,
        simd: Option<Simd>,
    },
    /// Q4_K, Q5_K, Q6_K.
    K(kquants::KQuants),
    /// F32, F16, BF16.
    Float(float::FloatWeights),
}

/// Per-row values laid out in row groups: value `u` of row `r` at `((r / G)·units + u)·G + r % G`,
/// so that the values of one group and unit are `G` consecutive lanes.
struct Lanes<T> {
    data: Vec<T>,
    units: usize,
}

impl<T: Copy + Default> Lanes<T> {
    fn new(rows: usize, units: usize) -> Self {
        Self {
            data: vec![T::default(); rows.div_ceil(G) * units * G],
            units,
        }
    }

    #[inline(always)]
    fn set(&mut self, row: usize, unit: usize, v: T) {
        self.data[((row / G) * self.units + unit) * G + row % G] = v;
    }
}

/// An `n × k` weight matrix repacked for [`QuantMatrix::matmul`].
#[derive(Clone)]
pub struct QuantMatrix {
    n: usize,
    k: usize,
    nb: usize,
    groups: usize,
    dtype: GgmlDType,
    quants: Quants,
    gemm_prefill: bool,
}

impl std::fmt::Debug for QuantMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantMatrix")
            .field("n", &self.n)
            .field("k", &self.k)
            .field("dtype", &self.dtype())
            .finish()
    }
}

/// Raw f16 bits of a scale, checked to be finite (the kernels' conversion handles zero,
/// subnormal and normal values exactly, not infinities or NaN).
fn f16_at(b: &[u8], at: usize) -> Result<u16> {
    let h = f16::from_le_bytes([b[at], b[at + 1]]);
    if !h.is_finite() {
        return Err(Error::Unsupported("non-finite weight scale".into()));
    }
    debug_assert_eq!(h16(h.to_bits()), h.to_f32());
    Ok(h.to_bits())
}

/// f16 bits to f32 for finite values, in integer and float operations LLVM vectorises:
/// move exponent and mantissa into place, rescale the exponent bias by multiplying with
/// 2^112 (which also normalises subnormals), then put the sign back.
#[inline(always)]
fn h16(h: u16) -> f32 {
    let h = u32::from(h);
    let mag = f32::from_bits((h & 0x7fff) << 13) * f32::from_bits(0x7780_0000);
    f32::from_bits(mag.to_bits() | ((h & 0x8000) << 16))
}

/// Where element `e` of row `r` of a group sits in the group's bytes for one block: the byte
/// holding elements `e` and `e + 16` (`e < 16`) of nibble blocks (Q4_0, Q4_1, K-quants), or
/// element `e` (`e < 32`) of byte blocks (Q8_0, Q5_0, Q5_1). Portable: one element of 16 rows
/// per 16 bytes (lanes); SIMD (see `simd`): 4 elements of 16 rows per 64 bytes.
#[inline(always)]
fn q_at(simd: bool, r: usize, e: usize) -> usize {
    if simd {
        (e / 4) * 64 + r * 4 + e % 4
    } else {
        e * G + r
    }
}

/// Activations quantized per 32-block.
struct QRows {
    /// Values per row.
    k: usize,
    /// `m × k` integers in `-127..=127`.
    q: Vec<i16>,
    /// The same integers as bytes (the AVX-512 kernels' operand).
    q8: Vec<i8>,
    /// `m × nb` scales.
    d: Vec<f32>,
    /// `m × nb` block sums times scale.
    s: Vec<f32>,
    /// `m × k/16` sums of the integers of each 16-element half block (the AVX-512 Q6_K
    /// kernel's offset term).
    s16: Vec<i32>,
}

impl QRows {
    /// Row `i` as the kernels read it.
    fn row(&self, i: usize) -> XRow<'_> {
        let (k, nb) = (self.k, self.k / QK);
        XRow {
            q: &self.q[i * k..(i + 1) * k],
            q8: &self.q8[i * k..(i + 1) * k],
            d: &self.d[i * nb..(i + 1) * nb],
            s: &self.s[i * nb..(i + 1) * nb],
            s16: &self.s16[i * 2 * nb..(i + 1) * 2 * nb],
        }
    }
}

/// One quantized activation row as the kernels read it (see [`QRows`]).
#[derive(Clone, Copy)]
struct XRow<'a> {
    q: &'a [i16],
    q8: &'a [i8],
    d: &'a [f32],
    s: &'a [f32],
    s16: &'a [i32],
}

fn quantize_rows(x: &[f32], m: usize, k: usize) -> QRows {
    let nb = k / QK;
    let mut q = vec![0i16; m * k];
    let mut q8 = vec![0i8; m * k];
    let mut d = vec![0f32; m * nb];
    let mut s = vec![0f32; m * nb];
    let mut s16 = vec![0i32; 2 * m * nb];
    for (i, ((xb, qb), q8b)) in x[..m * k]
        .chunks_exact(QK)
        .zip(q.chunks_exact_mut(QK))
        .zip(q8.chunks_exact_mut(QK))
        .enumerate()
    {
        let amax = xb.iter().fold(0f32, |a, v| a.max(v.abs()));
        let scale = amax / 127.0;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        // Per 16-element half (fixed-size loops without a running index, which LLVM vectorises).
        let halves = xb
            .chunks_exact(16)
            .zip(qb.chunks_exact_mut(16).zip(q8b.chunks_exact_mut(16)));
        for ((xh, (qh, q8h)), sum) in halves.zip(&mut s16[2 * i..2 * i + 2]) {
            for ((o, o8), v) in qh.iter_mut().zip(q8h.iter_mut()).zip(xh) {
                let r = (v * inv).round().clamp(-127.0, 127.0) as i16;
                *o = r;
                // In -127..=127, so exact as a byte.
                *o8 = r as i8;
                *sum += i32::from(r);
            }
        }
        d[i] = scale;
        s[i] = scale * (s16[2 * i] + s16[2 * i + 1]) as f32;
    }
    QRows {
        k,
        q,
        q8,
        d,
        s,
        s16,
    }
}

/// The activations as a kernel reads them: quantized for integer weights, as given for floats.
enum Acts<'a> {
    Quant(QRows),
    Float(&'a [f32]),
}

/// The 32 quants of a Q5_0 block (`d, qh[4], qs[16]`, 22 bytes) as `q − 16`, or of a Q5_1
/// block (`d, m, qh[4], qs[16]`, 24 bytes) as `q`, in GGML's element order.
fn q5_block_quants(blk: &[u8], with_min: bool) -> [i8; QK] {
    let at = if with_min { 4 } else { 2 };
    let qh = u32::from_le_bytes([blk[at], blk[at + 1], blk[at + 2], blk[at + 3]]);
    let qs = &blk[at + 4..at + 20];
    let offset = if with_min { 0 } else { 16 };
    let mut out = [0i8; QK];
    for (j, &byte) in qs.iter().enumerate() {
        let lo = (byte & 15) | ((((qh >> j) & 1) as u8) << 4);
        let hi = (byte >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
        out[j] = lo as i8 - offset;
        out[j + 16] = hi as i8 - offset;
    }
    out
}

/// Repack rows of Q8_0, Q5_0 or Q5_1 into the Q8_0 lane layout.
fn repack_bytes(dtype: GgmlDType, raw: &[&[u8]], nb: usize, simd: Option<Simd>) -> Result<Quants> {
    let n = raw.len();
    let with_min = dtype == GgmlDType::Q5_1;
    let mut q = Lanes::new(n, nb * QK);
    let mut d = Lanes::new(n, nb);
    let mut m = Lanes::new(if with_min { n } else { 0 }, nb);
    for (r, row) in raw.iter().enumerate() {
        for (b, blk) in row.chunks_exact(dtype.type_size()).enumerate() {
            d.set(r, b, f16_at(blk, 0)?);
            let quants = match dtype {
                GgmlDType::Q8_0 => std::array::from_fn(|e| (blk[2 + e] as i8).max(-127)),
                _ => q5_block_quants(blk, with_min),
            };
            if with_min {
                m.set(r, b, f16_at(blk, 2)?);
            }
            let at = ((r / G) * nb + b) * QK * G;
            for (e, v) in quants.into_iter().enumerate() {
                q.data[at + q_at(simd.is_some(), r % G, e)] = v;
            }
        }
    }
    Ok(Quants::Q8_0 {
        q: q.data,
        d: d.data,
        m: with_min.then_some(m.data),
        simd,
    })
}

/// Repack rows of Q4_0 or Q4_1 (or, through [`repack_bytes`], Q8_0, Q5_0 and Q5_1).
fn repack_legacy(dtype: GgmlDType, raw: &[&[u8]], nb: usize, simd: Option<Simd>) -> Result<Quants> {
    let n = raw.len();
    if matches!(dtype, GgmlDType::Q8_0 | GgmlDType::Q5_0 | GgmlDType::Q5_1) {
        return repack_bytes(dtype, raw, nb, simd);
    }
    let q4_0 = dtype == GgmlDType::Q4_0;
    let mut q = Lanes::new(n, nb * 16);
    let mut d = Lanes::new(n, nb);
    let mut m = Lanes::new(n, nb);
    for (r, row) in raw.iter().enumerate() {
        for (b, blk) in row.chunks_exact(if q4_0 { 18 } else { 20 }).enumerate() {
            let scale = f16_at(blk, 0)?;
            let min = if q4_0 {
                // −8·d is exact in f16 unless it overflows.
                let m = f16::from_f32(-8.0 * f16::from_bits(scale).to_f32());
                if !m.is_finite() {
                    return Err(Error::Unsupported("Q4_0 scale out of range".into()));
                }
                m.to_bits()
            } else {
                f16_at(blk, 2)?
            };
            d.set(r, b, scale);
            m.set(r, b, min);
            let qs = if q4_0 { &blk[2..18] } else { &blk[4..20] };
            let at = ((r / G) * nb + b) * 16 * G;
            for (e, &byte) in qs.iter().enumerate() {
                // GGML already stores element e low and e+16 high.
                q.data[at + q_at(simd.is_some(), r % G, e)] = byte;
            }
        }
    }
    Ok(Quants::Q4_1 {
        q: q.data,
        d: d.data,
        m: m.data,
        simd,
    })
}

impl QuantMatrix {
    /// Whether [`QuantMatrix::from_qtensor`] takes this weight type.
    pub fn supports(dtype: GgmlDType) -> bool {
        use GgmlDType as T;
        matches!(
            dtype,
            T::Q4_0
                | T::Q4_1
                | T::Q5_0
                | T::Q5_1
                | T::Q8_0
                | T::Q4K
                | T::Q5K
                | T::Q6K
                | T::F32
                | T::F16
                | T::BF16
        )
    }

    /// Repack one 2-D tensor of a [supported](QuantMatrix::supports) type.
    pub fn from_qtensor(t: &QTensor) -> Result<Self> {
        Self::from_qtensors(&[t])
    }

    /// Repack the rows of several tensors of the same dtype and width, one after the other
    /// (fused projections).
    pub fn from_qtensors(parts: &[&QTensor]) -> Result<Self> {
        Self::repack(parts, Simd::detect())
    }

    /// [`QuantMatrix::from_qtensors`] with the integer quants in the SIMD layout (`Some`) or
    /// the portable one (`None`).
    fn repack(parts: &[&QTensor], simd: Option<Simd>) -> Result<Self> {
        let first = parts
            .first()
            .ok_or_else(|| Error::Unsupported("no tensors".into()))?;
        let dtype = first.dtype();
        let dims = first.shape().dims();
        if !Self::supports(dtype) || dims.len() != 2 || !dims[1].is_multiple_of(QK) {
            return Err(Error::Unsupported(format!(
                "kernel dtype {dtype:?}, shape {dims:?}"
            )));
        }
        let k = dims[1];
        let nb = k / QK;
        let mut rows: Vec<Cow<'_, [u8]>> = Vec::new();
        let mut n = 0;
        for p in parts {
            let d = p.shape().dims();
            if p.dtype() != dtype || d.len() != 2 || d[1] != k {
                return Err(Error::Unsupported("kernel parts differ".into()));
            }
            n += d[0];
            rows.push(p.data()?);
        }
        let row_bytes = k / dtype.block_size() * dtype.type_size();
        // Raw bytes of row `i` of the concatenation.
        let raw: Vec<&[u8]> = rows
            .iter()
            .flat_map(|r| r.chunks_exact(row_bytes))
            .collect();
        if raw.len() != n {
            return Err(Error::Unsupported("kernel tensor size".into()));
        }
        let quants = if let Some(kind) = kquants::KQuants::kind(dtype) {
            Quants::K(kquants::KQuants::repack(kind, &raw, k, simd)?)
        } else if matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16) {
            Quants::Float(float::FloatWeights::repack(dtype, &raw, k)?)
        } else {
            repack_legacy(dtype, &raw, nb, simd)?
        };
        Ok(Self {
            n,
            k,
            nb,
            groups: n.div_ceil(G),
            dtype,
            quants,
            gemm_prefill: false,
        })
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        self.n
    }

    /// Input columns.
    pub fn cols(&self) -> usize {
        self.k
    }

    /// The source weight type (as stored in the file).
    pub fn dtype(&self) -> GgmlDType {
        self.dtype
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        match &self.quants {
            Quants::Q4_1 { q, d, m, .. } => q.len() + 2 * (d.len() + m.len()),
            Quants::Q8_0 { q, d, m, .. } => {
                q.len() + 2 * (d.len() + m.as_ref().map_or(0, Vec::len))
            }
            Quants::K(kq) => kq.bytes(),
            Quants::Float(f) => f.bytes(),
        }
    }

    /// Use the f32 gemm from [`GEMM_MIN_ROWS`] rows on. Faster prefill, but a row's result then
    /// depends on how many rows came with it, so a cached conversation no longer continues
    /// exactly like a fresh prefill of the same text. Off by default.
    pub fn with_gemm_prefill(mut self, on: bool) -> Self {
        self.gemm_prefill = on;
        self
    }

    /// `y = x · Wᵀ` for one row.
    pub fn matvec(&self, x: &[f32], out: &mut [f32], threads: usize) {
        self.matmul(x, 1, out, threads)
    }

    /// `out (m × n) = x (m × k) · Wᵀ`, row-major, on up to `threads` threads (candle's rayon
    /// pool; `threads == 1` runs on the calling thread). With [`QuantMatrix::with_gemm_prefill`],
    /// from [`GEMM_MIN_ROWS`] rows on, the weights are dequantized to f32 and multiplied with
    /// candle's f32 matmul (faster for large batches than any integer kernel here, see
    /// `bench_kernels`).
    pub fn matmul(&self, x: &[f32], m: usize, out: &mut [f32], threads: usize) {
        assert!(
            x.len() >= m * self.k && out.len() >= m * self.n,
            "kernel sizes"
        );
        if m == 0 {
            return;
        }
        if self.gemm_prefill && m >= GEMM_MIN_ROWS {
            if let Ok(y) = self.gemm_f32(x, m) {
                out[..m * self.n].copy_from_slice(&y);
                return;
            }
        }
        self.matmul_int(x, m, out, threads)
    }

    /// The row-group kernel at any `m` (the tests and benchmark call it directly).
    pub fn matmul_int(&self, x: &[f32], m: usize, out: &mut [f32], threads: usize) {
        let acts = match self.quants {
            Quants::Float(_) => Acts::Float(&x[..m * self.k]),
            _ => Acts::Quant(quantize_rows(x, m, self.k)),
        };
        let work = m * self.n * self.k;
        let threads = if work < PARALLEL_MIN_MACS {
            1
        } else {
            threads.clamp(1, self.groups)
        };
        if threads == 1 {
            if self.n == self.groups * G {
                // The whole matrix's tile is `out` itself: no tile to allocate and copy.
                self.groups_into(&acts, m, 0, self.groups, &mut out[..m * self.n]);
            } else {
                let tile = self.groups_range(&acts, m, 0, self.groups);
                self.scatter(&tile, m, 0, self.groups, out);
            }
            return;
        }
        self.matmul_shared(&acts, m, out, threads);
    }

    /// The row groups in [`PIECES_PER_THREAD`]` × threads` pieces, taken in turn by the calling
    /// thread and `threads − 1` rayon workers: the caller starts at once instead of waiting for
    /// a worker to wake, and a worker that wakes late finds less left to do. Which thread
    /// computes a group never changes its numbers.
    fn matmul_shared(&self, acts: &Acts<'_>, m: usize, out: &mut [f32], threads: usize) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Mutex, PoisonError};
        let per = self.groups.div_ceil(threads * PIECES_PER_THREAD);
        let pieces = self.groups.div_ceil(per);
        let next = AtomicUsize::new(0);
        let done = Mutex::new(Vec::with_capacity(pieces));
        let take_pieces = || loop {
            let p = next.fetch_add(1, Ordering::Relaxed);
            if p >= pieces {
                break;
            }
            let (g0, g1) = (p * per, ((p + 1) * per).min(self.groups));
            let tile = self.groups_range(acts, m, g0, g1);
            done.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((g0, g1, tile));
        };
        rayon::in_place_scope(|s| {
            for _ in 1..threads {
                s.spawn(|_| take_pieces());
            }
            take_pieces();
        });
        let done = done.into_inner().unwrap_or_else(PoisonError::into_inner);
        for (g0, g1, tile) in done {
            self.scatter(&tile, m, g0, g1, out);
        }
    }

    fn gemm_f32(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        let dev = Device::Cpu;
        let w = Tensor::from_vec(self.dequantize(), (self.n, self.k), &dev)?;
        let xt = Tensor::from_slice(&x[..m * self.k], (m, self.k), &dev)?;
        Ok(xt.matmul(&w.t()?)?.flatten_all()?.to_vec1::<f32>()?)
    }

    /// Copy a `m × (g1-g0)·G` tile into the valid columns of `out`.
    fn scatter(&self, tile: &[f32], m: usize, g0: usize, g1: usize, out: &mut [f32]) {
        let w = (g1 - g0) * G;
        let c0 = g0 * G;
        let c1 = (g1 * G).min(self.n);
        if c1 <= c0 {
            return;
        }
        for i in 0..m {
            out[i * self.n + c0..i * self.n + c1].copy_from_slice(&tile[i * w..i * w + (c1 - c0)]);
        }
    }

    /// Compute groups `g0..g1` for all `m` rows: a `m × (g1-g0)·G` tile.
    fn groups_range(&self, acts: &Acts<'_>, m: usize, g0: usize, g1: usize) -> Vec<f32> {
        let mut tile = vec![0f32; m * (g1 - g0) * G];
        self.groups_into(acts, m, g0, g1, &mut tile);
        tile
    }

    /// [`QuantMatrix::groups_range`] into a given `m × (g1-g0)·G` tile.
    fn groups_into(&self, acts: &Acts<'_>, m: usize, g0: usize, g1: usize, tile: &mut [f32]) {
        let w = (g1 - g0) * G;
        let k = self.k;
        for g in g0..g1 {
            let col = (g - g0) * G;
            // Rows `i..` of group `g`'s columns; how many.
            let mut put = |i: usize, accs: &[[f32; G]]| {
                for (j, acc) in accs.iter().enumerate() {
                    let at = (i + j) * w + col;
                    tile[at..at + G].copy_from_slice(acc);
                }
                accs.len()
            };
            let mut i = 0;
            while i < m {
                i += match acts {
                    Acts::Quant(xq) => self.quant_rows_at(g, xq, i, m, &mut put),
                    Acts::Float(x) => match &self.quants {
                        Quants::Float(f) => put(i, &[f.row(k, g, &x[i * k..(i + 1) * k])]),
                        _ => put(i, &[[0f32; G]]),
                    },
                };
            }
        }
    }

    /// Rows `i..m` of `xq` against group `g`, as many at once as the widest kernel that fits
    /// takes (8 on AVX-512, 4 or 2 where a kernel for that exists, else 1), handed to
    /// `put`; how many rows that was.
    fn quant_rows_at(
        &self,
        g: usize,
        xq: &QRows,
        i: usize,
        m: usize,
        put: &mut impl FnMut(usize, &[[f32; G]]) -> usize,
    ) -> usize {
        let x = |j: usize| xq.row(i + j);
        if i + 8 <= m && self.simd().is_some_and(|s| s.max_rows() >= 8) {
            if let Some(accs) = self.simd_rows::<8>(g, &std::array::from_fn(x)) {
                return put(i, &accs);
            }
        }
        if i + 4 <= m {
            if let Some(accs) = self.quant_rows4(g, &std::array::from_fn(x)) {
                return put(i, &accs);
            }
        }
        if i + 2 <= m {
            if let Some(accs) = self.legacy_rows::<2>(g, &std::array::from_fn(x)) {
                return put(i, &accs);
            }
        }
        put(i, &[self.quant_row(g, x(0))])
    }

    /// Where group `g`'s data sits in an array holding `per` values per group and block.
    fn group_span(&self, g: usize, per: usize) -> std::ops::Range<usize> {
        g * self.nb * per..(g + 1) * self.nb * per
    }

    /// The SIMD kernels these weights are laid out for, if any.
    fn simd(&self) -> Option<Simd> {
        match &self.quants {
            Quants::Q4_1 { simd, .. } | Quants::Q8_0 { simd, .. } => *simd,
            Quants::K(kq) => kq.simd(),
            Quants::Float(_) => None,
        }
    }

    /// `R` quantized activation rows against group `g` on the SIMD path, if the weights are
    /// in its layout.
    fn simd_rows<const R: usize>(&self, g: usize, x: &[XRow<'_>; R]) -> Option<[[f32; G]; R]> {
        match &self.quants {
            Quants::K(kq) => kq.rows_simd(g, x),
            _ => self.legacy_simd_rows(g, x),
        }
    }

    /// Four quantized activation rows at once against group `g`, where a kernel for that
    /// exists (each row's result is exactly [`QuantMatrix::quant_row`]'s).
    fn quant_rows4(&self, g: usize, x: &[XRow<'_>; 4]) -> Option<[[f32; G]; 4]> {
        match &self.quants {
            Quants::K(kq) => kq.rows4(g, x),
            _ => self.legacy_rows(g, x),
        }
    }

    /// `N` quantized activation rows at once against group `g` of Q4_0 or Q4_1 weights, or of
    /// Q8_0, Q5_0 or Q5_1 weights in the SIMD layout.
    fn legacy_rows<const N: usize>(&self, g: usize, x: &[XRow<'_>; N]) -> Option<[[f32; G]; N]> {
        self.legacy_simd_rows(g, x).or_else(|| match &self.quants {
            Quants::Q4_1 { q, d, m, .. } => {
                let scales = self.group_span(g, G);
                Some(q4_1_rows(
                    &q[self.group_span(g, 256)],
                    &d[scales.clone()],
                    &m[scales],
                    x,
                ))
            }
            _ => None,
        })
    }

    /// `N` quantized activation rows against group `g` of Q4_0, Q4_1, Q8_0, Q5_0 or Q5_1
    /// weights in the SIMD layout (`None` for any other weights).
    fn legacy_simd_rows<const N: usize>(
        &self,
        g: usize,
        x: &[XRow<'_>; N],
    ) -> Option<[[f32; G]; N]> {
        let scales = self.group_span(g, G);
        match &self.quants {
            Quants::Q4_1 {
                q,
                d,
                m,
                simd: Some(simd),
            } => {
                let blocks = self.group_span(g, 256);
                Some(simd.q4_1_rows(&q[blocks], &d[scales.clone()], &m[scales], x))
            }
            Quants::Q8_0 {
                q,
                d,
                m,
                simd: Some(simd),
            } => {
                let blocks = self.group_span(g, 512);
                let mut accs = simd.q8_0_rows(&q[blocks], &d[scales.clone()], x);
                if let Some(mins) = m {
                    for (acc, xr) in accs.iter_mut().zip(x) {
                        add_minimums(acc, &mins[scales.clone()], xr.s);
                    }
                }
                Some(accs)
            }
            _ => None,
        }
    }

    /// One quantized activation row against group `g` of integer weights.
    fn quant_row(&self, g: usize, x: XRow<'_>) -> [f32; G] {
        if let Some([acc]) = self.legacy_simd_rows(g, &[x]) {
            return acc;
        }
        let (xs, xd, xsum) = (x.q, x.d, x.s);
        let scales = self.group_span(g, G);
        match &self.quants {
            Quants::Q4_1 { q, d, m: mins, .. } => q4_1_row(
                &q[self.group_span(g, 256)],
                &d[scales.clone()],
                &mins[scales],
                xs,
                xd,
                xsum,
            ),
            Quants::Q8_0 { q, d, m, .. } => {
                let mut acc = q8_0_row(&q[self.group_span(g, 512)], &d[scales.clone()], xs, xd);
                if let Some(mins) = m {
                    add_minimums(&mut acc, &mins[scales], xsum);
                }
                acc
            }
            Quants::K(kq) => kq.row(g, x),
            Quants::Float(_) => [0f32; G],
        }
    }

    /// Weights `b*32..b*32+32` of row `r` of group `g`, exactly as GGML dequantizes them.
    fn chunk(&self, g: usize, r: usize, b: usize, out: &mut [f32]) {
        let gb = g * self.nb + b;
        match &self.quants {
            Quants::Q4_1 { q, d, m, simd } => {
                let (dr, mr) = (h16(d[gb * G + r]), h16(m[gb * G + r]));
                for e in 0..16 {
                    let byte = q[gb * 256 + q_at(simd.is_some(), r, e)];
                    out[e] = dr * f32::from(byte & 15) + mr;
                    out[e + 16] = dr * f32::from(byte >> 4) + mr;
                }
            }
            Quants::Q8_0 { q, d, m, simd } => {
                let min = m.as_ref().map_or(0.0, |m| h16(m[gb * G + r]));
                for (e, o) in out.iter_mut().enumerate().take(QK) {
                    let at = gb * 512 + q_at(simd.is_some(), r, e);
                    *o = h16(d[gb * G + r]) * f32::from(q[at]) + min;
                }
            }
            Quants::K(kq) => kq.chunk(g, r, b, out),
            Quants::Float(f) => {
                for (e, o) in out.iter_mut().enumerate().take(QK) {
                    *o = f.at(self.k, g, r, b * QK + e);
                }
            }
        }
    }

    /// Row `i` dequantized into `out` (`k` values).
    pub fn dequantize_row(&self, i: usize, out: &mut [f32]) {
        let (g, r) = (i / G, i % G);
        for (b, o) in out[..self.k].chunks_exact_mut(QK).enumerate() {
            self.chunk(g, r, b, o);
        }
    }

    /// Dequantize to f32, `n × k` row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.n * self.k];
        for (i, row) in out.chunks_exact_mut(self.k).enumerate() {
            self.dequantize_row(i, row);
        }
        out
    }

    /// Rows `ids` dequantized (an embedding lookup): `(len, k)`, as candle's
    /// `QTensor::embedding` gives for the same weights.
    pub fn embedding(&self, ids: &Tensor) -> Result<Tensor> {
        let ids = ids.flatten_all()?.to_vec1::<u32>()?;
        let mut out = vec![0f32; ids.len() * self.k];
        for (&id, row) in ids.iter().zip(out.chunks_exact_mut(self.k)) {
            let id = id as usize;
            if id >= self.n {
                return Err(Error::InvalidRequest(format!(
                    "token id {id} out of the vocabulary ({})",
                    self.n
                )));
            }
            self.dequantize_row(id, row);
        }
        Ok(Tensor::from_vec(out, (ids.len(), self.k), &Device::Cpu)?)
    }

    /// `forward` on a candle tensor `(..., k)` → `(..., n)`.
    pub fn forward(&self, x: &Tensor, threads: usize) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let k = *dims
            .last()
            .ok_or_else(|| Error::Unsupported("scalar input".into()))?;
        if k != self.k {
            return Err(Error::Unsupported(format!(
                "kernel input width {k} != {}",
                self.k
            )));
        }
        let m = x.elem_count() / k;
        let xv = x
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let mut out = vec![0f32; m * self.n];
        self.matmul(&xv, m, &mut out, threads);
        let mut od = dims;
        *od.last_mut().expect("rank >= 1") = self.n;
        Ok(Tensor::from_vec(out, od, &Device::Cpu)?)
    }
}

/// One activation row against one Q4_1 row group.
#[inline(never)]
fn q4_1_row(q: &[u8], d: &[u16], mins: &[u16], xs: &[i16], xd: &[f32], xsum: &[f32]) -> [f32; G] {
    let mut facc = [0f32; G];
    for ((((qb, db), mb), xb), (&dx, &sx)) in q
        .chunks_exact(256)
        .zip(d.chunks_exact(G))
        .zip(mins.chunks_exact(G))
        .zip(xs.chunks_exact(QK))
        .zip(xd.iter().zip(xsum))
    {
        let mut acc = [0i32; G];
        for h in 0..2 {
            let mut a16 = [0i16; G];
            for e in h * 8..h * 8 + 8 {
                let (x0, x1) = (xb[e], xb[e + 16]);
                let bytes = &qb[e * G..e * G + G];
                for r in 0..G {
                    let b = bytes[r];
                    a16[r] += i16::from(b & 15) * x0 + i16::from(b >> 4) * x1;
                }
            }
            for r in 0..G {
                acc[r] += i32::from(a16[r]);
            }
        }
        for r in 0..G {
            facc[r] += h16(db[r]) * dx * acc[r] as f32 + h16(mb[r]) * sx;
        }
    }
    facc
}

/// `N` activation rows against one Q4_1 row group: each block's nibbles are unpacked once for
/// all of them (what makes a batch of decode rows cheaper than as many single rows). Each row's result
/// is exactly [`q4_1_row`]'s: the same exact integer sums, then the same float operations in
/// the same order.
#[inline(never)]
fn q4_1_rows<const N: usize>(
    q: &[u8],
    d: &[u16],
    mins: &[u16],
    x: &[XRow<'_>; N],
) -> [[f32; G]; N] {
    let mut facc = [[0f32; G]; N];
    for (b, ((qb, db), mb)) in q
        .chunks_exact(256)
        .zip(d.chunks_exact(G))
        .zip(mins.chunks_exact(G))
        .enumerate()
    {
        let mut acc = [[0i32; G]; N];
        for h in 0..2 {
            let mut a16 = [[0i16; G]; N];
            for e in h * 8..h * 8 + 8 {
                let bytes = &qb[e * G..e * G + G];
                let mut lo = [0i16; G];
                let mut hi = [0i16; G];
                for r in 0..G {
                    lo[r] = i16::from(bytes[r] & 15);
                    hi[r] = i16::from(bytes[r] >> 4);
                }
                for (a, xr) in a16.iter_mut().zip(x) {
                    let (x0, x1) = (xr.q[b * QK + e], xr.q[b * QK + e + 16]);
                    for r in 0..G {
                        a[r] += lo[r] * x0 + hi[r] * x1;
                    }
                }
            }
            for (acc, a) in acc.iter_mut().zip(&a16) {
                for r in 0..G {
                    acc[r] += i32::from(a[r]);
                }
            }
        }
        for ((f, acc), xr) in facc.iter_mut().zip(&acc).zip(x) {
            let (dx, sx) = (xr.d[b], xr.s[b]);
            for r in 0..G {
                f[r] += h16(db[r]) * dx * acc[r] as f32 + h16(mb[r]) * sx;
            }
        }
    }
    facc
}

/// One activation row against one Q8_0 row group. One flat loop over element pairs of all
/// blocks (a runtime trip count, so LLVM vectorises across the 16 rows, not across pairs).
#[inline(never)]
fn q8_0_row(q: &[i8], d: &[u16], xs: &[i16], xd: &[f32]) -> [f32; G] {
    let mut facc = [0f32; G];
    let mut acc = [0i32; G];
    for (i, (w, x)) in q.chunks_exact(2 * G).zip(xs.chunks_exact(2)).enumerate() {
        let (w0, w1) = w.split_at(G);
        let (x0, x1) = (x[0], x[1]);
        for r in 0..G {
            acc[r] += i32::from(i16::from(w0[r]) * x0 + i16::from(w1[r]) * x1);
        }
        if i % (QK / 2) == QK / 2 - 1 {
            let b = i / (QK / 2);
            let dx = xd[b];
            let db = &d[b * G..b * G + G];
            for r in 0..G {
                facc[r] += h16(db[r]) * dx * acc[r] as f32;
                acc[r] = 0;
            }
        }
    }
    facc
}

/// Add the minimum term `Σ m·sx` of Q5_1 blocks to one row group's sums.
fn add_minimums(acc: &mut [f32; G], mins: &[u16], xsum: &[f32]) {
    for (mb, &sx) in mins.chunks_exact(G).zip(xsum) {
        for r in 0..G {
            acc[r] += h16(mb[r]) * sx;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Micro-benchmark: this module's kernels against candle's `QMatMul` (Q4_1 native and Q8_0)
    /// for the SmolLM2-135M shapes, at m = 1 and 512, alternating `rounds` times. Returns a table
    /// of best-of times and ratios (> 1: ours is faster).
    fn bench_kernels(rounds: usize) -> String {
        use candle_core::quantized::QMatMul;
        use candle_core::Module;
        use std::fmt::Write;
        use std::time::Instant;

        let dev = Device::Cpu;
        let threads = candle_core::utils::get_num_threads();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "threads {threads}\n{:>12} {:>4} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8}",
            "shape",
            "m",
            "ours q4_1",
            "cand q4_1",
            "ours q8_0",
            "cand q8_0",
            "cand f32",
            "q41 x",
            "q80 x"
        );
        let shapes = [
            (576, 576),
            (192, 576),
            (1536, 576),
            (576, 1536),
            (49152, 576),
        ];
        for (n, k) in shapes {
            let mut seed = 1u64;
            let w: Vec<f32> = (0..n * k)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
                })
                .collect();
            let w = Tensor::from_vec(w, (n, k), &dev).expect("tensor");
            let q41 = QTensor::quantize(&w, GgmlDType::Q4_1).expect("q");
            let q80 = QTensor::quantize(&w, GgmlDType::Q8_0).expect("q");
            let k41 = QuantMatrix::from_qtensor(&q41).expect("k");
            let k80 = QuantMatrix::from_qtensor(&q80).expect("k");
            let c41 = QMatMul::from_qtensor(q41).expect("c");
            let c80 = QMatMul::from_qtensor(q80).expect("c");
            let wt = w.t().expect("t");
            for m in [1usize, 512] {
                if n == 49152 && m > 1 {
                    continue;
                }
                let x: Vec<f32> = (0..m * k)
                    .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
                    .collect();
                let xt = Tensor::from_vec(x.clone(), (m, k), &dev).expect("x");
                let mut out = vec![0f32; m * n];
                let reps = if m == 1 {
                    (20_000_000 / (n * k)).max(3)
                } else {
                    1
                };
                let mut best = [f64::MAX; 5];
                for _ in 0..rounds {
                    let t = Instant::now();
                    for _ in 0..reps {
                        k41.matmul(&x, m, &mut out, threads);
                    }
                    best[0] = best[0].min(t.elapsed().as_secs_f64() / reps as f64);
                    let t = Instant::now();
                    for _ in 0..reps {
                        c41.forward(&xt).expect("f");
                    }
                    best[1] = best[1].min(t.elapsed().as_secs_f64() / reps as f64);
                    let t = Instant::now();
                    for _ in 0..reps {
                        k80.matmul(&x, m, &mut out, threads);
                    }
                    best[2] = best[2].min(t.elapsed().as_secs_f64() / reps as f64);
                    let t = Instant::now();
                    for _ in 0..reps {
                        c80.forward(&xt).expect("f");
                    }
                    best[3] = best[3].min(t.elapsed().as_secs_f64() / reps as f64);
                    let t = Instant::now();
                    for _ in 0..reps {
                        xt.matmul(&wt).expect("f");
                    }
                    best[4] = best[4].min(t.elapsed().as_secs_f64() / reps as f64);
                }
                let us = |t: f64| t * 1e6;
                let _ = writeln!(
                    s,
                    "{:>12} {:>4} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>8.2} {:>8.2}",
                    format!("{n}x{k}"),
                    m,
                    us(best[0]),
                    us(best[1]),
                    us(best[2]),
                    us(best[3]),
                    us(best[4]),
                    best[1] / best[0],
                    best[3] / best[2],
                );
            }
        }
        s.push_str("times in µs (best of rounds); ratios: candle time / ours, same dtype\n");
        s
    }
    use candle_core::quantized::QMatMul;
    use candle_core::Module;

    use crate::engine::local::model::test_values::rand_vec;

    fn rel_err(a: &[f32], b: &[f32]) -> f32 {
        let num: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        let den: f32 = b.iter().map(|y| y * y).sum();
        (num / den.max(1e-30)).sqrt()
    }

    fn check(dtype: GgmlDType, n: usize, k: usize, ms: &[usize]) {
        let dev = Device::Cpu;
        let w = Tensor::from_vec(rand_vec(n * k, (n * 31 + k) as u64), (n, k), &dev).unwrap();
        let qt = QTensor::quantize(&w, dtype).unwrap();
        let wf = qt.dequantize(&dev).unwrap();
        let km = QuantMatrix::from_qtensor(&qt).unwrap();
        // The repacked weights are exactly candle's dequantized weights.
        let dq = km.dequantize();
        assert_eq!(dq, wf.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        let qmm = QMatMul::from_qtensor(qt).unwrap();
        for &m in ms {
            let xv = rand_vec(m * k, (m * 7 + n) as u64);
            let x = Tensor::from_vec(xv.clone(), (m, k), &dev).unwrap();
            let reference = x.matmul(&wf.t().unwrap()).unwrap();
            let reference = reference.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let candle = qmm
                .forward(&x)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            for threads in [1, 3] {
                let mut out = vec![0f32; m * n];
                km.matmul_int(&xv, m, &mut out, threads);
                let mut out2 = vec![0f32; m * n];
                km.matmul(&xv, m, &mut out2, threads);
                assert!(
                    rel_err(&out2, &reference) < 0.01,
                    "{dtype:?} {n}x{k} m={m}: matmul"
                );
                // Activation quantization to 8 bits: relative error ~ 0.5/127/sqrt(3) per
                // element, averaging out over a dot product; 1% is a generous bound.
                let e_ref = rel_err(&out, &reference);
                let e_candle = rel_err(&out, &candle);
                let e_candle_ref = rel_err(&candle, &reference);
                assert!(
                    e_ref < 0.01,
                    "{dtype:?} {n}x{k} m={m}: error vs f32 {e_ref} (candle's own: {e_candle_ref})"
                );
                assert!(
                    e_candle < 0.01,
                    "{dtype:?} {n}x{k} m={m}: vs candle {e_candle}"
                );
            }
        }
    }

    const SHAPES: [(usize, usize); 4] = [(576, 576), (192, 576), (1536, 576), (576, 1536)];

    #[test]
    fn kernels_q4_1_match_candle() {
        for (n, k) in SHAPES {
            check(GgmlDType::Q4_1, n, k, &[1, 3, 17, 512]);
        }
        check(GgmlDType::Q4_1, 49152, 576, &[1, 3]);
        // Rows not a multiple of the group.
        check(GgmlDType::Q4_1, 40, 64, &[1, 5]);
    }

    #[test]
    fn kernels_q8_0_match_candle() {
        for (n, k) in SHAPES {
            check(GgmlDType::Q8_0, n, k, &[1, 3, 17, 512]);
        }
        check(GgmlDType::Q8_0, 49152, 576, &[1, 3]);
        check(GgmlDType::Q8_0, 40, 64, &[1, 5]);
    }

    /// Shapes whose width is a multiple of the K-quants' 256-weight super-block.
    const K_SHAPES: [(usize, usize); 4] = [(512, 256), (192, 512), (1536, 512), (512, 1536)];

    #[test]
    fn kernels_q4_k_match_candle() {
        for (n, k) in K_SHAPES {
            check(GgmlDType::Q4K, n, k, &[1, 3, 17, 512]);
        }
        check(GgmlDType::Q4K, 40, 256, &[1, 5]);
    }

    #[test]
    fn kernels_q5_k_match_candle() {
        for (n, k) in K_SHAPES {
            check(GgmlDType::Q5K, n, k, &[1, 3, 17]);
        }
        check(GgmlDType::Q5K, 40, 256, &[1, 5]);
    }

    #[test]
    fn kernels_q6_k_match_candle() {
        for (n, k) in K_SHAPES {
            check(GgmlDType::Q6K, n, k, &[1, 3, 17, 512]);
        }
        check(GgmlDType::Q6K, 40, 256, &[1, 5]);
    }

    #[test]
    fn kernels_q4_0_match_candle() {
        check(GgmlDType::Q4_0, 576, 576, &[1, 17]);
        check(GgmlDType::Q4_0, 40, 64, &[1, 5]);
    }

    #[test]
    fn kernels_q5_0_and_q5_1_match_candle() {
        for dtype in [GgmlDType::Q5_0, GgmlDType::Q5_1] {
            check(dtype, 576, 576, &[1, 17]);
            check(dtype, 40, 64, &[1, 5]);
        }
    }

    #[test]
    fn kernels_float_match_candle() {
        for dtype in [GgmlDType::F32, GgmlDType::F16, GgmlDType::BF16] {
            check(dtype, 576, 576, &[1, 17]);
            check(dtype, 40, 64, &[1, 5]);
        }
        // No activation quantization: as close to the f32 product as the summation order allows.
        let dev = Device::Cpu;
        let w = Tensor::from_vec(rand_vec(96 * 128, 5), (96, 128), &dev).unwrap();
        let km =
            QuantMatrix::from_qtensor(&QTensor::quantize(&w, GgmlDType::F32).unwrap()).unwrap();
        let xv = rand_vec(3 * 128, 6);
        let x = Tensor::from_vec(xv.clone(), (3, 128), &dev).unwrap();
        let reference = x.matmul(&w.t().unwrap()).unwrap().flatten_all().unwrap();
        let mut out = vec![0f32; 3 * 96];
        km.matmul(&xv, 3, &mut out, 1);
        assert!(rel_err(&out, &reference.to_vec1::<f32>().unwrap()) < 1e-6);
    }

    /// Every integer weight type the kernels take.
    const INTEGER_TYPES: [GgmlDType; 8] = [
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
        GgmlDType::Q5_1,
        GgmlDType::Q8_0,
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
    ];

    /// A row's result never depends on how many rows came with it (bit for bit): what makes a
    /// conversation resumed from its cache continue like a fresh prefill.
    #[test]
    fn kernels_rows_do_not_depend_on_the_batch() {
        let dev = Device::Cpu;
        let (n, k, m) = (1040, 512, 19);
        let w = Tensor::from_vec(rand_vec(n * k, 9), (n, k), &dev).unwrap();
        let x = rand_vec(m * k, 10);
        let float_types = [GgmlDType::F32, GgmlDType::F16, GgmlDType::BF16];
        for dtype in INTEGER_TYPES.into_iter().chain(float_types) {
            let qt = QTensor::quantize(&w, dtype).unwrap();
            for simd in [Simd::detect(), None] {
                let km = QuantMatrix::repack(&[&qt], simd).unwrap();
                let mut all = vec![0f32; m * n];
                km.matmul(&x, m, &mut all, 2);
                for i in 0..m {
                    let mut one = vec![0f32; n];
                    km.matmul(&x[i * k..(i + 1) * k], 1, &mut one, 1);
                    assert_eq!(one, all[i * n..(i + 1) * n], "{dtype:?} {simd:?} row {i}");
                }
            }
        }
    }

    /// The SIMD kernels of every instruction set the CPU has (AVX-512 VNNI and AVX2) give the
    /// portable kernels' results bit for bit (and hold the same weights), at every batch size
    /// the dispatcher distinguishes.
    #[test]
    fn kernels_simd_matches_portable_bits() {
        let sets: Vec<Simd> = Simd::every().collect();
        eprintln!("comparing the portable kernels with {sets:?}");
        for simd in sets {
            simd_matches_portable_bits(simd);
        }
    }

    fn simd_matches_portable_bits(simd: Simd) {
        let dev = Device::Cpu;
        for (n, k) in [(40, 256), (512, 512), (96, 2048)] {
            let w = Tensor::from_vec(rand_vec(n * k, 21), (n, k), &dev).unwrap();
            for dtype in INTEGER_TYPES {
                let qt = QTensor::quantize(&w, dtype).unwrap();
                let fast = QuantMatrix::repack(&[&qt], Some(simd)).unwrap();
                let portable = QuantMatrix::repack(&[&qt], None).unwrap();
                assert_eq!(fast.dequantize(), portable.dequantize(), "{dtype:?}");
                for m in [1, 3, 4, 9] {
                    // Activations with zero blocks and extremes as well as ordinary values.
                    let mut x = rand_vec(m * k, (m * 13 + k) as u64);
                    x[..32].fill(0.0);
                    x[k - 1] = 50.0;
                    let (mut a, mut b) = (vec![0f32; m * n], vec![0f32; m * n]);
                    fast.matmul_int(&x, m, &mut a, 1);
                    portable.matmul_int(&x, m, &mut b, 1);
                    let (a, b): (Vec<u32>, Vec<u32>) = (
                        a.iter().map(|v| v.to_bits()).collect(),
                        b.iter().map(|v| v.to_bits()).collect(),
                    );
                    assert_eq!(a, b, "{simd:?} {dtype:?} {n}x{k} m={m}");
                }
            }
        }
    }

    #[test]
    fn kernels_embedding_rows_match_candle() {
        let dev = Device::Cpu;
        let w = Tensor::from_vec(rand_vec(40 * 256, 11), (40, 256), &dev).unwrap();
        let ids = Tensor::new(&[3u32, 0, 39, 3], &dev).unwrap();
        for dtype in [
            GgmlDType::Q4K,
            GgmlDType::Q5K,
            GgmlDType::Q6K,
            GgmlDType::F16,
        ] {
            let qt = QTensor::quantize(&w, dtype).unwrap();
            let km = QuantMatrix::from_qtensor(&qt).unwrap();
            let want = qt.dequantize(&dev).unwrap().embedding(&ids).unwrap();
            let got = km.embedding(&ids).unwrap();
            assert_eq!(
                got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                want.flatten_all().unwrap().to_vec1::<f32>().unwrap()
            );
        }
        assert!(
            QuantMatrix::from_qtensor(&QTensor::quantize(&w, GgmlDType::Q4K).unwrap())
                .unwrap()
                .embedding(&Tensor::new(&[40u32], &dev).unwrap())
                .is_err()
        );
    }

    #[test]
    fn kernels_fused_parts() {
        let dev = Device::Cpu;
        let a = Tensor::from_vec(rand_vec(64 * 64, 1), (64, 64), &dev).unwrap();
        let b = Tensor::from_vec(rand_vec(24 * 64, 2), (24, 64), &dev).unwrap();
        let qa = QTensor::quantize(&a, GgmlDType::Q4_1).unwrap();
        let qb = QTensor::quantize(&b, GgmlDType::Q4_1).unwrap();
        let km = QuantMatrix::from_qtensors(&[&qa, &qb]).unwrap();
        let cat = Tensor::cat(
            &[qa.dequantize(&dev).unwrap(), qb.dequantize(&dev).unwrap()],
            0,
        )
        .unwrap();
        assert_eq!(km.rows(), 88);
        assert_eq!(
            km.dequantize(),
            cat.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }

    #[test]
    #[ignore]
    fn kernels_bench() {
        println!("{}", bench_kernels(5));
    }

    /// Ours against candle's `QMatMul` (AVX2 K-quant dots, close to llama.cpp's) for
    /// Llama-3.2-1B shapes. `cargo test -p parley-core --release --lib kernels_bench_k -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn kernels_bench_k_quants() {
        use std::time::Instant;
        let dev = Device::Cpu;
        let threads = std::env::var("BENCH_THREADS").map_or(1, |t| t.parse().unwrap());
        let best = |reps: usize, f: &mut dyn FnMut()| {
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..reps {
                        f();
                    }
                    t.elapsed().as_secs_f64() / reps as f64
                })
                .fold(f64::MAX, f64::min)
        };
        let only = std::env::var("BENCH_DTYPES").unwrap_or_default();
        for dtype in [
            GgmlDType::Q4K,
            GgmlDType::Q5K,
            GgmlDType::Q6K,
            GgmlDType::Q8_0,
            GgmlDType::Q4_1,
            GgmlDType::F16,
        ] {
            if !only.is_empty() && !only.split(',').any(|d| d == format!("{dtype:?}")) {
                continue;
            }
            for (n, k) in [(2048, 2048), (8192, 2048), (2048, 8192)] {
                let w = Tensor::from_vec(rand_vec(n * k, 3), (n, k), &dev).unwrap();
                let qt = QTensor::quantize(&w, dtype).unwrap();
                let km = QuantMatrix::from_qtensor(&qt).unwrap();
                let qmm = QMatMul::from_qtensor(qt).unwrap();
                let ms: Vec<usize> = std::env::var("BENCH_M").map_or(vec![1, 64], |v| {
                    v.split(',').map(|m| m.parse().unwrap()).collect()
                });
                for m in ms {
                    let xv = rand_vec(m * k, 4);
                    let x = Tensor::from_vec(xv.clone(), (m, k), &dev).unwrap();
                    let mut out = vec![0f32; m * n];
                    let reps = if m == 1 { 20 } else { 2 };
                    let ours = best(reps, &mut || km.matmul(&xv, m, &mut out, threads));
                    let theirs = best(reps, &mut || {
                        qmm.forward(&x).unwrap();
                    });
                    println!(
                        "{dtype:?} {n}x{k} m={m}: ours {:.0} µs, candle {:.0} µs, {:.2}x, ours {:.1} GB/s",
                        ours * 1e6,
                        theirs * 1e6,
                        theirs / ours,
                        km.bytes() as f64 / ours / 1e9
                    );
                }
            }
        }
    }
}
