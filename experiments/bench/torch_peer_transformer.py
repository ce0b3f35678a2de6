#!/usr/bin/python3
"""PyTorch (Python) peer of `batchlab train` for the Transformers (realtrain/transformer.h).

The same model (pre-LN blocks, exact GELU, tied embeddings, learned positions, GPT-2
initialisation), the same data, AdamW with the same parameter groups (no decay on LayerNorm,
biases and embeddings), the same threads. Causal attention is written the usual PyTorch 1.13 way
(nanoGPT's: q k^T, scaled, masked_fill(-inf), softmax, times v); --attention baddbmm uses
batchlab's form instead (one baddbmm computes scale q k^T + an additive mask), to separate the
language from the formulation:

  gpt:L-W-H-C on the text dataset: the bytes of a plain/gzip/.dz file, split as batchlab does
      (the last 1/128 of each of 16 equal segments is validation), training windows of C + 1
      bytes at i C + U[0, C) (clipped to the split), examples drawn by a fresh permutation
      per epoch; loss = mean next-byte cross-entropy over the N x C targets.
  vit:P-W-L-H on Fashion-MNIST (idx.gz, pixels / 255 normalised with mean 0.2860 / std 0.3530).

Measures the training loop's throughput (tokens/s for gpt, img/s for vit; evaluation
excluded), like batchlab's summary.json, and prints one JSON line.

  /usr/bin/python3 experiments/bench/torch_peer_transformer.py --model gpt:2-128-4-128 \
      --batch-size 32 --steps 50 --threads 2
Use Debian's /usr/bin/python3 (python3-torch 1.13.1, the same LibTorch as batchlab).
"""
import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

INIT_STD = 0.02


ATTENTION = "matmul"  # or "baddbmm" (--attention)


