#!/usr/bin/python3
"""batchlab train vs the PyTorch (Python) peer (torch_peer_train.py), side by side.

Same model, global batch, data, optimizer, torch threads and machine; the two programs are run
alternately, --repeats times each, and the median img/s of the training loop (evaluation
excluded) is reported with the ratio batchlab / PyTorch (goal >= 1.2,
docs/architecture.md#performance-goals). With --target, also steps and training wall time to that
test accuracy. With --gemm-floor (MLP only), also the img/s of the step's matrix products alone
(torch_gemm_floor.py, run in turn with the two), the ceiling for any trainer that calls the same
sgemm.

  /usr/bin/python3 experiments/bench/torch_peer_compare.py --batchlab build/rt/experiments/batchlab \
      --model mlp --batch-size 128 --steps 200 --threads 1 --repeats 3

--device cuda compares `batchlab train --backend nccl` (one rank, one GPU) with the peer on the
GPU, run by --python (a CUDA PyTorch); --json FILE also writes the runs, medians and ratio
(scripts/gpu_check reads it).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run_child(cmd, what, threads):
    """Runs one program of the comparison; if it fails, says so in one line (its last stderr
    line) and stops, instead of a traceback."""
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["(no output on stderr)"])[-1]
        sys.exit(f"torch_peer_compare.py: {what} exited with status {r.returncode}: {last}")
    return r


def run_batchlab(a, out):
    cmd = [a.batchlab, "train", "--data-dir", a.data_dir, "--model", a.model, "--batch-size", str(a.batch_size),
           "--optimizer", "momentum", "--lr", str(a.lr), "--momentum", "0.9",
           "--steps", str(a.steps), "--eval-every", str(a.eval_every), "--target", str(a.target),
           "--threads", str(a.threads), "--loader-threads", str(a.loader_threads),
           "--seed", "0", "--output", out]
    if a.device != "cpu":
        cmd += ["--backend", "nccl"]  # batchlab trains on a GPU through its NCCL process group
    run_child(cmd, "batchlab train", a.threads)
    s = json.load(open(os.path.join(out, "summary.json")))
    return {"img_per_s": s["img_per_s"], "steps": s["steps"], "steps_to_target": s["steps_to_target"],
            "wall_s": s["wall_s"], "final_accuracy": s["final_accuracy"]}


def run_python_json(a, script, args):
    """Runs experiments/bench/SCRIPT with a.threads torch threads; its last stdout line is JSON."""
    cmd = [a.python, os.path.join(HERE, script), "--model", a.model,
           "--batch-size", str(a.batch_size), "--threads", str(a.threads)] + args
    r = run_child(cmd, script, a.threads)
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_peer(a):
    return run_python_json(a, "torch_peer_train.py",
                           ["--lr", str(a.lr), "--momentum", "0.9", "--steps", str(a.steps),
                            "--eval-every", str(a.eval_every), "--target", str(a.target), "--seed", "0",
                            "--data-dir", a.data_dir, "--device", a.device])


def run_gemm_floor(a):
    return run_python_json(a, "torch_gemm_floor.py", [])


def write_json(a, ours, peer, o, q):
    """The comparison as data: each program's runs and median img/s, and their ratio."""
    doc = {"model": a.model, "batch_size": a.batch_size, "device": a.device, "threads": a.threads,
           "steps": a.steps, "repeats": a.repeats, "torch": peer[0].get("torch"),
           "batchlab": {"img_per_s": o, "runs": ours}, "pytorch": {"img_per_s": q, "runs": peer},
           "ratio": o / q}
    with open(a.json + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(a.json + ".tmp", a.json)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batchlab", required=True)
    p.add_argument("--model", default="mlp")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--eval-every", type=int, default=100000)
    p.add_argument("--target", type=float, default=-1.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--loader-threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--gemm-floor", action="store_true", help="also time the step's GEMMs alone (MLP)")
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--python", default="/usr/bin/python3", help="interpreter of the PyTorch peer")
    p.add_argument("--json", help="also write the runs, medians and ratio to this file")
    a = p.parse_args()
    if a.gemm_floor and a.device != "cpu":
        print("torch_peer_compare.py: --gemm-floor is a CPU measurement (not with --device cuda)", file=sys.stderr)
        sys.exit(2)
    if a.gemm_floor and a.model != "mlp" and not a.model.startswith("mlp:"):
        print(f"torch_peer_compare.py: --gemm-floor with --model {a.model}: only for mlp models", file=sys.stderr)
        sys.exit(2)
    if a.target <= 0:
        a.eval_every = max(a.eval_every if a.eval_every < 100000 else a.steps, 1)
    ours, peer, floor = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeats):
            ours.append(run_batchlab(a, os.path.join(tmp, f"run{i}")))
            peer.append(run_peer(a))
            if a.gemm_floor:
                floor.append(run_gemm_floor(a))
    med = lambda rs, k: statistics.median(r[k] for r in rs)
    o, q = med(ours, "img_per_s"), med(peer, "img_per_s")
    if a.json:
        write_json(a, ours, peer, o, q)
    print(f"model={a.model} batch={a.batch_size} device={a.device} threads={a.threads} steps={a.steps} "
          f"repeats={a.repeats}")
    print(f"  batchlab train : {o:10.1f} img/s   runs: {[round(r['img_per_s']) for r in ours]}")
    print(f"  PyTorch (py)   : {q:10.1f} img/s   runs: {[round(r['img_per_s']) for r in peer]}")
    print(f"  ratio          : {o / q:.2f}x")
    if floor:
        g = med(floor, "img_per_s")
        print(f"  GEMMs alone    : {g:10.1f} img/s   runs: {[round(r['img_per_s']) for r in floor]}"
              f"   (batchlab at {o / g:.0%}, PyTorch at {q / g:.0%} of it)")
    if a.target > 0:
        for name, rs in (("batchlab train", ours), ("PyTorch (py)", peer)):
            print(f"  {name}: steps_to_target {[r['steps_to_target'] for r in rs]}, "
                  f"train wall_s {[round(r['wall_s'], 1) for r in rs]}, final acc {[r['final_accuracy'] for r in rs]}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
