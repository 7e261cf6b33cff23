//! The decoder-only transformer (llama and qwen2 families) over quantized GGUF weights.
//!
//! Adapted from candle-transformers' `quantized_llama` (MIT OR Apache-2.0, Copyright the
//! Candle authors), changed so that the model is immutable and shared (`Arc`), and all
//! per-conversation state lives in an explicit [`KvCache`] the caller owns:
//! - positions come from the cache, never from the caller;
//! - RoPE angles are computed for the positions in use (no 4096-position table);
//! - the causal mask is built per call (no mask map that grows forever);
//! - grouped-query attention reshapes the queries instead of repeating keys and values.

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor, D};
use candle_transformers::quantized_nn::RmsNorm;
use std::sync::Arc;

use super::kernels::QuantMatrix;
use crate::{Error, Result};

/// The model families Parley runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Llama 2/3, SmolLM2, TinyLlama, Mistral-style models (`general.architecture = llama`).
    Llama,
    /// Qwen2 / Qwen2.5 (biases on q/k/v, NEOX rotary embedding).
    Qwen2,
}

impl Arch {
    /// Parse `general.architecture`.
    pub fn from_gguf(name: &str) -> Result<Self> {
        match name {
            "llama" => Ok(Arch::Llama),
            "qwen2" => Ok(Arch::Qwen2),
            other => Err(Error::Unsupported(format!(
                "architecture `{other}` (supported: llama, qwen2)"
            ))),
        }
    }

    /// The GGUF metadata prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
        }
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
    /// Weights run as the file stores them (repacked, never re-quantized): Q4_0, Q4_1, Q8_0,
    /// Q4_K, Q5_K, Q6_K, F32, F16 and BF16 on Parley's own batch-invariant kernels
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
}

