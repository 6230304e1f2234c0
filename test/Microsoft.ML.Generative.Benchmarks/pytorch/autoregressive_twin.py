"""PyTorch twin of the autoregressive benchmark (test/Microsoft.ML.Generative.Benchmarks/Autoregressive.cs).

Same data split (files written by the C# suite), same models, initialization scheme, optimizer (AdamW 3e-3,
betas 0.9/0.999, weight decay 0.01 on matrices only), warm-up (100 steps) + cosine schedule to 0.1x, gradient clipping
at 1, 64 words per step with length bucketing, '.'-framed words (start/end/padding token, end counted in the NLL).
Usage: autoregressive_twin.py {gru|transformer} <dir with train.txt/test.txt> <context> <epochs> <threads>
Prints one JSON line: {"steps_per_second": ..., "test_nll": ...}.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import os

# Variants for experiments (defaults = the C# estimator's behaviour): BUCKET=1 sorts batches by length,
# SCHEDULE=constant keeps the rate at 3e-3, INIT=default keeps PyTorch's own initialization for the Transformer;
# LR, BETA2, MINLR (the cosine's final fraction), TIE=1 (Transformer head tied to the token embedding), SEED;
# OPT=muon trains the Transformer blocks' matrices with Muon at MUON_LR (as GenerativeOptimizer.Muon), the rest AdamW.
BUCKET = os.environ.get("BUCKET", "0") == "1"
SCHEDULE = os.environ.get("SCHEDULE", "cosine")
INIT = os.environ.get("INIT", "gpt2")
LR = float(os.environ.get("LR", "3e-3"))
BETA2 = float(os.environ.get("BETA2", "0.999"))
MINLR = float(os.environ.get("MINLR", "0.1"))
TIE = os.environ.get("TIE", "0") == "1"
OPT = os.environ.get("OPT", "adamw")
MUON_LR = float(os.environ.get("MUON_LR", "0.02"))

kind, folder, context, epochs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(int(os.environ.get("SEED", "1")))
train = open(f"{folder}/train.txt").read().split()
test = open(f"{folder}/test.txt").read().split()
chars = sorted(set("".join(train)))
stoi = {c: i + 2 for i, c in enumerate(chars)}  # 0 = boundary, 1 = unknown (as in the C# vocabulary)
V = len(chars) + 2


def encode(w):
    return [0] + [stoi.get(c, 1) for c in w] + [0]


class Rnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(V, 32)
        self.gru = nn.GRU(32, 128, 1, batch_first=True)
        self.head = nn.Linear(128, V)

    def forward(self, x):
        return self.head(self.gru(self.embedding(x))[0])


class Block(nn.Module):
    def __init__(self, d, h, m):
        super().__init__()
        self.h = h
        self.ln1, self.qkv, self.proj = nn.LayerNorm(d), nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ln2, self.fc, self.fcProj = nn.LayerNorm(d), nn.Linear(d, m), nn.Linear(m, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)  # (B, h, T, hs) each
        if hasattr(F, "scaled_dot_product_attention"):  # PyTorch >= 2.0 (fused kernel)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # Debian's PyTorch 1.13: the same maths, written out
            att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            att = att.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
            y = att.softmax(-1) @ v
        y = y.transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.fcProj(F.gelu(self.fc(self.ln2(x))))


class Gpt(nn.Module):
    def __init__(self, d=64, heads=4, mlp=256, layers=2):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, d), nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads, mlp) for _ in range(layers))
        self.lnf, self.head = nn.LayerNorm(d), nn.Linear(d, V)
        for name, p in self.named_parameters():  # GPT-2 initialization, as in the C# TransformerNetwork
            if INIT != "gpt2" or name.endswith("bias") or "ln" in name:
                continue
            std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") or name.endswith("fcProj.weight") else 0.02
            nn.init.normal_(p, 0, std)
        for name, p in self.named_parameters():
            if INIT == "gpt2" and name.endswith("bias") and "ln" not in name:
                nn.init.zeros_(p)

    def forward(self, x):
        x = self.wte(x) + self.wpe(torch.arange(x.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.lnf(x))


model = Rnn() if kind == "gru" else Gpt()
if TIE:
    model.head.weight = model.wte.weight


def orthogonalize(u, steps=5):
    """Five quintic Newton-Schulz steps toward u's semi-orthogonal factor (Jordan et al., 2024), as Muon.Orthogonalize."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = u / (u.norm() + 1e-7)
    tall = u.size(0) > u.size(1)
    if tall:
        x = x.T
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.T if tall else x


