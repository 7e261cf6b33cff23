//! A conversation's keys and values ([`KvCache`]) and attention over them.
//!
//! The property everything here keeps: a query row's result is a function of that row and the
//! cache alone, never of which other rows come in the same call, how they are blocked, or how
//! many threads run. That is what makes a prompt split anywhere (a cached follow-up, a copied
//! system prompt, prefill chunks, a batch of conversations) give bit for bit the logits of
//! running it whole. Each number is defined by one fixed sequence of operations:
//! - a score is `Σ_d (scale·q[d])·k[d]`, one fused multiply-add per `d` in order;
//! - the row's weights are `exp(score − max)` (one deterministic polynomial, [`exp_nonpos`]),
//!   summed in [`LANES`] partial sums by offset from the row's first key, then a fixed tree;
//! - each output element is `Σ_t w[t]·v[t][d]`, one fused multiply-add per key in order,
//!   divided by the sum at the end.
//!
//! Speed comes from sharing loads, not from changing that order. Keys are stored transposed in
//! tiles of [`LANES`] positions (`[kv head][tile][d][lane]`), so a score is one SIMD lane and
//! sixteen keys' scores take `head_dim` multiply-adds with no horizontal sum; values are stored
//! in pieces of [`LANES`] elements (`[kv head][piece][position][lane]`), so a row's weighted
//! sum is lane-parallel too. Up to [`BLOCK_ROWS`] query rows (the query heads sharing a kv head,
//! neighbouring positions) form a block; four of them at a time go through two key tiles or two
//! value pieces while those are in registers. Rows whose key ranges differ (causal, sliding
//! window) share only the keys they all see and run the others alone, in the same order. Loop
//! shapes matter as in the weight kernels: the inner loops index nothing (queries and weights
//! are transposed first) so that no bounds check keeps the accumulators in memory, and four
//! rows, not eight, so that LLVM vectorises along the lanes rather than across the rows. Above
//! [`PARALLEL_MIN_MACS`] the blocks are shared between the calling thread and candle's rayon
//! pool, like the weight kernels. (`f32::mul_add` is one instruction because the build targets
//! the machine's CPU, `.cargo/config.toml`; on a CPU without FMA it would be a library call.)

use std::ops::Range;

use crate::{Error, Result};

/// Positions per key tile: one SIMD register of f32 scores (AVX-512), two of AVX2.
const LANES: usize = 16;
/// Most query rows that go through the cache together.
const BLOCK_ROWS: usize = 8;
/// Below this many multiply-adds attention stays on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 24;
/// Blocks per thread when the work is shared, so that late-waking workers find some left.
const PIECES_PER_THREAD: usize = 4;

/// Keys and values of one conversation, for every layer.
///
/// Grows in place (amortised doubling up to the context length); [`KvCache::truncate`] rolls
/// back to a shorter prefix (retry); [`Clone`] makes an independent deep copy.
#[derive(Clone)]
pub struct KvCache {
    layers: Vec<LayerKv>,
    /// Tokens held.
    pub(super) len: usize,
    /// Positions allocated per kv head (a multiple of [`LANES`]).
    cap: usize,
    kv_heads: usize,
    head_dim: usize,
}

/// One layer's keys (`[kv head][tile][d][lane]`, tiles of [`LANES`] positions) and values
/// (`[kv head][piece][position][lane]`: pieces of [`LANES`] elements of each value row, or the
/// whole row when the head dimension is not a multiple of it).
#[derive(Clone, Default)]
struct LayerKv {
    keys: Vec<f32>,
    values: Vec<f32>,
}

impl std::fmt::Debug for KvCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvCache")
            .field("len", &self.len)
            .field("cap", &self.cap)
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

impl KvCache {
    /// An empty cache of `layers` layers of `kv_heads` heads of `head_dim` values.
    pub(super) fn new(layers: usize, kv_heads: usize, head_dim: usize) -> Self {
        Self {
            layers: vec![LayerKv::default(); layers],
            len: 0,
            cap: 0,
            kv_heads,
            head_dim,
        }
    }

