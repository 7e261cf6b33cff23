//! Tiny random-weight GGUF files for tests: [`write_tiny`] writes one of a supported
//! architecture (llama, qwen2, qwen3, gemma3) with seeded weights, so a check that passes once
//! passes every time. Used by tiny_models.rs (architectures) and hub.rs (a model to pull).

use std::cell::RefCell;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use super::Rng;

thread_local! {
    /// The weights' generator; [`write_tiny`] seeds it from the architecture's name.
    pub static RNG: RefCell<Rng> = const { RefCell::new(Rng(1)) };
}

pub const HIDDEN: usize = 64;
pub const FFN: usize = 128;
pub const HEADS: u32 = 4;
pub const KV_HEADS: u32 = 2;
pub const LAYERS: usize = 2;
/// Head dimension of qwen3 and gemma3 files: wider than HIDDEN / HEADS, as in the real ones.
pub const WIDE_HEAD: usize = 32;
/// Gemma 3's pattern has five local layers before a global one.
pub const GEMMA_LAYERS: usize = 6;
/// Gemma 3's sliding window here: shorter than the test prompts, so it cuts.
pub const WINDOW: u32 = 8;

pub fn head_dim(arch: &str) -> usize {
    match arch {
        "qwen3" | "gemma3" => WIDE_HEAD,
        _ => HIDDEN / HEADS as usize,
    }
}

pub fn layers(arch: &str) -> usize {
    if arch == "gemma3" {
        GEMMA_LAYERS
    } else {
        LAYERS
    }
}

/// GPT-2's byte-to-character table: every byte gets a printable character.
pub fn byte_tokens() -> Vec<String> {
    let mut bytes: Vec<u32> = (33..=126).chain(161..=172).chain(174..=255).collect();
    let mut chars = bytes.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bytes.contains(&b) {
            bytes.push(b);
            chars.push(256 + n);
            n += 1;
        }
    }
    let mut pairs: Vec<(u32, u32)> = bytes.into_iter().zip(chars).collect();
    pairs.sort();
    pairs
        .into_iter()
        .map(|(_, c)| char::from_u32(c).expect("char").to_string())
        .collect()
}

pub fn q(t: Tensor, dtype: GgmlDType) -> QTensor {
    QTensor::quantize(&t, dtype).expect("quantize")
}

/// Normal weights with standard deviation `scale`, from the seeded generator.
pub fn randn(shape: &[usize], scale: f64) -> Tensor {
    let n = shape.iter().product();
    let values: Vec<f32> =
        RNG.with_borrow_mut(|rng| (0..n).map(|_| (rng.normal() * scale) as f32).collect());
    Tensor::from_vec(values, shape, &Device::Cpu).expect("tensor")
}

pub fn ones(n: usize) -> QTensor {
    q(
        Tensor::ones(n, candle_core::DType::F32, &Device::Cpu).expect("ones"),
        GgmlDType::F32,
    )
}

/// Norm weights around 1, different per element, so a norm applied wrongly shows.
pub fn norm_weights(n: usize) -> QTensor {
    q((randn(&[n], 0.2) + 1.0).expect("shift"), GgmlDType::F32)
}

pub fn write_tiny(arch: &str, path: &std::path::Path, dtype: GgmlDType) {
    let seed = arch.bytes().fold(0x7157_0000_0000_0001_u64, |h, b| {
        h.rotate_left(8) ^ u64::from(b)
    });
    RNG.set(Rng(seed));
    let mut tokens = byte_tokens();
    let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
    tokens.extend(specials.iter().map(|s| s.to_string()));
    let meta = metadata(arch, &tokens);
    let tensors = tensors(arch, tokens.len(), dtype);
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(path).expect("create");
    gguf_file::write(&mut f, &meta_refs, &tensor_refs).expect("write gguf");
}

