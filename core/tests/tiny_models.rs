//! Tiny random-weight GGUF files, written by the test, one per supported architecture: they
//! load, run, and a cached continuation equals a batch re-prefill. The weights come from a
//! seeded generator, so an exact-argmax check that passes once passes every time.

mod util;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use parley_core::engine::{ChatMessage, Role};
use parley_core::model::transformer::argmax;
use parley_core::model::{Model, WeightFormat};
use util::Rng;

const HIDDEN: usize = 64;
const FFN: usize = 128;
const HEADS: u32 = 4;
const KV_HEADS: u32 = 2;
const LAYERS: usize = 2;

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

/// Normal weights with standard deviation `scale`, from the seeded `rng`.
fn randn(rng: &mut Rng, shape: &[usize], scale: f64) -> Tensor {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| (rng.normal() * scale) as f32).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).expect("tensor")
}

fn write_tiny(arch: &str, path: &std::path::Path) {
    let mut rng = Rng(arch.bytes().fold(0x7157_0000_0000_0001, |h, b| {
        h.rotate_left(8) ^ u64::from(b)
    }));
    let mut tokens = byte_tokens();
    let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
    tokens.extend(specials.iter().map(|s| s.to_string()));
    let vocab = tokens.len();
    let types: Vec<Value> = (0..vocab)
        .map(|i| Value::I32(if i >= 256 { 3 } else { 1 }))
        .collect();
    let p = |k: &str| format!("{arch}.{k}");
    let meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        ("general.name".into(), Value::String(format!("tiny-{arch}"))),
        (p("block_count"), Value::U32(LAYERS as u32)),
        (p("context_length"), Value::U32(256)),
        (p("embedding_length"), Value::U32(HIDDEN as u32)),
        (p("feed_forward_length"), Value::U32(FFN as u32)),
        (p("attention.head_count"), Value::U32(HEADS)),
        (p("attention.head_count_kv"), Value::U32(KV_HEADS)),
        (p("rope.dimension_count"), Value::U32(HIDDEN as u32 / HEADS)),
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
    let kv = HIDDEN / HEADS as usize * KV_HEADS as usize;
    let mut tensors: Vec<(String, QTensor)> = vec![
        (
            "token_embd.weight".into(),
            q(randn(&mut rng, &[vocab, HIDDEN], 1.0), GgmlDType::Q8_0),
        ),
        (
            "output_norm.weight".into(),
            q(
                Tensor::ones(HIDDEN, candle_core::DType::F32, &Device::Cpu).expect("ones"),
                GgmlDType::F32,
            ),
        ),
    ];
    for i in 0..LAYERS {
        let b = |n: &str| format!("blk.{i}.{n}");
        let mut w =
            |rows: usize, cols: usize| q(randn(&mut rng, &[rows, cols], 0.2), GgmlDType::Q4_1);
        let ones = || {
            q(
                Tensor::ones(HIDDEN, candle_core::DType::F32, &Device::Cpu).expect("ones"),
                GgmlDType::F32,
            )
        };
        tensors.push((b("attn_norm.weight"), ones()));
        tensors.push((b("ffn_norm.weight"), ones()));
        tensors.push((b("attn_q.weight"), w(HIDDEN, HIDDEN)));
        tensors.push((b("attn_k.weight"), w(kv, HIDDEN)));
        tensors.push((b("attn_v.weight"), w(kv, HIDDEN)));
        tensors.push((b("attn_output.weight"), w(HIDDEN, HIDDEN)));
        tensors.push((b("ffn_gate.weight"), w(FFN, HIDDEN)));
        tensors.push((b("ffn_up.weight"), w(FFN, HIDDEN)));
        tensors.push((b("ffn_down.weight"), w(HIDDEN, FFN)));
        if arch == "qwen2" {
            tensors.push((
                b("attn_q.bias"),
                q(randn(&mut rng, &[HIDDEN], 0.1), GgmlDType::F32),
            ));
            tensors.push((
                b("attn_k.bias"),
                q(randn(&mut rng, &[kv], 0.1), GgmlDType::F32),
            ));
            tensors.push((
                b("attn_v.bias"),
                q(randn(&mut rng, &[kv], 0.1), GgmlDType::F32),
            ));
        }
    }
    if arch == "llama" {
        // Llama files may carry their own output matrix; qwen2 here ties it to the embedding.
        tensors.push((
            "output.weight".into(),
            q(randn(&mut rng, &[vocab, HIDDEN], 0.5), GgmlDType::Q4_1),
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
    write_tiny(arch, &path);
    let again = dir.path().join(format!("tiny-{arch}-again.gguf"));
    write_tiny(arch, &again);
    assert!(
        std::fs::read(&path).expect("read") == std::fs::read(&again).expect("read"),
        "the weights are seeded: the same file every time"
    );
    let m = Model::load(&path, format).expect("load tiny model");
    assert_eq!(m.transformer.config().n_layer, LAYERS);
    let prompt = m
        .encode_chat(&[ChatMessage::new(Role::User, "hello tiny model")])
        .expect("encode");
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
fn unsupported_architecture_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("gpt.gguf");
    let arch = Value::String("gptneox".into());
    let mut f = std::fs::File::create(&path).expect("create");
    gguf_file::write(&mut f, &[("general.architecture", &arch)], &[]).expect("write");
    let e = Model::load(&path, WeightFormat::Native).expect_err("unsupported");
    assert!(e.to_string().contains("gptneox"), "{e}");
}