    /// Tokens held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forget everything after the first `len` tokens.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Bytes allocated for keys and values.
    pub fn bytes(&self) -> usize {
        self.layers.len() * 2 * self.cap * self.kv_heads * self.head_dim * size_of::<f32>()
    }

    /// Make room for `needed` positions (at most `max` unless more are needed). A new cache
    /// gets just what its prompt needs and doubles from there: every new conversation
    /// allocates (and zeroes) its cache on the way to its first token, so a larger first
    /// reservation would cost each newcomer time and hold memory it may never use.
    pub(super) fn reserve(&mut self, needed: usize, max: usize) {
        if needed <= self.cap {
            return;
        }
        let cap = (self.cap * 2)
            .max(needed)
            .min(max.max(needed))
            .next_multiple_of(LANES);
        let (hd, len) = (self.head_dim, self.len);
        let mut layers = std::mem::take(&mut self.layers);
        for layer in &mut layers {
            let mut grown = LayerKv {
                keys: vec![0f32; self.kv_heads * cap * hd],
                values: vec![0f32; self.kv_heads * cap * hd],
            };
            if len > 0 {
                self.copy_rows(&mut grown, cap, layer, self.cap, len);
            }
            *layer = grown;
        }
        self.layers = layers;
        self.cap = cap;
    }

    /// Elements per piece of a value row (see [`LayerKv`]).
    fn piece(&self) -> usize {
        if self.head_dim.is_multiple_of(LANES) {
            LANES
        } else {
            self.head_dim
        }
    }

    /// Copy the first `len` positions of `from` (`from_cap` positions allocated) into `into`
    /// (`cap` positions allocated), both laid out as this cache's layers.
    fn copy_rows(
        &self,
        into: &mut LayerKv,
        cap: usize,
        from: &LayerKv,
        from_cap: usize,
        len: usize,
    ) {
        let (hd, p) = (self.head_dim, self.piece());
        let key_len = len.next_multiple_of(LANES) * hd;
        for j in 0..self.kv_heads {
            let (dst, src) = (j * cap * hd, j * from_cap * hd);
            into.keys[dst..][..key_len].copy_from_slice(&from.keys[src..][..key_len]);
            for c in 0..hd / p {
                into.values[dst + c * cap * p..][..len * p]
                    .copy_from_slice(&from.values[src + c * from_cap * p..][..len * p]);
            }
        }
    }

    /// Write the keys and values of `seq` positions from `start` into layer `layer`; `k` and
    /// `v` are `kv heads × seq × head_dim`. The cache must have room ([`KvCache::reserve`]).
    pub(super) fn append(
        &mut self,
        layer: usize,
        (k, v): (&[f32], &[f32]),
        start: usize,
        seq: usize,
    ) -> Result<()> {
        let (hd, cap, p) = (self.head_dim, self.cap, self.piece());
        let size = self.kv_heads * seq * hd;
        let lkv = self
            .layers
            .get_mut(layer)
            .filter(|_| start + seq <= cap && k.len() == size && v.len() == size)
            .ok_or_else(|| Error::InvalidRequest("cache not reserved".into()))?;
        for j in 0..self.kv_heads {
            let rows = j * seq * hd..(j + 1) * seq * hd;
            for (i, row) in v[rows.clone()].chunks_exact(hd).enumerate() {
                for (c, piece) in row.chunks_exact(p).enumerate() {
                    lkv.values[j * cap * hd + c * cap * p + (start + i) * p..][..p]
                        .copy_from_slice(piece);
                }
            }
            for (i, row) in k[rows].chunks_exact(hd).enumerate() {
                let t = start + i;
                let tile = j * cap * hd + (t / LANES) * hd * LANES;
                for (d, &x) in row.iter().enumerate() {
                    lkv.keys[tile + d * LANES + t % LANES] = x;
                }
            }
        }
        Ok(())
    }

