//! Dot products of every integer weight type (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)
//! with x86-64 SIMD, chosen at run time: AVX-512 VNNI where the CPU has it, else AVX2.
//!
//! The core step is `dpbusd`: 4 unsigned bytes times 4 signed bytes, summed into each i32 lane.
//! AVX-512 VNNI has it as one instruction (`vpdpbusd`, 64 multiply-adds); AVX2 makes it from
//! `vpmaddubsw` (pairs into i16), `vpmaddwd` by ones (pairs of those into i32) and an add, as
//! llama.cpp does (32 multiply-adds per three instructions, against the portable kernels' 16
//! per `vpmullw` + `vpaddw` plus widening). `vpmaddubsw` saturates past ±32 767, which two
//! products stay under as long as the unsigned side is at most 63 (the K-quants, Q4) or both
//! sides at most 127 in size (Q8_0, below).
//!
//! Layout (made at repack when [`Simd::detect`] finds the features): per row group and
//! 32-weight block, vectors of 64 bytes, byte `v·64 + r·4 + t` of a nibble block holding
//! element `4v + t` (low nibble) and element `4v + t + 16` (high nibble) of row `r`: the
//! nibbles of a vector are 4 consecutive elements of each of the 16 rows, and `dpbusd`
//! against those 4 activation bytes broadcast gives each row's partial dot in its own i32
//! lane. Byte blocks (Q8_0, and Q5_0 and Q5_1 held as bytes) use 8 vectors, byte
//! `v·64 + r·4 + t` holding element `4v + t`. Q5_K adds one 64-byte vector of fifth bits per
//! chunk: byte `r·4 + t` holds at bit `v` the fifth bit of element `4v + t`, at bit `v + 4`
//! that of element `4v + t + 16`, so one shift and mask per nibble vector puts them at bit 4.
//! Q6_K adds two 64-byte vectors of high bits per chunk: byte `r·4 + t` of the first holds at
//! bits `2v, 2v+1` the two high bits of element `4v + t`, the second those of element
//! `4v + t + 16`. On AVX2 each 64-byte vector is two registers, rows 0–7 and rows 8–15.
//!
//! Signed weights (Q8_0, Q5_0): `Σ w·x = Σ |w|·(x·sign w)`, so `|w|` goes in as the unsigned
//! operand. Q6_K's offset: `Σ (q − 32)·x = Σ q·x − 32·Σ x`, with `Σ x` per 16-element sub-block
//! from the activation quantizer. Integer sums are exact in any order, and the f32 scaling per
//! block is the portable kernels' formula, operation for operation, in the same order and
//! without fused multiply-adds, so every result is the same bits as the portable kernel's
//! (`kernels_simd_matches_portable_bits`); a row's result never depends on the batch.
//!
//! The kernels are written once (`kernels!`) over a small set of vector operations that each
//! instruction set defines (`avx512`, `avx2`). The only `unsafe` of the crate lives here:
//! calling the `#[target_feature]` kernels (sound because a [`Simd`] exists only once the
//! features were detected) and unaligned vector loads and stores on arrays of the right size.
#![allow(unsafe_code)]

use super::kquants::CHUNKS;
use super::{XRow, G, QK};

/// Proof that the CPU has AVX-512 F, BW and VNNI or AVX2, FMA and F16C: only [`Simd::detect`]
/// makes one (on other architectures none can exist).
#[derive(Clone, Copy, Debug)]
pub(super) struct Simd(Detected);

#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
enum Detected {
    Avx512Vnni,
    Avx2,
}

#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Copy, Debug)]
enum Detected {}

/// Which instruction set's kernels to call, with the same arguments.
macro_rules! dispatch {
    ($simd:expr, $kernel:ident::<$($g:tt),*>($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `Simd` holds `Avx512Vnni` or `Avx2` only where `detect` found those
        // features; the caller checked the slice lengths.
        match $simd.0 {
            Detected::Avx512Vnni => unsafe { avx512::$kernel::<$($g),*>($($arg),*) },
            Detected::Avx2 => unsafe { avx2::$kernel::<$($g),*>($($arg),*) },
        }
        #[cfg(not(target_arch = "x86_64"))]
        match $simd.0 {}
    }};
}

