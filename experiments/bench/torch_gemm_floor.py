#!/usr/bin/python3
"""The matrix products of one MLP training step alone, in PyTorch (the same OpenBLAS sgemm that
both `batchlab train` and the PyTorch peer call): an upper bound on the img/s of any trainer that
does those products with that library. torch_peer_compare.py --gemm-floor runs it beside the two
trainers, so the ratio "trainer / floor" says how much of the step is left to optimise.

Per layer l with input A_l (B x n_in) and weight W_l (n_out x n_in), one step computes
  forward  A_l W_l^T,   weight gradient G_l^T A_l,   input gradient G_l W_l (not for the data).

  /usr/bin/python3 experiments/bench/torch_gemm_floor.py --model mlp --batch-size 1024 --threads 1
Prints one JSON line: {"img_per_s": ..., "ms_per_step": ...} (best of --repeats timings of --steps).
"""
import argparse
import json
import sys
import time

import torch


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mlp", help="mlp or mlp:H1-H2-... (784 inputs, 10 classes)")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    if a.model != "mlp" and not a.model.startswith("mlp:"):
        print(f"torch_gemm_floor.py: --model {a.model}: only mlp models are plain GEMM chains", file=sys.stderr)
        sys.exit(2)
    hidden = [256, 256] if a.model == "mlp" else [int(h) for h in a.model.split(":", 1)[1].split("-")]
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dims = [784] + hidden + [10]
    ws = [torch.randn(o, i) * 0.05 for i, o in zip(dims, dims[1:])]
    acts = [torch.rand(a.batch_size, dims[0])] + [torch.randn(a.batch_size, o) for o in dims[1:]]
    grads = [torch.randn(a.batch_size, o) for o in dims[1:]]
    outs = [(torch.empty(a.batch_size, w.shape[0]), torch.empty_like(w), torch.empty(a.batch_size, w.shape[1]))
            for w in ws]

    def step():
        for l, w in enumerate(ws):
            torch.mm(acts[l], w.t(), out=outs[l][0])
            torch.mm(grads[l].t(), acts[l], out=outs[l][1])
            if l > 0:
                torch.mm(grads[l], w, out=outs[l][2])

    step()
    best = float("inf")
    for _ in range(a.repeats):
        t = time.perf_counter()
        for _ in range(a.steps):
            step()
        best = min(best, (time.perf_counter() - t) / a.steps)
    print(json.dumps({"img_per_s": a.batch_size / best, "ms_per_step": best * 1e3}))


if __name__ == "__main__":
    main()
