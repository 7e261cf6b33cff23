//! Model files are a stranger's input (anyone can upload to the Hub, and a `[[models]]` entry
//! loads when a user types `/model NAME`): a hostile file gets a typed error naming what is
//! wrong, never a panic, an abort on allocation or a hang. Named cases from issue 25, then a
//! property test that mutates a tiny GGUF thousands of times.

mod util;

use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;
use parley_core::engine::local::model::{Model, WeightFormat};
use parley_core::Error;
use util::Rng;

/// A tiny llama file's metadata and tensors, read back from the bytes the test writer makes.
struct Tiny {
    bytes: Vec<u8>,
    metadata: Vec<(String, Value)>,
    tensors: Vec<(String, QTensor)>,
    /// Where the tensor data starts: the header (metadata and tensor infos) lies before it.
    data_offset: usize,
}

fn tiny(dir: &Path) -> Tiny {
    let path = dir.join("tiny.gguf");
    util::tiny::write_tiny("llama", &path, GgmlDType::Q8_0);
    let bytes = std::fs::read(&path).unwrap();
    let mut reader = std::io::Cursor::new(&bytes);
    let ct = gguf_file::Content::read(&mut reader).unwrap();
    let mut names: Vec<&String> = ct.tensor_infos.keys().collect();
    names.sort();
    let tensors = names
        .into_iter()
        .map(|n| (n.clone(), ct.tensor(&mut reader, n, &Device::Cpu).unwrap()))
        .collect();
    let mut metadata: Vec<(String, Value)> = ct.metadata.into_iter().collect();
    metadata.sort_by(|a, b| a.0.cmp(&b.0));
    Tiny {
        data_offset: ct.tensor_data_offset as usize,
        bytes,
        metadata,
        tensors,
    }
}

impl Tiny {
    /// The file with metadata `key` set to `value` (added when absent).
    fn with(&self, key: &str, value: Value) -> Vec<u8> {
        let mut meta = self.metadata.clone();
        match meta.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => meta.push((key.to_string(), value)),
        }
        let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let tensor_refs: Vec<(&str, &QTensor)> =
            self.tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let mut out = std::io::Cursor::new(Vec::new());
        gguf_file::write(&mut out, &meta_refs, &tensor_refs).unwrap();
        out.into_inner()
    }
}

/// Load `bytes` as a model file.
fn load(dir: &Path, bytes: &[u8]) -> parley_core::Result<Model> {
    let path = dir.join("mutant.gguf");
    std::fs::write(&path, bytes).unwrap();
    Model::load(&path, WeightFormat::default())
}

/// The error's text, for a load that must fail.
fn refusal(dir: &Path, bytes: &[u8]) -> String {
    match load(dir, bytes) {
        Ok(_) => panic!("a hostile file loaded"),
        Err(e @ Error::ModelCorrupt { .. }) | Err(e @ Error::Unsupported(_)) => e.to_string(),
        Err(e) => panic!("not a model error: {e}"),
    }
}

/// Sizes in the metadata are checked against the file before anything is allocated from them:
/// `block_count = 2^40` aborted the process on allocation; `key_length = 2^40` with no layers
/// aborted in the RoPE tables; `general.alignment = 0` divided by zero in candle's reader.
#[test]
fn hostile_sizes_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let t = tiny(dir.path());
    let huge = Value::U64(1 << 40);
    let cases = [
        ("llama.block_count", huge.clone(), "llama.block_count"),
        ("llama.block_count", Value::U32(0), "llama.block_count"),
        ("llama.block_count", Value::U32(3), "blk.2.attn_q.weight"),
        (
            "llama.attention.key_length",
            huge.clone(),
            "key 1099511627776",
        ),
        (
            "llama.attention.head_count",
            Value::U32(1 << 20),
            "1048576 heads",
        ),
        (
            "llama.attention.head_count_kv",
            Value::U32(4),
            "head_count_kv",
        ),
        ("llama.context_length", huge.clone(), "context_length"),
        ("llama.vocab_size", huge, "vocab_size"),
        (
            "tokenizer.ggml.bos_token_id",
            Value::U32(1 << 30),
            "bos_token_id",
        ),
        ("general.alignment", Value::U32(0), "alignment"),
    ];
    for (key, value, named) in cases {
        let e = refusal(dir.path(), &t.with(key, value.clone()));
        assert!(e.contains(named), "{key} = {value:?}: {e}");
        assert!(
            !e.contains('\n') || e.lines().next().unwrap().contains(named),
            "{e}"
        );
    }
}

/// A tensor with a dimension of 0 is refused at load (it panicked in `chunks_exact(0)`).
#[test]
fn a_tensor_with_a_zero_dimension_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = tiny(dir.path());
    let mut bytes = t.bytes.clone();
    // The first tensor info after the metadata: name, dimension count, dimensions.
    let name = b"blk.0.attn_norm.weight";
    let at = find(&bytes[..t.data_offset], name).expect("tensor info") + name.len();
    let dims = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(dims, 1);
    bytes[at + 4..at + 12].copy_from_slice(&0u64.to_le_bytes());
    let e = refusal(dir.path(), &bytes);
    assert!(e.contains("blk.0.attn_norm.weight"), "{e}");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Values a mutation writes into a metadata field.
