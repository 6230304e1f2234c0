"""PyTorch twin of the evaluation's tensor work (Fréchet distance, MMD² with a permutation test, precision / recall /
density / coverage, distances to the closest record), the same algorithms in float64, for the evaluation benchmark.

Usage: python3 evaluation_twin.py DIR THREADS
DIR holds real.bin, generated.bin, training.bin (float32, row-major) and shape.txt ("rows width").
Prints one JSON object: seconds per stage and the values, so that the C# run can check it computes the same.
"""
import json
import sys
import time

import numpy as np
import torch

BLOCK = 1024


def load(directory, name, rows, width):
    data = np.fromfile(f"{directory}/{name}.bin", dtype=np.float32).reshape(rows, width)
    return torch.from_numpy(data).to(torch.float64)


def fit(x):
    mean = x.mean(0)
    c = x - mean
    return mean, c.t().mm(c) / (x.shape[0] - 1)


def clamp(values):
    largest = values.abs().max()
    threshold = values.shape[0] * 2.220446049250313e-16 * largest
    return torch.where(values > threshold, values, torch.zeros_like(values))


def frechet(x, y):
    m1, c1 = fit(x)
    m2, c2 = fit(y)
    values, vectors = torch.linalg.eigh(c1)
    s = (vectors * clamp(values).sqrt().unsqueeze(0)).mm(vectors.t())
    m = s.mm(c2).mm(s)
    m = (m + m.t()) * 0.5
    trace_sqrt = clamp(torch.linalg.eigvalsh(m)).sqrt().sum()
    return max(0.0, float((m1 - m2).square().sum() + c1.trace() + c2.trace() - 2 * trace_sqrt))


def squared_distances(x, y, xn=None, yn=None):
    xn = x.square().sum(1) if xn is None else xn
    yn = y.square().sum(1) if yn is None else yn
    return (x.mm(y.t()) * -2.0 + xn.unsqueeze(1) + yn.unsqueeze(0)).clamp_min_(0.0)


def mmd(x, y, permutations, seed):
    m, n = x.shape[0], y.shape[0]
    total = m + n
    pooled = torch.cat([x, y])
    sq = squared_distances(pooled, pooled)
    upper = torch.ones(total, total, dtype=torch.bool).triu(1)
    median_sq = float(sq.masked_select(upper).median())
    k = sq.div_(-2.0 * median_sq).exp_()
    k.diagonal().zero_()
    generator = torch.Generator().manual_seed(seed)
    a = torch.zeros(total, permutations + 1, dtype=torch.float64)
    a[:m, 0] = 1
    for c in range(1, permutations + 1):
        a[torch.randperm(total, generator=generator)[:m], c] = 1
    row_sums = k.sum(1)
    everything = float(row_sums.sum())
    aka = (a * k.mm(a)).sum(0)
    ak1 = a.t().mv(row_sums)
    bkb = aka - 2 * ak1 + everything
    akb = ak1 - aka
    stat = aka / (m * (m - 1.0)) + bkb / (n * (n - 1.0)) - akb * (2.0 / (m * n))
    p = (1 + int((stat[1:] >= stat[0]).sum())) / (permutations + 1)
    return float(stat[0]), median_sq ** 0.5, p


def radii(x, k):
    norms = x.square().sum(1)
    out = torch.empty(x.shape[0], dtype=torch.float64)
    for s in range(0, x.shape[0], BLOCK):
        d = squared_distances(x[s:s + BLOCK], x, norms[s:s + BLOCK], norms)
        out[s:s + BLOCK] = d.kthvalue(k + 1, 1).values
    return out


def prdc(real, fake, k):
    rr, rf = radii(real, k), radii(fake, k)
    rn, fn = real.square().sum(1), fake.square().sum(1)
    precision = 0
    density = 0.0
    nearest = torch.full((real.shape[0],), float("inf"), dtype=torch.float64)
    recalled = torch.zeros(real.shape[0], dtype=torch.bool)
    for s in range(0, fake.shape[0], BLOCK):
        d = squared_distances(fake[s:s + BLOCK], real, fn[s:s + BLOCK], rn)
        inside = d <= rr.unsqueeze(0)
        precision += int(inside.any(1).sum())
        density += float(inside.sum())
        nearest = torch.minimum(nearest, d.amin(0))
        recalled |= (d <= rf[s:s + BLOCK].unsqueeze(1)).any(0)
    return (precision / fake.shape[0], float(recalled.sum()) / real.shape[0],
            density / (k * fake.shape[0]), float((nearest <= rr).sum()) / real.shape[0])


def closest(x, reference):
    rn, xn = reference.square().sum(1), x.square().sum(1)
    out = []
    for s in range(0, x.shape[0], BLOCK):
        out.append(squared_distances(x[s:s + BLOCK], reference, xn[s:s + BLOCK], rn).amin(1).sqrt())
    return torch.cat(out)


def main():
    directory, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    rows, width = map(int, open(f"{directory}/shape.txt").read().split())
    real, fake, training = (load(directory, n, rows, width) for n in ("real", "generated", "training"))
    result = {"threads": torch.get_num_threads(), "torch": torch.__version__}

    t = time.perf_counter()
    result["frechet"] = frechet(real, fake)
    result["frechet_seconds"] = time.perf_counter() - t

    t = time.perf_counter()
    result["mmd2"], result["mmd_bandwidth"], result["mmd_p"] = mmd(real[:2000], fake[:2000], 200, 1)
    result["mmd_seconds"] = time.perf_counter() - t

    t = time.perf_counter()
    result["precision"], result["recall"], result["density"], result["coverage"] = prdc(real, fake, 5)
    result["prdc_seconds"] = time.perf_counter() - t

    t = time.perf_counter()
    dcr_fake, dcr_real = closest(fake, training), closest(real, training)
    result["dcr_median_generated"] = float(dcr_fake.median())
    result["dcr_seconds"] = time.perf_counter() - t
    print(json.dumps(result))


if __name__ == "__main__":
    main()
