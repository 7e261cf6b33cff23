//! Tiny random-weight GGUF files, written by the test, one per supported architecture: they
//! load with the shapes their metadata says, run, a cached continuation equals a batch
//! re-prefill, and one token's logits equal a plain re-computation of the family's block
//! (norms, embedding scale, activation). core/tests/llamacpp_logits.rs checks the whole
//! network against llama.cpp. The weights come from a seeded generator, so an exact-argmax
//! check that passes once passes every time.

mod util;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::GgmlDType;
use candle_core::Device;
use parley_core::engine::local::model::transformer::argmax;
use parley_core::engine::local::model::{Model, WeightFormat};
use parley_core::engine::{ChatMessage, Role};
use util::tiny::*;

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
