//! A GGUF file is a stranger's input: every size it states is checked here before anything is
//! allocated from it.
//!
//! [`read`] reads the header with candle's reader, which bounds strings, arrays and counts by
//! the file's length but divides by `general.alignment` (0 panics): a panic anywhere in the
//! reader becomes an error. [`check`] holds the hyper-parameters
//! against sane bounds and against the tensors the file really has (a `block_count` of 2^40
//! allocated a vector of 2^40 layers before any tensor was looked up), and every tensor's shape
//! against the bytes there are (a dimension of 0 panicked in the kernels). A file that fails
//! gets one line naming the field.

use std::io::{Read, Seek};

use candle_core::quantized::gguf_file::{Content, TensorInfo};

use super::transformer::ModelConfig;

/// Most transformer blocks (the largest open models have under 200).
const MAX_LAYERS: usize = 1024;
/// Most attention heads of either kind.
const MAX_HEADS: usize = 1024;
/// Widest attention head.
const MAX_HEAD_DIM: usize = 4096;
/// Widest hidden state.
const MAX_HIDDEN: usize = 1 << 16;
/// Largest vocabulary.
const MAX_VOCAB: usize = 1 << 22;
/// Longest context a file may claim (the engine's `context_len` setting may cut it further).
const MAX_CONTEXT: usize = 1 << 22;
/// Most elements of one tensor.
const MAX_TENSOR_ELEMENTS: usize = 1 << 40;

/// The header of the GGUF file `reader` holds; the reason, in one line, when it is unreadable.
pub fn read<R: Read + Seek>(reader: &mut R) -> Result<Content, String> {
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Content::read(reader)));
    match read {
        Ok(Ok(content)) => Ok(content),
        Ok(Err(e)) => Err(format!("not a readable GGUF file ({e})")),
        // candle divides by `general.alignment` without checking it.
        Err(_) => Err("not a readable GGUF file (`general.alignment` = 0?)".into()),
    }
}

/// Check `cfg` (read from `ct`) and every tensor of `ct` against the `file_len` bytes of the file.
pub fn check(ct: &Content, cfg: &ModelConfig, file_len: u64) -> Result<(), String> {
    for (name, info) in &ct.tensor_infos {
        check_tensor(name, info, ct.tensor_data_offset, file_len)?;
    }
    let p = cfg.arch.as_str();
    let field = |key: &str| format!("`{p}.{key}`");
    within(&field("block_count"), cfg.n_layer, 1, MAX_LAYERS)?;
    within(&field("attention.head_count"), cfg.n_head, 1, MAX_HEADS)?;
    within(
        &field("attention.head_count_kv"),
        cfg.n_kv_head,
        1,
        MAX_HEADS,
    )?;
    within(
        &field("attention.key_length"),
        cfg.head_dim,
        2,
        MAX_HEAD_DIM,
    )?;
    within(&field("embedding_length"), cfg.hidden, 1, MAX_HIDDEN)?;
    within(&field("vocab_size"), cfg.vocab_size, 1, MAX_VOCAB)?;
    within(&field("context_length"), cfg.context_len, 1, MAX_CONTEXT)?;
    if let Some(s) = cfg.sliding {
        within(&field("attention.sliding_window"), s.window, 1, MAX_CONTEXT)?;
    }
    if !(cfg.rope_theta.is_finite() && cfg.rope_theta > 0.0) {
        return Err(format!(
            "{} = {}: not a positive number",
            field("rope.freq_base"),
            cfg.rope_theta
        ));
    }
    if !(cfg.rms_eps.is_finite() && cfg.rms_eps >= 0.0) {
        return Err(format!(
            "{} = {}: not a number",
            field("attention.layer_norm_rms_epsilon"),
            cfg.rms_eps
        ));
    }
    // Every block the metadata counts is in the file, and no more.
    let last = cfg.n_layer - 1;
    for blk in [
        format!("blk.{last}.attn_q.weight"),
        "blk.0.attn_q.weight".into(),
    ] {
        if !ct.tensor_infos.contains_key(&blk) {
            return Err(format!(
                "{} = {}: the file has no tensor {blk}",
                field("block_count"),
                cfg.n_layer
            ));
        }
    }
    check_token_ids(ct)?;
    check_shapes(ct, cfg, &field)
}

