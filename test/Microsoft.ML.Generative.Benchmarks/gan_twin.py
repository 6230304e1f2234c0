"""PyTorch twin of the GAN benchmark (the issue's anchor): G 64-256-512-784, D 784-512-256-1, LeakyReLU 0.2, tanh
output, non-saturating loss, Adam 2e-4 (0.5, 0.999), batch 128 with the last partial batch dropped, one D step then
one G step (the generated batch is reused for the G step, as in the PyTorch DCGAN tutorial).

Usage: gan_twin.py TRAIN.f32 EPOCHS SAMPLES.f32 SEED
TRAIN.f32: float32 rows of 784 intensities in [0, 1]. Prints one JSON line per epoch ({"epoch", "seconds", "images"})
and writes 2,000 generated digits (intensities in [0, 1]) to SAMPLES.f32."""
import json
import sys
import time

import numpy as np
import torch
from torch import nn

train_path, epochs, samples_path, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
torch.set_num_threads(2)
torch.manual_seed(seed)
x = torch.from_numpy(np.fromfile(train_path, dtype=np.float32).reshape(-1, 784)) * 2 - 1   # [N, 784] in [-1, 1]
G = nn.Sequential(nn.Linear(64, 256), nn.LeakyReLU(0.2), nn.Linear(256, 512), nn.LeakyReLU(0.2), nn.Linear(512, 784), nn.Tanh())
D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
bce = nn.BCEWithLogitsLoss()
batch = 128
for epoch in range(1, epochs + 1):
    start = time.perf_counter()
    order = torch.randperm(x.shape[0])
    images = 0
    for i in range(0, x.shape[0] - batch + 1, batch):   # drop the last partial batch
        real = x[order[i:i + batch]]
        ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
        fake = G(torch.randn(batch, 64))
        # D step: real -> 1, fake -> 0.
        loss_d = bce(D(real), ones) + bce(D(fake.detach()), zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        # G step: fake -> 1 (non-saturating).
        loss_g = bce(D(fake), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        images += batch
    print(json.dumps({"epoch": epoch, "seconds": time.perf_counter() - start, "images": images, "lossD": loss_d.item(), "lossG": loss_g.item()}), flush=True)
with torch.no_grad():
    G.eval()
    samples = (G(torch.randn(2000, 64)) + 1) / 2
samples.numpy().astype(np.float32).tofile(samples_path)
