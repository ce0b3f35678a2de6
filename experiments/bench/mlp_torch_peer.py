#!/usr/bin/python3
"""PyTorch peer of bench_sim_mlp_steps: the sampled teacher-student MLP loop, written the
idiomatic PyTorch way, timed in steps/s so the simulator's speed-up can be stated.

Same problem as sim/mlp.h: inputs x_j = z_j / sqrt(j + 1), z ~ N(0, I); a tanh teacher of the same
widths (W ~ N(0, 1/fan_in), b ~ N(0, 0.1^2)) labels them, y = f*(x) + 0.1 N(0, 1); the student
(W ~ N(0, 1/fan_in), b = 0) minimises 1/2 mean (f - y)^2 with torch.optim.SGD (momentum 0.9,
lr 0.01 by default) on minibatches drawn without replacement per epoch (a fresh randperm each
epoch; a batch crossing the epoch end takes the rest and continues in the next permutation, as
sim's BatchStream does). Data live in memory as tensors; float64 like the simulator (--dtype
float32 to see the other precision); torch.set_num_threads(1). Per size: one warm-up run, then
the median of R timed runs of exactly N steps; each timed run includes model setup and a full
train-loss / test-MSE evaluation before and after, like a run_trial does. Timed twice: wall
time and process CPU time (time.process_time), which a loaded shared machine inflates less.

  /usr/bin/python3 experiments/bench/mlp_torch_peer.py [--steps N] [--repeat R]
        [--optimizer momentum|sgd] [--momentum 0.9] [--lr 0.01] [--dtype float64|float32]
        [--compare SIM.csv]
--compare reads the CSV written by `bench_sim_mlp_steps --out SIM.csv` and prints the ratios
sim steps/s / torch steps/s per size, in wall time and in CPU time.
"""
import argparse
import csv
import statistics
import sys
import time

import torch

SIZES = [(8, (16, 16), 8), (16, (32, 32), 16), (32, (64, 64), 32), (64, (128, 128), 128)]
TRAIN, TEST, LABEL_NOISE = 8192, 2048, 0.1


def make_mlp(input_dim, hidden, dtype):
    widths = [input_dim, *hidden, 1]
    layers = []
    for i in range(len(widths) - 1):
        lin = torch.nn.Linear(widths[i], widths[i + 1], dtype=dtype)
        layers.append(lin)
        if i + 2 < len(widths):
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def init_(model, bias_std, gen):
    with torch.no_grad():
        for m in model:
            if isinstance(m, torch.nn.Linear):
                m.weight.normal_(0.0, m.in_features ** -0.5, generator=gen)
                if bias_std > 0:
                    m.bias.normal_(0.0, bias_std, generator=gen)
                else:
                    m.bias.zero_()


def make_data(input_dim, hidden, dtype, gen):
    scale = torch.arange(1, input_dim + 1, dtype=dtype).rsqrt()
    x_train = torch.randn(TRAIN, input_dim, dtype=dtype, generator=gen) * scale
    x_test = torch.randn(TEST, input_dim, dtype=dtype, generator=gen) * scale
    teacher = make_mlp(input_dim, hidden, dtype)
    init_(teacher, 0.1, gen)
    with torch.no_grad():
        y_train = teacher(x_train) + LABEL_NOISE * torch.randn(TRAIN, 1, dtype=dtype, generator=gen)
        y_test = teacher(x_test) + LABEL_NOISE * torch.randn(TEST, 1, dtype=dtype, generator=gen)
    return x_train, y_train, x_test, y_test


