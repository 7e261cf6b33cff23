//! The decoder-only transformer (llama, qwen2, qwen3 and gemma3 families) over quantized GGUF
//! weights.
//!
//! Adapted from candle-transformers' `quantized_llama` (MIT OR Apache-2.0, Copyright the
//! Candle authors), changed so that the model is immutable and shared (`Arc`), and all
//! per-conversation state lives in an explicit [`KvCache`] the caller owns:
//! - positions come from the cache, never from the caller;
//! - RoPE angles are computed for the positions in use (no 4096-position table);
//! - attention reads the cache in place, row by row, causal and windowed by position (no mask
//!   tensors), so a row's result does not depend on the chunk it came in;
//! - grouped-query attention reshapes the queries instead of repeating keys and values.
//!
//! What differs between families is read from the file (`general.architecture` and its
//! metadata) into [`ModelConfig`] and [`Arch`], following llama.cpp's graphs for each:
//! qwen3 normalises each query and key head; gemma3 also has norms after attention and after
//! the feed-forward block, a GELU (tanh) feed-forward, an embedding scaled by sqrt(hidden),
//! and sliding-window layers with their own RoPE base. Llama 3.x files carry RoPE frequency
//! factors (`rope_freqs.weight`).

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor, D};
use candle_transformers::quantized_nn::RmsNorm;
use std::sync::Arc;

use super::attention::Attend;
pub use super::attention::KvCache;
use super::kernels::QuantMatrix;
use crate::{Error, Result};

/// The model families Parley runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Llama 2/3, SmolLM2, TinyLlama, Mistral-style models (`general.architecture = llama`).
    Llama,
    /// Qwen2 / Qwen2.5 (biases on q/k/v, NEOX rotary embedding).
    Qwen2,
    /// Qwen3 (RMS norm on each query and key head, no q/k/v biases, NEOX rotary embedding).
    Qwen3,
    /// Gemma 3 (q/k norms, norms after attention and FFN, GELU, scaled embedding, local and
    /// global attention layers).
    Gemma3,
}

impl Arch {
    /// Parse `general.architecture`.
    pub fn from_gguf(name: &str) -> Result<Self> {
        match name {
            "llama" => Ok(Arch::Llama),
            "qwen2" => Ok(Arch::Qwen2),
            "qwen3" => Ok(Arch::Qwen3),
            "gemma3" => Ok(Arch::Gemma3),
            other => Err(Error::Unsupported(format!(
                "architecture `{other}` (supported: llama, qwen2, qwen3, gemma3)"
            ))),
        }
    }

    /// The GGUF metadata prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Gemma3 => "gemma3",
        }
    }

    /// Whether RoPE rotates the two halves of a head (NEOX style) rather than adjacent pairs.
    fn rotates_halves(self) -> bool {
        !matches!(self, Arch::Llama)
    }

    /// Whether each query and key head goes through its own RMS norm before RoPE.
    fn has_qk_norm(self) -> bool {
        matches!(self, Arch::Qwen3 | Arch::Gemma3)
    }
}

/// Hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Model family.
    pub arch: Arch,
    /// Number of transformer blocks.
    pub n_layer: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (grouped-query attention when smaller than `n_head`).
    pub n_kv_head: usize,
    /// Dimension of one head.
    pub head_dim: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Context length the model was trained for.
    pub context_len: usize,
    /// RoPE base frequency.
    pub rope_theta: f32,
    /// RMS-norm epsilon.
    pub rms_eps: f64,
    /// RoPE position scale of linear scaling (1 / `rope.scaling.factor`; 1 when unscaled).
    pub rope_freq_scale: f32,
    /// Factor on query·key scores (1/sqrt(head_dim) unless the family says otherwise).
    pub attn_scale: f32,
    /// Sliding-window (local) attention: the window and which layers use it.
    pub sliding: Option<SlidingWindow>,
}

/// Local attention of some layers (Gemma 3): a query at position p sees keys at positions
/// p - window + 1 ..= p, with RoPE of its own base and no position scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlidingWindow {
    /// Positions a query sees, itself included.
    pub window: usize,
    /// Every `pattern`-th layer is global, the others local (Gemma 3: 6).
    pub pattern: usize,
    /// RoPE base of the local layers.
    pub rope_theta: f32,
}

impl SlidingWindow {
    /// Whether layer `index` is a local (sliding-window) layer; llama.cpp's `set_swa_pattern`.
    pub fn is_local(&self, index: usize) -> bool {
        self.pattern == 0 || index % self.pattern < self.pattern - 1
    }
}

/// How weights are kept in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// As stored in the file.
    Native,
    /// Formats without a SIMD dot product in candle (Q4_1, Q5_0, Q5_1) are re-quantized to Q8_0
    /// at load, and projections that read the same input are fused by re-quantizing them to
    /// Q8_0 (lossy, opt-in). Runs on candle.
    FastQ8,
    /// Weights run as the file stores them (repacked, never re-quantized): Q4_0, Q4_1, Q5_0,
    /// Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, F32, F16 and BF16 on Parley's own batch-invariant kernels
    /// ([`super::kernels`]), other types on candle.
    #[default]
    Kernels,
    /// [`WeightFormat::Kernels`], with prefill batches on an f32 gemm: faster prefill, but a
    /// cached conversation no longer continues bit-exactly like a fresh prefill.
    KernelsGemm,
}