/// The special tokens the metadata names are tokens of the vocabulary.
fn check_token_ids(ct: &Content) -> Result<(), String> {
    let tokens = ct
        .metadata
        .get("tokenizer.ggml.tokens")
        .and_then(|v| v.to_vec().ok())
        .map_or(0, Vec::len);
    for kind in ["bos", "eos", "unknown", "padding", "eot"] {
        let key = format!("tokenizer.ggml.{kind}_token_id");
        if let Some(id) = ct.metadata.get(&key).and_then(|v| v.to_u32().ok()) {
            if id as usize >= tokens {
                return Err(format!(
                    "`{key}` = {id}: the vocabulary has {tokens} tokens"
                ));
            }
        }
    }
    Ok(())
}

/// The embedding and the first block's projections have the shapes the hyper-parameters say.
fn check_shapes(
    ct: &Content,
    cfg: &ModelConfig,
    field: &dyn Fn(&str) -> String,
) -> Result<(), String> {
    // candle lists dimensions outermost first: a [rows, columns] matrix.
    let dims = |name: &str| ct.tensor_infos.get(name).map(|t| t.shape.dims().to_vec());
    let expect = |name: &str, rows: usize, key: &str, value: usize| match dims(name) {
        Some(d) if d.len() == 2 && d[1] == cfg.hidden && d[0] == rows => Ok(()),
        Some(d) => Err(format!(
            "{} = {value}: tensor {name} has shape {d:?}",
            field(key)
        )),
        None => Err(format!("the file has no tensor {name}")),
    };
    let tokens = ct
        .metadata
        .get("tokenizer.ggml.tokens")
        .and_then(|v| v.to_vec().ok())
        .map_or(0, Vec::len);
    match dims("token_embd.weight") {
        // Every token the tokenizer can produce has a row.
        Some(d) if d.len() == 2 && d[1] == cfg.hidden && tokens <= d[0] => {}
        Some(d) => {
            return Err(format!(
                "{} = {}, {tokens} tokens: tensor token_embd.weight has shape {d:?}",
                field("embedding_length"),
                cfg.hidden
            ))
        }
        None => return Err("the file has no tensor token_embd.weight".into()),
    }
    let q_rows = cfg.n_head * cfg.head_dim;
    let kv_rows = cfg.n_kv_head * cfg.head_dim;
    expect(
        "blk.0.attn_q.weight",
        q_rows,
        "attention.head_count",
        cfg.n_head,
    )?;
    expect(
        "blk.0.attn_k.weight",
        kv_rows,
        "attention.head_count_kv",
        cfg.n_kv_head,
    )?;
    expect(
        "blk.0.attn_v.weight",
        kv_rows,
        "attention.head_count_kv",
        cfg.n_kv_head,
    )
}

/// A tensor's shape is whole (no dimension 0, a size that fits) and its bytes are in the file.
fn check_tensor(
    name: &str,
    info: &TensorInfo,
    data_offset: u64,
    file_len: u64,
) -> Result<(), String> {
    let dims = info.shape.dims();
    let elements = dims.iter().try_fold(1usize, |n, &d| {
        n.checked_mul(d)
            .filter(|&n| d > 0 && n <= MAX_TENSOR_ELEMENTS)
    });
    let Some(elements) = elements else {
        return Err(format!("tensor {name} has shape {dims:?}"));
    };
    let block = info.ggml_dtype.block_size();
    if !elements.is_multiple_of(block) {
        return Err(format!(
            "tensor {name} of shape {dims:?} is not whole blocks of {:?}",
            info.ggml_dtype
        ));
    }
    let bytes = (elements / block) as u64 * info.ggml_dtype.type_size() as u64;
    let end = data_offset
        .checked_add(info.offset)
        .and_then(|s| s.checked_add(bytes));
    match end {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(format!(
            "tensor {name} ({bytes} bytes at offset {}) ends past the file's {file_len} bytes",
            info.offset
        )),
    }
}

/// `value` of `field` lies in `min..=max`.
fn within(field: &str, value: usize, min: usize, max: usize) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("{field} = {value}: outside {min}..={max}"))
    }
}