class Muon(torch.optim.Optimizer):
    """Nesterov momentum 0.95, orthogonalized update scaled by sqrt(max(1, rows/cols)), no weight decay."""

    def __init__(self, params, lr):
        super().__init__(params, dict(lr=lr))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                buf = self.state[p].setdefault("momentum", torch.zeros_like(p))
                buf.mul_(0.95).add_(p.grad)
                p.add_(orthogonalize(p.grad + 0.95 * buf), alpha=-group["lr"] * max(1, p.size(0) / p.size(1)) ** 0.5)


muon_params = [p for n, p in model.named_parameters() if OPT == "muon" and n.startswith("blocks.") and p.dim() == 2]
muon = Muon(muon_params, MUON_LR) if muon_params else None
rest = [p for p in model.parameters() if all(p is not q for q in muon_params)]
decay = [p for p in rest if p.dim() >= 2]
other = [p for p in rest if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0.0}], lr=LR, betas=(0.9, BETA2))
batches_per_epoch = (len(train) + 63) // 64
total = epochs * batches_per_epoch
warmup = 100


def factor(step):
    if SCHEDULE == "constant":
        return 1.0
    if step <= warmup:
        return step / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return MINLR + (1 - MINLR) * 0.5 * (1 + math.cos(math.pi * progress))


def batch(words):
    seqs = [encode(w) for w in words]
    t = max(len(s) - 1 for s in seqs)
    x = torch.zeros(len(seqs), t, dtype=torch.long)
    y = torch.full((len(seqs), t), -100, dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, : len(s) - 1] = torch.tensor(s[:-1])
        y[i, : len(s) - 1] = torch.tensor(s[1:])
    return x, y


g = torch.Generator().manual_seed(1)
step = 0
train_seconds = 0.0
for epoch in range(epochs):
    model.train()
    order = torch.randperm(len(train), generator=g).tolist()
    chunk = 64 * 32
    for c0 in range(0, len(order), chunk):  # optional length bucketing, as in SequenceBatchSource
        part = sorted(order[c0 : c0 + chunk], key=lambda i: len(train[i])) if BUCKET else order[c0 : c0 + chunk]
        groups = [part[i : i + 64] for i in range(0, len(part), 64)]
        for k in torch.randperm(len(groups), generator=g).tolist():
            x, y = batch([train[i] for i in groups[k]])
            start = time.perf_counter()
            step += 1
            for group in opt.param_groups:
                group["lr"] = LR * factor(step)
            if muon is not None:
                for group in muon.param_groups:
                    group["lr"] = MUON_LR * factor(step)
            loss = F.cross_entropy(model(x).view(-1, V), y.view(-1), ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            if muon is not None:
                muon.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if muon is not None:
                muon.step()
            train_seconds += time.perf_counter() - start

model.eval()
with torch.no_grad():
    nll, tokens = 0.0, 0
    for i in range(0, len(test), 512):
        x, y = batch(test[i : i + 512])
        nll += F.cross_entropy(model(x).view(-1, V), y.view(-1), ignore_index=-100, reduction="sum").item()
        tokens += (y != -100).sum().item()
print(json.dumps({"steps_per_second": step / train_seconds, "test_nll": nll / tokens, "steps": step}))