impl WeightFormat {
    fn uses_kernels(self) -> bool {
        matches!(self, WeightFormat::Kernels | WeightFormat::KernelsGemm)
    }
}

impl std::str::FromStr for WeightFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "native" => Ok(Self::Native),
            "q8" => Ok(Self::FastQ8),
            "kernels" => Ok(Self::Kernels),
            "kernels-gemm" => Ok(Self::KernelsGemm),
            other => Err(format!(
                "unknown weight format `{other}` (native, q8, kernels, kernels-gemm)"
            )),
        }
    }
}

enum Weights {
    Candle(QMatMul),
    Kernel(Arc<QuantMatrix>),
}

struct Linear {
    w: Weights,
    b: Option<Tensor>,
}

fn kernel_ok(q: &QTensor) -> bool {
    QuantMatrix::supports(q.dtype())
        && q.shape().rank() == 2
        && q.shape().dims()[1].is_multiple_of(32)
}

/// The repacked matrix of `w`, if the kernels take it and `format` asks for them.
fn kernel_matrix(parts: &[&QTensor], format: WeightFormat) -> Result<Option<QuantMatrix>> {
    let ok = format.uses_kernels()
        && parts
            .iter()
            .all(|w| kernel_ok(w) && w.dtype() == parts[0].dtype());
    if !ok {
        return Ok(None);
    }
    Ok(Some(
        QuantMatrix::from_qtensors(parts)?.with_gemm_prefill(format == WeightFormat::KernelsGemm),
    ))
}

/// The token embedding table: rows looked up from the kernels' repacked copy when it has one
/// (then shared with a tied output layer, not held twice), else from the file's tensor.
enum Embedding {
    Table(Arc<QTensor>),
    Kernel(Arc<QuantMatrix>),
}

impl Embedding {
    fn embedding(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Embedding::Table(t) => Ok(t.embedding(ids)?),
            Embedding::Kernel(k) => k.embedding(ids),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Embedding::Table(t) => t.storage_size_in_bytes(),
            Embedding::Kernel(k) => k.bytes(),
        }
    }

    /// The output layer when the embedding is tied to it.
    fn tied_output(&self) -> Result<Linear> {
        let w = match self {
            Embedding::Table(t) => Weights::Candle(QMatMul::from_arc(t.clone())?),
            Embedding::Kernel(k) => Weights::Kernel(k.clone()),
        };
        Ok(Linear { w, b: None })
    }
}

impl Linear {
    fn load(w: QTensor, b: Option<Tensor>, format: WeightFormat, device: &Device) -> Result<Self> {
        let w = if let Some(k) = kernel_matrix(&[&w], format)? {
            Weights::Kernel(Arc::new(k))
        } else {
            Weights::Candle(QMatMul::from_qtensor(convert(w, format, device)?)?)
        };
        Ok(Self { w, b })
    }