    /// Hold the first `len` tokens of `from` (copied; at most `max` positions reserved unless
    /// more are needed).
    pub(super) fn copy_prefix(&mut self, from: &KvCache, len: usize, max: usize) -> Result<()> {
        let len = len.min(from.len);
        if (from.kv_heads, from.head_dim) != (self.kv_heads, self.head_dim)
            || from.layers.len() != self.layers.len()
        {
            return Err(Error::InvalidRequest("caches of different models".into()));
        }
        self.len = 0;
        if len == 0 {
            return Ok(());
        }
        self.reserve(len, max);
        let mut layers = std::mem::take(&mut self.layers);
        for (into, src) in layers.iter_mut().zip(&from.layers) {
            self.copy_rows(into, self.cap, src, from.cap, len);
        }
        self.layers = layers;
        self.len = len;
        Ok(())
    }

    /// Attention of layer `layer` for `seq` query rows at positions `start..start + seq` (`q`:
    /// heads × seq × head_dim, RoPE applied; its keys and values already appended): each row
    /// over the positions it sees (causal, and within `window`), scores multiplied by `scale`,
    /// on up to `threads` threads. Query heads `j·group..(j+1)·group` share kv head `j`.
    /// Returns `seq × (heads·head_dim)`.
    pub(super) fn attend(&self, layer: usize, q: &mut [f32], at: &Attend) -> Result<Vec<f32>> {
        let hd = self.head_dim;
        let heads = self.kv_heads * at.group;
        let (seq, start) = (at.seq, at.start);
        let lkv = self
            .layers
            .get(layer)
            .filter(|_| start + seq <= self.cap && q.len() == heads * seq * hd)
            .ok_or_else(|| Error::InvalidRequest("attention outside the cache".into()))?;
        for x in q.iter_mut() {
            *x *= at.scale;
        }
        let q: &[f32] = q;
        let span = |pos: usize| at.window.map_or(0, |w| (pos + 1).saturating_sub(w))..pos + 1;
        // Rows of kv head j in order of position, then query head within the group: the rows
        // of one block see almost the same keys.
        let rows_per_head = seq * at.group;
        let macs: usize = (0..seq).map(|s| span(start + s).len()).sum::<usize>() * heads * hd * 2;
        let threads = if macs < PARALLEL_MIN_MACS {
            1
        } else {
            at.threads.max(1)
        };
        let block = if threads == 1 {
            BLOCK_ROWS
        } else {
            let want = threads * PIECES_PER_THREAD;
            (rows_per_head * self.kv_heads / want).clamp(1, BLOCK_ROWS)
        };
        let per_head = rows_per_head.div_ceil(block);
        let units = per_head * self.kv_heads;
        let unit = |u: usize| -> Vec<f32> {
            let j = u / per_head;
            let first = (u % per_head) * block;
            let rows: Vec<Row<'_>> = (first..(first + block).min(rows_per_head))
                .map(|i| {
                    let (s, g) = (i / at.group, i % at.group);
                    let h = j * at.group + g;
                    Row {
                        q: &q[(h * seq + s) * hd..][..hd],
                        keys: span(start + s),
                    }
                })
                .collect();
            let head = HeadKv {
                keys: &lkv.keys[j * self.cap * hd..][..self.cap * hd],
                values: &lkv.values[j * self.cap * hd..][..self.cap * hd],
                hd,
                cap: self.cap,
            };
            head.attend_block(&rows)
        };
        let mut out = vec![0f32; seq * heads * hd];
        let mut place = |u: usize, y: &[f32]| {
            let j = u / per_head;
            let first = (u % per_head) * block;
            for (i, row) in (first..).zip(y.chunks_exact(hd)) {
                let (s, g) = (i / at.group, i % at.group);
                let h = j * at.group + g;
                out[(s * heads + h) * hd..][..hd].copy_from_slice(row);
            }
        };
        if threads == 1 {
            for u in 0..units {
                place(u, &unit(u));
            }
        } else {
            for (u, y) in shared(units, threads, &unit) {
                place(u, &y);
            }
        }
        Ok(out)
    }
}

/// What [`KvCache::attend`] needs besides the query rows.
pub(super) struct Attend {
    /// Query rows (positions).
    pub seq: usize,
    /// Position of the first row.
    pub start: usize,
    /// Query heads per kv head.
    pub group: usize,
    /// Sliding window (a row sees this many positions, itself included).
    pub window: Option<usize>,
    /// Factor on the scores.
    pub scale: f32,
    /// Threads to use.
    pub threads: usize,
}