def run(data, input_dim, hidden, batch, steps, args, dtype, seed):
    """One trial: build and initialise the student, take `steps` SGD updates, evaluate."""
    x_train, y_train, x_test, y_test = data
    gen = torch.Generator().manual_seed(seed)
    model = make_mlp(input_dim, hidden, dtype)
    init_(model, 0.0, gen)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr,
                          momentum=args.momentum if args.optimizer == "momentum" else 0.0)
    with torch.no_grad():
        loss0 = 0.5 * torch.mean((model(x_train) - y_train) ** 2).item()
    perm = torch.randperm(TRAIN, generator=gen)
    pos = 0
    for _ in range(steps):
        if pos + batch <= TRAIN:
            idx = perm[pos:pos + batch]
            pos += batch
        else:  # epoch end: the rest, then a fresh permutation
            rest = perm[pos:]
            perm = torch.randperm(TRAIN, generator=gen)
            pos = batch - rest.numel()
            idx = torch.cat((rest, perm[:pos]))
        xb, yb = x_train[idx], y_train[idx]
        opt.zero_grad(set_to_none=True)
        loss = 0.5 * torch.mean((model(xb) - yb) ** 2)
        loss.backward()
        opt.step()
    with torch.no_grad():
        loss_end = 0.5 * torch.mean((model(x_train) - y_train) ** 2).item()
        test_mse = torch.mean((model(x_test) - y_test) ** 2).item()
    if not (test_mse == test_mse) or loss_end > 1e6 * loss0:
        sys.exit(f"mlp_torch_peer: diverged at input_dim={input_dim}; lower --lr")
    return test_mse


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--optimizer", choices=["momentum", "sgd"], default="momentum")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--compare", metavar="SIM.csv", help="CSV from bench_sim_mlp_steps --out")
    args = p.parse_args()
    if args.steps < 1 or args.repeat < 1:
        p.error(f"--steps and --repeat must be >= 1 (got {args.steps}, {args.repeat})")
    sim = {}
    if args.compare:
        try:
            with open(args.compare) as f:
                for row in csv.DictReader(f):
                    sim[(int(row["input_dim"]), row["hidden"], int(row["batch"]))] = (
                        float(row["steps_per_s"]), float(row["cpu_steps_per_s"]))
        except (OSError, KeyError, ValueError) as e:
            print(f"mlp_torch_peer: --compare {args.compare}: {e}", file=sys.stderr)
            sys.exit(2)

    torch.set_num_threads(1)
    dtype = getattr(torch, args.dtype)
    print(f"mlp_torch_peer: torch {torch.__version__}, {torch.get_num_threads()} thread, {args.dtype}, "
          f"{args.steps} steps, {args.optimizer} m={args.momentum if args.optimizer == 'momentum' else 0} "
          f"lr={args.lr}, warm-up 1 + median of {args.repeat}")
    print(f"{'input_dim':>9} {'hidden':>10} {'batch':>6} {'median_s':>12} {'steps/s':>14} {'cpu steps/s':>14}"
          f" {'final_mse':>12}"
          + (f" {'sim steps/s':>12} {'sim/torch':>10} {'sim cpu/s':>12} {'cpu ratio':>10}" if sim else ""))
    for input_dim, hidden, batch in SIZES:
        data = make_data(input_dim, hidden, dtype, torch.Generator().manual_seed(0))
        run(data, input_dim, hidden, batch, args.steps, args, dtype, 1)  # warm-up
        secs, cpu = [], []
        for _ in range(args.repeat):
            c0, t0 = time.process_time(), time.perf_counter()
            mse = run(data, input_dim, hidden, batch, args.steps, args, dtype, 1)
            secs.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        med = statistics.median(secs)
        sps = args.steps / med
        cps = args.steps / statistics.median(cpu)
        hs = ",".join(map(str, hidden))
        line = f"{input_dim:>9} {hs:>10} {batch:>6} {med:>12.4f} {sps:>14.1f} {cps:>14.1f} {mse:>12.5f}"
        if sim:
            s = sim.get((input_dim, hs, batch))
            line += (f" {s[0]:>12.1f} {s[0] / sps:>9.1f}x {s[1]:>12.1f} {s[1] / cps:>9.1f}x" if s
                     else f" {'-':>12} {'-':>10} {'-':>12} {'-':>10}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