    fn bytes(&self) -> usize {
        match &self.w {
            Weights::Candle(QMatMul::QTensor(t)) => t.storage_size_in_bytes(),
            Weights::Candle(QMatMul::Tensor(t) | QMatMul::TensorF16(t)) => {
                t.elem_count() * t.dtype().size_in_bytes()
            }
            Weights::Kernel(k) => k.bytes(),
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = match &self.w {
            Weights::Candle(w) => w.forward(x)?,
            Weights::Kernel(k) => k.forward(x, candle_core::utils::get_num_threads())?,
        };
        Ok(match &self.b {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

/// Projections that read the same input (q, k, v; gate, up). When the kernels take them all
/// in one format they are fused into one matrix: one activation quantization and one kernel
/// call instead of several, which is most of the per-token overhead of a small model. Parts
/// in different formats (a Q4_K_M file's Q4_K q/k and Q6_K v) stay separate; only
/// [`WeightFormat::FastQ8`] fuses them by re-quantizing.
struct Projections {
    /// Each matrix with the widths of the projections it computes, in order.
    linears: Vec<(Linear, Vec<usize>)>,
}

type Part = (QTensor, Option<Tensor>);

fn cat_bias(parts: &[Part]) -> Result<Option<Tensor>> {
    Ok(if parts.iter().any(|(_, b)| b.is_some()) {
        let bs: Vec<Tensor> = parts.iter().filter_map(|(_, b)| b.clone()).collect();
        Some(Tensor::cat(&bs, 0)?)
    } else {
        None
    })
}

impl Projections {
    fn load(parts: Vec<Part>, format: WeightFormat, device: &Device) -> Result<Self> {
        let widths: Vec<usize> = parts.iter().map(|(w, _)| w.shape().dims()[0]).collect();
        let same_bias =
            parts.iter().all(|(_, b)| b.is_some()) == parts.iter().any(|(_, b)| b.is_some());
        let fusable = format == WeightFormat::FastQ8
            && parts.len() > 1
            && parts.iter().all(|(w, _)| {
                w.shape().rank() == 2 && w.shape().dims()[1] % GgmlDType::Q8_0.block_size() == 0
            })
            && same_bias;
        if fusable {
            let ws = parts
                .iter()
                .map(|(w, _)| w.dequantize(device))
                .collect::<candle_core::Result<Vec<_>>>()?;
            let w = QTensor::quantize(&Tensor::cat(&ws, 0)?, GgmlDType::Q8_0)?;
            let fused = Linear {
                w: Weights::Candle(QMatMul::from_qtensor(w)?),
                b: cat_bias(&parts)?,
            };
            return Ok(Self {
                linears: vec![(fused, widths)],
            });
        }
        // Runs of consecutive parts in one format the kernels take are fused as stored.
        let mut linears = Vec::new();
        let mut parts = parts.into_iter().peekable();
        while let Some(first) = parts.next() {
            let mut run = vec![first];
            while let Some(next) = parts.next_if(|(w, b)| {
                w.dtype() == run[0].0.dtype() && b.is_some() == run[0].1.is_some()
            }) {
                run.push(next);
            }
            let fused = if run.len() > 1 {
                let ws: Vec<&QTensor> = run.iter().map(|(w, _)| w).collect();
                kernel_matrix(&ws, format)?
            } else {
                None
            };
            let widths: Vec<usize> = run.iter().map(|(w, _)| w.shape().dims()[0]).collect();
            match fused {
                Some(w) => {
                    let w = Weights::Kernel(Arc::new(w));
                    linears.push((
                        Linear {
                            w,
                            b: cat_bias(&run)?,
                        },
                        widths,
                    ));
                }
                None => {
                    for ((w, b), width) in run.into_iter().zip(widths) {
                        linears.push((Linear::load(w, b, format, device)?, vec![width]));
                    }
                }
            }
        }
        Ok(Self { linears })
    }

    fn bytes(&self) -> usize {
        self.linears.iter().map(|(l, _)| l.bytes()).sum()
    }

    fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let mut out = Vec::new();
        for (linear, widths) in &self.linears {
            let y = linear.forward(x)?;
            if widths.len() == 1 {
                out.push(y);
                continue;
            }
            let mut at = 0;
            for &w in widths {
                out.push(y.narrow(D::Minus1, at, w)?);
                at += w;
            }
        }
        Ok(out)
    }
}

struct Layer {
    attn_norm: RmsNorm,
    qkv: Projections,
    wo: Linear,
    ffn_norm: RmsNorm,
    gate_up: Projections,
    down: Linear,
    norms: ArchNorms,
}

/// Norms only some families have, around the attention and feed-forward blocks all share.
struct ArchNorms {
    /// RMS norm of each query head before RoPE (qwen3, gemma3).
    q: Option<RmsNorm>,
    /// RMS norm of each key head before RoPE (qwen3, gemma3).
    k: Option<RmsNorm>,
    /// RMS norm of the attention output before the residual add (gemma3).
    post_attn: Option<RmsNorm>,
    /// RMS norm of the feed-forward output before the residual add (gemma3).
    post_ffn: Option<RmsNorm>,
}

impl ArchNorms {
    /// Load the norms of layer `prefix` (`blk.N`) that `cfg.arch` has. GGUF stores Gemma's
    /// `(1 + w)` norm weights with the 1 already added, so every norm is a plain RMS norm.
    fn load(
        tensor: &mut dyn FnMut(&str) -> Result<QTensor>,
        prefix: &str,
        cfg: &ModelConfig,
    ) -> Result<Self> {
        let mut norm = |name: &str, present: bool| -> Result<Option<RmsNorm>> {
            if !present {
                return Ok(None);
            }
            let w = tensor(&format!("{prefix}.{name}.weight"))?;
            Ok(Some(RmsNorm::from_qtensor(w, cfg.rms_eps)?))
        };
        let qk = cfg.arch.has_qk_norm();
        let post = cfg.arch == Arch::Gemma3;
        Ok(Self {
            q: norm("attn_q_norm", qk)?,
            k: norm("attn_k_norm", qk)?,
            post_attn: norm("post_attention_norm", post)?,
            post_ffn: norm("post_ffw_norm", post)?,
        })
    }

    fn apply(norm: Option<&RmsNorm>, x: Tensor) -> Result<Tensor> {
        Ok(match norm {
            Some(n) => n.forward(&x)?,
            None => x,
        })
    }
}

/// RoPE inverse frequencies: of the global layers, and of the local ones when there are any.
struct RopeFreqs {
    global: Vec<f32>,
    local: Option<Vec<f32>>,
}

impl RopeFreqs {
    /// `factors` divide the frequencies (Llama 3's `rope_freqs.weight`, as llama.cpp's
    /// `freq_factors`); linear scaling multiplies the global ones.
    fn new(cfg: &ModelConfig, factors: Option<&[f32]>) -> Self {
        let freqs = |theta: f32, scale: f32| -> Vec<f32> {
            (0..cfg.head_dim / 2)
                .map(|i| {
                    let f = 1.0 / theta.powf((2 * i) as f32 / cfg.head_dim as f32);
                    let factor = factors.and_then(|v| v.get(i)).copied().unwrap_or(1.0);
                    f * scale / factor
                })
                .collect()
        };
        Self {
            global: freqs(cfg.rope_theta, cfg.rope_freq_scale),
            local: cfg.sliding.map(|s| freqs(s.rope_theta, 1.0)),
        }
    }
}

/// The immutable model: weights and hyper-parameters. Share it with `Arc`; give each
/// conversation its own [`KvCache`].
pub struct Transformer {
    cfg: ModelConfig,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: Linear,
    rope: RopeFreqs,
    device: Device,
    weight_bytes: usize,
}

impl std::fmt::Debug for Transformer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transformer")
            .field("cfg", &self.cfg)
            .field("weight_bytes", &self.weight_bytes)
            .finish_non_exhaustive()
    }
}

fn md<'a>(ct: &'a gguf_file::Content, key: &str) -> Result<&'a gguf_file::Value> {
    ct.metadata
        .get(key)
        .ok_or_else(|| Error::Unsupported(format!("GGUF metadata `{key}` is missing")))
}