/// `units` calls of `work`, taken in turn by the calling thread and `threads − 1` rayon
/// workers; which thread runs a unit never changes its numbers.
fn shared<W>(units: usize, threads: usize, work: &W) -> Vec<(usize, Vec<f32>)>
where
    W: Fn(usize) -> Vec<f32> + Sync,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, PoisonError};
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(units));
    let take = || loop {
        let u = next.fetch_add(1, Ordering::Relaxed);
        if u >= units {
            break;
        }
        let y = work(u);
        done.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((u, y));
    };
    rayon::in_place_scope(|s| {
        for _ in 1..threads.min(units) {
            s.spawn(|_| take());
        }
        take();
    });
    done.into_inner().unwrap_or_else(PoisonError::into_inner)
}

/// One query row: its scaled query and the key positions it sees.
struct Row<'a> {
    q: &'a [f32],
    keys: Range<usize>,
}

/// One kv head's keys (tiles) and values of one layer.
struct HeadKv<'a> {
    keys: &'a [f32],
    values: &'a [f32],
    hd: usize,
    /// Positions allocated.
    cap: usize,
}

impl HeadKv<'_> {
    /// The attention output of `rows` (at most [`BLOCK_ROWS`]), `rows × head_dim`.
    fn attend_block(&self, rows: &[Row<'_>]) -> Vec<f32> {
        let hd = self.hd;
        let mut out = vec![0f32; rows.len() * hd];
        let (Some(lo), Some(hi)) = (
            rows.iter().map(|r| r.keys.start).min(),
            rows.iter().map(|r| r.keys.end).max(),
        ) else {
            return out;
        };
        let first_tile = lo / LANES;
        let tiles = hi.div_ceil(LANES) - first_tile;
        let t0 = first_tile * LANES;
        let width = tiles * LANES;
        // Every row's scores over the tiles any row needs; a row uses only its own keys.
        let mut scores = vec![0f32; rows.len() * width];
        let (key_tiles, _) = self.keys.as_chunks::<LANES>();
        let key_tiles = &key_tiles[first_tile * hd..(first_tile + tiles) * hd];
        scores_rows(key_tiles, hd, rows, &mut scores);
        let mut sums = [0f32; BLOCK_ROWS];
        for ((r, s), sum) in rows
            .iter()
            .zip(scores.chunks_exact_mut(width))
            .zip(&mut sums)
        {
            *sum = softmax_weights(&mut s[r.keys.start - t0..r.keys.end - t0]);
        }
        // Values: the keys all rows see together, the others row by row, each row in order.
        let shared_lo = rows.iter().map(|r| r.keys.start).max().unwrap_or(lo);
        let shared_hi = rows.iter().map(|r| r.keys.end).min().unwrap_or(hi);
        let weights = |i: usize| &scores[i * width..][..width];
        let pv = Values {
            values: self.values,
            hd,
            t0,
            cap: self.cap,
        };
        if shared_lo < shared_hi {
            for (i, r) in rows.iter().enumerate() {
                let y = &mut out[i * hd..][..hd];
                pv.accumulate(&[weights(i)], r.keys.start..shared_lo, y);
            }
            for (c, chunk) in out.chunks_mut(4 * hd).enumerate() {
                let n = chunk.len() / hd;
                let w: Vec<&[f32]> = (c * 4..c * 4 + n).map(weights).collect();
                pv.accumulate(&w, shared_lo..shared_hi, chunk);
            }
            for (i, r) in rows.iter().enumerate() {
                let y = &mut out[i * hd..][..hd];
                pv.accumulate(&[weights(i)], shared_hi..r.keys.end, y);
            }
        } else {
            for (i, r) in rows.iter().enumerate() {
                pv.accumulate(&[weights(i)], r.keys.clone(), &mut out[i * hd..][..hd]);
            }
        }
        for (y, sum) in out.chunks_exact_mut(hd).zip(sums) {
            for x in y {
                *x /= sum;
            }
        }
        out
    }
}

