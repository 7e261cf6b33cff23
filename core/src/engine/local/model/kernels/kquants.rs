//! Q4_K, Q5_K and Q6_K weights in the row-group layout, and their dot products.
//!
//! A K-quant super-block holds 256 weights of one row: 8 sub-blocks of 32 (Q4_K, Q5_K: a 6-bit
//! scale and a 6-bit minimum each, `w = d·sc·q − dmin·m`) or 16 sub-blocks of 16 (Q6_K: an
//! 8-bit signed scale each, `w = d·sc·(q − 32)`), with one f16 `d` (and `dmin`) per super-block.
//! Repacked per group of `G` rows and 32-weight chunk, in the same lane order as Q4_1:
//! - `q`: 256 bytes, `q[e*G + r] = low4(w[r][e]) | low4(w[r][e+16]) << 4` (`e < 16`);
//! - Q5_K `h`: 64 bytes, byte `u` of row `r` at `h[u*G + r]`, bit `t`: the fifth bit of element
//!   `8u + t` (elements 16..32 in bytes 2 and 3);
//! - Q6_K `h`: 128 bytes, byte `u` of row `r`: the two high bits of elements `2u`, `2u+16`,
//!   `2u+1`, `2u+17` at bits 0, 2, 4, 6;
//! - scales (and minimums) one byte per row and sub-block, `d`/`dmin` as f16 bits per row and
//!   super-block. Memory is the file's plus 4 bytes per row and super-block (unpacked scales).
//!
//! The dots against activations quantized per 32-block (see `quantize_rows`) run in i16 lanes
//! over as many elements as cannot overflow, then i32; each chunk is scaled in f32 by the
//! activation scale, each super-block by `d`. The order never depends on the batch. Where the
//! CPU has AVX2 or AVX-512 VNNI, Q4_K, Q5_K and Q6_K are repacked for `simd`'s kernels instead
//! (another byte order in the same space; the same results).

use super::{f16_at, h16, q_at, Lanes, XRow, G, QK};
use crate::{Error, Result};
use candle_core::quantized::GgmlDType;

use super::simd::Simd;

/// Weights per super-block.
pub(super) const QK_K: usize = 256;
/// 32-weight chunks per super-block.
pub(super) const CHUNKS: usize = QK_K / QK;

/// Which K-quant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Q4K,
    Q5K,
    Q6K,
}

/// A K-quant matrix in the row-group layout (see the module doc).
#[derive(Clone)]
pub(super) struct KQuants {
    kind: Kind,
    /// Q4_K, Q5_K and Q6_K in the SIMD layout (see `simd`), else the portable one.
    simd: Option<Simd>,
    /// 32-weight chunks per row.
    nb: usize,
    q: Vec<u8>,
    h: Vec<u8>,
    sc: Vec<u8>,
    mn: Vec<u8>,
    d: Vec<u16>,
    dmin: Vec<u16>,
}

/// One super-block of one row, decoded: values (Q4_K 0..16, Q5_K 0..32, Q6_K 0..64 before the
/// −32 offset), per-sub-block scales and minimums, and the f16 factors.
struct Decoded {
    v: [u8; QK_K],
    sc: [u8; 16],
    mn: [u8; 8],
    d: u16,
    dmin: u16,
}

