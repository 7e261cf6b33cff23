"""llama.cpp side of the batched row of bench/compare-llamacpp.sh: the same N prompts (ids written
by `parley bench --conversations N --dump-prompt`), the same threads, decoded like
`parley bench --conversations N` measures it: each prompt prefilled, then greedy decode of
DECODE_N tokens per sequence (end-of-sequence ignored), one `llama_decode` per step over a
`llama_batch` holding every sequence's next token under its own sequence id. The single figure
is sequence 0 alone, measured the same way in the same context.

Prints one JSON line: single_decode_tok_s, aggregate_decode_tok_s, aggregate_speedup.
"""
import json
import sys
import time

import llama_cpp as L
import numpy as np
from llama_cpp._logger import set_verbose

CTX_PER_SEQUENCE = 1024


def load(model_path: str, n_seq: int, threads: int):
    set_verbose(False)  # llama.cpp's load log, as Llama(verbose=False) does
    L.llama_backend_init()
    model = L.llama_model_load_from_file(model_path.encode(), L.llama_model_default_params())
    if not model:
        sys.exit(f"cannot load {model_path}")
    params = L.llama_context_default_params()
    params.n_ctx = CTX_PER_SEQUENCE * n_seq
    params.n_batch = 512
    params.n_ubatch = 512
    params.n_seq_max = n_seq
    params.n_threads = threads
    params.n_threads_batch = threads
    ctx = L.llama_init_from_model(model, params)
    if not ctx:
        sys.exit("cannot create the llama.cpp context")
    n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
    return model, ctx, n_vocab


class Batch:
    """One llama_batch, refilled for every llama_decode call."""

    def __init__(self, ctx, n_vocab: int, capacity: int, n_seq: int):
        self.ctx, self.n_vocab = ctx, n_vocab
        self.batch = L.llama_batch_init(capacity, 0, n_seq)

    def decode(self, items):
        """items: (token, position, sequence id, want logits); returns the argmax of each
        item that asked for logits, in order."""
        b = self.batch
        b.n_tokens = len(items)
        for i, (tok, pos, seq, want) in enumerate(items):
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = 1 if want else 0
        rc = L.llama_decode(self.ctx, b)
        if rc != 0:
            sys.exit(f"llama_decode failed: {rc}")
        out = []
        for i, (_, _, _, want) in enumerate(items):
            if want:
                ptr = L.llama_get_logits_ith(self.ctx, i)
                logits = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
                out.append(int(np.argmax(logits)))
        return out


def decode_rate(batch: Batch, ctx, prompts, seqs, steps: int) -> float:
    """Prefill `prompts` as sequences `seqs`, then time `steps` batched greedy steps."""
    L.llama_memory_clear(L.llama_get_memory(ctx), True)
    nexts, positions = [], []
    for prompt, seq in zip(prompts, seqs):
        items = [(t, p, seq, p == len(prompt) - 1) for p, t in enumerate(prompt)]
        nexts += batch.decode(items)
        positions.append(len(prompt))
    t = time.perf_counter()
    for _ in range(steps):
        items = [(tok, pos, seq, True) for tok, pos, seq in zip(nexts, positions, seqs)]
        nexts = batch.decode(items)
        positions = [p + 1 for p in positions]
    return steps * len(prompts) / (time.perf_counter() - t)


def main() -> None:
    model_path, prompt_file, threads, decode_n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(prompt_file) as f:
        prompts = json.load(f)
    n = len(prompts)
    _model, ctx, n_vocab = load(model_path, n, threads)
    batch = Batch(ctx, n_vocab, max(512, n), n)
    decode_rate(batch, ctx, [prompts[0][:16]], [0], 2)  # warm-up, like parley bench
    single = decode_rate(batch, ctx, prompts[:1], [0], decode_n)
    aggregate = decode_rate(batch, ctx, prompts, list(range(n)), decode_n)
    print(json.dumps({
        "single_decode_tok_s": single,
        "aggregate_decode_tok_s": aggregate,
        "aggregate_speedup": aggregate / single,
    }))


if __name__ == "__main__":
    main()
