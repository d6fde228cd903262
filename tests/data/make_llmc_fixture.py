#!/usr/bin/python3
"""Writes llm.c-format token shards the way llm.c's dev/data/data_common.py write_datafile does
(numpy header of 256 int32 + numpy token array), plus the tokens as text for the C++ test to
compare against. Usage: make_llmc_fixture.py OUT_DIR
  OUT_DIR/gpt2.bin   magic 20240520 version 1, uint16 tokens (vocab 50257)
  OUT_DIR/llama3.bin magic 20240801 version 7, uint32 tokens (vocab 128256)
  OUT_DIR/<name>.txt the same tokens, one per line
"""
import os
import sys

import numpy as np

HEADERS_INFO = {
    "gpt-2": {"magic": 20240520, "version": 1, "token_dtype": np.uint16},
    "llama-3": {"magic": 20240801, "version": 7, "token_dtype": np.uint32},
}


def write_datafile(filename, toks, model_desc):
    info = HEADERS_INFO[model_desc]
    header = np.zeros(256, dtype=np.int32)
    header[0] = info["magic"]
    header[1] = info["version"]
    header[2] = len(toks)
    toks_np = np.array(toks, dtype=info["token_dtype"])
    with open(filename, "wb") as f:
        f.write(header.tobytes())
        f.write(toks_np.tobytes())


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)
    for name, desc, vocab, n in (("gpt2", "gpt-2", 50257, 5000), ("llama3", "llama-3", 128256, 3000)):
        toks = rng.integers(0, vocab, size=n).tolist()
        toks[0], toks[-1] = vocab - 1, 0  # the extremes of the id range
        write_datafile(os.path.join(out, name + ".bin"), toks, desc)
        with open(os.path.join(out, name + ".txt"), "w") as f:
            f.write("\n".join(str(t) for t in toks) + "\n")


if __name__ == "__main__":
    main()