/// The 6-bit scale and minimum of sub-block `j` (GGML's `get_scale_min_k4`).
fn scale_min(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

fn decode(kind: Kind, b: &[u8]) -> Result<Decoded> {
    let mut out = Decoded {
        v: [0; QK_K],
        sc: [0; 16],
        mn: [0; 8],
        d: 0,
        dmin: 0,
    };
    match kind {
        Kind::Q4K | Kind::Q5K => {
            out.d = f16_at(b, 0)?;
            out.dmin = f16_at(b, 2)?;
            let scales = &b[4..16];
            for j in 0..8 {
                (out.sc[j], out.mn[j]) = scale_min(j, scales);
            }
            let (qh, qs) = if kind == Kind::Q5K {
                (Some(&b[16..48]), &b[48..176])
            } else {
                (None, &b[16..144])
            };
            for j in 0..4 {
                for l in 0..32 {
                    let byte = qs[j * 32 + l];
                    let (mut lo, mut hi) = (byte & 15, byte >> 4);
                    if let Some(qh) = qh {
                        lo |= ((qh[l] >> (2 * j)) & 1) << 4;
                        hi |= ((qh[l] >> (2 * j + 1)) & 1) << 4;
                    }
                    out.v[j * 64 + l] = lo;
                    out.v[j * 64 + 32 + l] = hi;
                }
            }
        }
        Kind::Q6K => {
            let (ql, qh) = (&b[0..128], &b[128..192]);
            for (s, o) in b[192..208].iter().zip(out.sc.iter_mut()) {
                *o = *s;
            }
            out.d = f16_at(b, 208)?;
            for half in 0..2 {
                let (ql, qh) = (&ql[64 * half..], &qh[32 * half..]);
                let v = &mut out.v[128 * half..];
                for l in 0..32 {
                    v[l] = (ql[l] & 15) | ((qh[l] & 3) << 4);
                    v[l + 32] = (ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4);
                    v[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                    v[l + 96] = (ql[l + 32] >> 4) | ((qh[l] >> 6) << 4);
                }
            }
        }
    }
    Ok(out)
}

/// Chunk `b` of row `r`'s high bits (Q5_K's fifth, Q6_K's fifth and sixth; Q4_K has none) into
/// `h`, in the SIMD layout or the portable one. `v`: the chunk's 32 decoded values.
fn pack_high_bits(
    kind: Kind,
    in_simd: bool,
    v: &[u8],
    h: &mut Lanes<u8>,
    (r, b, nb): (usize, usize, usize),
) {
    let gr = r % G;
    match kind {
        Kind::Q4K => {}
        Kind::Q5K if in_simd => {
            // Byte `gr·4 + t`: bit `u` the fifth bit of element `4u + t`, bit
            // `u + 4` that of element `4u + t + 16`.
            let at = ((r / G) * nb + b) * 64 + gr * 4;
            for t in 0..4 {
                h.data[at + t] = (0..4).fold(0u8, |a, u| {
                    a | ((v[4 * u + t] >> 4) << u) | ((v[4 * u + t + 16] >> 4) << (u + 4))
                });
            }
        }
        Kind::Q5K => {
            for u in 0..4 {
                let bits = (0..8).fold(0u8, |a, t| a | ((v[8 * u + t] >> 4) << t));
                h.set(r, b * 4 + u, bits);
            }
        }
        Kind::Q6K if in_simd => {
            let at = ((r / G) * nb + b) * 128 + gr * 4;
            for (half, t) in (0..2).flat_map(|half| (0..4).map(move |t| (half, t))) {
                let bits =
                    (0..4).fold(0u8, |a, u| a | ((v[16 * half + 4 * u + t] >> 4) << (2 * u)));
                h.data[at + half * 64 + t] = bits;
            }
        }
        Kind::Q6K => {
            for u in 0..8 {
                let e = 2 * u;
                let bits = (v[e] >> 4)
                    | ((v[e + 16] >> 4) << 2)
                    | ((v[e + 1] >> 4) << 4)
                    | ((v[e + 17] >> 4) << 6);
                h.set(r, b * 8 + u, bits);
            }
        }
    }
}

impl KQuants {
    /// The kind for a GGML dtype, if it is a K-quant handled here.
    pub(super) fn kind(dtype: GgmlDType) -> Option<Kind> {
        match dtype {
            GgmlDType::Q4K => Some(Kind::Q4K),
            GgmlDType::Q5K => Some(Kind::Q5K),
            GgmlDType::Q6K => Some(Kind::Q6K),
            _ => None,
        }
    }

    /// Repack `rows` (raw GGUF rows of `k` weights each); in the SIMD layout
    /// when given the features.
    pub(super) fn repack(kind: Kind, rows: &[&[u8]], k: usize, simd: Option<Simd>) -> Result<Self> {
        if !k.is_multiple_of(QK_K) {
            return Err(Error::Unsupported(format!("K-quant width {k}")));
        }
        let in_simd = simd.is_some();
        let (n, nsb, nb) = (rows.len(), k / QK_K, k / QK);
        let bytes = match kind {
            Kind::Q4K => 144,
            Kind::Q5K => 176,
            Kind::Q6K => 210,
        };
        let h_per_chunk = match kind {
            Kind::Q4K => 0,
            Kind::Q5K => 4,
            Kind::Q6K => 8,
        };
        let sc_per_chunk = if kind == Kind::Q6K { 2 } else { 1 };
        let mut q = Lanes::new(n, nb * 16);
        let mut h = Lanes::new(n, nb * h_per_chunk);
        let mut sc = Lanes::new(n, nb * sc_per_chunk);
        let mut mn = Lanes::new(n, if kind == Kind::Q6K { 0 } else { nb });
        let mut d = Lanes::new(n, nsb);
        let mut dmin = Lanes::new(n, if kind == Kind::Q6K { 0 } else { nsb });
        for (r, row) in rows.iter().enumerate() {
            for sb in 0..nsb {
                let dec = decode(kind, &row[sb * bytes..(sb + 1) * bytes])?;
                d.set(r, sb, dec.d);
                if kind != Kind::Q6K {
                    dmin.set(r, sb, dec.dmin);
                }
                for c in 0..CHUNKS {
                    let b = sb * CHUNKS + c;
                    let v = &dec.v[c * QK..(c + 1) * QK];
                    let (at, gr) = (((r / G) * nb + b) * 256, r % G);
                    for e in 0..16 {
                        q.data[at + q_at(in_simd, gr, e)] = (v[e] & 15) | ((v[e + 16] & 15) << 4);
                    }
                    pack_high_bits(kind, in_simd, v, &mut h, (r, b, nb));
                    if kind == Kind::Q6K {
                        sc.set(r, 2 * b, dec.sc[2 * c]);
                        sc.set(r, 2 * b + 1, dec.sc[2 * c + 1]);
                    } else {
                        sc.set(r, b, dec.sc[c]);
                        mn.set(r, b, dec.mn[c]);
                    }
                }
            }
        }
        Ok(Self {
            kind,
            simd,
            nb,
            q: q.data,
            h: h.data,
            sc: sc.data,
            mn: mn.data,
            d: d.data,
            dmin: dmin.data,
        })
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.q.len()
            + self.h.len()
            + self.sc.len()
            + self.mn.len()
            + 2 * (self.d.len() + self.dmin.len())
    }

    /// Weights of row `r` of group `g`, chunk `b` (32 values), exactly as GGML dequantizes them.
    pub(super) fn chunk(&self, g: usize, r: usize, b: usize, out: &mut [f32]) {
        let (nb, nsb) = (self.nb, self.nb / CHUNKS);
        let gb = g * nb + b;
        let sb = b / CHUNKS;
        let d = h16(self.d[(g * nsb + sb) * G + r]);
        let q = &self.q[gb * 256..gb * 256 + 256];
        let in_simd = self.simd.is_some();
        for e in 0..16 {
            let byte = q[q_at(in_simd, r, e)];
            let (mut lo, mut hi) = (byte & 15, byte >> 4);
            if self.kind == Kind::Q5K && in_simd {
                let h = self.h[gb * 64 + r * 4 + e % 4] >> (e / 4);
                lo |= (h & 1) << 4;
                hi |= ((h >> 4) & 1) << 4;
            } else if self.kind == Kind::Q5K {
                let h = &self.h[gb * 4 * G..(gb + 1) * 4 * G];
                lo |= ((h[(e / 8) * G + r] >> (e % 8)) & 1) << 4;
                hi |= ((h[(2 + e / 8) * G + r] >> (e % 8)) & 1) << 4;
            }
            if self.kind == Kind::Q6K {
                if in_simd {
                    let at = gb * 128 + r * 4 + e % 4;
                    let shift = 2 * (e / 4);
                    lo |= ((self.h[at] >> shift) & 3) << 4;
                    hi |= ((self.h[at + 64] >> shift) & 3) << 4;
                } else {
                    let h = self.h[gb * 8 * G + (e / 2) * G + r] >> (4 * (e % 2));
                    lo |= (h & 3) << 4;
                    hi |= (h & 12) << 2;
                }
                let s0 = self.sc[(2 * gb) * G + r] as i8;
                let s1 = self.sc[(2 * gb + 1) * G + r] as i8;
                out[e] = d * f32::from(s0) * f32::from(i16::from(lo) - 32);
                out[e + 16] = d * f32::from(s1) * f32::from(i16::from(hi) - 32);
            } else {
                let dmin = h16(self.dmin[(g * nsb + sb) * G + r]);
                let d1 = d * f32::from(self.sc[gb * G + r]);
                let m1 = dmin * f32::from(self.mn[gb * G + r]);
                out[e] = d1 * f32::from(lo) - m1;
                out[e + 16] = d1 * f32::from(hi) - m1;
            }
        }
    }

    /// Group `g`'s Q4_K data: nibbles, scales, minimums, `d`, `dmin`.
    #[allow(clippy::type_complexity)]
    fn q4k_group(&self, g: usize) -> (&[u8], &[u8], &[u8], &[u16], &[u16]) {
        let (nb, nsb) = (self.nb, self.nb / CHUNKS);
        (
            &self.q[g * nb * 256..(g + 1) * nb * 256],
            &self.sc[g * nb * G..(g + 1) * nb * G],
            &self.mn[g * nb * G..(g + 1) * nb * G],
            &self.d[g * nsb * G..(g + 1) * nsb * G],
            &self.dmin[g * nsb * G..(g + 1) * nsb * G],
        )
    }

    /// Group `g`'s Q5_K fifth bits.
    fn q5k_h(&self, g: usize) -> &[u8] {
        let nb = self.nb;
        &self.h[g * nb * 4 * G..(g + 1) * nb * 4 * G]
    }

    /// Group `g`'s Q6_K data: low nibbles, high bits, scales, `d`.
    fn q6k_group(&self, g: usize) -> (&[u8], &[u8], &[u8], &[u16]) {
        let (nb, nsb) = (self.nb, self.nb / CHUNKS);
        (
            &self.q[g * nb * 256..(g + 1) * nb * 256],
            &self.h[g * nb * 8 * G..(g + 1) * nb * 8 * G],
            &self.sc[g * nb * 2 * G..(g + 1) * nb * 2 * G],
            &self.d[g * nsb * G..(g + 1) * nsb * G],
        )
    }

    /// Four activation rows at once against group `g`, where a kernel for that exists (each
    /// row's result is the same as from [`KQuants::row`]).
    pub(super) fn rows4(&self, g: usize, x: &[XRow<'_>; 4]) -> Option<[[f32; G]; 4]> {
        self.rows_simd(g, x).or_else(|| match self.kind {
            Kind::Q4K => Some(q4k_row4(self, g, x)),
            Kind::Q6K => Some(q6k_row4(self, g, x)),
            Kind::Q5K => None,
        })
    }

    /// The SIMD kernels these weights are laid out for, if any.
    pub(super) fn simd(&self) -> Option<Simd> {
        self.simd
    }

    /// `R` activation rows against group `g` on the SIMD path, if the weights are in its layout.
    pub(super) fn rows_simd<const R: usize>(
        &self,
        g: usize,
        x: &[XRow<'_>; R],
    ) -> Option<[[f32; G]; R]> {
        self.simd.map(|simd| self.simd_rows(simd, g, x))
    }

    /// `R` activation rows against group `g` with the SIMD kernels.
    fn simd_rows<const R: usize>(&self, simd: Simd, g: usize, x: &[XRow<'_>; R]) -> [[f32; G]; R] {
        match self.kind {
            Kind::Q6K => {
                let (q, h, sc, d) = self.q6k_group(g);
                simd.q6k_rows(q, h, sc, d, x)
            }
            Kind::Q5K => {
                let (q, sc, mn, d, dmin) = self.q4k_group(g);
                simd.q5k_rows(q, self.q5k_h(g), sc, mn, d, dmin, x)
            }
            Kind::Q4K => {
                let (q, sc, mn, d, dmin) = self.q4k_group(g);
                simd.q4k_rows(q, sc, mn, d, dmin, x)
            }
        }
    }

    /// One activation row against group `g`.
    pub(super) fn row(&self, g: usize, x: XRow<'_>) -> [f32; G] {
        if let Some([acc]) = self.rows_simd(g, &[x]) {
            return acc;
        }
        let (xs, xd, xsum) = (x.q, x.d, x.s);
        let nb = self.nb;
        let nsb = nb / CHUNKS;
        let q = &self.q[g * nb * 256..(g + 1) * nb * 256];
        let d = &self.d[g * nsb * G..(g + 1) * nsb * G];
        match self.kind {
            Kind::Q4K => q4k_row(self, g, x),
            Kind::Q5K => q5k_row(
                q,
                self.q5k_h(g),
                &self.sc[g * nb * G..(g + 1) * nb * G],
                &self.mn[g * nb * G..(g + 1) * nb * G],
                d,
                &self.dmin[g * nsb * G..(g + 1) * nsb * G],
                xs,
                xd,
                xsum,
            ),
            Kind::Q6K => {
                let (q, h, sc, d) = self.q6k_group(g);
                q6k_row(q, h, sc, d, xs, xd)
            }
        }
    }
}

/// `G` bytes as i32 lanes.
#[inline(always)]
fn widen(b: &[u8; G]) -> [i32; G] {
    let mut out = [0i32; G];
    for (o, &v) in out.iter_mut().zip(b) {
        *o = i32::from(v);
    }
    out
}

/// Integer dot of one 32-chunk of 5-bit values (low nibbles in the Q4_1 lane layout, fifth bits
/// from `hb`) with 32 activations, per row: 8 products of at most 31·127 per
/// i16 step (≤ 31 496).
#[inline(always)]
fn dot_q5(qb: &[u8; 256], hb: &[u8; 4 * G], xb: &[i16; QK]) -> [i32; G] {
    let rows = qb.as_chunks::<G>().0;
    let hrows = hb.as_chunks::<G>().0;
    let mut acc = [0i32; G];
    for half in 0..2 {
        let mut a0 = [0i16; G];
        let mut a1 = [0i16; G];
        let (hl, hh) = (&hrows[half], &hrows[2 + half]);
        for e in half * 8..half * 8 + 8 {
            let (x0, x1) = (xb[e], xb[e + 16]);
            let bytes = &rows[e];
            let t = e % 8;
            for r in 0..G {
                let v0 = (bytes[r] & 15) | (((hl[r] >> t) & 1) << 4);
                let v1 = (bytes[r] >> 4) | (((hh[r] >> t) & 1) << 4);
                a0[r] += i16::from(v0) * x0;
                a1[r] += i16::from(v1) * x1;
            }
        }
        for r in 0..G {
            acc[r] += i32::from(a0[r]) + i32::from(a1[r]);
        }
    }
    acc
}

/// For each of `R` activation rows: `a0 += lo · x[at]`, `a1 += hi · x[at + 16]` in i16 lanes
/// (the unpacked elements `at` and `at + 16` of a chunk, per weight row).
#[inline(always)]
fn mac_rows<const R: usize>(
    a0: &mut [[i16; G]; R],
    a1: &mut [[i16; G]; R],
    lo: &[i16; G],
    hi: &[i16; G],
    x: &[XRow<'_>; R],
    at: usize,
) {
    for j in 0..R {
        let (x0, x1) = (x[j].q[at], x[j].q[at + 16]);
        for r in 0..G {
            a0[j][r] += lo[r] * x0;
            a1[j][r] += hi[r] * x1;
        }
    }
}

/// `R` activation rows against one Q4_K row group. One flat loop over the 16-byte nibble rows
/// of all chunks (a runtime trip count, as in `q8_0_row`): with a nested loop over a chunk's 16
/// nibble rows LLVM vectorised across those instead of across the 16 weight rows (3–10x
/// slower). Each nibble row is unpacked once for all `R` rows (prefill); every activation row
/// goes through the same operations in the same order whatever `R`, so its result is the same
/// bits as alone.
#[inline(always)]
fn q4k_rows<const R: usize>(k: &KQuants, g: usize, x: &[XRow<'_>; R]) -> [[f32; G]; R] {
    let (q, sc, mn, d, dmin) = k.q4k_group(g);
    let mut facc = [[0f32; G]; R];
    let mut acc = [[0i32; G]; R];
    let mut a0 = [[0i16; G]; R];
    let mut a1 = [[0i16; G]; R];
    for (i, bytes) in q.chunks_exact(G).enumerate() {
        let (b, e) = (i / 16, i % 16);
        let mut lo = [0i16; G];
        let mut hi = [0i16; G];
        for r in 0..G {
            lo[r] = i16::from(bytes[r] & 15);
            hi[r] = i16::from(bytes[r] >> 4);
        }
        mac_rows(&mut a0, &mut a1, &lo, &hi, x, b * QK + e);
        // 8 products of at most 15·127 per i16 accumulator, then i32.
        if e % 8 == 7 {
            for j in 0..R {
                for r in 0..G {
                    acc[j][r] += i32::from(a0[j][r]) + i32::from(a1[j][r]);
                    a0[j][r] = 0;
                    a1[j][r] = 0;
                }
            }
        }
        if e == 15 {
            let (scb, mnb) = (&sc[b * G..b * G + G], &mn[b * G..b * G + G]);
            let at = (b / CHUNKS) * G;
            let (db, mb) = (&d[at..at + G], &dmin[at..at + G]);
            for j in 0..R {
                let (dx, sx) = (x[j].d[b], x[j].s[b]);
                for r in 0..G {
                    facc[j][r] += h16(db[r]) * dx * (i32::from(scb[r]) * acc[j][r]) as f32
                        - h16(mb[r]) * sx * f32::from(mnb[r]);
                    acc[j][r] = 0;
                }
            }
        }
    }
    facc
}

/// One activation row against one Q4_K row group: [`q4k_rows`] for one row, written apart
/// because LLVM vectorises the generic form at `R = 1` badly (5x slower). Same operations in
/// the same order per row (`kernels_rows_do_not_depend_on_the_batch` holds them equal).
#[inline(never)]
fn q4k_row(k: &KQuants, g: usize, x: XRow<'_>) -> [f32; G] {
    let (xs, xd, xsum) = (x.q, x.d, x.s);
    let (q, sc, mn, d, dmin) = k.q4k_group(g);
    let mut facc = [0f32; G];
    let mut acc = [0i32; G];
    let mut a0 = [0i16; G];
    let mut a1 = [0i16; G];
    for (i, bytes) in q.chunks_exact(G).enumerate() {
        let (b, e) = (i / 16, i % 16);
        let (x0, x1) = (xs[b * QK + e], xs[b * QK + e + 16]);
        for r in 0..G {
            a0[r] += i16::from(bytes[r] & 15) * x0;
            a1[r] += i16::from(bytes[r] >> 4) * x1;
        }
        if e % 8 == 7 {
            for r in 0..G {
                acc[r] += i32::from(a0[r]) + i32::from(a1[r]);
                a0[r] = 0;
                a1[r] = 0;
            }
        }
        if e == 15 {
            let (scb, mnb) = (&sc[b * G..b * G + G], &mn[b * G..b * G + G]);
            let at = (b / CHUNKS) * G;
            let (db, mb) = (&d[at..at + G], &dmin[at..at + G]);
            let (dx, sx) = (xd[b], xsum[b]);
            for r in 0..G {
                facc[r] += h16(db[r]) * dx * (i32::from(scb[r]) * acc[r]) as f32
                    - h16(mb[r]) * sx * f32::from(mnb[r]);
                acc[r] = 0;
            }
        }
    }
    facc
}

#[inline(never)]
fn q4k_row4(k: &KQuants, g: usize, x: &[XRow<'_>; 4]) -> [[f32; G]; 4] {
    q4k_rows::<4>(k, g, x)
}

/// One activation row against one Q5_K row group: one flat loop over 32-chunks, each scaled by
/// `d·sc` and `dmin·m`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn q5k_row(
    q: &[u8],
    h: &[u8],
    sc: &[u8],
    mn: &[u8],
    d: &[u16],
    dmin: &[u16],
    xs: &[i16],
    xd: &[f32],
    xsum: &[f32],
) -> [f32; G] {
    let mut facc = [0f32; G];
    let (ds, ms) = (d.as_chunks::<G>().0, dmin.as_chunks::<G>().0);
    let chunks = q
        .as_chunks::<256>()
        .0
        .iter()
        .zip(h.as_chunks::<{ 4 * G }>().0)
        .zip(sc.as_chunks::<G>().0.iter().zip(mn.as_chunks::<G>().0))
        .zip(xs.as_chunks::<QK>().0.iter().zip(xd.iter().zip(xsum)));
    for (b, (((qb, hb), (scb, mnb)), (xb, (&dx, &sx)))) in chunks.enumerate() {
        let dot = dot_q5(qb, hb, xb);
        let (db, mb) = (&ds[b / CHUNKS], &ms[b / CHUNKS]);
        let (scb, mnb) = (widen(scb), widen(mnb));
        for r in 0..G {
            facc[r] += h16(db[r]) * dx * (scb[r] * dot[r]) as f32 - h16(mb[r]) * sx * mnb[r] as f32;
        }
    }
    facc
}

/// One activation row against one Q6_K row group. Values `q − 32` in −32..32: 8 products of
/// at most 32·127 per i16 step (≤ 32 512), one i16 accumulator per 16-weight sub-block.
#[inline(never)]
fn q6k_row(q: &[u8], h: &[u8], sc: &[u8], d: &[u16], xs: &[i16], xd: &[f32]) -> [f32; G] {
    let mut facc = [0f32; G];
    let ds = d.as_chunks::<G>().0;
    let chunks = q
        .as_chunks::<256>()
        .0
        .iter()
        .zip(
            h.as_chunks::<{ 8 * G }>()
                .0
                .iter()
                .zip(sc.as_chunks::<{ 2 * G }>().0),
        )
        .zip(xs.as_chunks::<QK>().0.iter().zip(xd));
    for (b, ((qb, (hb, scb)), (xb, &dx))) in chunks.enumerate() {
        let rows = qb.as_chunks::<G>().0;
        let hrows = hb.as_chunks::<G>().0;
        let mut d0 = [0i32; G];
        let mut d1 = [0i32; G];
        for half in 0..2 {
            let mut a0 = [0i16; G];
            let mut a1 = [0i16; G];
            for e in half * 8..half * 8 + 8 {
                let (x0, x1) = (xb[e], xb[e + 16]);
                let (bytes, hbytes) = (&rows[e], &hrows[e / 2]);
                let shift = 4 * (e % 2);
                for r in 0..G {
                    let hi = hbytes[r] >> shift;
                    let v0 = (bytes[r] & 15) | ((hi & 3) << 4);
                    let v1 = (bytes[r] >> 4) | ((hi & 12) << 2);
                    a0[r] += (i16::from(v0) - 32) * x0;
                    a1[r] += (i16::from(v1) - 32) * x1;
                }
            }
            for r in 0..G {
                d0[r] += i32::from(a0[r]);
                d1[r] += i32::from(a1[r]);
            }
        }
        let db = &ds[b / CHUNKS];
        for r in 0..G {
            let isum = i32::from(scb[r] as i8) * d0[r] + i32::from(scb[G + r] as i8) * d1[r];
            facc[r] += h16(db[r]) * dx * isum as f32;
        }
    }
    facc
}

/// `R` activation rows against one Q6_K row group, each nibble row and its high bits unpacked
/// once for all of them (prefill). The flat loop of [`q4k_rows`]; per row the same exact
/// integer sums and the same float operations in the same order as [`q6k_row`], so a row's
/// result does not depend on `R`.
#[inline(always)]
fn q6k_rows<const R: usize>(k: &KQuants, g: usize, x: &[XRow<'_>; R]) -> [[f32; G]; R] {
    let (q, h, sc, d) = k.q6k_group(g);
    let mut facc = [[0f32; G]; R];
    let mut d0 = [[0i32; G]; R];
    let mut d1 = [[0i32; G]; R];
    let mut a0 = [[0i16; G]; R];
    let mut a1 = [[0i16; G]; R];
    for (i, bytes) in q.chunks_exact(G).enumerate() {
        let (b, e) = (i / 16, i % 16);
        let hbytes = &h[(b * 8 + e / 2) * G..(b * 8 + e / 2 + 1) * G];
        let shift = 4 * (e % 2);
        let mut lo = [0i16; G];
        let mut hi = [0i16; G];
        for r in 0..G {
            let hb = hbytes[r] >> shift;
            lo[r] = i16::from((bytes[r] & 15) | ((hb & 3) << 4)) - 32;
            hi[r] = i16::from((bytes[r] >> 4) | ((hb & 12) << 2)) - 32;
        }
        mac_rows(&mut a0, &mut a1, &lo, &hi, x, b * QK + e);
        // 8 products of at most 32·127 per i16 accumulator, then i32.
        if e % 8 == 7 {
            for j in 0..R {
                for r in 0..G {
                    d0[j][r] += i32::from(a0[j][r]);
                    d1[j][r] += i32::from(a1[j][r]);
                    a0[j][r] = 0;
                    a1[j][r] = 0;
                }
            }
        }
        if e == 15 {
            let scb = &sc[2 * b * G..2 * b * G + 2 * G];
            let at = (b / CHUNKS) * G;
            let db = &d[at..at + G];
            for j in 0..R {
                let dx = x[j].d[b];
                for r in 0..G {
                    let isum =
                        i32::from(scb[r] as i8) * d0[j][r] + i32::from(scb[G + r] as i8) * d1[j][r];
                    facc[j][r] += h16(db[r]) * dx * isum as f32;
                    d0[j][r] = 0;
                    d1[j][r] = 0;
                }
            }
        }
    }
    facc
}

#[inline(never)]
fn q6k_row4(k: &KQuants, g: usize, x: &[XRow<'_>; 4]) -> [[f32; G]; 4] {
    q6k_rows::<4>(k, g, x)
}