fn md_usize(ct: &gguf_file::Content, key: &str) -> Result<usize> {
    let v = md(ct, key)?;
    let n = v
        .to_u64()
        .or_else(|_| v.to_u32().map(u64::from))
        .or_else(|_| v.to_i32().map(|x| x.max(0) as u64))
        .map_err(|_| Error::Unsupported(format!("GGUF metadata `{key}` is not an integer")))?;
    usize::try_from(n).map_err(|_| Error::Unsupported(format!("`{key}` out of range")))
}

fn md_f32(ct: &gguf_file::Content, key: &str) -> Option<f32> {
    ct.metadata.get(key).and_then(|v| v.to_f32().ok())
}

impl ModelConfig {
    /// Read the hyper-parameters of `arch` from GGUF metadata.
    pub fn from_gguf(ct: &gguf_file::Content, arch: Arch) -> Result<Self> {
        let p = arch.as_str();
        let n_head = md_usize(ct, &format!("{p}.attention.head_count"))?;
        let n_kv_head = md_usize(ct, &format!("{p}.attention.head_count_kv")).unwrap_or(n_head);
        let hidden = md_usize(ct, &format!("{p}.embedding_length"))?;
        let n_layer = md_usize(ct, &format!("{p}.block_count"))?;
        let head_dim = Self::head_dim(ct, p, hidden, n_head, n_kv_head)?;
        let vocab_size = match md_usize(ct, &format!("{p}.vocab_size")) {
            Ok(v) => v,
            Err(_) => md(ct, "tokenizer.ggml.tokens")?
                .to_vec()
                .map(|v| v.len())
                .unwrap_or(0),
        };
        let rope_theta = md_f32(ct, &format!("{p}.rope.freq_base")).unwrap_or(10_000.0);
        let (attn_scale, sliding) = match arch {
            Arch::Gemma3 => {
                // gemma_pytorch's query_pre_attn_scalar: hidden / heads for the 27B model
                // (62 layers), the head dimension for the others; as llama.cpp decides it.
                let scalar = if n_layer == 62 {
                    hidden / n_head
                } else {
                    head_dim
                };
                let sliding = SlidingWindow {
                    window: md_usize(ct, &format!("{p}.attention.sliding_window"))?,
                    pattern: 6,
                    rope_theta: 10_000.0,
                };
                (1.0 / (scalar as f32).sqrt(), Some(sliding))
            }
            _ => (1.0 / (head_dim as f32).sqrt(), None),
        };
        Ok(Self {
            arch,
            n_layer,
            n_head,
            n_kv_head,
            head_dim,
            hidden,
            vocab_size,
            context_len: md_usize(ct, &format!("{p}.context_length")).unwrap_or(2048),
            rope_theta,
            rms_eps: f64::from(
                md_f32(ct, &format!("{p}.attention.layer_norm_rms_epsilon")).unwrap_or(1e-5),
            ),
            rope_freq_scale: Self::rope_freq_scale(ct, p),
            attn_scale,
            sliding,
        })
    }

    /// The head dimension: `attention.key_length` when the file has it (Qwen3 and Gemma 3
    /// heads are wider than hidden / heads), else hidden / heads. RoPE must cover all of it.
    fn head_dim(
        ct: &gguf_file::Content,
        p: &str,
        hidden: usize,
        n_head: usize,
        n_kv_head: usize,
    ) -> Result<usize> {
        let key_length = md_usize(ct, &format!("{p}.attention.key_length")).ok();
        let bad_heads = n_head == 0 || n_kv_head == 0 || !n_head.is_multiple_of(n_kv_head);
        if bad_heads || (key_length.is_none() && !hidden.is_multiple_of(n_head)) {
            return Err(Error::Unsupported(format!(
                "inconsistent head counts: {n_head} heads, {n_kv_head} kv heads, hidden {hidden}"
            )));
        }
        let head_dim = key_length.unwrap_or(hidden / n_head);
        let value_length = md_usize(ct, &format!("{p}.attention.value_length")).unwrap_or(head_dim);
        let rope_dims = md_usize(ct, &format!("{p}.rope.dimension_count")).unwrap_or(head_dim);
        if value_length != head_dim || rope_dims != head_dim || !head_dim.is_multiple_of(2) {
            return Err(Error::Unsupported(format!(
                "head dimensions: key {head_dim}, value {value_length}, rotary {rope_dims}"
            )));
        }
        Ok(head_dim)
    }

    /// Linear RoPE scaling (`rope.scaling.type = linear`). Other kinds (YaRN) are not
    /// implemented: run unscaled, as before, with a warning. Llama 3's scaling comes as a
    /// tensor (`rope_freqs.weight`) instead.
    fn rope_freq_scale(ct: &gguf_file::Content, p: &str) -> f32 {
        let kind = ct
            .metadata
            .get(&format!("{p}.rope.scaling.type"))
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
            .unwrap_or("linear");
        let factor = md_f32(ct, &format!("{p}.rope.scaling.factor")).unwrap_or(0.0);
        match kind {
            "linear" if factor > 0.0 => 1.0 / factor,
            "none" | "linear" => 1.0,
            other => {
                tracing::warn!(
                    scaling = other,
                    "RoPE scaling not implemented; running unscaled"
                );
                1.0
            }
        }
    }
}