fn hostile_value(rng: &mut Rng) -> Value {
    match rng.below(12) {
        0 => Value::U32(0),
        1 => Value::U32(1),
        2 => Value::U32(u32::MAX),
        3 => Value::U64(1 << 40),
        4 => Value::U64(u64::MAX),
        5 => Value::I32(-1),
        6 => Value::F32(f32::NAN),
        7 => Value::F32(-1e30),
        8 => Value::U8(0),
        9 => Value::String("\u{F8F0}{{ x }}".into()),
        10 => Value::Array(Vec::new()),
        _ => Value::U32(rng.below(1 << 16) as u32),
    }
}

/// One mutant of the tiny file: a metadata field set to a hostile value, bytes of the tensor
/// infos (shapes, types, offsets) overwritten, random bytes of the header flipped, or the file
/// cut short.
fn mutant(t: &Tiny, rng: &mut Rng) -> Vec<u8> {
    const EXTRA_KEYS: [&str; 5] = [
        "general.alignment",
        "tokenizer.chat_template",
        "llama.attention.key_length",
        "llama.vocab_size",
        "llama.rope.dimension_count",
    ];
    match rng.below(4) {
        0 => {
            let i = rng.below(t.metadata.len() + EXTRA_KEYS.len());
            let key = match t.metadata.get(i) {
                Some((k, _)) => k.as_str(),
                None => EXTRA_KEYS[i - t.metadata.len()],
            };
            t.with(key, hostile_value(rng))
        }
        1 => {
            let mut bytes = t.bytes.clone();
            // The tensor infos are the last part of the header.
            let from = t.data_offset.saturating_sub(1200);
            let at = from + rng.below(t.data_offset - from - 8);
            let value: u64 = match rng.below(5) {
                0 => 0,
                1 => u64::MAX,
                2 => 1 << 40,
                3 => rng.below(64) as u64,
                _ => rng.next(),
            };
            let width = [1, 4, 8][rng.below(3)];
            bytes[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
            bytes
        }
        2 => {
            let mut bytes = t.bytes.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(t.data_offset);
                bytes[at] ^= 1 << rng.below(8);
            }
            bytes
        }
        _ => {
            // Cut anywhere, more often in the header.
            let end = if rng.below(2) == 0 {
                rng.below(t.data_offset)
            } else {
                rng.below(t.bytes.len())
            };
            t.bytes[..end].to_vec()
        }
    }
}

/// Thousands of mutants of a tiny GGUF: each loads or fails with a typed error, and none
/// reaches a panic (the loader's last-resort guard would say "crashed the loader"); a mutant
/// that loads answers a forward pass or fails it, without a panic either. Bounded to 2,000
/// mutants or 20 seconds, whichever comes first.
#[test]
fn mutated_model_files_load_or_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let t = tiny(dir.path());
    let mut rng = Rng(0x6775_6666_2025);
    let started = Instant::now();
    let (mut loaded, mut refused, mut tried) = (0, 0, 0);
    while tried < 2000 && started.elapsed() < Duration::from_secs(20) {
        tried += 1;
        let bytes = mutant(&t, &mut rng);
        match load(dir.path(), &bytes) {
            Ok(model) => {
                loaded += 1;
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let tf = &model.transformer;
                    let mut cache = tf.new_cache();
                    let _ = tf.forward(&[1, 2, 3], &mut cache);
                }));
                assert!(ran.is_ok(), "mutant {tried}: the forward pass panicked");
            }
            Err(e) => {
                refused += 1;
                let text = e.to_string();
                assert!(
                    !text.contains("crashed the loader"),
                    "mutant {tried} reached a panic: {text}"
                );
            }
        }
    }
    assert!(tried >= 200, "only {tried} mutants in the time");
    assert!(
        loaded > 0 && refused > 0,
        "{loaded} loaded, {refused} refused"
    );
}

/// Loading a model writes nothing to the process environment: it set `CANDLE_NUM_THREADS` and
/// `RAYON_NUM_THREADS` while the runtime's threads ran (undefined behaviour); the binaries set
/// the thread count first thing in `main` instead.
#[test]
fn loading_a_model_leaves_the_environment_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    util::tiny::write_tiny("llama", &path, GgmlDType::Q8_0);
    let before: Vec<_> = std::env::vars_os().collect();
    let config = parley_core::engine::local::LocalConfig {
        threads: 3,
        ..Default::default()
    };
    parley_core::engine::local::LocalEngine::load(&path, &config).unwrap();
    let after: Vec<_> = std::env::vars_os().collect();
    assert_eq!(before, after);
}
