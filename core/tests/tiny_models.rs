//! Tiny random-weight GGUF files, written by the test, one per supported architecture: they
//! load with the shapes their metadata says, run, a cached continuation equals a batch
//! re-prefill, and one token's logits equal a plain re-computation of the family's block
//! (norms, embedding scale, activation). core/tests/llamacpp_logits.rs checks the whole
//! network against llama.cpp. The weights come from a seeded generator, so an exact-argmax
//! check that passes once passes every time.

mod util;

use std::cell::RefCell;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use parley_core::engine::local::model::transformer::argmax;
use parley_core::engine::local::model::{Model, WeightFormat};
use parley_core::engine::{ChatMessage, Role};
use util::Rng;

thread_local! {
    /// The weights' generator; [`write_tiny`] seeds it from the architecture's name.
    static RNG: RefCell<Rng> = const { RefCell::new(Rng(1)) };
}

const HIDDEN: usize = 64;
const FFN: usize = 128;
const HEADS: u32 = 4;
const KV_HEADS: u32 = 2;
const LAYERS: usize = 2;
/// Head dimension of qwen3 and gemma3 files: wider than HIDDEN / HEADS, as in the real ones.
const WIDE_HEAD: usize = 32;
/// Gemma 3's pattern has five local layers before a global one.
const GEMMA_LAYERS: usize = 6;
/// Gemma 3's sliding window here: shorter than the test prompts, so it cuts.
const WINDOW: u32 = 8;

fn head_dim(arch: &str) -> usize {
    match arch {
        "qwen3" | "gemma3" => WIDE_HEAD,
        _ => HIDDEN / HEADS as usize,
    }
}

fn layers(arch: &str) -> usize {
    if arch == "gemma3" {
        GEMMA_LAYERS
    } else {
        LAYERS
    }
}

/// GPT-2's byte-to-character table: every byte gets a printable character.
fn byte_tokens() -> Vec<String> {
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

fn q(t: Tensor, dtype: GgmlDType) -> QTensor {
    QTensor::quantize(&t, dtype).expect("quantize")
}

/// Normal weights with standard deviation `scale`, from the seeded generator.
fn randn(shape: &[usize], scale: f64) -> Tensor {
    let n = shape.iter().product();
    let values: Vec<f32> =
        RNG.with_borrow_mut(|rng| (0..n).map(|_| (rng.normal() * scale) as f32).collect());
    Tensor::from_vec(values, shape, &Device::Cpu).expect("tensor")
}

fn ones(n: usize) -> QTensor {
    q(
        Tensor::ones(n, candle_core::DType::F32, &Device::Cpu).expect("ones"),
        GgmlDType::F32,
    )
}

/// Norm weights around 1, different per element, so a norm applied wrongly shows.
fn norm_weights(n: usize) -> QTensor {
    q((randn(&[n], 0.2) + 1.0).expect("shift"), GgmlDType::F32)
}

fn write_tiny(arch: &str, path: &std::path::Path, dtype: GgmlDType) {
    let seed = arch.bytes().fold(0x7157_0000_0000_0001_u64, |h, b| {
        h.rotate_left(8) ^ u64::from(b)
    });
    RNG.set(Rng(seed));
    let mut tokens = byte_tokens();
    let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
    tokens.extend(specials.iter().map(|s| s.to_string()));
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
    let (qd, kv) = (hd * HEADS as usize, hd * KV_HEADS as usize);
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
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(path).expect("create");
    gguf_file::write(&mut f, &meta_refs, &tensor_refs).expect("write gguf");
}

fn check(arch: &str, format: WeightFormat) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join(format!("tiny-{arch}.gguf"));
    write_tiny(arch, &path, GgmlDType::Q4_1);
    let again = dir.path().join(format!("tiny-{arch}-again.gguf"));
    write_tiny(arch, &again, GgmlDType::Q4_1);
    assert!(
        std::fs::read(&path).expect("read") == std::fs::read(&again).expect("read"),
        "the weights are seeded: the same file every time"
    );
    let m = Model::load(&path, format).expect("load tiny model");
    let cfg = m.transformer.config();
    assert_eq!(cfg.arch.as_str(), arch);
    assert_eq!(cfg.n_layer, layers(arch));
    assert_eq!(cfg.head_dim, head_dim(arch));
    assert_eq!(
        cfg.sliding.map(|s| s.window),
        (arch == "gemma3").then_some(8)
    );
    let prompt = m
        .encode_chat(&[ChatMessage::new(Role::User, "hello tiny model")])
        .expect("encode");
    assert!(
        prompt.len() > WINDOW as usize + 2,
        "the window must cut the prompt"
    );
    assert_eq!(
        m.tokenizer
            .decode(&prompt)
            .expect("decode")
            .matches("hello tiny model")
            .count(),
        1
    );
    let tf = &m.transformer;
    let mut cache = tf.new_cache();
    let mut logits = tf.forward(&prompt, &mut cache).expect("prefill");
    assert_eq!(
        logits.dims1().expect("1d"),
        m.transformer.config().vocab_size
    );
    let values = logits.to_vec1::<f32>().expect("vec");
    assert!(values.iter().all(|v| v.is_finite()));
    let mut generated = Vec::new();
    for _ in 0..12 {
        let next = argmax(&logits).expect("argmax");
        generated.push(next);
        logits = tf.forward(&[next], &mut cache).expect("decode");
    }
    let mut fresh = tf.new_cache();
    let mut all = prompt.clone();
    all.extend_from_slice(&generated[..11]);
    let batch = tf.forward(&all, &mut fresh).expect("reprefill");
    assert_eq!(
        argmax(&batch).expect("argmax"),
        generated[11],
        "{arch} {format:?}"
    );
}