/// The metadata a real file of `arch` carries, with a byte-level GPT-2 vocabulary `tokens`.
fn metadata(arch: &str, tokens: &[String]) -> Vec<(String, Value)> {
    let vocab = tokens.len();
    let types: Vec<Value> = (0..vocab)
        .map(|i| Value::I32(if i >= 256 { 3 } else { 1 }))
        .collect();
    let p = |k: &str| format!("{arch}.{k}");
    let hd = head_dim(arch);
    let mut meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        ("general.name".into(), Value::String(format!("tiny-{arch}"))),
        (p("block_count"), Value::U32(layers(arch) as u32)),
        (p("context_length"), Value::U32(256)),
        (p("embedding_length"), Value::U32(HIDDEN as u32)),
        (p("feed_forward_length"), Value::U32(FFN as u32)),
        (p("attention.head_count"), Value::U32(HEADS)),
        (p("attention.head_count_kv"), Value::U32(KV_HEADS)),
        (p("rope.dimension_count"), Value::U32(hd as u32)),
        (p("rope.freq_base"), Value::F32(10000.0)),
        (p("attention.layer_norm_rms_epsilon"), Value::F32(1e-6)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        (
            "tokenizer.ggml.pre".into(),
            Value::String(if arch == "qwen2" { "qwen2" } else { "smollm" }.into()),
        ),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(tokens.iter().map(|t| Value::String(t.clone())).collect()),
        ),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        ("tokenizer.ggml.merges".into(), Value::Array(vec![])),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(258)),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(256)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
    ];
    if hd != HIDDEN / HEADS as usize {
        meta.push((p("attention.key_length"), Value::U32(hd as u32)));
        meta.push((p("attention.value_length"), Value::U32(hd as u32)));
    }
    if arch == "gemma3" {
        meta.push((p("attention.sliding_window"), Value::U32(WINDOW)));
    }
    meta
}

/// Every weight of a tiny `arch` model, drawn from [`RNG`] in a fixed order.
fn tensors(arch: &str, vocab: usize, dtype: GgmlDType) -> Vec<(String, QTensor)> {
    let hd = head_dim(arch);
    let mut tensors: Vec<(String, QTensor)> = vec![
        (
            "token_embd.weight".into(),
            // Q8_0 as in quantized files; F32 when the weights are, so logits can be exact.
            q(
                randn(&[vocab, HIDDEN], 1.0),
                if dtype == GgmlDType::F32 {
                    dtype
                } else {
                    GgmlDType::Q8_0
                },
            ),
        ),
        ("output_norm.weight".into(), ones(HIDDEN)),
    ];
    for i in 0..layers(arch) {
        layer_tensors(arch, i, dtype, &mut tensors);
    }
    if arch == "llama" {
        // Llama files may carry their own output matrix; the others here tie it to the
        // embedding.
        tensors.push((
            "output.weight".into(),
            q(randn(&[vocab, HIDDEN], 0.5), dtype),
        ));
        // Llama 3.x's RoPE frequency factors.
        let factors: Vec<f32> = (0..hd / 2).map(|i| 1.0 + i as f32).collect();
        tensors.push((
            "rope_freqs.weight".into(),
            q(
                Tensor::new(factors.as_slice(), &Device::Cpu).expect("factors"),
                GgmlDType::F32,
            ),
        ));
    }
    tensors
}

/// The weights of layer `i`, appended to `tensors`.
fn layer_tensors(arch: &str, i: usize, dtype: GgmlDType, tensors: &mut Vec<(String, QTensor)>) {
    let hd = head_dim(arch);
    let (qd, kv) = (hd * HEADS as usize, hd * KV_HEADS as usize);
    let b = |n: &str| format!("blk.{i}.{n}");
    let w = |rows: usize, cols: usize| q(randn(&[rows, cols], 0.2), dtype);
    tensors.push((b("attn_norm.weight"), norm_weights(HIDDEN)));
    tensors.push((b("ffn_norm.weight"), norm_weights(HIDDEN)));
    tensors.push((b("attn_q.weight"), w(qd, HIDDEN)));
    tensors.push((b("attn_k.weight"), w(kv, HIDDEN)));
    tensors.push((b("attn_v.weight"), w(kv, HIDDEN)));
    tensors.push((b("attn_output.weight"), w(HIDDEN, qd)));
    tensors.push((b("ffn_gate.weight"), w(FFN, HIDDEN)));
    tensors.push((b("ffn_up.weight"), w(FFN, HIDDEN)));
    tensors.push((b("ffn_down.weight"), w(HIDDEN, FFN)));
    if arch == "qwen2" {
        tensors.push((b("attn_q.bias"), q(randn(&[HIDDEN], 0.1), GgmlDType::F32)));
        tensors.push((b("attn_k.bias"), q(randn(&[kv], 0.1), GgmlDType::F32)));
        tensors.push((b("attn_v.bias"), q(randn(&[kv], 0.1), GgmlDType::F32)));
    }
    if arch == "qwen3" || arch == "gemma3" {
        tensors.push((b("attn_q_norm.weight"), norm_weights(hd)));
        tensors.push((b("attn_k_norm.weight"), norm_weights(hd)));
    }
    if arch == "gemma3" {
        tensors.push((b("post_attention_norm.weight"), norm_weights(HIDDEN)));
        tensors.push((b("post_ffw_norm.weight"), norm_weights(HIDDEN)));
    }
}