impl Simd {
    /// The features, if this CPU has them and `PARLEY_KERNELS` is not `portable` (which keeps
    /// the portable kernels, for comparisons).
    pub(super) fn detect() -> Option<Self> {
        if std::env::var_os("PARLEY_KERNELS").is_some_and(|v| v == "portable") {
            return None;
        }
        Self::every().next()
    }

    /// Every instruction set this CPU has, best first, whatever `PARLEY_KERNELS` says (the
    /// tests hold each to the portable kernels, AVX2 on an AVX-512 machine too).
    pub(super) fn every() -> impl Iterator<Item = Self> {
        #[cfg(target_arch = "x86_64")]
        let found = [
            (is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vnni"))
            .then_some(Self(Detected::Avx512Vnni)),
            (is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c"))
            .then_some(Self(Detected::Avx2)),
        ];
        #[cfg(not(target_arch = "x86_64"))]
        let found: [Option<Self>; 0] = [];
        found.into_iter().flatten()
    }

    /// The most activation rows worth taking at once (registers hold the sums of 8 rows on
    /// AVX-512, of 4 on AVX2).
    pub(super) fn max_rows(self) -> usize {
        #[cfg(target_arch = "x86_64")]
        match self.0 {
            Detected::Avx512Vnni => 8,
            Detected::Avx2 => 4,
        }
        #[cfg(not(target_arch = "x86_64"))]
        match self.0 {}
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
        assert!(acts_hold(x, nb));
        dispatch!(self, q45k::<R, false>(q, &[], sc, mn, d, dmin, x))
    }

    /// `R` activation rows against one Q5_K row group: [`Simd::q4k_rows`]'s data plus the
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
        assert!(acts_hold(x, nb));
        dispatch!(self, q45k::<R, true>(q, h, sc, mn, d, dmin, x))
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
        dispatch!(self, q6k::<R>(q, h, sc, d, x))
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
        assert!(acts_hold(x, nb));
        dispatch!(self, q4_1::<R>(q, d, m, x))
    }

    /// `R` activation rows against one Q8_0 (Q5_0, Q5_1) row group in this module's layout:
    /// signed quants `q` in −127..=127 (512 bytes per block) and scales `d` (`G` f16 per
    /// block). Without the Q5_1 minimum term (the caller adds it).
    pub(super) fn q8_0_rows<const R: usize>(
        self,
        q: &[i8],
        d: &[u16],
        x: &[XRow<'_>; R],
    ) -> [[f32; G]; R] {
        let nb = d.len() / G;
        assert!(q.len() == nb * 512 && d.len() == nb * G);
        assert!(x.iter().all(|x| x.q8.len() >= nb * QK && x.d.len() >= nb));
        dispatch!(self, q8_0::<R>(q, d, x))
    }
}

/// Whether every activation row holds `nb` blocks: their bytes, scales and sums.
fn acts_hold<const R: usize>(x: &[XRow<'_>; R], nb: usize) -> bool {
    x.iter()
        .all(|x| x.q8.len() >= nb * QK && x.d.len() >= nb && x.s.len() >= nb)
}

/// How far ahead the one-row (decode) kernels ask for weight bytes: decode streams the weights
/// from memory once per token, and the hardware prefetcher alone left it short of llama.cpp's.
const PREFETCH_AHEAD: usize = 2048;

/// Ask for the cache line at `base + at` (a hint: any address is allowed). SSE, which every
/// x86-64 CPU has, so both instruction sets' kernels call this one.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "sse")]
fn prefetch<T: Byte>(base: &[T], at: usize) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // A prefetch never faults, so a safe intrinsic whatever the address.
    _mm_prefetch::<_MM_HINT_T0>(base.as_ptr().cast::<i8>().wrapping_add(at));
}

/// Block `b`'s 32 activation bytes of each row.
#[inline(always)]
fn block_acts<'a, const R: usize>(x: &[XRow<'a>; R], b: usize) -> [&'a [i8; QK]; R] {
    std::array::from_fn(|j| &x[j].q8.as_chunks::<QK>().0[b])
}

/// Activation bytes `at..at + 4` as one little-endian i32 (what `dpbusd` multiplies each
/// lane's 4 bytes with, once broadcast).
#[inline(always)]
fn bytes4(x: &[i8; QK], at: usize) -> i32 {
    i32::from_le_bytes([x[at], x[at + 1], x[at + 2], x[at + 3]].map(|v| v as u8))
}