/// Scores of the rows (at most [`BLOCK_ROWS`]) against all `key_tiles` (`tiles × head_dim`
/// lanes of [`LANES`] keys) into `out` (`rows × tiles·LANES`), four rows at a time.
fn scores_rows(key_tiles: &[[f32; LANES]], hd: usize, rows: &[Row<'_>], out: &mut [f32]) {
    let width = key_tiles.len() / hd * LANES;
    for (rows, out) in rows.chunks(4).zip(out.chunks_mut(4 * width)) {
        match rows.len() {
            1 => score_tiles::<1>(key_tiles, hd, rows, out),
            2 => score_tiles::<2>(key_tiles, hd, rows, out),
            3 => score_tiles::<3>(key_tiles, hd, rows, out),
            _ => score_tiles::<4>(key_tiles, hd, rows, out),
        }
    }
}

/// [`scores_rows`] for `R` rows, two tiles at a time (`2R` independent accumulators). (With
/// eight rows LLVM vectorised across the rows instead of the lanes: gathers, 4x slower.)
fn score_tiles<const R: usize>(
    key_tiles: &[[f32; LANES]],
    hd: usize,
    rows: &[Row<'_>],
    out: &mut [f32],
) {
    // The queries as `[d][row]`: the loops over d then index nothing, and without a bounds
    // check (a possible panic) in them the accumulators stay in registers.
    let qt: Vec<[f32; R]> = (0..hd)
        .map(|d| std::array::from_fn(|r| rows[r].q[d]))
        .collect();
    let tiles: Vec<&[[f32; LANES]]> = key_tiles.chunks_exact(hd).collect();
    let width = tiles.len() * LANES;
    let mut store = |b: usize, acc: &[[f32; LANES]; R]| {
        for (r, acc) in acc.iter().enumerate() {
            out[r * width + b * LANES..][..LANES].copy_from_slice(acc);
        }
    };
    let mut b = 0;
    while b + 2 <= tiles.len() {
        let [first, second] = dot_tile_pair::<R>(tiles[b], tiles[b + 1], &qt);
        store(b, &first);
        store(b + 1, &second);
        b += 2;
    }
    for (b, tile) in tiles.iter().enumerate().skip(b) {
        store(b, &dot_tile::<R>(tile, &qt));
    }
}

/// `R` rows' scores against one tile: for each `d` in order, one multiply-add per lane.
#[inline(always)]
fn dot_tile<const R: usize>(tile: &[[f32; LANES]], qt: &[[f32; R]]) -> [[f32; LANES]; R] {
    let mut acc = [[0f32; LANES]; R];
    for (k, q) in tile.iter().zip(qt) {
        for r in 0..R {
            for l in 0..LANES {
                acc[r][l] = q[r].mul_add(k[l], acc[r][l]);
            }
        }
    }
    acc
}

/// [`dot_tile`] of two tiles at once (the same operations for each).
#[inline(always)]
fn dot_tile_pair<const R: usize>(
    first: &[[f32; LANES]],
    second: &[[f32; LANES]],
    qt: &[[f32; R]],
) -> [[[f32; LANES]; R]; 2] {
    let mut a = [[0f32; LANES]; R];
    let mut b = [[0f32; LANES]; R];
    for ((k, k2), q) in first.iter().zip(second).zip(qt) {
        for r in 0..R {
            for l in 0..LANES {
                a[r][l] = q[r].mul_add(k[l], a[r][l]);
                b[r][l] = q[r].mul_add(k2[l], b[r][l]);
            }
        }
    }
    [a, b]
}

/// Turn a row's scores into its unnormalised weights `exp(score − max)` in place; their sum.
fn softmax_weights(s: &mut [f32]) -> f32 {
    let mut top = [f32::NEG_INFINITY; LANES];
    let (chunks, rest) = s.as_chunks::<LANES>();
    for c in chunks {
        for l in 0..LANES {
            top[l] = top[l].max(c[l]);
        }
    }
    let max = rest
        .iter()
        .chain(&top)
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let mut acc = [0f32; LANES];
    let (chunks, rest) = s.as_chunks_mut::<LANES>();
    for c in chunks {
        for l in 0..LANES {
            c[l] = exp_nonpos(c[l] - max);
            acc[l] += c[l];
        }
    }
    let mut tail = 0f32;
    for x in rest {
        *x = exp_nonpos(*x - max);
        tail += *x;
    }
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            acc[l] += acc[l + w];
        }
    }
    acc[0] + tail
}

