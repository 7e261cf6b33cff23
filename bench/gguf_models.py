"""Random-weight GGUF files shaped like real ones, written with the `gguf` package.

Two uses:

    python bench/gguf_models.py quant-base TOKENIZER_GGUF OUT.gguf
        A Llama-3.2-1B-shaped model (hidden 2048, FFN 8192, 32 heads, 8 KV heads, head dim 64,
        tied embedding) with 4 layers and random F16 weights (fixed seed), carrying the
        tokenizer of TOKENIZER_GGUF. bench/compare-quants.sh quantizes it.

    python bench/gguf_models.py quantize IN.gguf OUT.gguf TYPE
        llama.cpp's quantizer (llama-cpp-python): TYPE is Q4_K_M, Q5_K_M, Q6_K, Q8_0, Q4_1, ...

    python bench/gguf_models.py tiny ARCH TOKENIZER_GGUF OUT.gguf [f32|f16]
        A tiny model of ARCH (llama, qwen2, qwen3, gemma3) with F32 weights (so Parley and
        llama.cpp compute with the same numbers; f16 on request) and the architecture metadata a converted
        file of that family has (llama.cpp's convert_hf_to_gguf.py). Used by
        core/tests/llamacpp_logits.rs.

The tokenizer (`tokenizer.*` metadata) is copied from TOKENIZER_GGUF, normally the default
model; the tiny llama file says `tokenizer.ggml.pre = llama-bpe` like a Llama 3 file, so the
Llama 3 pre-tokenizer is what both sides run on it.
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter


def copy_tokenizer(src: str, writer: GGUFWriter, overrides: dict) -> int:
    """Copy every `tokenizer.*` key of `src` into `writer`; returns the vocabulary size."""
    reader = GGUFReader(src)
    n_vocab = 0
    for name, field in reader.fields.items():
        if not name.startswith("tokenizer."):
            continue
        if name in overrides:
            writer.add_string(name, overrides[name])
            continue
        vtype = field.types[0]
        if vtype == GGUFValueType.ARRAY:
            sub = field.types[1]
            if sub == GGUFValueType.STRING:
                vals = [bytes(field.parts[i]).decode("utf-8") for i in field.data]
            else:
                vals = [field.parts[i].tolist()[0] for i in field.data]
            writer.add_key_value(name, vals, vtype, sub_type=sub)
            if name == "tokenizer.ggml.tokens":
                n_vocab = len(vals)
        elif vtype == GGUFValueType.STRING:
            writer.add_key_value(name, bytes(field.parts[field.data[0]]).decode("utf-8"), vtype)
        else:
            writer.add_key_value(name, field.parts[field.data[0]].tolist()[0], vtype)
    return n_vocab


# With a tied output matrix, a large embedding makes every tiny model repeat its last token
# (its own row scores highest); a small one lets the blocks choose, so greedy text varies.
EMBED_STD = 0.05

# Architecture metadata as llama.cpp's converter writes it for each family.
SHAPES = {
    # Llama 3.2-style: theta 500000, llama3 rope factors (rope_freqs.weight), tied embedding.
    "llama": dict(hidden=64, ffn=160, heads=4, kv_heads=2, head_dim=16, layers=2,
                  theta=500000.0, eps=1e-5, embed_std=EMBED_STD),
    # Qwen2.5-style: q/k/v biases, theta 1e6.
    "qwen2": dict(hidden=64, ffn=160, heads=4, kv_heads=2, head_dim=16, layers=2,
                  theta=1000000.0, eps=1e-6, embed_std=EMBED_STD),
    # Qwen3-style: head dim larger than hidden/heads (like 0.6B: 1024 / 16 heads, head dim 128),
    # per-head q/k RMS norms, no biases.
    "qwen3": dict(hidden=64, ffn=160, heads=4, kv_heads=2, head_dim=32, layers=2,
                  theta=1000000.0, eps=1e-6, embed_std=EMBED_STD),
    # Gemma3 1B-style: head dim 256 with 4 heads on hidden 1152; six layers so that the sliding
    # pattern (five local layers, then a global one) is complete; a short window so tests
    # cross it.
    "gemma3": dict(hidden=64, ffn=160, heads=4, kv_heads=1, head_dim=32, layers=6,
                   theta=1000000.0, eps=1e-6, sliding_window=16, embed_std=EMBED_STD),
}


def write_model(arch: str, shape: dict, tokenizer: str, out: str, dtype: str, seed: int,
                overrides: dict) -> None:
    """Write a random-weight model of `arch` with `shape` to `out`."""
    rng = np.random.default_rng(seed)
    w = GGUFWriter(out, arch)
    w.add_name(f"random-{arch}")
    n_vocab = copy_tokenizer(tokenizer, w, overrides)
    hidden, ffn, hd = shape["hidden"], shape["ffn"], shape["head_dim"]
    heads, kv_heads, layers = shape["heads"], shape["kv_heads"], shape["layers"]
    w.add_context_length(shape.get("context", 8192))
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_layer_norm_rms_eps(shape["eps"])
    w.add_rope_freq_base(shape["theta"])
    w.add_key_length(hd)
    w.add_value_length(hd)
    if arch in ("llama", "qwen2", "qwen3"):
        w.add_rope_dimension_count(hd)
    if arch == "llama":
        w.add_vocab_size(n_vocab)
    if arch == "gemma3":
        w.add_sliding_window(shape["sliding_window"])
    np_dtype, ggml_dtype = {
        "f32": (np.float32, GGMLQuantizationType.F32),
        "f16": (np.float16, GGMLQuantizationType.F16),
    }[dtype]

    def matrix(name: str, rows: int, cols: int, scale: float) -> None:
        t = (rng.standard_normal((rows, cols), dtype=np.float32) * scale).astype(np_dtype)
        w.add_tensor(name, t, raw_dtype=ggml_dtype)

    def vector(name: str, n: int, center: float, spread: float) -> None:
        t = (center + spread * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)
        w.add_tensor(name, t)

    # Gemma stores its norm weights as 1 + w (the converter adds the 1), so every family's
    # stored weights centre on 1; the spread makes a wrongly applied norm show in the logits.
    matrix("token_embd.weight", n_vocab, hidden, shape.get("embed_std", 1.0))
    vector("output_norm.weight", hidden, 1.0, 0.1)
    if arch == "llama":
        # Llama 3.x rope factors: 1 for high frequencies, up to 8 (the scaling factor) for low.
        factors = np.linspace(1.0, 8.0, hd // 2, dtype=np.float32)
        w.add_tensor("rope_freqs.weight", factors)
    std = 1.0 / np.sqrt(hidden)
    for i in range(layers):
        b = f"blk.{i}."
        vector(b + "attn_norm.weight", hidden, 1.0, 0.1)
        matrix(b + "attn_q.weight", heads * hd, hidden, std)
        matrix(b + "attn_k.weight", kv_heads * hd, hidden, std)
        matrix(b + "attn_v.weight", kv_heads * hd, hidden, std)
        matrix(b + "attn_output.weight", hidden, heads * hd, 1.0 / np.sqrt(heads * hd))
        if arch == "qwen2":
            vector(b + "attn_q.bias", heads * hd, 0.0, 0.2)
            vector(b + "attn_k.bias", kv_heads * hd, 0.0, 0.2)
            vector(b + "attn_v.bias", kv_heads * hd, 0.0, 0.2)
        if arch in ("qwen3", "gemma3"):
            vector(b + "attn_q_norm.weight", hd, 1.0, 0.1)
            vector(b + "attn_k_norm.weight", hd, 1.0, 0.1)
        if arch == "gemma3":
            vector(b + "post_attention_norm.weight", hidden, 1.0, 0.1)
            vector(b + "post_ffw_norm.weight", hidden, 1.0, 0.1)
        vector(b + "ffn_norm.weight", hidden, 1.0, 0.1)
        matrix(b + "ffn_gate.weight", ffn, hidden, std)
        matrix(b + "ffn_up.weight", ffn, hidden, std)
        matrix(b + "ffn_down.weight", hidden, ffn, 1.0 / np.sqrt(ffn))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


LLAMA_3_2_1B = dict(hidden=2048, ffn=8192, heads=32, kv_heads=8, head_dim=64, layers=4,
                    theta=500000.0, eps=1e-5)


def quantize(src: str, out: str, kind: str) -> None:
    """Quantize `src` to `out` as llama.cpp's `llama-quantize` would (type `kind`)."""
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind}")
    rc = llama_cpp.llama_model_quantize(src.encode(), out.encode(), ctypes.byref(params))
    if rc != 0:
        sys.exit(f"quantizing {src} to {kind} failed ({rc})")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "quantize":
        quantize(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "quant-base":
        write_model("llama", LLAMA_3_2_1B, sys.argv[2], sys.argv[3], "f16", 1234, {})
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "tiny" and sys.argv[2] in SHAPES:
        arch = sys.argv[2]
        dtype = sys.argv[5] if len(sys.argv) == 6 else "f32"
        pre = {"llama": "llama-bpe", "qwen2": "qwen2", "qwen3": "qwen2"}.get(arch)
        overrides = {"tokenizer.ggml.pre": pre} if pre else {}
        write_model(arch, SHAPES[arch], sys.argv[3], sys.argv[4], dtype, 42, overrides)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
