//! Dot products with AVX-512 VNNI for every integer weight type (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
//! Q4_K, Q5_K, Q6_K), chosen at run time where the CPU has it.
//!
//! `vpdpbusd` multiplies 4 unsigned bytes by 4 signed bytes and adds the sum into each i32
//! lane: 64 multiply-adds per instruction, against 32 for the portable kernels' i16 lanes
//! (`vpmullw` + `vpaddw` on 16 lanes, plus widening). K-quant values are unsigned (Q4_K
//! 0..16, Q5_K 0..32, Q6_K 0..64 before its −32 offset) and quantized activations fit a signed byte.
//!
//! Layout (made by [`super::kquants::KQuants::repack`] when [`Vnni::detect`] finds the features): per row
//! group and 32-weight chunk, 4 vectors of 64 bytes; byte `v·64 + r·4 + t` holds element
//! `4v + t` (low nibble) and element `4v + t + 16` (high nibble) of row `r`. The nibbles of a
//! vector are so 4 consecutive elements of each of the 16 rows: `vpdpbusd` against those 4
//! activation bytes broadcast gives each row's partial dot in its own i32 lane. Q5_K adds one
//! 64-byte vector of fifth bits per chunk (the portable layout's size): byte `r·4 + t` holds at
//! bit `v` the fifth bit of element `4v + t`, at bit `v + 4` that of element `4v + t + 16`, so
//! one shift and mask per nibble vector puts them at bit 4. Q6_K adds two
//! 64-byte vectors of high bits per chunk: byte `r·4 + t` of the first holds at bits `2v, 2v+1`
//! the two high bits of element `4v + t`, the second those of element `4v + t + 16`.
//!
//! Q4_0 and Q4_1 blocks use the K-quants' nibble layout (256 bytes per group and block). Q8_0
//! (and Q5_0, Q5_1, held as bytes) uses 8 vectors per group and block, byte `v·64 + r·4 + t`
//! holding element `4v + t` of row `r`; its quants are signed, so the activations go in as the
//! unsigned operand, offset by 128 (`x ^ 0x80`), and `128·Σ w` per block and row, kept at
//! repack, is taken off again.
//!
//! Q6_K's offset: `Σ (q − 32)·x = Σ q·x − 32·Σ x`, with `Σ x` per 16-element sub-block from
//! the activation quantizer. Integer sums are exact in any order, and the f32 scaling per chunk
//! is the portable kernels' formula, operation for operation, in the same order and without
//! fused multiply-adds, so every result is the same bits as the portable kernel's
//! (`kernels_vnni_matches_portable_bits`); a row's result never depends on the batch.
//!
//! The only `unsafe` of the crate lives here: calling the `#[target_feature]` kernels (sound
//! because a [`Vnni`] exists only once the features were detected) and unaligned vector loads
//! from arrays of the right size.
#![allow(unsafe_code)]