fn convert(q: QTensor, format: WeightFormat, device: &Device) -> Result<QTensor> {
    let slow = matches!(
        q.dtype(),
        GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1
    );
    let blocks_fit = q
        .shape()
        .dims()
        .last()
        .is_some_and(|k| k % GgmlDType::Q8_0.block_size() == 0);
    if format == WeightFormat::FastQ8 && slow && blocks_fit {
        let f = q.dequantize(device)?;
        Ok(QTensor::quantize(&f, GgmlDType::Q8_0)?)
    } else {
        Ok(q)
    }
}

/// A GGUF's tensors, read by name.
struct TensorFile<'a, R> {
    ct: &'a gguf_file::Content,
    reader: &'a mut R,
    device: &'a Device,
}

impl<R: std::io::Read + std::io::Seek> TensorFile<'_, R> {
    /// Whether the file has tensor `name`.
    fn has(&self, name: &str) -> bool {
        self.ct.tensor_infos.contains_key(name)
    }

    /// Tensor `name` as stored.
    fn tensor(&mut self, name: &str) -> Result<QTensor> {
        self.ct
            .tensor(self.reader, name, self.device)
            .map_err(|e| Error::Unsupported(format!("tensor `{name}`: {e}")))
    }

    /// `{name}.weight` and, when the file has one, `{name}.bias` (dequantized).
    fn with_bias(&mut self, name: &str) -> Result<(QTensor, Option<Tensor>)> {
        let w = self.tensor(&format!("{name}.weight"))?;
        let bias_name = format!("{name}.bias");
        let b = if self.has(&bias_name) {
            Some(self.tensor(&bias_name)?.dequantize(self.device)?)
        } else {
            None
        };
        Ok((w, b))
    }
}

impl Layer {
    /// Block `p` (`blk.N`) of the file, its weights in `format`.
    fn load<R: std::io::Read + std::io::Seek>(
        file: &mut TensorFile<'_, R>,
        p: &str,
        cfg: &ModelConfig,
        format: WeightFormat,
    ) -> Result<Self> {
        let device = file.device;
        let q = file.with_bias(&format!("{p}.attn_q"))?;
        let k = file.with_bias(&format!("{p}.attn_k"))?;
        let v = file.with_bias(&format!("{p}.attn_v"))?;
        let gate = file.with_bias(&format!("{p}.ffn_gate"))?;
        let up = file.with_bias(&format!("{p}.ffn_up"))?;
        let qkv = Projections::load(vec![q, k, v], format, device)?;
        let gate_up = Projections::load(vec![gate, up], format, device)?;
        let wo_weight = file.tensor(&format!("{p}.attn_output.weight"))?;
        let wo = Linear::load(wo_weight, None, format, device)?;
        let down_weight = file.tensor(&format!("{p}.ffn_down.weight"))?;
        let down = Linear::load(down_weight, None, format, device)?;
        let attn_norm = file.tensor(&format!("{p}.attn_norm.weight"))?;
        let ffn_norm = file.tensor(&format!("{p}.ffn_norm.weight"))?;
        Ok(Layer {
            attn_norm: RmsNorm::from_qtensor(attn_norm, cfg.rms_eps)?,
            qkv,
            wo,
            ffn_norm: RmsNorm::from_qtensor(ffn_norm, cfg.rms_eps)?,
            gate_up,
            down,
            norms: ArchNorms::load(&mut |name| file.tensor(name), p, cfg)?,
        })
    }
}

