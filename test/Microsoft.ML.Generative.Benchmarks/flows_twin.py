"""PyTorch twin of the flows benchmark's two-moons RealNVP (run by the "flows" suite, interleaved with ours).

Same model as Microsoft.ML.Generative's FlowArchitecture.RealNvp: per-feature standardization with the training
data's mean and population standard deviation (its Jacobian counted), then 8 affine couplings with alternating masks
[1, 0] / [0, 1]; each conditioner is an MLP 2-128-128-4 (ReLU) on the masked input whose last layer starts at zero;
log-scale s = 3·tanh(raw/3), y = x·exp(s) + t on the free coordinate; base N(0, I). Adam 1e-3 (betas 0.9, 0.999),
batch 256, shuffled with a fresh permutation each epoch, torch threads = 2. Same data (CSV files written by the C#
suite). Prints one JSON line: training points/s per epoch (training steps only) and test NLL per epoch.

Usage: python3 flows_twin.py <train.csv> <test.csv> <epochs> <seed>
"""
import json
import math
import sys
import time

import torch
from torch import nn

torch.set_num_threads(2)


def load(path):
    rows = [list(map(float, line.split(","))) for line in open(path) if line.strip()]
    return torch.tensor(rows, dtype=torch.float32)


class Coupling(nn.Module):
    def __init__(self, d, mask, hidden=(128, 128)):
        super().__init__()
        layers, width = [], d
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        last = nn.Linear(width, 2 * d)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)
        self.register_buffer("mask", torch.tensor(mask, dtype=torch.float32))
        self.d = d

    def forward(self, x):
        free = 1 - self.mask
        h = self.net(x * self.mask)
        s = 3 * torch.tanh(h[:, : self.d] / 3) * free
        t = h[:, self.d :] * free
        return x * torch.exp(s) + t, s.sum(1)


class RealNvp(nn.Module):
    def __init__(self, d, layers, mean, std):
        super().__init__()
        self.layers = nn.ModuleList(
            [Coupling(d, [1.0 if (j + i) % 2 == 0 else 0.0 for j in range(d)]) for i in range(layers)]
        )
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def nll(self, x):
        u = (x - self.mean) / self.std
        logdet = -torch.log(self.std).sum().expand(x.shape[0])
        for layer in self.layers:
            u, l = layer(u)
            logdet = logdet + l
        return 0.5 * (u * u).sum(1) + 0.5 * u.shape[1] * math.log(2 * math.pi) - logdet


def main():
    train, test = load(sys.argv[1]), load(sys.argv[2])
    epochs, seed = int(sys.argv[3]), int(sys.argv[4])
    torch.manual_seed(seed)
    mean = train.double().mean(0).float()
    std = train.double().std(0, unbiased=False).float()
    model = RealNvp(2, 8, mean, std)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates, nlls = [], []
    for _ in range(epochs):
        order = torch.randperm(train.shape[0])
        start = time.perf_counter()
        model.train()
        for i in range(0, train.shape[0], 256):
            batch = train[order[i : i + 256]]
            loss = model.nll(batch).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        rates.append(train.shape[0] / (time.perf_counter() - start))
        model.eval()
        with torch.no_grad():
            nlls.append(model.nll(test).mean().item())
    print(json.dumps({"pointsPerSecond": rates, "testNll": nlls, "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
