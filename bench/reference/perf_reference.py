#!/usr/bin/env python3
"""One row of the throughput comparison, in plain PyTorch: what a competent user writes.

The counterpart of bench/bench_perf.cpp, with the same arguments and the same JSON output;
bench/perf.sh runs both. The loop is written the way a careful PyTorch user writes it: the
whole data set is one normalised float32 tensor in memory, batches are gathered with
index_select along a shuffled permutation (no DataLoader, no per-example collation), the
teacher runs under torch.inference_mode() in eval mode, the losses are kept as tensors (no per-step host
syncs), zero_grad sets gradients to None, and Adam runs its fastest CPU implementation
(`--adam fused` by default; `foreach` and `single` are PyTorch's other two). The learning
rate follows the same per-step cosine schedule as distillery's trainer, and each timed pass
excludes the evaluation that distillery runs after an epoch.

    perf_reference.py <row> <student> <fashion-mnist dir> [repeats=3] [limit=0] [batch=128]
"""
import argparse
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F

from fashion_mnist import training_set

def teacher_net():
    """configs/fashion_mnist.json's teacher: the same layers as distillery's make_convnet."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1, bias=False), torch.nn.BatchNorm2d(32),
        torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1, bias=False), torch.nn.BatchNorm2d(64),
        torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Dropout(0.3), torch.nn.Linear(64 * 7 * 7, 512), torch.nn.ReLU(),
        torch.nn.Dropout(0.3), torch.nn.Linear(512, 10))


def student_net(name):
    hidden = {"demo": [400, 400], "tiny": [8]}[name]
    layers, width = [torch.nn.Flatten()], 784
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def teacher_logits(teacher, x, batch=1000):
    with torch.inference_mode():
        return torch.cat([teacher(x[i:i + batch]) for i in range(0, len(x), batch)])


def kd_loss(z, v, y, t=2.0, alpha=0.5):
    """alpha * T^2 * KL(softmax(v/T) || softmax(z/T)) + (1 - alpha) * CE(z, y)."""
    soft = F.kl_div(F.log_softmax(z / t, dim=1), F.log_softmax(v / t, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * t * t * soft + (1 - alpha) * F.cross_entropy(z, y)


def train_epoch(row, student, teacher, x, y, stored, batch, adam, epoch):
    """One epoch, as distillery's trainer: shuffled batches, per-step cosine rate, Adam."""
    kwargs = {"fused": True} if adam == "fused" else {"foreach": adam == "foreach"}
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-3, **kwargs)
    student.train()
    generator = torch.Generator().manual_seed(epoch)
    order = torch.randperm(len(x), generator=generator)
    steps = (len(x) + batch - 1) // batch
    losses = []
    data_seconds = 0.0
    start = time.perf_counter()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = 0.5e-3 * (1 + math.cos(math.pi * step / steps))
        data_start = time.perf_counter()
        idx = order[step * batch:(step + 1) * batch]
        inputs, labels = x.index_select(0, idx), y.index_select(0, idx)
        targets = stored.index_select(0, idx) if row == "stored" else None
        data_seconds += time.perf_counter() - data_start
        z = student(inputs)
        if row == "hard":
            loss = F.cross_entropy(z, labels)
        elif row == "online":
            with torch.inference_mode():
                v = teacher(inputs)
            loss = kd_loss(z, v.clone(), labels)
        else:
            loss = kd_loss(z, targets, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    seconds = time.perf_counter() - start
    mean = torch.stack(losses).mean().item()  # one sync an epoch, as distillery
    if not math.isfinite(mean):
        sys.exit(f"{row}: loss became {mean}")
    return seconds, data_seconds


def median(values):
    return sorted(values)[len(values) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("row", choices=["teacher", "hard", "online", "stored", "matmul"])
    parser.add_argument("student", choices=["demo", "tiny"])
    parser.add_argument("data")
    parser.add_argument("repeats", type=int, nargs="?", default=3)
    parser.add_argument("limit", type=int, nargs="?", default=0)
    parser.add_argument("batch", type=int, nargs="?", default=128)
    parser.add_argument("--adam", choices=["fused", "foreach", "single"], default="fused")
    args = parser.parse_args()
    out = {"impl": "pytorch", "row": args.row, "student": args.student,
           "threads": torch.get_num_threads()}
    if args.row == "matmul":
        n = 1024
        a, b = torch.randn(n, n), torch.randn(n, n)
        c = torch.mm(a, b)
        rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for _ in range(10):
                torch.mm(a, b, out=c)
            rates.append(10 * n ** 3 / (time.perf_counter() - start))
        out.update(multiply_adds_per_second=median(rates), peak_rss_mib=peak_rss_mib())
        print(json.dumps(out))
        return 0
    x, labels = training_set(args.data, args.limit)  # [N, 1, 28, 28], [N]
    torch.manual_seed(0)
    teacher = teacher_net().eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    seconds = []
    if args.row == "teacher":
        for r in range(args.repeats + 1):
            start = time.perf_counter()
            teacher_logits(teacher, x, args.batch)
            if r > 0:
                seconds.append(time.perf_counter() - start)
        macs = (784 * 32 * 9 + 196 * 64 * 32 * 9) + 64 * 49 * 512 + 512 * 10
        out["multiply_adds_per_sample"] = macs
        out["multiply_adds_per_second"] = macs * len(x) / median(seconds)
    else:
        student = student_net(args.student)
        stored = teacher_logits(teacher, x, args.batch) if args.row == "stored" else None
        data_seconds = 0.0
        for r in range(args.repeats + 1):
            s, d = train_epoch(args.row, student, teacher, x, labels, stored, args.batch,
                               args.adam, r)
            if r > 0:
                seconds.append(s)
                data_seconds += d
        out["parameters"] = sum(p.numel() for p in student.parameters())
        out["data_share"] = data_seconds / sum(seconds)
    out["samples"] = len(x)
    out["seconds"] = seconds
    out["samples_per_second"] = len(x) / median(seconds)
    out["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