impl Transformer {
    /// Load weights of a GGUF whose metadata was read into `ct`.
    pub fn from_gguf<R: std::io::Read + std::io::Seek>(
        ct: &gguf_file::Content,
        reader: &mut R,
        cfg: ModelConfig,
        format: WeightFormat,
    ) -> Result<Self> {
        let device = Device::Cpu;
        let mut file = TensorFile {
            ct,
            reader,
            device: &device,
        };
        let embed = convert(file.tensor("token_embd.weight")?, format, &device)?;
        let embed = match kernel_matrix(&[&embed], format)? {
            Some(k) => Embedding::Kernel(Arc::new(k)),
            None => Embedding::Table(Arc::new(embed)),
        };
        let norm = RmsNorm::from_qtensor(file.tensor("output_norm.weight")?, cfg.rms_eps)?;
        let mut weight_bytes = embed.bytes();
        let output = if file.has("output.weight") {
            let o = Linear::load(file.tensor("output.weight")?, None, format, &device)?;
            weight_bytes += o.bytes();
            o
        } else {
            embed.tied_output()?
        };
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let layer = Layer::load(&mut file, &format!("blk.{i}"), &cfg, format)?;
            weight_bytes +=
                layer.qkv.bytes() + layer.gate_up.bytes() + layer.wo.bytes() + layer.down.bytes();
            layers.push(layer);
        }
        let factors = if file.has("rope_freqs.weight") {
            let f = file.tensor("rope_freqs.weight")?.dequantize(&device)?;
            Some(f.flatten_all()?.to_vec1::<f32>()?)
        } else {
            None
        };
        let rope = RopeFreqs::new(&cfg, factors.as_deref());
        Ok(Self {
            cfg,
            embed,
            layers,
            norm,
            output,
            rope,
            device,
            weight_bytes,
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Bytes the weights take in memory.
    pub fn weight_bytes(&self) -> usize {
        self.weight_bytes
    }

    /// An empty cache for a new conversation.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.cfg.n_layer, self.cfg.n_kv_head, self.cfg.head_dim)
    }

    /// Make `into` hold the keys and values of the first `len` tokens of `from` (copied, so
    /// each cache keeps its own rows). Exactly what running those tokens into `into` would
    /// write, since a token's keys and values depend only on the tokens before it and the
    /// kernels compute a row the same way whatever rows come with it.
    pub fn copy_prefix(&self, from: &KvCache, len: usize, into: &mut KvCache) -> Result<()> {
        into.copy_prefix(from, len, self.cfg.context_len)
    }

    /// RoPE tables of one kind of layer (`window`: local) for the rows of `spans`, one after
    /// the other.
    fn positions(
        &self,
        spans: &[Span],
        inv_freq: &[f32],
        window: Option<usize>,
    ) -> Result<Positions> {
        let mut cos = Vec::with_capacity(spans.len());
        let mut sin = Vec::with_capacity(spans.len());
        for s in spans {
            let (c, si) = self.rope_tables(s.start, s.seq, inv_freq)?;
            cos.push(c);
            sin.push(si);
        }
        Ok(Positions {
            cos: Tensor::cat(&cos, 0)?,
            sin: Tensor::cat(&sin, 0)?,
            window,
        })
    }

    fn rope_tables(&self, start: usize, seq: usize, inv_freq: &[f32]) -> Result<(Tensor, Tensor)> {
        let half = inv_freq.len();
        let mut cos = Vec::with_capacity(seq * half);
        let mut sin = Vec::with_capacity(seq * half);
        for pos in start..start + seq {
            for &f in inv_freq {
                // f64 for the angle: positions in the tens of thousands lose precision in f32.
                let a = pos as f64 * f64::from(f);
                cos.push(a.cos() as f32);
                sin.push(a.sin() as f32);
            }
        }
        Ok((
            Tensor::from_vec(cos, (seq, half), &self.device)?,
            Tensor::from_vec(sin, (seq, half), &self.device)?,
        ))
    }

    fn rope(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let x = x.contiguous()?;
        Ok(if self.cfg.arch.rotates_halves() {
            candle_nn::rotary_emb::rope(&x, cos, sin)?
        } else {
            candle_nn::rotary_emb::rope_i(&x, cos, sin)?
        })
    }

    /// Run `tokens` through the model after the tokens already in `cache`, append them to the
    /// cache, and return the logits (f32, `vocab_size`) for the next token.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let mut logits = self.forward_batch(&mut [StepInput { tokens, cache }])?;
        logits
            .pop()
            .ok_or_else(|| Error::InvalidRequest("forward with no tokens".into()))
    }