use super::kquants::CHUNKS;
use super::{XRow, G, QK};

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Proof that the CPU has AVX-512 F, BW and VNNI: only [`Vnni::detect`] makes one (on other
/// architectures none can exist).
#[derive(Clone, Copy, Debug)]
pub(super) struct Vnni(Detected);

#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
struct Detected;

#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Copy, Debug)]
enum Detected {}

impl Vnni {
    /// The features, if this CPU has them and `PARLEY_KERNELS` is not `portable` (which keeps
    /// the portable kernels, for comparisons).
    pub(super) fn detect() -> Option<Self> {
        if std::env::var_os("PARLEY_KERNELS").is_some_and(|v| v == "portable") {
            return None;
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
        {
            return Some(Self(Detected));
        }
        None
    }

    /// `R` activation rows against one Q4_K row group in this module's layout: nibbles `q`
    /// (256 bytes per chunk), scales `sc` and minimums `mn` (`G` per chunk), `d` and `dmin`
    /// (`G` f16 per super-block).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn q4k_rows<const R: usize>(
        self,
        q: &[u8],
        sc: &[u8],
        mn: &[u8],
        d: &[u16],
        dmin: &[u16],
        x: &[XRow<'_>; R],
    ) -> [[f32; G]; R] {
        let nb = sc.len() / G;
        assert!(q.len() == nb * 256 && mn.len() == nb * G && nb.is_multiple_of(CHUNKS));
        assert!(d.len() == nb / CHUNKS * G && dmin.len() == d.len());
        assert!(x
            .iter()
            .all(|x| x.q8.len() >= nb * QK && x.d.len() >= nb && x.s.len() >= nb));
        #[cfg(target_arch = "x86_64")]
        {
            let Self(Detected) = self;
            // SAFETY: a `Vnni` exists only where `detect` found avx512f, avx512bw and
            // avx512vnni; the slice lengths were checked above.
            unsafe { q45k::<R, false>(q, &[], sc, mn, d, dmin, x) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        match self.0 {}
    }

    /// `R` activation rows against one Q5_K row group: [`Vnni::q4k_rows`]'s data plus the
    /// fifth bits `h` (64 bytes per chunk).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn q5k_rows<const R: usize>(
        self,
        q: &[u8],
        h: &[u8],
        sc: &[u8],
        mn: &[u8],
        d: &[u16],
        dmin: &[u16],
        x: &[XRow<'_>; R],
    ) -> [[f32; G]; R] {
        let nb = sc.len() / G;
        assert!(q.len() == nb * 256 && h.len() == nb * 64 && mn.len() == nb * G);
        assert!(nb.is_multiple_of(CHUNKS));
        assert!(d.len() == nb / CHUNKS * G && dmin.len() == d.len());
        assert!(x
            .iter()
            .all(|x| x.q8.len() >= nb * QK && x.d.len() >= nb && x.s.len() >= nb));
        #[cfg(target_arch = "x86_64")]
        {
            let Self(Detected) = self;
            // SAFETY: as in `q4k_rows`.
            unsafe { q45k::<R, true>(q, h, sc, mn, d, dmin, x) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        match self.0 {}
    }

    /// `R` activation rows against one Q4_0 or Q4_1 row group in this module's layout: nibbles
    /// `q` (256 bytes per block), scales `d` and minimums `m` (`G` f16 per block).
    pub(super) fn q4_1_rows<const R: usize>(
        self,
        q: &[u8],
        d: &[u16],
        m: &[u16],
        x: &[XRow<'_>; R],
    ) -> [[f32; G]; R] {
        let nb = d.len() / G;
        assert!(q.len() == nb * 256 && d.len() == nb * G && m.len() == d.len());
        assert!(x
            .iter()
            .all(|x| x.q8.len() >= nb * QK && x.d.len() >= nb && x.s.len() >= nb));
        #[cfg(target_arch = "x86_64")]
        {
            let Self(Detected) = self;
            // SAFETY: as in `q4k_rows`.
            unsafe { q4_1(q, d, m, x) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        match self.0 {}
    }

    /// `R` activation rows against one Q8_0 (Q5_0, Q5_1) row group in this module's layout:
    /// signed quants `q` (512 bytes per block), `wsum` (`G` sums of each block's quants) and
    /// scales `d` (`G` f16 per block). Without the Q5_1 minimum term (the caller adds it).
    pub(super) fn q8_0_rows<const R: usize>(
        self,
        q: &[i8],
        wsum: &[i16],
        d: &[u16],
        x: &[XRow<'_>; R],
    ) -> [[f32; G]; R] {
        let nb = d.len() / G;
        assert!(q.len() == nb * 512 && d.len() == nb * G && wsum.len() == d.len());
        assert!(x.iter().all(|x| x.q8.len() >= nb * QK && x.d.len() >= nb));
        #[cfg(target_arch = "x86_64")]
        {
            let Self(Detected) = self;
            // SAFETY: as in `q4k_rows`.
            unsafe { q8_0(q, wsum, d, x) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        match self.0 {}
    }

    /// `R` activation rows against one Q6_K row group in this module's layout: low nibbles `q`
    /// (256 bytes per chunk), high bits `h` (128 bytes per chunk), signed scales `sc` (`2G` per
    /// chunk), `d` (`G` f16 per super-block).
    pub(super) fn q6k_rows<const R: usize>(
        self,
        q: &[u8],
        h: &[u8],
        sc: &[u8],
        d: &[u16],
        x: &[XRow<'_>; R],
    ) -> [[f32; G]; R] {
        let nb = q.len() / 256;
        assert!(q.len() == nb * 256 && h.len() == nb * 128 && sc.len() == nb * 2 * G);
        assert!(nb.is_multiple_of(CHUNKS) && d.len() == nb / CHUNKS * G);
        assert!(x
            .iter()
            .all(|x| x.q8.len() >= nb * QK && x.d.len() >= nb && x.s16.len() >= 2 * nb));
        #[cfg(target_arch = "x86_64")]
        {
            let Self(Detected) = self;
            // SAFETY: as in `q4k_rows`.
            unsafe { q6k(q, h, sc, d, x) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        match self.0 {}
    }
}

/// A one-byte element type (`u8` or `i8`): what [`load64`] and [`prefetch`] read.
trait Byte: Copy {}
impl Byte for u8 {}
impl Byte for i8 {}

/// 64 bytes as a vector.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn load64<T: Byte>(b: &[T; 64]) -> __m512i {
    // SAFETY: 64 readable bytes; the load is unaligned.
    unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
}

/// 16 bytes widened to i32 lanes, unsigned or (`SIGNED`) signed.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn widen16<const SIGNED: bool>(b: &[u8; G]) -> __m512i {
    // SAFETY: 16 readable bytes; the load is unaligned.
    let v = unsafe { _mm_loadu_si128(b.as_ptr().cast()) };
    if SIGNED {
        _mm512_cvtepi8_epi32(v)
    } else {
        _mm512_cvtepu8_epi32(v)
    }
}

/// 16 f16 values (finite) as f32 lanes: exact, so the same values as the portable `h16`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn f16x16(h: &[u16; G]) -> __m512 {
    // SAFETY: 32 readable bytes; the load is unaligned.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(h.as_ptr().cast()) })
}

/// Activation bytes `at..at + 4` in every i32 lane.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn broadcast4(x: &[i8; QK], at: usize) -> __m512i {
    _mm512_set1_epi32(bytes4(x, at))
}

/// Activation bytes `at..at + 4` plus 128 (as unsigned bytes) in every i32 lane.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn broadcast4_unsigned(x: &[i8; QK], at: usize) -> __m512i {
    // Flipping the top bit of a byte adds 128 to it, as unsigned.
    _mm512_set1_epi32(bytes4(x, at) ^ 0x8080_8080_u32 as i32)
}

/// Bytes `at..at + 4` as one little-endian i32.
#[inline(always)]
fn bytes4(x: &[i8; QK], at: usize) -> i32 {
    i32::from_le_bytes([x[at], x[at + 1], x[at + 2], x[at + 3]].map(|v| v as u8))
}

/// How far ahead the one-row (decode) kernels ask for weight bytes: decode streams the weights
/// from memory once per token, and the hardware prefetcher alone left it short of llama.cpp's.
const PREFETCH_AHEAD: usize = 2048;

/// Ask for the cache line at `base + at` (a hint: any address is allowed).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn prefetch<T: Byte>(base: &[T], at: usize) {
    // A prefetch never faults, so a safe intrinsic whatever the address.
    _mm_prefetch::<_MM_HINT_T0>(base.as_ptr().wrapping_add(at).cast());
}

/// The 16 lanes as an array.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn lanes(v: __m512) -> [f32; G] {
    let mut out = [0f32; G];
    // SAFETY: 64 writable bytes; the store is unaligned.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), v) };
    out
}

/// Chunk `b`'s 32 activation bytes of each row.
#[inline(always)]
fn chunk_acts<'a, const R: usize>(x: &[XRow<'a>; R], b: usize) -> [&'a [i8; QK]; R] {
    std::array::from_fn(|j| &x[j].q8.as_chunks::<QK>().0[b])
}

/// [`Vnni::q4k_rows`] and (`Q5`, fifth bits from `h`) [`Vnni::q5k_rows`]. Per chunk and row:
/// `Σ q·x` exact in i32 (lo and hi nibbles in separate accumulators, for two dependency
/// chains), then the portable `q4k_row`'s (`q5k_row`'s) `d·dx·(sc·Σ) − dmin·sx·m` in f32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[allow(clippy::too_many_arguments)]
fn q45k<const R: usize, const Q5: bool>(
    q: &[u8],
    h: &[u8],
    sc: &[u8],
    mn: &[u8],
    d: &[u16],
    dmin: &[u16],
    x: &[XRow<'_>; R],
) -> [[f32; G]; R] {
    let low = _mm512_set1_epi8(0x0F);
    let bit4 = _mm512_set1_epi8(0x10);
    let mut facc = [_mm512_setzero_ps(); R];
    let (ds, ms) = (d.as_chunks::<G>().0, dmin.as_chunks::<G>().0);
    let hs = h.as_chunks::<64>().0;
    let chunks = q
        .as_chunks::<256>()
        .0
        .iter()
        .zip(sc.as_chunks::<G>().0.iter().zip(mn.as_chunks::<G>().0));
    for (b, (qb, (scb, mnb))) in chunks.enumerate() {
        if R == 1 {
            for line in 0..4 {
                prefetch(q, b * 256 + PREFETCH_AHEAD + line * 64);
            }
            if Q5 {
                prefetch(h, b * 64 + PREFETCH_AHEAD / 4);
            }
        }
        let xb = chunk_acts(x, b);
        let hv = if Q5 {
            load64(&hs[b])
        } else {
            _mm512_setzero_si512()
        };
        let mut lo_acc = [_mm512_setzero_si512(); R];
        let mut hi_acc = [_mm512_setzero_si512(); R];
        for (v, wv) in qb.as_chunks::<64>().0.iter().enumerate() {
            let w = load64(wv);
            let mut lo = _mm512_and_si512(w, low);
            let mut hi = _mm512_and_si512(_mm512_srli_epi16::<4>(w), low);
            if Q5 {
                // This vector's fifth bits (bits `v` and `v + 4`) at bit 4 (others masked;
                // 16-bit shifts by at most 4 move no wanted bit across a byte).
                let (sl, sh) = match v {
                    0 => (_mm512_slli_epi16::<4>(hv), hv),
                    1 => (_mm512_slli_epi16::<3>(hv), _mm512_srli_epi16::<1>(hv)),
                    2 => (_mm512_slli_epi16::<2>(hv), _mm512_srli_epi16::<2>(hv)),
                    _ => (_mm512_slli_epi16::<1>(hv), _mm512_srli_epi16::<3>(hv)),
                };
                // a | (b & c)
                lo = _mm512_ternarylogic_epi32::<0xF8>(lo, sl, bit4);
                hi = _mm512_ternarylogic_epi32::<0xF8>(hi, sh, bit4);
            }
            for j in 0..R {
                lo_acc[j] = _mm512_dpbusd_epi32(lo_acc[j], lo, broadcast4(xb[j], 4 * v));
                hi_acc[j] = _mm512_dpbusd_epi32(hi_acc[j], hi, broadcast4(xb[j], 4 * v + 16));
            }
        }
        let scv = widen16::<false>(scb);
        let mnf = _mm512_cvtepi32_ps(widen16::<false>(mnb));
        let (db, mb) = (f16x16(&ds[b / CHUNKS]), f16x16(&ms[b / CHUNKS]));
        for j in 0..R {
            let acc = _mm512_add_epi32(lo_acc[j], hi_acc[j]);
            let (dx, sx) = (_mm512_set1_ps(x[j].d[b]), _mm512_set1_ps(x[j].s[b]));
            let dot = _mm512_mul_ps(
                _mm512_mul_ps(db, dx),
                _mm512_cvtepi32_ps(_mm512_mullo_epi32(scv, acc)),
            );
            let min = _mm512_mul_ps(_mm512_mul_ps(mb, sx), mnf);
            facc[j] = _mm512_add_ps(facc[j], _mm512_sub_ps(dot, min));
        }
    }
    let mut out = [[0f32; G]; R];
    for (o, v) in out.iter_mut().zip(facc) {
        *o = lanes(v);
    }
    out
}

/// [`Vnni::q6k_rows`]. Per chunk and row: `Σ q·x − 32·Σ x` exact in i32 for each 16-element
/// sub-block, then the portable `q6k_row`'s `d·dx·(sc₀·Σ₀ + sc₁·Σ₁)` in f32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn q6k<const R: usize>(
    q: &[u8],
    h: &[u8],
    sc: &[u8],
    d: &[u16],
    x: &[XRow<'_>; R],
) -> [[f32; G]; R] {
    let low = _mm512_set1_epi8(0x0F);
    let bits45 = _mm512_set1_epi8(0x30);
    let mut facc = [_mm512_setzero_ps(); R];
    let ds = d.as_chunks::<G>().0;
    let chunks = q.as_chunks::<256>().0.iter().zip(
        h.as_chunks::<128>()
            .0
            .iter()
            .zip(sc.as_chunks::<{ 2 * G }>().0),
    );
    for (b, (qb, (hb, scb))) in chunks.enumerate() {
        if R == 1 {
            for line in 0..4 {
                prefetch(q, b * 256 + PREFETCH_AHEAD + line * 64);
            }
            for line in 0..2 {
                prefetch(h, b * 128 + PREFETCH_AHEAD / 2 + line * 64);
            }
        }
        let xb = chunk_acts(x, b);
        let hb = hb.as_chunks::<64>().0;
        let (hl, hh) = (load64(&hb[0]), load64(&hb[1]));
        let mut lo_acc = [_mm512_setzero_si512(); R];
        let mut hi_acc = [_mm512_setzero_si512(); R];
        for (v, wv) in qb.as_chunks::<64>().0.iter().enumerate() {
            let w = load64(wv);
            // The high bits of this vector's elements at bits 4 and 5 (and others, masked).
            let (sl, sh) = match v {
                0 => (_mm512_slli_epi16::<4>(hl), _mm512_slli_epi16::<4>(hh)),
                1 => (_mm512_slli_epi16::<2>(hl), _mm512_slli_epi16::<2>(hh)),
                2 => (hl, hh),
                _ => (_mm512_srli_epi16::<2>(hl), _mm512_srli_epi16::<2>(hh)),
            };
            // a | (b & c)
            let lo = _mm512_ternarylogic_epi32::<0xF8>(_mm512_and_si512(w, low), sl, bits45);
            let hi = _mm512_ternarylogic_epi32::<0xF8>(
                _mm512_and_si512(_mm512_srli_epi16::<4>(w), low),
                sh,
                bits45,
            );
            for j in 0..R {
                lo_acc[j] = _mm512_dpbusd_epi32(lo_acc[j], lo, broadcast4(xb[j], 4 * v));
                hi_acc[j] = _mm512_dpbusd_epi32(hi_acc[j], hi, broadcast4(xb[j], 4 * v + 16));
            }
        }
        let scb = scb.as_chunks::<G>().0;
        let (sc0, sc1) = (widen16::<true>(&scb[0]), widen16::<true>(&scb[1]));
        let db = f16x16(&ds[b / CHUNKS]);
        for j in 0..R {
            let (s0, s1) = (x[j].s16[2 * b], x[j].s16[2 * b + 1]);
            let d0 = _mm512_sub_epi32(lo_acc[j], _mm512_set1_epi32(32 * s0));
            let d1 = _mm512_sub_epi32(hi_acc[j], _mm512_set1_epi32(32 * s1));
            let isum = _mm512_add_epi32(_mm512_mullo_epi32(sc0, d0), _mm512_mullo_epi32(sc1, d1));
            let dx = _mm512_set1_ps(x[j].d[b]);
            facc[j] = _mm512_add_ps(
                facc[j],
                _mm512_mul_ps(_mm512_mul_ps(db, dx), _mm512_cvtepi32_ps(isum)),
            );
        }
    }
    let mut out = [[0f32; G]; R];
    for (o, v) in out.iter_mut().zip(facc) {
        *o = lanes(v);
    }
    out
}

/// [`Vnni::q4_1_rows`]. Per block and row: `Σ q·x` exact in i32, then the portable
/// `q4_1_row`'s `d·dx·Σ + m·sx` in f32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn q4_1<const R: usize>(q: &[u8], d: &[u16], m: &[u16], x: &[XRow<'_>; R]) -> [[f32; G]; R] {
    let low = _mm512_set1_epi8(0x0F);
    let mut facc = [_mm512_setzero_ps(); R];
    let blocks = q
        .as_chunks::<256>()
        .0
        .iter()
        .zip(d.as_chunks::<G>().0.iter().zip(m.as_chunks::<G>().0));
    for (b, (qb, (db, mb))) in blocks.enumerate() {
        if R == 1 {
            for line in 0..4 {
                prefetch(q, b * 256 + PREFETCH_AHEAD + line * 64);
            }
        }
        let xb = chunk_acts(x, b);
        let mut lo_acc = [_mm512_setzero_si512(); R];
        let mut hi_acc = [_mm512_setzero_si512(); R];
        for (v, wv) in qb.as_chunks::<64>().0.iter().enumerate() {
            let w = load64(wv);
            let lo = _mm512_and_si512(w, low);
            let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(w), low);
            for j in 0..R {
                lo_acc[j] = _mm512_dpbusd_epi32(lo_acc[j], lo, broadcast4(xb[j], 4 * v));
                hi_acc[j] = _mm512_dpbusd_epi32(hi_acc[j], hi, broadcast4(xb[j], 4 * v + 16));
            }
        }
        let (dv, mv) = (f16x16(db), f16x16(mb));
        for j in 0..R {
            let acc = _mm512_cvtepi32_ps(_mm512_add_epi32(lo_acc[j], hi_acc[j]));
            let (dx, sx) = (_mm512_set1_ps(x[j].d[b]), _mm512_set1_ps(x[j].s[b]));
            let dot = _mm512_mul_ps(_mm512_mul_ps(dv, dx), acc);
            facc[j] = _mm512_add_ps(facc[j], _mm512_add_ps(dot, _mm512_mul_ps(mv, sx)));
        }
    }
    let mut out = [[0f32; G]; R];
    for (o, v) in out.iter_mut().zip(facc) {
        *o = lanes(v);
    }
    out
}

/// [`Vnni::q8_0_rows`]. Per block and row: `Σ w·(x + 128) − 128·Σ w`, exact in i32, then the
/// portable `q8_0_row`'s `d·dx·Σ` in f32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn q8_0<const R: usize>(q: &[i8], wsum: &[i16], d: &[u16], x: &[XRow<'_>; R]) -> [[f32; G]; R] {
    let mut facc = [_mm512_setzero_ps(); R];
    let (q, _) = q.as_chunks::<512>();
    let blocks = q
        .iter()
        .zip(wsum.as_chunks::<G>().0.iter().zip(d.as_chunks::<G>().0));
    for (b, (qb, (sb, db))) in blocks.enumerate() {
        if R == 1 {
            for line in 0..8 {
                prefetch(q.as_flattened(), b * 512 + PREFETCH_AHEAD + line * 64);
            }
        }
        let xb = chunk_acts(x, b);
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        for (v, wv) in qb.as_chunks::<64>().0.iter().enumerate() {
            let w = load64(wv);
            for j in 0..R {
                let xu = broadcast4_unsigned(xb[j], 4 * v);
                acc[j][v % 2] = _mm512_dpbusd_epi32(acc[j][v % 2], xu, w);
            }
        }
        // SAFETY: 32 readable bytes; the load is unaligned.
        let sums = _mm512_cvtepi16_epi32(unsafe { _mm256_loadu_si256(sb.as_ptr().cast()) });
        let offset = _mm512_slli_epi32::<7>(sums);
        let dv = f16x16(db);
        for j in 0..R {
            let dot = _mm512_sub_epi32(_mm512_add_epi32(acc[j][0], acc[j][1]), offset);
            let dx = _mm512_set1_ps(x[j].d[b]);
            let scaled = _mm512_mul_ps(_mm512_mul_ps(dv, dx), _mm512_cvtepi32_ps(dot));
            facc[j] = _mm512_add_ps(facc[j], scaled);
        }
    }
    let mut out = [[0f32; G]; R];
    for (o, v) in out.iter_mut().zip(facc) {
        *o = lanes(v);
    }
    out
}