class Block(nn.Module):
    def __init__(self, width, heads, layers):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)
        for lin in (self.qkv, self.proj, self.fc1, self.fc2):
            residual = lin is self.proj or lin is self.fc2
            nn.init.normal_(lin.weight, 0.0, INIT_STD / math.sqrt(2 * layers) if residual else INIT_STD)
            nn.init.zeros_(lin.bias)

    def forward(self, x, causal):
        n, t, w = x.shape
        q, k, v = (z.view(n, t, self.heads, w // self.heads).transpose(1, 2) for z in self.qkv(self.ln1(x)).split(w, -1))
        d = q.shape[-1]
        if ATTENTION == "baddbmm" and causal:
            mask = torch.zeros(t, t, device=x.device).masked_fill(
                torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
            scores = torch.baddbmm(mask, q.reshape(n * self.heads, t, d), k.reshape(n * self.heads, t, d).transpose(1, 2),
                                   beta=1.0, alpha=1.0 / math.sqrt(d))
            a = torch.bmm(torch.softmax(scores, -1), v.reshape(n * self.heads, t, d)).view(n, self.heads, t, d)
        else:
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
            if causal:
                later = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
                scores = scores.masked_fill(later, float("-inf"))
            a = torch.softmax(scores, -1) @ v
        x = x + self.proj(a.transpose(1, 2).reshape(n, t, w))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


def embedding(rows, width):
    e = nn.Embedding(rows, width)
    nn.init.normal_(e.weight, 0.0, INIT_STD)
    return e


class Gpt(nn.Module):
    def __init__(self, layers, width, heads, context, vocab=256):
        super().__init__()
        self.tok_emb = embedding(vocab, width)
        self.pos_emb = embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads, layers) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)

    def forward(self, tokens):
        x = self.tok_emb(tokens) + self.pos_emb.weight[: tokens.shape[1]]
        for b in self.blocks:
            x = b(x, True)
        return F.linear(self.ln_f(x), self.tok_emb.weight)


class Vit(nn.Module):
    def __init__(self, patch, width, layers, heads, channels=1, size=28, classes=10):
        super().__init__()
        self.patch = patch
        self.patch_embed = nn.Linear(channels * patch * patch, width)
        self.cls_token = embedding(1, width)
        self.pos_emb = embedding(1 + (size // patch) ** 2, width)
        self.blocks = nn.ModuleList(Block(width, heads, layers) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)
        for lin in (self.patch_embed, self.head):
            nn.init.normal_(lin.weight, 0.0, INIT_STD)
            nn.init.zeros_(lin.bias)

    def forward(self, x):
        n, c, h, w = x.shape
        p = self.patch
        patches = x.reshape(n, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(n, (h // p) * (w // p), c * p * p)
        z = torch.cat([self.cls_token.weight.expand(n, 1, -1), self.patch_embed(patches)], 1) + self.pos_emb.weight
        for b in self.blocks:
            z = b(z, False)
        return self.head(self.ln_f(z[:, 0]))


def param_groups(model, weight_decay):
    """LayerNorm, biases and embedding tables undecayed, as realtrain/models.cpp param_groups."""
    excluded = set()
    for m in model.modules():
        if isinstance(m, (nn.LayerNorm, nn.Embedding)):
            excluded.update(id(p) for p in m.parameters(recurse=False))
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith(".bias") or id(p) in excluded else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def text_train_split(path):
    """The training bytes under batchlab's rule (realtrain/data/sources.h)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    n, parts = len(raw), []
    for s in range(16):
        begin, end = s * n // 16, (s + 1) * n // 16
        parts.append(raw[begin: end - (end - begin) // 128])
    return np.frombuffer(b"".join(parts), dtype=np.uint8)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def gpt_batches(a, context, gen):
    """The training windows, batch by batch. The corpus is read here, before the timed loop."""
    data = torch.from_numpy(text_train_split(a.text).astype(np.int64))
    return _gpt_windows(a, data, context, gen)


def _gpt_windows(a, data, context, gen):
    regions = (len(data) - 1) // context
    per_epoch, k, perm = regions // a.batch_size, 0, None
    offsets = torch.arange(context + 1)
    while True:
        if k % per_epoch == 0:
            perm = torch.randperm(regions, generator=gen)
        idx = perm[(k % per_epoch) * a.batch_size:(k % per_epoch + 1) * a.batch_size]
        start = torch.clamp(idx * context + torch.randint(0, context, (a.batch_size,), generator=gen),
                            max=len(data) - context - 1)
        w = data[start.unsqueeze(1) + offsets]
        yield w[:, :-1], w[:, 1:]
        k += 1


def vit_batches(a, gen):
    """The training images, batch by batch. The files are read here, before the timed loop."""
    x = read_idx(os.path.join(a.fmnist, "train-images-idx3-ubyte.gz"))
    y = torch.from_numpy(read_idx(os.path.join(a.fmnist, "train-labels-idx1-ubyte.gz")).astype(np.int64))
    x = ((torch.from_numpy(x.astype(np.float32)) / 255.0 - 0.2860) / 0.3530).unsqueeze(1).contiguous()
    return _vit_images(a, x, y, gen)


def _vit_images(a, x, y, gen):
    per_epoch, k, perm = len(x) // a.batch_size, 0, None
    while True:
        if k % per_epoch == 0:
            perm = torch.randperm(len(x), generator=gen)
        idx = perm[(k % per_epoch) * a.batch_size:(k % per_epoch + 1) * a.batch_size]
        yield x[idx], y[idx]
        k += 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="gpt:L-W-H-C or vit:P-W-L-H")
    p.add_argument("--text", default="/usr/share/dictd/gcide.dict.dz")
    p.add_argument("--fmnist", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: forward under torch.autocast(cpu, bfloat16), float32 weights (as batchlab)")
    p.add_argument("--attention", choices=["matmul", "baddbmm"], default="matmul")
    a = p.parse_args()
    global ATTENTION
    ATTENTION = a.attention

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    kind, dims = a.model.split(":")
    dims = [int(v) for v in dims.split("-")]
    if kind == "gpt":
        model, batches, per_example = Gpt(*dims), gpt_batches(a, dims[3], gen), dims[3]
    else:
        model, batches, per_example = Vit(*dims), vit_batches(a, gen), 1
    opt = torch.optim.AdamW(param_groups(model, a.weight_decay), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    wall, first_loss, loss_v = 0.0, None, float("nan")
    for step in range(a.steps):
        t0 = time.perf_counter()
        x, y = next(batches)
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            logits = model(x)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        opt.step()
        loss_v = loss.item()  # batchlab logs the loss every step: same synchronisation
        wall += time.perf_counter() - t0
        first_loss = loss_v if first_loss is None else first_loss
    rate = a.steps * a.batch_size * per_example / wall
    print(json.dumps({"model": a.model, "batch_size": a.batch_size, "steps": a.steps, "threads": a.threads,
                      "precision": a.precision, "attention": a.attention,
                      "wall_s": wall, "tokens_per_s" if kind == "gpt" else "img_per_s": rate,
                      "first_loss": first_loss, "last_loss": loss_v,
                      "parameters": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