    /// Run several conversations' new tokens through the model in one pass: the rows of all
    /// segments go through every weight matrix together (one GEMM instead of one GEMV per
    /// conversation), attention stays per segment over its own cache. Returns each segment's
    /// next-token logits (f32, `vocab_size`). The kernels compute a row the same way whatever
    /// rows come with it, so a segment's logits are exactly those of running it alone.
    pub fn forward_batch(&self, segments: &mut [StepInput<'_>]) -> Result<Vec<Tensor>> {
        let mut ids = Vec::new();
        let mut spans = Vec::with_capacity(segments.len());
        for s in segments.iter_mut() {
            let (seq, start) = (s.tokens.len(), s.cache.len);
            if seq == 0 {
                return Err(Error::InvalidRequest("forward with no tokens".into()));
            }
            if start + seq > self.cfg.context_len {
                return Err(Error::ContextOverflow {
                    prompt: start + seq,
                    context: self.cfg.context_len,
                });
            }
            s.cache.reserve(start + seq, self.cfg.context_len);
            spans.push(Span {
                row: ids.len(),
                seq,
                start,
            });
            ids.extend_from_slice(s.tokens);
        }
        if spans.is_empty() {
            return Ok(Vec::new());
        }
        let ids = Tensor::new(ids.as_slice(), &self.device)?;
        let mut x = self.embed.embedding(&ids)?.unsqueeze(0)?;
        if self.cfg.arch == Arch::Gemma3 {
            x = (x * (self.cfg.hidden as f64).sqrt())?;
        }
        let x = self.layers_forward(x, segments, &spans)?;
        for (s, span) in segments.iter_mut().zip(&spans) {
            s.cache.len = span.start + span.seq;
        }
        let last = spans
            .iter()
            .map(|s| x.narrow(1, s.row + s.seq - 1, 1))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let last = self.norm.forward(&Tensor::cat(&last, 1)?)?;
        let logits = self
            .output
            .forward(&last)?
            .squeeze(0)?
            .to_dtype(DType::F32)?;
        (0..spans.len())
            .map(|i| Ok(logits.get(i)?))
            .collect::<Result<Vec<_>>>()
    }

    /// The layer stack over the rows of all segments.
    fn layers_forward(
        &self,
        mut x: Tensor,
        segments: &mut [StepInput<'_>],
        spans: &[Span],
    ) -> Result<Tensor> {
        let global = self.positions(spans, &self.rope.global, None)?;
        let local = match (&self.rope.local, self.cfg.sliding) {
            (Some(freqs), Some(s)) => Some(self.positions(spans, freqs, Some(s.window))?),
            _ => None,
        };
        for (i, layer) in self.layers.iter().enumerate() {
            let is_local = self.cfg.sliding.is_some_and(|s| s.is_local(i));
            let pos = local.as_ref().filter(|_| is_local).unwrap_or(&global);
            let h = layer.attn_norm.forward(&x)?;
            let a = self.attention(layer, &h, pos, segments, spans, i)?;
            let a = ArchNorms::apply(layer.norms.post_attn.as_ref(), a)?;
            x = (a + x)?;
            let h = layer.ffn_norm.forward(&x)?;
            let gu = layer.gate_up.forward(&h)?;
            let act = match self.cfg.arch {
                Arch::Gemma3 => gu[0].gelu()?,
                _ => candle_nn::ops::silu(&gu[0])?,
            };
            let m = layer.down.forward(&(act * &gu[1])?)?;
            let m = ArchNorms::apply(layer.norms.post_ffn.as_ref(), m)?;
            x = (m + x)?;
        }
        Ok(x)
    }

    /// Attention of layer `index` for the rows of all segments: projections and RoPE over all
    /// rows at once, then each segment against its own cache.
    fn attention(
        &self,
        layer: &Layer,
        h: &Tensor,
        pos: &Positions,
        segments: &mut [StepInput<'_>],
        spans: &[Span],
        index: usize,
    ) -> Result<Tensor> {
        let (_, rows, _) = h.dims3()?;
        let (nh, nkv, hd) = (self.cfg.n_head, self.cfg.n_kv_head, self.cfg.head_dim);
        let qkv = layer.qkv.forward(h)?;
        let q = qkv[0].reshape((1, rows, nh, hd))?;
        let q = ArchNorms::apply(layer.norms.q.as_ref(), q)?.transpose(1, 2)?;
        let k = qkv[1].reshape((1, rows, nkv, hd))?;
        let k = ArchNorms::apply(layer.norms.k.as_ref(), k)?.transpose(1, 2)?;
        let v = qkv[2]
            .reshape((1, rows, nkv, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let q = self.rope(&q, &pos.cos, &pos.sin)?;
        let k = self.rope(&k, &pos.cos, &pos.sin)?;
        let mut ys = Vec::with_capacity(spans.len());
        for (s, span) in segments.iter_mut().zip(spans) {
            let part = |t: &Tensor| -> Result<Tensor> {
                Ok(if spans.len() == 1 {
                    t.clone()
                } else {
                    t.narrow(2, span.row, span.seq)?
                })
            };
            let at = SpanAttention {
                span,
                window: pos.window,
            };
            ys.push(self.attend(&part(&q)?, &part(&k)?, &part(&v)?, &at, s.cache, index)?);
        }
        let y = if ys.len() == 1 {
            ys.remove(0)
        } else {
            Tensor::cat(&ys, 1)?
        };
        layer.wo.forward(&y)
    }

    /// Attention of one segment's rows (`q`: 1 × heads × seq × head_dim, RoPE applied) over
    /// its cache, after appending its keys and values; `1 × seq × (heads·head_dim)`.
    fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        at: &SpanAttention<'_>,
        cache: &mut KvCache,
        index: usize,
    ) -> Result<Tensor> {
        let (seq, start) = (at.span.seq, at.span.start);
        let flat = |t: &Tensor| -> Result<Vec<f32>> {
            Ok(t.contiguous()?.flatten_all()?.to_vec1::<f32>()?)
        };
        cache.append(index, (&flat(k)?, &flat(v)?), start, seq)?;
        // Every query row attends over the cache read in place, with the same arithmetic
        // whatever the chunk it came in (see `attention`): a prompt split anywhere (a cached
        // follow-up, a copied prompt start, other chunks) gives bit for bit the rows of
        // running it whole or token by token. (candle's matmul takes another summation path
        // below a size, so its rows depend on the chunk's length.)
        let mut q = flat(q)?;
        let attend = Attend {
            seq,
            start,
            group: self.cfg.n_head / self.cfg.n_kv_head,
            window: at.window,
            scale: self.cfg.attn_scale,
            threads: candle_core::utils::get_num_threads(),
        };
        let y = cache.attend(index, &mut q, &attend)?;
        Ok(Tensor::from_vec(
            y,
            (1, seq, self.cfg.n_head * self.cfg.head_dim),
            &self.device,
        )?)
    }
}

/// One conversation's part of [`Transformer::forward_batch`]: its new tokens, run after the
/// tokens already in its cache.
#[derive(Debug)]
pub struct StepInput<'a> {
    /// Tokens to run (a prompt chunk, or the one token just sampled).
    pub tokens: &'a [u32],
    /// The conversation's cache; the tokens are appended to it.
    pub cache: &'a mut KvCache,
}

/// Where a segment's rows sit in a batched forward.
struct Span {
    /// First row in the batch.
    row: usize,
    /// Rows (tokens) of the segment.
    seq: usize,
    /// Tokens already in the segment's cache.
    start: usize,
}

/// What one segment's attention needs besides its rows.
struct SpanAttention<'a> {
    span: &'a Span,
    window: Option<usize>,
}

/// RoPE tables of one kind of layer for the rows of one forward call.
struct Positions {
    cos: Tensor,
    sin: Tensor,
    /// Sliding window of local layers.
    window: Option<usize>,
}

/// Index of the largest logit.
pub fn argmax(logits: &Tensor) -> Result<u32> {
    Ok(logits.argmax(D::Minus1)?.to_scalar::<u32>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gguf_file::Value::{self, F32, U32};

    /// Metadata of a `hidden`-wide `arch` model with `heads`/`kv` heads and `layers` blocks,
    /// plus `extra` keys (without the architecture prefix).
    fn content(
        arch: &str,
        (hidden, heads, kv, layers): (u32, u32, u32, u32),
        extra: Vec<(&str, Value)>,
    ) -> gguf_file::Content {
        let p = |k: &str| format!("{arch}.{k}");
        let mut meta = vec![
            (p("embedding_length"), U32(hidden)),
            (p("attention.head_count"), U32(heads)),
            (p("attention.head_count_kv"), U32(kv)),
            (p("block_count"), U32(layers)),
            (p("vocab_size"), U32(100)),
        ];
        meta.extend(extra.into_iter().map(|(k, v)| (p(k), v)));
        let refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let mut buf = std::io::Cursor::new(Vec::new());
        gguf_file::write(&mut buf, &refs, &[]).expect("write");
        buf.set_position(0);
        gguf_file::Content::read(&mut buf).expect("read")
    }

    #[test]
    fn gemma3_config_has_wide_heads_a_window_and_five_local_layers_per_global_one() {
        let ct = content(
            "gemma3",
            (1152, 4, 1, 26),
            vec![
                ("attention.key_length", U32(256)),
                ("attention.value_length", U32(256)),
                ("attention.sliding_window", U32(512)),
                ("rope.freq_base", F32(1e6)),
                ("rope.scaling.type", Value::String("linear".into())),
                ("rope.scaling.factor", F32(8.0)),
            ],
        );
        let cfg = ModelConfig::from_gguf(&ct, Arch::Gemma3).expect("config");
        assert_eq!((cfg.head_dim, cfg.attn_scale), (256, 1.0 / 16.0));
        assert_eq!(cfg.rope_freq_scale, 0.125);
        let s = cfg.sliding.expect("sliding window");
        assert_eq!((s.window, s.rope_theta), (512, 10_000.0));
        let global: Vec<usize> = (0..26).filter(|&i| !s.is_local(i)).collect();
        assert_eq!(global, [5, 11, 17, 23]);
        // Local layers: base 10000 and no position scaling; global: the file's base, scaled.
        let rope = RopeFreqs::new(&cfg, None);
        let local = rope.local.expect("local frequencies");
        assert_eq!(
            (local[0], local[1]),
            (1.0, 1.0 / 10_000f32.powf(2.0 / 256.0))
        );
        assert_eq!(rope.global[0], 0.125);
    }

    #[test]
    fn gemma3_27b_scales_attention_by_hidden_over_heads() {
        let ct = content(
            "gemma3",
            (5376, 32, 16, 62),
            vec![
                ("attention.key_length", U32(128)),
                ("attention.sliding_window", U32(1024)),
            ],
        );
        let cfg = ModelConfig::from_gguf(&ct, Arch::Gemma3).expect("config");
        assert_eq!(cfg.head_dim, 128);
        assert_eq!(cfg.attn_scale, 1.0 / 168f32.sqrt());
    }

    #[test]
    fn qwen3_head_dim_comes_from_key_length() {
        let ct = content(
            "qwen3",
            (1024, 16, 8, 28),
            vec![
                ("attention.key_length", U32(128)),
                ("attention.value_length", U32(128)),
            ],
        );
        let cfg = ModelConfig::from_gguf(&ct, Arch::Qwen3).expect("config");
        assert_eq!((cfg.head_dim, cfg.sliding), (128, None));
        assert_eq!(cfg.attn_scale, 1.0 / 128f32.sqrt());
        assert!(cfg.arch.has_qk_norm() && cfg.arch.rotates_halves());
    }

    #[test]
    fn partial_rotary_embedding_is_refused() {
        let ct = content(
            "llama",
            (512, 8, 8, 2),
            vec![("rope.dimension_count", U32(32))],
        );
        let e = ModelConfig::from_gguf(&ct, Arch::Llama).expect_err("partial rotary");
        assert!(e.to_string().contains("rotary 32"), "{e}");
    }

    #[test]
    fn llama3_rope_factors_divide_the_frequencies() {
        let ct = content(
            "llama",
            (64, 4, 2, 2),
            vec![("rope.freq_base", F32(500_000.0))],
        );
        let cfg = ModelConfig::from_gguf(&ct, Arch::Llama).expect("config");
        let plain = RopeFreqs::new(&cfg, None).global;
        let factors: Vec<f32> = (0..8).map(|i| 1.0 + i as f32).collect();
        let scaled = RopeFreqs::new(&cfg, Some(&factors)).global;
        for i in 0..8 {
            assert_eq!(scaled[i], plain[i] / factors[i]);
        }
        assert!(!cfg.arch.rotates_halves() && !cfg.arch.has_qk_norm());
    }
}