/// `e^x` for `x <= 0` (scores minus their maximum): Cephes' `expf` (range reduction by ln 2,
/// degree-6 polynomial; relative error below 2e-7), 0 below −87 (where `e^x < 2^-125`). Plain
/// arithmetic that vectorises, unlike a call to the C library's `expf`.
#[inline(always)]
fn exp_nonpos(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer.
    let xc = x.max(-87.0);
    let t = xc.mul_add(std::f32::consts::LOG2_E, MAGIC);
    let n = t - MAGIC;
    let r = n.mul_add(-0.693_359_4, xc); // ln 2 = 0.693_359_375 − 2.121_944_4e-4
    let r = n.mul_add(2.121_944_4e-4, r);
    let mut p = 1.987_569_1e-4_f32;
    p = p.mul_add(r, 1.398_2e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let y = (p * r).mul_add(r, r) + 1.0;
    // 2^n from n's bits in t's mantissa: n is in −126..=0, so the exponent field is 1..=127.
    let two_n = f32::from_bits(t.to_bits().wrapping_sub(MAGIC.to_bits()).wrapping_add(127) << 23);
    if x < -87.0 {
        0.0
    } else {
        y * two_n
    }
}

/// One kv head's values (`[piece][position][lane]`, `cap` positions), read for weights
/// indexed from position `t0`.
struct Values<'a> {
    values: &'a [f32],
    hd: usize,
    t0: usize,
    cap: usize,
}

impl Values<'_> {
    /// `acc[r] += Σ_{t in keys} weights[r][t − t0] · v[t]` for up to four rows (`acc`: rows ×
    /// head_dim), one multiply-add per key in order for every element.
    fn accumulate(&self, weights: &[&[f32]], keys: Range<usize>, acc: &mut [f32]) {
        if keys.is_empty() {
            return;
        }
        let w = |r: usize| &weights[r][keys.start - self.t0..keys.end - self.t0];
        match weights.len() {
            1 => self.rows::<1>([w(0)], keys, acc),
            2 => self.rows::<2>([w(0), w(1)], keys, acc),
            3 => self.rows::<3>([w(0), w(1), w(2)], keys, acc),
            _ => self.rows::<4>([w(0), w(1), w(2), w(3)], keys, acc),
        }
    }

    /// [`Values::accumulate`] for `R` rows, two [`LANES`]-wide pieces of them at a time.
    fn rows<const R: usize>(&self, weights: [&[f32]; R], keys: Range<usize>, acc: &mut [f32]) {
        let hd = self.hd;
        if !hd.is_multiple_of(LANES) {
            for (r, acc) in acc.chunks_exact_mut(hd).enumerate() {
                let rows = self.values[keys.start * hd..keys.end * hd].chunks_exact(hd);
                for (v, &p) in rows.zip(weights[r]) {
                    for (a, v) in acc.iter_mut().zip(v) {
                        *a = p.mul_add(*v, *a);
                    }
                }
            }
            return;
        }
        // The weights as `[key][row]`: the loop over keys then indexes nothing (see
        // `score_tiles`).
        let wt: Vec<[f32; R]> = (0..keys.len())
            .map(|i| std::array::from_fn(|r| weights[r][i]))
            .collect();
        let pieces = hd / LANES;
        let (lanes, _) = self.values.as_chunks::<LANES>();
        let (acc, _) = acc.as_chunks_mut::<LANES>();
        let column = |c: usize| lanes[c * self.cap + keys.start..c * self.cap + keys.end].iter();
        let mut c = 0;
        while c < pieces {
            let two = c + 1 < pieces;
            let second = if two { c + 1 } else { c };
            let init = std::array::from_fn(|r| [acc[r * pieces + c], acc[r * pieces + second]]);
            let [a, b] = weighted_pair::<R>(column(c), column(second), &wt, init);
            for r in 0..R {
                acc[r * pieces + c] = a[r];
                if two {
                    acc[r * pieces + c + 1] = b[r];
                }
            }
            c += 2;
        }
    }
}

