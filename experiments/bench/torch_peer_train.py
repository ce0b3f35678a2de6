#!/usr/bin/python3
"""PyTorch (Python) peer of `batchlab train`, for the trainer's performance contract.

Same model, batch, data, normalisation, optimizer and threads as `batchlab train`:
Fashion-MNIST idx.gz, pixels / 255 normalised with mean 0.2860 / std 0.3530, a fresh random
permutation per epoch (last partial batch dropped), momentum SGD (torch.optim.SGD; its buffer
starts at the first gradient where batchlab's starts at zero: only step 1 differs), cross-entropy
mean over the batch, evaluation on the full 10k test set every --eval-every steps.

Measures (like batchlab's summary.json): img/s of the training loop (evaluation excluded),
steps and training wall time to --target test accuracy.

  /usr/bin/python3 experiments/bench/torch_peer_train.py --model mlp --batch-size 128 \
      --threads 1 --steps 400 --lr 0.05
Use Debian's /usr/bin/python3 (python3-torch 1.13.1, the same LibTorch as batchlab).
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split, data_dir):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    x = (torch.from_numpy(x.astype(np.float32)) / 255.0 - 0.2860) / 0.3530
    return x.unsqueeze(1).contiguous(), torch.from_numpy(y.astype(np.int64))


class Mlp(nn.Module):
    def __init__(self, hidden=(256, 256), classes=10):
        super().__init__()
        sizes = [784, *hidden, classes]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


class SimpleCnn(nn.Module):
    """Shallue et al. 2019: conv5x5-32 same, pool 2, conv5x5-64 same, pool 2, fc-1024, fc-10."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(7 * 7 * 64, 1024)
        self.fc2 = nn.Linear(1024, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


@torch.no_grad()
def evaluate(model, x, y):
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(x), 1000):
        logits = model(x[i:i + 1000])
        loss += F.cross_entropy(logits, y[i:i + 1000], reduction="sum").item()
        correct += (logits.argmax(1) == y[i:i + 1000]).sum().item()
    model.train()
    return loss / len(x), correct / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--model", choices=["mlp", "simple-cnn"], default="mlp")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--target", type=float, default=-1.0)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr = load("train", a.data_dir)
    xte, yte = load("test", a.data_dir)
    model = Mlp() if a.model == "mlp" else SimpleCnn()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    steps_per_epoch = len(xtr) // a.batch_size
    gen = torch.Generator().manual_seed(a.seed)
    perm = None
    wall = 0.0
    result = {"status": "not_reached", "steps_to_target": None}
    acc = float("nan")
    for step in range(a.steps):
        t0 = time.perf_counter()
        k = step % steps_per_epoch
        if k == 0:
            perm = torch.randperm(len(xtr), generator=gen)
        idx = perm[k * a.batch_size:(k + 1) * a.batch_size]
        x, y = xtr[idx], ytr[idx]
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()  # batchlab logs the loss every step: same synchronisation
        wall += time.perf_counter() - t0
        done = step + 1
        if done % a.eval_every == 0 or done == a.steps:
            _, acc = evaluate(model, xte, yte)
            if a.target > 0 and acc >= a.target:
                result = {"status": "reached", "steps_to_target": done}
                break
    result.update({"steps": done, "final_accuracy": acc, "wall_s": wall,
                   "img_per_s": done * a.batch_size / wall, "threads": a.threads,
                   "model": a.model, "batch_size": a.batch_size, "torch": torch.__version__})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
