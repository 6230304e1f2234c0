#!/usr/bin/env python3
"""PyTorch twin of the library's VAE benchmark, for side-by-side runs only (never needed by the tests).

Same model as VariationalAutoencoderOptions' defaults used by the benchmark: 784-400-20, ReLU, Bernoulli likelihood
(binary cross-entropy from logits, summed over pixels) + KL(q(z|x) || N(0, I)), mean over the batch; Adam 1e-3
(0.9, 0.999); batch 128 with a fresh random permutation per epoch; PyTorch's default initialization (which TorchSharp
mirrors). Data: the split written by the C# harness (uint8 pixels), so both sides train on identical rows.

Install once (Debian 12): apt-get install python3-torch libopenblas0-openmp   (then run with /usr/bin/python3)
Usage: vae_twin.py DATA_DIR EPOCHS THREADS   -> prints one JSON line
       vae_twin.py DATA_DIR 0 THREADS gemm     -> the step's 14 matrix products alone (ms per step), one JSON line
"""
import json
import os
import sys
import time

START = time.perf_counter()
import torch  # noqa: E402  (imported after the clock starts: the import is part of the process cost)


def load(path):
    raw = open(path, "rb").read()
    x = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, 784).float().div_(255.0)
    return x


def peak_rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


class Vae(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Linear(784, 400), torch.nn.ReLU())
        self.mu = torch.nn.Linear(400, 20)
        self.log_var = torch.nn.Linear(400, 20)
        self.decoder = torch.nn.Sequential(torch.nn.Linear(20, 400), torch.nn.ReLU(), torch.nn.Linear(400, 784))

    def encode(self, x):
        h = self.encoder(x)
        return self.mu(h), self.log_var(h)


def negative_elbo(model, x, noise=True):
    mu, log_var = model.encode(x)                                   # [B, 20] each
    z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu) if noise else mu
    logits = model.decoder(z)                                       # [B, 784]
    rec = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    kl = 0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var).sum(1)
    return rec + kl                                                 # [B]


def gemm_ms_per_step():
    """The 14 matrix products of one training step (batch 128), as in PyTorchTwin.GemmMsPerStep on the C# side:
    forward bias + x W^T per layer, weight gradient delta^T x, input gradient delta W except for the first layer."""
    b = 128
    g = torch.Generator().manual_seed(1)
    work = []
    for inputs, outputs, input_gradient in [(784, 400, False), (400, 20, True), (400, 20, True), (20, 400, True), (400, 784, True)]:
        x = torch.randn(b, inputs, generator=g)
        w = torch.randn(outputs, inputs, generator=g)
        bias = torch.randn(outputs, generator=g)
        delta = torch.randn(b, outputs, generator=g)
        wt, delta_t = w.t(), delta.t()
        work.append(lambda bias=bias, x=x, wt=wt: torch.addmm(bias, x, wt))        # results allocated, as in training
        work.append(lambda delta_t=delta_t, x=x: torch.mm(delta_t, x))
        if input_gradient:
            work.append(lambda delta=delta, w=w: torch.mm(delta, w))
    for _ in range(50):
        for op in work:
            op()
    blocks = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(100):
            for op in work:
                op()
        blocks.append((time.perf_counter() - t) * 1000 / 100)
    blocks.sort()
    return blocks[len(blocks) // 2]


def main():
    data_dir, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    if len(sys.argv) > 4 and sys.argv[4] == "gemm":
        with torch.no_grad():
            print(json.dumps({"side": "gemm", "gemmMsPerStep": gemm_ms_per_step()}))
        return
    torch.manual_seed(1)
    fit_start = time.perf_counter()
    train = load(os.path.join(data_dir, "train.u8"))
    model = Vae()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = train.shape[0]
    epoch_rates = []
    train_seconds = 0.0
    for _ in range(epochs):
        t = time.perf_counter()
        order = torch.randperm(n)
        for start in range(0, n, 128):
            x = train.index_select(0, order[start:start + 128])
            loss = negative_elbo(model, x).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        dt = time.perf_counter() - t
        train_seconds += dt
        epoch_rates.append(n / dt)
    fit_seconds = time.perf_counter() - fit_start
    test = load(os.path.join(data_dir, "test.u8"))
    with torch.inference_mode():
        scores = torch.cat([negative_elbo(model, test[s:s + 512], noise=False) for s in range(0, test.shape[0], 512)])
    epoch_rates.sort()
    print(json.dumps({
        "side": "pytorch",
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "epochRowsPerSecond": epoch_rates[len(epoch_rates) // 2],
        "trainSeconds": train_seconds,
        "fitSeconds": fit_seconds,
        "processSeconds": time.perf_counter() - START,
        "peakRssKib": peak_rss_kib(),
        "testScore": float(scores.mean()),
    }))


if __name__ == "__main__":
    main()