/// Two pieces of `R` rows' weighted sums: `init[r][i] + Σ_t wt[t][r] · piece_i[t]`, in order
/// of `t`. (The same loop shape as [`dot_tile_pair`], which keeps the accumulators in
/// registers and vectorises along the lanes.)
#[inline(always)]
fn weighted_pair<'a, const R: usize>(
    first: impl Iterator<Item = &'a [f32; LANES]>,
    second: impl Iterator<Item = &'a [f32; LANES]>,
    wt: &[[f32; R]],
    init: [[[f32; LANES]; 2]; R],
) -> [[[f32; LANES]; R]; 2] {
    let mut a: [[f32; LANES]; R] = std::array::from_fn(|r| init[r][0]);
    let mut b: [[f32; LANES]; R] = std::array::from_fn(|r| init[r][1]);
    for ((v, v2), p) in first.zip(second).zip(wt) {
        for r in 0..R {
            for l in 0..LANES {
                a[r][l] = p[r].mul_add(v[l], a[r][l]);
                b[r][l] = p[r].mul_add(v2[l], b[r][l]);
            }
        }
    }
    [a, b]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::local::model::test_values::rand_vec;

    #[test]
    fn exp_nonpos_is_within_2e_7_of_exp() {
        let mut worst = 0f64;
        for i in 0..=870_000 {
            let x = -(i as f32) * 1e-4;
            let want = f64::from(x).exp();
            let got = f64::from(exp_nonpos(x));
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 2e-7, "worst relative error {worst}");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert_eq!(exp_nonpos(-100.0), 0.0);
        assert_eq!(exp_nonpos(f32::NEG_INFINITY), 0.0);
    }

    /// A cache of `len` random positions of `kv` heads, and `heads × seq × hd` random
    /// queries for the last `seq` positions.
    fn setup(kv: usize, hd: usize, len: usize, seq: usize, heads: usize) -> (KvCache, Vec<f32>) {
        let mut c = KvCache::new(1, kv, hd);
        c.reserve(len, len);
        let k = rand_vec(kv * len * hd, 1);
        let v = rand_vec(kv * len * hd, 2);
        c.append(0, (&k, &v), 0, len).expect("append");
        c.len = len;
        (c, rand_vec(heads * seq * hd, 3))
    }

    /// Plain f64 attention of one row, for reference.
    fn reference(c: &KvCache, q: &[f32], j: usize, keys: Range<usize>, scale: f64) -> Vec<f64> {
        let hd = c.head_dim;
        let l = &c.layers[0];
        let key = |t: usize, d: usize| {
            let tile = j * c.cap * hd + (t / LANES) * hd * LANES;
            f64::from(l.keys[tile + d * LANES + t % LANES])
        };
        let s: Vec<f64> = keys
            .clone()
            .map(|t| (0..hd).map(|d| f64::from(q[d]) * key(t, d)).sum::<f64>() * scale)
            .collect();
        let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        (0..hd)
            .map(|d| {
                keys.clone()
                    .zip(&e)
                    .map(|(t, p)| {
                        let piece = c.piece();
                        let at = j * c.cap * hd + (d / piece) * c.cap * piece + t * piece;
                        p * f64::from(l.values[at + d % piece])
                    })
                    .sum::<f64>()
                    / sum
            })
            .collect()
    }

    #[test]
    fn attention_rows_do_not_depend_on_the_rows_they_come_with() {
        // The first case is large enough to be shared between threads.
        let cases = [
            (3, 3, 64, None, 600, 40),
            (2, 4, 48, Some(7), 53, 13),
            (1, 1, 6, None, 40, 9),
        ];
        for (kv, group, hd, window, len, seq) in cases {
            let start = len - seq;
            let (c, q) = setup(kv, hd, len, seq, kv * group);
            let heads = kv * group;
            let at = |seq, start, threads| Attend {
                seq,
                start,
                group,
                window,
                scale: 0.125,
                threads,
            };
            let all = c
                .attend(0, &mut q.clone(), &at(seq, start, 1))
                .expect("all");
            let three = c.attend(0, &mut q.clone(), &at(seq, start, 3)).expect("3");
            assert_eq!(all, three, "threads");
            for s in 0..seq {
                let one: Vec<f32> = (0..heads)
                    .flat_map(|h| q[(h * seq + s) * hd..][..hd].to_vec())
                    .collect();
                let y = c
                    .attend(0, &mut one.clone(), &at(1, start + s, 1))
                    .expect("one");
                assert_eq!(y, all[s * heads * hd..][..heads * hd], "row {s}");
                for h in 0..heads {
                    let pos = start + s;
                    let keys = window.map_or(0, |w| (pos + 1).saturating_sub(w))..pos + 1;
                    let want = reference(&c, &one[h * hd..][..hd], h / group, keys, 0.125);
                    for (a, b) in y[h * hd..][..hd].iter().zip(want) {
                        assert!((f64::from(*a) - b).abs() < 1e-5, "{a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_copied_or_regrown_cache_holds_the_same_rows() {
        let (kv, hd) = (2, 32);
        let mut c = KvCache::new(2, kv, hd);
        for (n, seed) in [(5, 1), (30, 2), (300, 3)] {
            c.reserve(c.len + n, 4096);
            let k = rand_vec(kv * n * hd, seed);
            let v = rand_vec(kv * n * hd, seed + 10);
            for layer in 0..2 {
                c.append(layer, (&k, &v), c.len, n).expect("append");
            }
            c.len += n;
        }
        let mut d = KvCache::new(2, kv, hd);
        d.copy_prefix(&c, 35, 4096).expect("copy");
        assert_eq!(d.len(), 35);
        let mut q = rand_vec(kv * hd, 9);
        let at = Attend {
            seq: 1,
            start: 34,
            group: 1,
            window: None,
            scale: 0.2,
            threads: 1,
        };
        let mut c35 = c.clone();
        c35.truncate(35);
        assert_eq!(
            d.attend(1, &mut q.clone(), &at).expect("copy"),
            c35.attend(1, &mut q, &at).expect("original")
        );
    }

    /// Attention alone at SmolLM2-135M's shapes (3 kv heads of 64, 9 query heads): a
    /// 1055-token prompt in chunks of 128, then 64 decode steps; one layer. `cargo test
    /// --release -p parley-core --lib attention_bench -- --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark"]
    fn attention_bench() {
        let (kv, group, hd, len) = (3, 3, 64, 1055);
        let threads = candle_core::utils::get_num_threads();
        let (mut c, _) = setup(kv, hd, len + 64, 1, 1);
        let rounds = 3;
        let t = std::time::Instant::now();
        for _ in 0..rounds {
            let mut start = 0;
            while start < len {
                let seq = 128.min(len - start);
                let mut q = rand_vec(kv * group * seq * hd, start as u64);
                let at = Attend {
                    seq,
                    start,
                    group,
                    window: None,
                    scale: 0.125,
                    threads,
                };
                std::hint::black_box(c.attend(0, &mut q, &at).expect("attend"));
                start += seq;
            }
        }
        let prefill = t.elapsed() / rounds;
        c.len = len;
        let t = std::time::Instant::now();
        for i in 0..64 {
            let mut q = rand_vec(kv * group * hd, i);
            let at = Attend {
                seq: 1,
                start: len + i as usize,
                group,
                window: None,
                scale: 0.125,
                threads,
            };
            std::hint::black_box(c.attend(0, &mut q, &at).expect("attend"));
        }
        let decode = t.elapsed() / 64;
        println!(
            "threads {threads}: prefill {len} in chunks of 128 {:.2} ms/layer, decode at {len} {:.1} us/layer",
            prefill.as_secs_f64() * 1e3,
            decode.as_secs_f64() * 1e6
        );
    }
}
