#!/usr/bin/python3
"""batchlab train vs the PyTorch (Python) peer (torch_peer_transformer.py) on the Transformers.

gpt:... on the text dataset (tokens/s) or vit:... on Fashion-MNIST (img/s): the same model,
batch, data, AdamW with the same parameter groups, precision and torch threads; the two programs
run alternately, --repeats rounds, and the medians of the training loop's throughput
(evaluation excluded, the first step included on both sides) are reported with the ratio
batchlab / PyTorch (goal >= 1.0): the median over the rounds of each round's ratio (the two runs
of a round share the machine's load, which on a shared machine drifts between rounds) and the
ratio of the medians. The peer runs with both attention forms (see the peer's
docstring) unless --attention names one.

  /usr/bin/python3 experiments/bench/transformer_peer_compare.py --batchlab build/ci/experiments/batchlab \\
      --model gpt:2-128-4-128 --batch-size 32 --steps 30 --threads 1 --repeats 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def is_gpt(a):
    return a.model.startswith("gpt:")


def run_batchlab(a, out):
    data = ["--dataset", "text", "--data-dir", a.text] if is_gpt(a) else ["--dataset", "fashion-mnist", "--data-dir", a.fmnist]
    cmd = [a.batchlab, "train", *data, "--model", a.model, "--batch-size", str(a.batch_size),
           "--optimizer", "adamw", "--lr", str(a.lr), "--weight-decay", "0.1", "--steps", str(a.steps),
           "--eval-every", str(a.steps), "--eval-examples", "64", "--threads", str(a.threads),
           "--loader-threads", "1", "--precision", a.precision, "--seed", "0", "--output", out]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(a.threads)))
    if r.returncode != 0:
        sys.exit(f"transformer_peer_compare.py: batchlab train failed ({r.returncode}): {r.stderr.strip()[-300:]}")
    s = json.load(open(os.path.join(out, "summary.json")))
    return s["tokens_per_s"] if is_gpt(a) else s["img_per_s"]


def run_peer(a, attention):
    cmd = ["/usr/bin/python3", os.path.join(HERE, "torch_peer_transformer.py"), "--model", a.model,
           "--batch-size", str(a.batch_size), "--steps", str(a.steps), "--lr", str(a.lr), "--weight-decay", "0.1",
           "--threads", str(a.threads), "--precision", a.precision, "--attention", attention,
           "--text", a.text, "--fmnist", a.fmnist]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(a.threads)))
    if r.returncode != 0:
        sys.exit(f"transformer_peer_compare.py: the peer failed ({r.returncode}): {r.stderr.strip()[-300:]}")
    j = json.loads(r.stdout.strip().splitlines()[-1])
    return j["tokens_per_s"] if is_gpt(a) else j["img_per_s"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batchlab", required=True)
    p.add_argument("--model", required=True, help="gpt:L-W-H-C or vit:P-W-L-H")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--attention", choices=["both", "matmul", "baddbmm"], default="both")
    p.add_argument("--text", default="/usr/share/dictd/gcide.dict.dz")
    p.add_argument("--fmnist", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--json", help="also write the runs, medians and ratios here")
    a = p.parse_args()
    forms = ["matmul", "baddbmm"] if a.attention == "both" else [a.attention]
    if not is_gpt(a):
        forms = forms[:1]  # the ViT has no mask: both forms are the same ops
    ours, peers = [], {f: [] for f in forms}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeats):
            ours.append(run_batchlab(a, os.path.join(tmp, f"run{i}")))
            for f in forms:
                peers[f].append(run_peer(a, f))
    unit = "tokens/s" if is_gpt(a) else "img/s"
    o = statistics.median(ours)
    print(f"model={a.model} batch={a.batch_size} threads={a.threads} steps={a.steps} precision={a.precision} "
          f"repeats={a.repeats}")
    print(f"  batchlab train        : {o:10.1f} {unit}   runs: {[round(r) for r in ours]}")
    result = {"model": a.model, "batch_size": a.batch_size, "threads": a.threads, "steps": a.steps,
              "precision": a.precision, "unit": unit, "batchlab": {"runs": ours, "median": o}}
    for f in forms:
        q = statistics.median(peers[f])
        paired = [x / y for x, y in zip(ours, peers[f])]
        label = f"PyTorch ({f})" if is_gpt(a) else "PyTorch"
        print(f"  {label:22s}: {q:10.1f} {unit}   runs: {[round(r) for r in peers[f]]}")
        print(f"  {'':22s}  ratio per round {[round(r, 2) for r in paired]}: median {statistics.median(paired):.2f}x;"
              f" ratio of medians {o / q:.2f}x")
        result["pytorch_" + f] = {"runs": peers[f], "median": q, "ratio_of_medians": o / q,
                                  "ratio_per_round": paired, "median_ratio": statistics.median(paired)}
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(result, fh, indent=2)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
