"""llama.cpp side of bench/compare-llamacpp.sh: same GGUF, same prompt ids, same threads.

Prints one JSON line with prefill and decode speed, measured like `parley bench`: one warm-up,
the prompt ids evaluated in one batch, then greedy decode of N tokens (end-of-sequence ignored).
"""
import json
import sys
import time

import numpy as np
from llama_cpp import Llama


def main() -> None:
    model, prompt_file, threads, decode_n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(prompt_file) as f:
        prompt = json.load(f)
    llm = Llama(
        model_path=model,
        n_ctx=2048,
        n_batch=512,
        n_ubatch=512,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=False,
        verbose=False,
    )
    llm.eval(prompt[:16])  # warm-up, like parley bench
    llm.reset()
    t = time.perf_counter()
    llm.eval(prompt)
    prefill = time.perf_counter() - t
    n_vocab = llm.n_vocab()
    t = time.perf_counter()
    for _ in range(decode_n):
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))
        llm.eval([int(np.argmax(logits))])
    decode = time.perf_counter() - t
    print(json.dumps({
        "prefill_tok_s": len(prompt) / prefill,
        "decode_tok_s": decode_n / decode,
    }))


if __name__ == "__main__":
    main()
