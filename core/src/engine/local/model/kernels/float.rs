//! F32, F16 and BF16 weights in the row-group layout: `w[e*G + r]` per group, the file's
//! values unchanged (F16 and BF16 as their bits). The dot is a plain f32 multiply-add per lane
//! with four partial sums over `e mod 4`, added in a fixed order: a row's result never depends
//! on the batch, and activations are not quantized.

use super::{Lanes, G};
use crate::{Error, Result};
use candle_core::quantized::GgmlDType;
use half::{bf16, f16};

/// Float weights repacked into row groups.
#[derive(Clone)]
pub(super) enum FloatWeights {
    F32(Vec<f32>),
    F16(Vec<u16>),
    BF16(Vec<u16>),
}

/// BF16 bits to f32 (exact).
#[inline(always)]
fn hb16(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

fn finite(v: f32) -> Result<f32> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::Unsupported("non-finite float weight".into()))
    }
}

impl FloatWeights {
    /// Repack `rows` (raw GGUF rows of `k` values each) of a float dtype.
    pub(super) fn repack(dtype: GgmlDType, rows: &[&[u8]], k: usize) -> Result<Self> {
        let n = rows.len();
        match dtype {
            GgmlDType::F32 => {
                let mut w = Lanes::new(n, k);
                for (r, row) in rows.iter().enumerate() {
                    for (e, b) in row.chunks_exact(4).enumerate() {
                        w.set(r, e, finite(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))?);
                    }
                }
                Ok(Self::F32(w.data))
            }
            GgmlDType::F16 | GgmlDType::BF16 => {
                let mut w = Lanes::new(n, k);
                for (r, row) in rows.iter().enumerate() {
                    for (e, b) in row.chunks_exact(2).enumerate() {
                        let bits = u16::from_le_bytes([b[0], b[1]]);
                        let v = if dtype == GgmlDType::F16 {
                            f16::from_bits(bits).to_f32()
                        } else {
                            bf16::from_bits(bits).to_f32()
                        };
                        finite(v)?;
                        w.set(r, e, bits);
                    }
                }
                Ok(if dtype == GgmlDType::F16 {
                    Self::F16(w.data)
                } else {
                    Self::BF16(w.data)
                })
            }
            other => Err(Error::Unsupported(format!("float kernel dtype {other:?}"))),
        }
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        match self {
            Self::F32(w) => 4 * w.len(),
            Self::F16(w) | Self::BF16(w) => 2 * w.len(),
        }
    }

    /// Weight `e` of row `r` of group `g` (rows of `k`).
    pub(super) fn at(&self, k: usize, g: usize, r: usize, e: usize) -> f32 {
        let i = (g * k + e) * G + r;
        match self {
            Self::F32(w) => w[i],
            Self::F16(w) => super::h16(w[i]),
            Self::BF16(w) => hb16(w[i]),
        }
    }

    /// One activation row `x` (`k` values) against group `g`.
    pub(super) fn row(&self, k: usize, g: usize, x: &[f32]) -> [f32; G] {
        let span = g * k * G..(g + 1) * k * G;
        match self {
            Self::F32(w) => float_row(&w[span], x, |v| v),
            Self::F16(w) => float_row(&w[span], x, super::h16),
            Self::BF16(w) => float_row(&w[span], x, hb16),
        }
    }
}

/// `Σ_e w[e][r]·x[e]` per lane `r`, four partial sums (`e mod 4`) added in a fixed order.
#[inline(always)]
fn float_row<W: Copy>(w: &[W], x: &[f32], to_f32: impl Fn(W) -> f32) -> [f32; G] {
    let mut acc = [[0f32; G]; 4];
    for (wq, xq) in w.chunks_exact(4 * G).zip(x.chunks_exact(4)) {
        for (j, a) in acc.iter_mut().enumerate() {
            let xj = xq[j];
            let ws = &wq[j * G..j * G + G];
            for r in 0..G {
                a[r] += to_f32(ws[r]) * xj;
            }
        }
    }
    let mut out = [0f32; G];
    for r in 0..G {
        out[r] = (acc[0][r] + acc[1][r]) + (acc[2][r] + acc[3][r]);
    }
    out
}