/// The kernels, written once over the vector operations of the module they are expanded in
/// (`I`: 16 i32 lanes, one per row of a group, or 64 bytes; `F`: 16 f32 lanes), with the
/// target features given.
macro_rules! kernels {
    ($features:literal) => {
        use super::super::{XRow, G};
        use super::{block_acts, bytes4, prefetch, CHUNKS, PREFETCH_AHEAD};

        /// Q4_K and (`Q5`, fifth bits from `h`) Q5_K. Per chunk and row: `Σ q·x` exact in
        /// i32, then the portable `q4k_row`'s (`q5k_row`'s) `d·dx·(sc·Σ) − dmin·sx·m` in f32.
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        pub(super) fn q45k<const R: usize, const Q5: bool>(
            q: &[u8],
            h: &[u8],
            sc: &[u8],
            mn: &[u8],
            d: &[u16],
            dmin: &[u16],
            x: &[XRow<'_>; R],
        ) -> [[f32; G]; R] {
            let mut facc = [fzero(); R];
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
                let xb = block_acts(x, b);
                let hv = if Q5 { load64(&hs[b]) } else { zero() };
                let mut acc = [zero(); R];
                for (v, wv) in qb.as_chunks::<64>().0.iter().enumerate() {
                    let (mut lo, mut hi) = nibbles(load64(wv));
                    if Q5 {
                        // This vector's fifth bits (bits `v` and `v + 4`) at bit 4.
                        let (sl, sh) = (shl16(hv, 4 - v as u32), shr16(hv, v as u32));
                        lo = or_masked(lo, sl, 0x10);
                        hi = or_masked(hi, sh, 0x10);
                    }
                    for j in 0..R {
                        acc[j] = dpbusd(acc[j], lo, bytes4(xb[j], 4 * v));
                        acc[j] = dpbusd(acc[j], hi, bytes4(xb[j], 4 * v + 16));
                    }
                }
                let scv = widen16_unsigned(scb);
                let mnf = to_f32(widen16_unsigned(mnb));
                let (db, mb) = (f16x16(&ds[b / CHUNKS]), f16x16(&ms[b / CHUNKS]));
                for j in 0..R {
                    let (dx, sx) = (fsplat(x[j].d[b]), fsplat(x[j].s[b]));
                    let dot = fmul(fmul(db, dx), to_f32(mullo(scv, acc[j])));
                    let min = fmul(fmul(mb, sx), mnf);
                    facc[j] = fadd(facc[j], fsub(dot, min));
                }
            }
            all_lanes(facc)
        }

        /// Q6_K. Per chunk and row: `Σ q·x − 32·Σ x` exact in i32 for each 16-element
        /// sub-block, then the portable `q6k_row`'s `d·dx·(sc₀·Σ₀ + sc₁·Σ₁)` in f32.
        #[target_feature(enable = $features)]
        pub(super) fn q6k<const R: usize>(
            q: &[u8],
            h: &[u8],
            sc: &[u8],
            d: &[u16],
            x: &[XRow<'_>; R],
        ) -> [[f32; G]; R] {
            let mut facc = [fzero(); R];
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
                let xb = block_acts(x, b);
                let hb = hb.as_chunks::<64>().0;
                let (hl, hh) = (load64(&hb[0]), load64(&hb[1]));
                let mut lo_acc = [zero(); R];
                let mut hi_acc = [zero(); R];
                for (v, wv) in qb.as_chunks::<64>().0.iter().enumerate() {
                    let (lo, hi) = nibbles(load64(wv));
                    // The high bits of this vector's elements at bits 4 and 5.
                    let shift = |h| {
                        if v < 2 {
                            shl16(h, 4 - 2 * v as u32)
                        } else {
                            shr16(h, 2 * v as u32 - 4)
                        }
                    };
                    let lo = or_masked(lo, shift(hl), 0x30);
                    let hi = or_masked(hi, shift(hh), 0x30);
                    for j in 0..R {
                        lo_acc[j] = dpbusd(lo_acc[j], lo, bytes4(xb[j], 4 * v));
                        hi_acc[j] = dpbusd(hi_acc[j], hi, bytes4(xb[j], 4 * v + 16));
                    }
                }
                let scb = scb.as_chunks::<G>().0;
                let (sc0, sc1) = (widen16_signed(&scb[0]), widen16_signed(&scb[1]));
                let db = f16x16(&ds[b / CHUNKS]);
                for j in 0..R {
                    let (s0, s1) = (x[j].s16[2 * b], x[j].s16[2 * b + 1]);
                    let d0 = sub(lo_acc[j], splat(32 * s0));
                    let d1 = sub(hi_acc[j], splat(32 * s1));
                    let isum = add(mullo(sc0, d0), mullo(sc1, d1));
                    let dx = fsplat(x[j].d[b]);
                    facc[j] = fadd(facc[j], fmul(fmul(db, dx), to_f32(isum)));
                }
            }
            all_lanes(facc)
        }

        /// Q4_0 and Q4_1. Per block and row: `Σ q·x` exact in i32, then the portable
        /// `q4_1_row`'s `d·dx·Σ + m·sx` in f32.
        #[target_feature(enable = $features)]
        pub(super) fn q4_1<const R: usize>(
            q: &[u8],
            d: &[u16],
            m: &[u16],
            x: &[XRow<'_>; R],
        ) -> [[f32; G]; R] {
            let mut facc = [fzero(); R];
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
                let xb = block_acts(x, b);
                let mut acc = [zero(); R];
                for (v, wv) in qb.as_chunks::<64>().0.iter().enumerate() {
                    let (lo, hi) = nibbles(load64(wv));
                    for j in 0..R {
                        acc[j] = dpbusd(acc[j], lo, bytes4(xb[j], 4 * v));
                        acc[j] = dpbusd(acc[j], hi, bytes4(xb[j], 4 * v + 16));
                    }
                }
                let (dv, mv) = (f16x16(db), f16x16(mb));
                for j in 0..R {
                    let (dx, sx) = (fsplat(x[j].d[b]), fsplat(x[j].s[b]));
                    let dot = fmul(fmul(dv, dx), to_f32(acc[j]));
                    facc[j] = fadd(facc[j], fadd(dot, fmul(mv, sx)));
                }
            }
            all_lanes(facc)
        }

        /// Q8_0 (Q5_0, Q5_1 as bytes). Per block and row: `Σ |w|·(x·sign w)` exact in i32,
        /// then the portable `q8_0_row`'s `d·dx·Σ` in f32.
        #[target_feature(enable = $features)]
        pub(super) fn q8_0<const R: usize>(
            q: &[i8],
            d: &[u16],
            x: &[XRow<'_>; R],
        ) -> [[f32; G]; R] {
            let mut facc = [fzero(); R];
            let blocks = q.as_chunks::<512>().0.iter().zip(d.as_chunks::<G>().0);
            for (b, (qb, db)) in blocks.enumerate() {
                if R == 1 {
                    for line in 0..8 {
                        prefetch(q, b * 512 + PREFETCH_AHEAD + line * 64);
                    }
                }
                let xb = block_acts(x, b);
                let mut acc = [zero(); R];
                for (v, wv) in qb.as_chunks::<64>().0.iter().enumerate() {
                    let w = load64(wv);
                    let wabs = abs8(w);
                    for j in 0..R {
                        let xs = sign8(splat(bytes4(xb[j], 4 * v)), w);
                        acc[j] = dpbusd_v(acc[j], wabs, xs);
                    }
                }
                let dv = f16x16(db);
                for j in 0..R {
                    let dx = fsplat(x[j].d[b]);
                    facc[j] = fadd(facc[j], fmul(fmul(dv, dx), to_f32(acc[j])));
                }
            }
            all_lanes(facc)
        }

        /// Each row's sums as an array.
        #[inline]
        #[target_feature(enable = $features)]
        fn all_lanes<const R: usize>(facc: [F; R]) -> [[f32; G]; R] {
            let mut out = [[0f32; G]; R];
            for (o, v) in out.iter_mut().zip(facc) {
                *o = lanes(v);
            }
            out
        }

        /// The low and high nibbles of each byte.
        #[inline]
        #[target_feature(enable = $features)]
        fn nibbles(w: I) -> (I, I) {
            let low = splat(0x0F0F_0F0F);
            (and(w, low), and(shr16(w, 4), low))
        }

        /// `a | (b & mask)`, the mask the same in every byte.
        #[inline]
        #[target_feature(enable = $features)]
        fn or_masked(a: I, b: I, mask: u8) -> I {
            or(a, and(b, splat(i32::from_le_bytes([mask; 4]))))
        }

        /// `dpbusd` with the signed side one 4-byte group broadcast.
        #[inline]
        #[target_feature(enable = $features)]
        fn dpbusd(acc: I, u: I, s4: i32) -> I {
            dpbusd_v(acc, u, splat(s4))
        }
    };
}

/// AVX-512 F, BW and VNNI: one 512-bit register per 16 lanes.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    type I = __m512i;
    type F = __m512;

    kernels!("avx512f,avx512bw,avx512vnni");

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load64<T: super::Byte>(b: &[T; 64]) -> I {
        // SAFETY: 64 readable bytes; the load is unaligned.
        unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn zero() -> I {
        _mm512_setzero_si512()
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn splat(v: i32) -> I {
        _mm512_set1_epi32(v)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn and(a: I, b: I) -> I {
        _mm512_and_si512(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn or(a: I, b: I) -> I {
        _mm512_or_si512(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx512bw")]
    fn shr16(v: I, n: u32) -> I {
        _mm512_srl_epi16(v, _mm_cvtsi32_si128(n as i32))
    }

    #[inline]
    #[target_feature(enable = "avx512bw")]
    fn shl16(v: I, n: u32) -> I {
        _mm512_sll_epi16(v, _mm_cvtsi32_si128(n as i32))
    }

    #[inline]
    #[target_feature(enable = "avx512bw")]
    fn abs8(v: I) -> I {
        _mm512_abs_epi8(v)
    }

    /// `x` negated in the bytes where `w` is negative (where `w` is zero the product is zero
    /// whatever `x` is).
    #[inline]
    #[target_feature(enable = "avx512bw")]
    fn sign8(x: I, w: I) -> I {
        _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512vnni")]
    fn dpbusd_v(acc: I, u: I, s: I) -> I {
        _mm512_dpbusd_epi32(acc, u, s)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn add(a: I, b: I) -> I {
        _mm512_add_epi32(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn sub(a: I, b: I) -> I {
        _mm512_sub_epi32(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn mullo(a: I, b: I) -> I {
        _mm512_mullo_epi32(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn widen16_unsigned(b: &[u8; 16]) -> I {
        // SAFETY: 16 readable bytes; the load is unaligned.
        _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(b.as_ptr().cast()) })
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn widen16_signed(b: &[u8; 16]) -> I {
        // SAFETY: 16 readable bytes; the load is unaligned.
        _mm512_cvtepi8_epi32(unsafe { _mm_loadu_si128(b.as_ptr().cast()) })
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn to_f32(v: I) -> F {
        _mm512_cvtepi32_ps(v)
    }

    /// 16 f16 values (finite) as f32: exact, so the same values as the portable `h16`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn f16x16(h: &[u16; 16]) -> F {
        // SAFETY: 32 readable bytes; the load is unaligned.
        _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(h.as_ptr().cast()) })
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fzero() -> F {
        _mm512_setzero_ps()
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fsplat(v: f32) -> F {
        _mm512_set1_ps(v)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fadd(a: F, b: F) -> F {
        _mm512_add_ps(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fsub(a: F, b: F) -> F {
        _mm512_sub_ps(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fmul(a: F, b: F) -> F {
        _mm512_mul_ps(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn lanes(v: F) -> [f32; 16] {
        let mut out = [0f32; 16];
        // SAFETY: 64 writable bytes; the store is unaligned.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), v) };
        out
    }
}

/// AVX2 (with FMA and F16C present, F16C used): two 256-bit registers per 16 lanes, rows
/// 0–7 and 8–15.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    type I = [__m256i; 2];
    type F = [__m256; 2];

    kernels!("avx2,fma,f16c");

    /// `f` on both halves.
    #[inline(always)]
    fn each<T: Copy, U>(a: [T; 2], f: impl Fn(T) -> U) -> [U; 2] {
        [f(a[0]), f(a[1])]
    }

    /// `f` on both halves of two vectors.
    #[inline(always)]
    fn each2<T: Copy, U>(a: [T; 2], b: [T; 2], f: impl Fn(T, T) -> U) -> [U; 2] {
        [f(a[0], b[0]), f(a[1], b[1])]
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn load64<T: super::Byte>(b: &[T; 64]) -> I {
        let p = b.as_ptr().cast::<__m256i>();
        // SAFETY: 64 readable bytes; the loads are unaligned.
        unsafe { [_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))] }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn zero() -> I {
        [_mm256_setzero_si256(); 2]
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn splat(v: i32) -> I {
        [_mm256_set1_epi32(v); 2]
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn and(a: I, b: I) -> I {
        each2(a, b, |a, b| _mm256_and_si256(a, b))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn or(a: I, b: I) -> I {
        each2(a, b, |a, b| _mm256_or_si256(a, b))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn shr16(v: I, n: u32) -> I {
        let n = _mm_cvtsi32_si128(n as i32);
        each(v, |v| _mm256_srl_epi16(v, n))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn shl16(v: I, n: u32) -> I {
        let n = _mm_cvtsi32_si128(n as i32);
        each(v, |v| _mm256_sll_epi16(v, n))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn abs8(v: I) -> I {
        each(v, |v| _mm256_abs_epi8(v))
    }

    /// `x` negated where `w` is negative, zero where `w` is zero.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn sign8(x: I, w: I) -> I {
        each2(x, w, |x, w| _mm256_sign_epi8(x, w))
    }

    /// `vpmaddubsw` then `vpmaddwd` by ones: each i32 lane gets its 4 products (exact while
    /// each pair of products stays within ±32 767, see the module doc).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn dpbusd_v(acc: I, u: I, s: I) -> I {
        let ones = _mm256_set1_epi16(1);
        let dot = each2(u, s, |u, s| {
            _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones)
        });
        add(acc, dot)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn add(a: I, b: I) -> I {
        each2(a, b, |a, b| _mm256_add_epi32(a, b))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn sub(a: I, b: I) -> I {
        each2(a, b, |a, b| _mm256_sub_epi32(a, b))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn mullo(a: I, b: I) -> I {
        each2(a, b, |a, b| _mm256_mullo_epi32(a, b))
    }

    /// Bytes `8h..8h + 8` of `b` (`h` < 2).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn low8(b: &[u8; 16], h: usize) -> __m128i {
        let half: &[u8; 8] = &b.as_chunks::<8>().0[h];
        // SAFETY: 8 readable bytes; the load is unaligned.
        unsafe { _mm_loadl_epi64(half.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn widen16_unsigned(b: &[u8; 16]) -> I {
        [
            _mm256_cvtepu8_epi32(low8(b, 0)),
            _mm256_cvtepu8_epi32(low8(b, 1)),
        ]
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn widen16_signed(b: &[u8; 16]) -> I {
        [
            _mm256_cvtepi8_epi32(low8(b, 0)),
            _mm256_cvtepi8_epi32(low8(b, 1)),
        ]
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn to_f32(v: I) -> F {
        each(v, |v| _mm256_cvtepi32_ps(v))
    }

    /// 16 f16 values (finite) as f32: exact, so the same values as the portable `h16`.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    fn f16x16(h: &[u16; 16]) -> F {
        let p = h.as_ptr().cast::<__m128i>();
        // SAFETY: 32 readable bytes; the loads are unaligned.
        unsafe {
            [
                _mm256_cvtph_ps(_mm_loadu_si128(p)),
                _mm256_cvtph_ps(_mm_loadu_si128(p.add(1))),
            ]
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn fzero() -> F {
        [_mm256_setzero_ps(); 2]
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn fsplat(v: f32) -> F {
        [_mm256_set1_ps(v); 2]
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn fadd(a: F, b: F) -> F {
        each2(a, b, |a, b| _mm256_add_ps(a, b))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn fsub(a: F, b: F) -> F {
        each2(a, b, |a, b| _mm256_sub_ps(a, b))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn fmul(a: F, b: F) -> F {
        each2(a, b, |a, b| _mm256_mul_ps(a, b))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn lanes(v: F) -> [f32; 16] {
        let mut out = [0f32; 16];
        let p = out.as_mut_ptr();
        // SAFETY: 64 writable bytes; the stores are unaligned.
        unsafe {
            _mm256_storeu_ps(p, v[0]);
            _mm256_storeu_ps(p.add(8), v[1]);
        }
        out
    }
}

/// A one-byte element type (`u8` or `i8`): what the vector loads and prefetches read.
trait Byte: Copy {}
impl Byte for u8 {}
impl Byte for i8 {}
