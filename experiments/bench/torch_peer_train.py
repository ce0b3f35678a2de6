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

--device cuda is the peer of `batchlab train --backend nccl` on one GPU (scripts/gpu_check): the
model on the GPU, each batch normalised on the host and copied to it, as batchlab's loader does.
--model resnet20 is batchlab's CIFAR ResNet-20 (He et al. 2016, option A shortcuts) on the
dataset's images. Needs only torch (no numpy), so any CUDA PyTorch install can run it.
"""
import argparse
import gzip
import json
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    """An idx(.gz) file of uint8 values as a uint8 tensor of its dimensions."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split, data_dir):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    x = (x.to(torch.float32) / 255.0 - 0.2860) / 0.3530
    return x.unsqueeze(1).contiguous(), y.to(torch.int64)


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


class BasicBlockA(nn.Module):
    """He et al. 2016 basic block with the CIFAR option A shortcut (stride-2 subsampling, zero
    channels padded half before, half after), as batchlab's BasicBlockA."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, cout - cin

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        s = x[:, :, ::self.stride, ::self.stride] if self.stride != 1 else x
        if self.pad > 0:
            s = F.pad(s, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(y + s)


class CifarResNet(nn.Module):
    """ResNet-(6n+2): 3x3-16 stem, 3 stages of n blocks (16, 32, 64 channels), global average
    pool, fc; Kaiming-normal (fan out) convolutions, BN gamma 1 and beta 0 (batchlab's init)."""

    def __init__(self, blocks_per_stage, channels=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for s, width in enumerate((16, 32, 64)):
            for b in range(blocks_per_stage):
                blocks.append(BasicBlockA(cin, width, 2 if s > 0 and b == 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


MODELS = {"mlp": Mlp, "simple-cnn": SimpleCnn, "resnet20": lambda: CifarResNet(3)}


@torch.no_grad()
def evaluate(model, x, y, device):
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(x), 1000):
        xb, yb = x[i:i + 1000].to(device), y[i:i + 1000].to(device)
        logits = model(xb)
        loss += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
    model.train()
    return loss / len(x), correct / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--model", choices=sorted(MODELS), default="mlp")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--target", type=float, default=-1.0)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.exit(2, f"torch_peer_train.py: --device {a.device}: torch {torch.__version__} sees no CUDA device\n")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr = load("train", a.data_dir)
    xte, yte = load("test", a.data_dir)
    model = MODELS[a.model]().to(device)
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
        x, y = xtr[idx].to(device), ytr[idx].to(device)
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()  # batchlab logs the loss every step: same synchronisation
        wall += time.perf_counter() - t0
        done = step + 1
        if done % a.eval_every == 0 or done == a.steps:
            _, acc = evaluate(model, xte, yte, device)
            if a.target > 0 and acc >= a.target:
                result = {"status": "reached", "steps_to_target": done}
                break
    result.update({"steps": done, "final_accuracy": acc, "wall_s": wall,
                   "img_per_s": done * a.batch_size / wall, "threads": a.threads,
                   "model": a.model, "batch_size": a.batch_size, "torch": torch.__version__,
                   "device": str(device)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