/// The immutable model: weights and hyper-parameters. Share it with `Arc`; give each
/// conversation its own [`KvCache`].
pub struct Transformer {
    cfg: ModelConfig,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: Linear,
    inv_freq: Vec<f32>,
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
        if n_head == 0 || n_kv_head == 0 || n_head % n_kv_head != 0 || hidden % n_head != 0 {
            return Err(Error::Unsupported(format!(
                "inconsistent head counts: {n_head} heads, {n_kv_head} kv heads, hidden {hidden}"
            )));
        }
        let head_dim =
            md_usize(ct, &format!("{p}.rope.dimension_count")).unwrap_or(hidden / n_head);
        let vocab_size = match md_usize(ct, &format!("{p}.vocab_size")) {
            Ok(v) => v,
            Err(_) => md(ct, "tokenizer.ggml.tokens")?
                .to_vec()
                .map(|v| v.len())
                .unwrap_or(0),
        };
        Ok(Self {
            arch,
            n_layer: md_usize(ct, &format!("{p}.block_count"))?,
            n_head,
            n_kv_head,
            head_dim,
            hidden,
            vocab_size,
            context_len: md_usize(ct, &format!("{p}.context_length")).unwrap_or(2048),
            rope_theta: md_f32(ct, &format!("{p}.rope.freq_base")).unwrap_or(10_000.0),
            rms_eps: f64::from(
                md_f32(ct, &format!("{p}.attention.layer_norm_rms_epsilon")).unwrap_or(1e-5),
            ),
        })
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

impl Transformer {
    /// Load weights of a GGUF whose metadata was read into `ct`.
    pub fn from_gguf<R: std::io::Read + std::io::Seek>(
        ct: &gguf_file::Content,
        reader: &mut R,
        cfg: ModelConfig,
        format: WeightFormat,
    ) -> Result<Self> {
        let device = Device::Cpu;
        let raw = |reader: &mut R, name: &str| -> Result<QTensor> {
            ct.tensor(reader, name, &device)
                .map_err(|e| Error::Unsupported(format!("tensor `{name}`: {e}")))
        };
        let embed = convert(raw(reader, "token_embd.weight")?, format, &device)?;
        let embed = match kernel_matrix(&[&embed], format)? {
            Some(k) => Embedding::Kernel(Arc::new(k)),
            None => Embedding::Table(Arc::new(embed)),
        };
        let norm = RmsNorm::from_qtensor(raw(reader, "output_norm.weight")?, cfg.rms_eps)?;
        let mut weight_bytes = embed.bytes();
        let output = if ct.tensor_infos.contains_key("output.weight") {
            let o = Linear::load(raw(reader, "output.weight")?, None, format, &device)?;
            weight_bytes += o.bytes();
            o
        } else {
            embed.tied_output()?
        };
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let p = format!("blk.{i}");
            let with_bias = |reader: &mut R, name: &str| -> Result<(QTensor, Option<Tensor>)> {
                let w = raw(reader, &format!("{p}.{name}.weight"))?;
                let bias_name = format!("{p}.{name}.bias");
                let b = if ct.tensor_infos.contains_key(&bias_name) {
                    Some(raw(reader, &bias_name)?.dequantize(&device)?)
                } else {
                    None
                };
                Ok((w, b))
            };
            let q = with_bias(reader, "attn_q")?;
            let k = with_bias(reader, "attn_k")?;
            let v = with_bias(reader, "attn_v")?;
            let gate = with_bias(reader, "ffn_gate")?;
            let up = with_bias(reader, "ffn_up")?;
            let qkv = Projections::load(vec![q, k, v], format, &device)?;
            let gate_up = Projections::load(vec![gate, up], format, &device)?;
            let wo = Linear::load(
                raw(reader, &format!("{p}.attn_output.weight"))?,
                None,
                format,
                &device,
            )?;
            let down = Linear::load(
                raw(reader, &format!("{p}.ffn_down.weight"))?,
                None,
                format,
                &device,
            )?;
            weight_bytes += qkv.bytes() + gate_up.bytes() + wo.bytes() + down.bytes();
            layers.push(Layer {
                attn_norm: RmsNorm::from_qtensor(
                    raw(reader, &format!("{p}.attn_norm.weight"))?,
                    cfg.rms_eps,
                )?,
                qkv,
                wo,
                ffn_norm: RmsNorm::from_qtensor(
                    raw(reader, &format!("{p}.ffn_norm.weight"))?,
                    cfg.rms_eps,
                )?,
                gate_up,
                down,
            });
        }
        let inv_freq = (0..cfg.head_dim / 2)
            .map(|i| 1.0 / cfg.rope_theta.powf((2 * i) as f32 / cfg.head_dim as f32))
            .collect();
        Ok(Self {
            cfg,
            embed,
            layers,
            norm,
            output,
            inv_freq,
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
        KvCache {
            layers: (0..self.cfg.n_layer).map(|_| None).collect(),
            len: 0,
            cap: 0,
            row_elems: self.cfg.n_kv_head * self.cfg.head_dim,
        }
    }

    fn rope_tables(&self, start: usize, seq: usize) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(seq * half);
        let mut sin = Vec::with_capacity(seq * half);
        for pos in start..start + seq {
            for &f in &self.inv_freq {
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

    fn causal_mask(&self, start: usize, seq: usize) -> Result<Tensor> {
        let kv_len = start + seq;
        let mask: Vec<f32> = (0..seq)
            .flat_map(|i| {
                (0..kv_len).map(move |j| {
                    if j <= start + i {
                        0.0
                    } else {
                        f32::NEG_INFINITY
                    }
                })
            })
            .collect();
        Ok(Tensor::from_vec(mask, (seq, kv_len), &self.device)?)
    }

    fn rope(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let x = x.contiguous()?;
        Ok(match self.cfg.arch {
            Arch::Llama => candle_nn::rotary_emb::rope_i(&x, cos, sin)?,
            Arch::Qwen2 => candle_nn::rotary_emb::rope(&x, cos, sin)?,
        })
    }

    /// Run `tokens` through the model after the tokens already in `cache`, append them to the
    /// cache, and return the logits (f32, `vocab_size`) for the next token.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let seq = tokens.len();
        if seq == 0 {
            return Err(Error::InvalidRequest("forward with no tokens".into()));
        }
        let start = cache.len;
        if start + seq > self.cfg.context_len {
            return Err(Error::ContextOverflow {
                prompt: start + seq,
                context: self.cfg.context_len,
            });
        }
        cache.reserve(start + seq, self.cfg.context_len, &self.cfg, &self.device)?;
        let ids = Tensor::new(tokens, &self.device)?;
        let mut x = self.embed.embedding(&ids)?.unsqueeze(0)?;
        let (cos, sin) = self.rope_tables(start, seq)?;
        let mask = if seq > 1 {
            Some(self.causal_mask(start, seq)?)
        } else {
            None
        };
        for (i, layer) in self.layers.iter().enumerate() {
            let h = layer.attn_norm.forward(&x)?;
            let a = self.attention(layer, &h, &cos, &sin, mask.as_ref(), cache, i, start)?;
            x = (a + x)?;
            let h = layer.ffn_norm.forward(&x)?;
            let gu = layer.gate_up.forward(&h)?;
            let m = layer
                .down
                .forward(&(candle_nn::ops::silu(&gu[0])? * &gu[1])?)?;
            x = (m + x)?;
        }
        cache.len = start + seq;
        let last = x.narrow(1, seq - 1, 1)?;
        let last = self.norm.forward(&last)?;
        let logits = self.output.forward(&last)?;
        Ok(logits.flatten_all()?.to_dtype(DType::F32)?)
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        layer: &Layer,
        h: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
        cache: &mut KvCache,
        index: usize,
        start: usize,
    ) -> Result<Tensor> {
        let (_, seq, _) = h.dims3()?;
        let (nh, nkv, hd) = (self.cfg.n_head, self.cfg.n_kv_head, self.cfg.head_dim);
        let qkv = layer.qkv.forward(h)?;
        let q = qkv[0].reshape((1, seq, nh, hd))?.transpose(1, 2)?;
        let k = qkv[1].reshape((1, seq, nkv, hd))?.transpose(1, 2)?;
        let v = qkv[2]
            .reshape((1, seq, nkv, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let q = self.rope(&q, cos, sin)?;
        let k = self.rope(&k, cos, sin)?;
        let (kk, vv) = cache.append(index, &k, &v, start)?;

        // Grouped-query attention: query heads j*group..(j+1)*group share kv head j, so fold
        // the group into the query rows instead of repeating keys and values.
        let group = nh / nkv;
        let q = q.reshape((1, nkv, group * seq, hd))?;
        if seq == 1 {
            // Decode: one query row per head against the cache, read in place. candle's gemm
            // spends more time packing these tiny matrices than multiplying them.
            let y = decode_attention(&q, &kk, &vv, start + 1)?;
            return layer.wo.forward(&y.reshape((1, 1, nh * hd))?);
        }
        let scale = 1.0 / (hd as f64).sqrt();
        let att = (q.matmul(&kk.t()?)? * scale)?;
        let kv_len = start + seq;
        let att = match mask {
            Some(m) => att
                .reshape((1, nkv, group, seq, kv_len))?
                .broadcast_add(m)?
                .reshape((1, nkv, group * seq, kv_len))?,
            None => att,
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&vv)?;
        let y = y
            .reshape((1, nh, seq, hd))?
            .transpose(1, 2)?
            .reshape((1, seq, nh * hd))?;
        layer.wo.forward(&y)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent sums so the loop vectorises (float addition is not reassociated).
    let mut acc = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail = a.len() - a.len() % 8;
    let rest: f32 = a[tail..].iter().zip(&b[tail..]).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + rest
}

/// Attention of one query position (`q`: 1 × kv heads × group × head_dim) over the first
/// `len` cached positions of `kk`/`vv` (views of the cache buffers, read without copying).
fn decode_attention(q: &Tensor, kk: &Tensor, vv: &Tensor, len: usize) -> Result<Tensor> {
    let (_, nkv, group, hd) = q.dims4()?;
    let qv = q.flatten_all()?.to_vec1::<f32>()?;
    let (ks, kl) = kk.storage_and_layout();
    let (vs, vl) = vv.storage_and_layout();
    let (candle_core::Storage::Cpu(kc), candle_core::Storage::Cpu(vc)) = (&*ks, &*vs) else {
        return Err(Error::Unsupported(
            "decode attention runs on the CPU only".into(),
        ));
    };
    let (kd, vd) = (kc.as_slice::<f32>()?, vc.as_slice::<f32>()?);
    let (ko, kst) = (kl.start_offset(), kl.stride());
    let (vo, vst) = (vl.start_offset(), vl.stride());
    if kst[3] != 1 || vst[3] != 1 {
        return Err(Error::Unsupported("cache rows must be contiguous".into()));
    }
    let scale = 1.0 / (hd as f32).sqrt();
    let mut out = vec![0f32; nkv * group * hd];
    let mut scores = vec![0f32; len];
    for j in 0..nkv {
        for g in 0..group {
            let row = (j * group + g) * hd;
            let qrow = &qv[row..row + hd];
            let mut max = f32::NEG_INFINITY;
            for (t, s) in scores.iter_mut().enumerate() {
                let at = ko + j * kst[1] + t * kst[2];
                *s = dot(qrow, &kd[at..at + hd]) * scale;
                max = max.max(*s);
            }
            let mut sum = 0f32;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            let o = &mut out[row..row + hd];
            for (t, s) in scores.iter().enumerate() {
                let p = s / sum;
                let at = vo + j * vst[1] + t * vst[2];
                for (o, v) in o.iter_mut().zip(&vd[at..at + hd]) {
                    *o += p * v;
                }
            }
        }
    }
    Ok(Tensor::from_vec(out, (1, nkv * group, 1, hd), q.device())?)
}

/// Keys and values of one conversation, for every layer.
///
/// Grows in place (amortised doubling up to the context length); [`KvCache::truncate`] rolls
/// back to a shorter prefix (retry); [`Clone`] makes an independent deep copy.
#[derive(Debug)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
    cap: usize,
    row_elems: usize,
}

impl Clone for KvCache {
    fn clone(&self) -> Self {
        // Tensors share storage on clone and the buffers are written in place, so copy them.
        let layers = self
            .layers
            .iter()
            .map(|l| {
                l.as_ref().and_then(|(k, v)| match (k.copy(), v.copy()) {
                    (Ok(k), Ok(v)) => Some((k, v)),
                    _ => None,
                })
            })
            .collect::<Vec<_>>();
        let complete = layers.iter().all(|l| l.is_some());
        Self {
            layers: if complete {
                layers
            } else {
                (0..self.layers.len()).map(|_| None).collect()
            },
            len: if complete { self.len } else { 0 },
            cap: if complete { self.cap } else { 0 },
            row_elems: self.row_elems,
        }
    }
}

impl KvCache {
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
        self.layers.len() * 2 * self.cap * self.row_elems * std::mem::size_of::<f32>()
    }

    fn reserve(
        &mut self,
        needed: usize,
        max: usize,
        cfg: &ModelConfig,
        dev: &Device,
    ) -> Result<()> {
        if needed <= self.cap {
            return Ok(());
        }
        let new_cap = (self.cap * 2).max(needed).max(256).min(max.max(needed));
        for slot in self.layers.iter_mut() {
            let k = Tensor::zeros((1, cfg.n_kv_head, new_cap, cfg.head_dim), DType::F32, dev)?;
            let v = Tensor::zeros((1, cfg.n_kv_head, new_cap, cfg.head_dim), DType::F32, dev)?;
            if let Some((ok, ov)) = slot.as_ref() {
                if self.len > 0 {
                    k.slice_set(&ok.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                    v.slice_set(&ov.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                }
            }
            *slot = Some((k, v));
        }
        self.cap = new_cap;
        Ok(())
    }

    fn append(
        &mut self,
        layer: usize,
        k: &Tensor,
        v: &Tensor,
        start: usize,
    ) -> Result<(Tensor, Tensor)> {
        let seq = k.dim(2)?;
        let (kb, vb) = self.layers[layer]
            .as_ref()
            .ok_or_else(|| Error::InvalidRequest("cache not reserved".into()))?;
        kb.slice_set(&k.contiguous()?, 2, start)?;
        vb.slice_set(&v.contiguous()?, 2, start)?;
        Ok((kb.narrow(2, 0, start + seq)?, vb.narrow(2, 0, start + seq)?))
    }
}

/// Index of the largest logit.
pub fn argmax(logits: &Tensor) -> Result<u32> {
    Ok(logits.argmax(D::Minus1)?.to_scalar::<u32>()?)
}