#[test]
fn tiny_llama_loads_runs_and_caches_consistently() {
    check("llama", WeightFormat::Native);
    check("llama", WeightFormat::FastQ8);
    check("llama", WeightFormat::Kernels);
}

#[test]
fn tiny_qwen2_loads_runs_and_caches_consistently() {
    check("qwen2", WeightFormat::Native);
    check("qwen2", WeightFormat::FastQ8);
    check("qwen2", WeightFormat::Kernels);
}

#[test]
fn tiny_qwen3_loads_runs_and_caches_consistently() {
    check("qwen3", WeightFormat::Native);
    check("qwen3", WeightFormat::FastQ8);
    check("qwen3", WeightFormat::Kernels);
}

#[test]
fn tiny_gemma3_loads_runs_and_caches_consistently() {
    check("gemma3", WeightFormat::Native);
    check("gemma3", WeightFormat::FastQ8);
    check("gemma3", WeightFormat::Kernels);
}

fn tensor(ct: &gguf_file::Content, f: &mut std::fs::File, name: &str) -> Vec<f32> {
    let t = ct.tensor(f, name, &Device::Cpu).expect(name);
    let t = t.dequantize(&Device::Cpu).expect("dequantize");
    t.flatten_all().expect("flat").to_vec1().expect("vec")
}

fn rms_norm(x: &[f32], w: &[f32]) -> Vec<f32> {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let r = 1.0 / (ms + 1e-6).sqrt();
    x.iter().zip(w).map(|(v, w)| v * r * w).collect()
}

fn matvec(w: &[f32], x: &[f32]) -> Vec<f32> {
    w.chunks(x.len())
        .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
        .collect()
}

fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
}

fn gelu_tanh(x: f32) -> f32 {
    0.5 * x * (1.0 + ((2.0 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
}

/// Logits of one token at position 0, computed from the file's tensors with plain loops. With
/// one position RoPE is the identity and attention returns the value vector, so this pins
/// what each family puts around attention: norms, embedding scale, activation, head grouping.
fn one_token_reference(arch: &str, path: &std::path::Path, token: usize) -> Vec<f32> {
    let mut f = std::fs::File::open(path).expect("open");
    let ct = gguf_file::Content::read(&mut f).expect("read");
    let mut t = |name: &str| tensor(&ct, &mut f, name);
    let gemma = arch == "gemma3";
    let embed = t("token_embd.weight");
    let mut x = embed[token * HIDDEN..(token + 1) * HIDDEN].to_vec();
    if gemma {
        x.iter_mut().for_each(|v| *v *= (HIDDEN as f32).sqrt());
    }
    let (hd, group) = (head_dim(arch), (HEADS / KV_HEADS) as usize);
    for i in 0..layers(arch) {
        let b = |n: &str| format!("blk.{i}.{n}");
        let h = rms_norm(&x, &t(&b("attn_norm.weight")));
        let mut v = matvec(&t(&b("attn_v.weight")), &h);
        if arch == "qwen2" {
            add(&mut v, &t(&b("attn_v.bias")));
        }
        let heads: Vec<f32> = (0..HEADS as usize)
            .flat_map(|j| v[j / group * hd..(j / group + 1) * hd].to_vec())
            .collect();
        let mut a = matvec(&t(&b("attn_output.weight")), &heads);
        if gemma {
            a = rms_norm(&a, &t(&b("post_attention_norm.weight")));
        }
        add(&mut x, &a);
        let h = rms_norm(&x, &t(&b("ffn_norm.weight")));
        let gate = matvec(&t(&b("ffn_gate.weight")), &h);
        let up = matvec(&t(&b("ffn_up.weight")), &h);
        let act: Vec<f32> = gate
            .iter()
            .zip(&up)
            .map(|(g, u)| {
                u * if gemma {
                    gelu_tanh(*g)
                } else {
                    g / (1.0 + (-g).exp())
                }
            })
            .collect();
        let mut m = matvec(&t(&b("ffn_down.weight")), &act);
        if gemma {
            m = rms_norm(&m, &t(&b("post_ffw_norm.weight")));
        }
        add(&mut x, &m);
    }
    let h = rms_norm(&x, &t("output_norm.weight"));
    let out = if ct.tensor_infos.contains_key("output.weight") {
        t("output.weight")
    } else {
        embed
    };
    matvec(&out, &h)
}

#[test]
fn one_token_logits_match_a_plain_computation_for_every_family() {
    for arch in ["llama", "qwen2", "qwen3", "gemma3"] {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join(format!("tiny-{arch}.gguf"));
        write_tiny(arch, &path, GgmlDType::F32);
        let m = Model::load(&path, WeightFormat::Native).expect("load tiny model");
        let token = 72; // a byte token
        let logits = m
            .transformer
            .forward(&[token], &mut m.transformer.new_cache())
            .expect("forward");
        let got: Vec<f32> = logits.to_vec1().expect("vec");
        let want = one_token_reference(arch, &path, token as usize);
        assert_eq!(got.len(), want.len(), "{arch}");
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (g - w).abs() / w.abs().max(1.0))
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{arch}: relative difference {worst}");
    }
}

#[test]
fn unsupported_architecture_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("gpt.gguf");
    let arch = Value::String("gptneox".into());
    let mut f = std::fs::File::create(&path).expect("create");
    gguf_file::write(&mut f, &[("general.architecture", &arch)], &[]).expect("write");
    let e = Model::load(&path, WeightFormat::Native).expect_err("unsupported");
    assert!(e.to_string().contains("gptneox"), "{e}");
}
