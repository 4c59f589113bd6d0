#!/usr/bin/env python3
"""The PyTorch distillation loop a competent user would write, for parity with distillery.

Reads what bench/reference/parity_dump wrote (the student's initial weights, the batch order,
the stored teacher logits and distillery's per-step losses), trains the same student the same
way in plain PyTorch (Adam, per-step cosine learning rate, kd_loss = alpha * T^2 * KL(p || q)
+ (1 - alpha) * CE at T = 1, as in DESIGN.md), and compares: the per-step losses must agree to
`--loss-rtol` relative, and the final weights to `--weight-rtol` relative (per tensor, the
norm of the difference over the norm of the tensor). Step 0 agrees exactly; float32 rounding
differences (distillery's kd_loss has a closed-form backward, autograd another order of
operations) are amplified by Adam's normalisation over the steps, so single weights drift
apart by up to about 1e-3 absolute while the tensors agree to about 1e-5 relative.

    distill_reference.py <fashion-mnist dir> <dump dir> [--loss-rtol 1e-4] [--weight-rtol 1e-4]

Exit code 0 when both agree, 1 otherwise (with the largest differences printed).
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.jit._pickle  # noqa: F401  (restore_type_tag, in files from torch::pickle_save)
import torch.nn.functional as F

from fashion_mnist import training_set

def load(path):
    with torch.serialization.safe_globals([torch.jit._pickle.restore_type_tag]):
        return torch.load(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("dump")
    parser.add_argument("--loss-rtol", type=float, default=1e-4)
    parser.add_argument("--weight-rtol", type=float, default=1e-4)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    record = json.load(open(os.path.join(args.dump, "losses.json")))
    steps, batch = record["steps"], record["batch_size"]
    t, alpha, base_lr = record["temperature"], record["alpha"], record["learning_rate"]
    n = steps * batch
    x, labels = training_set(args.data, n)  # normalised in float32 as distillery's loader
    dtype = torch.float64 if record.get("dtype") == "float64" else torch.float32
    x = x.to(dtype)  # [N, 1, 28, 28]
    order = load(os.path.join(args.dump, "order.pt"))
    teacher_logits = load(os.path.join(args.dump, "teacher.pt"))

    student = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(784, 400), torch.nn.ReLU(),
        torch.nn.Linear(400, 400), torch.nn.ReLU(), torch.nn.Linear(400, 10))
    student.to(dtype)
    student.load_state_dict(load(os.path.join(args.dump, "init.pt")))
    optimizer = torch.optim.Adam(student.parameters(), lr=base_lr, fused=True)  # as distillery
    student.train()
    losses = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = 0.5 * base_lr * (1 + math.cos(math.pi * step / steps))
        idx = order[step * batch:(step + 1) * batch]
        z = student(x[idx])
        p_log = F.log_softmax(teacher_logits[idx] / t, dim=1)
        q_log = F.log_softmax(z / t, dim=1)
        soft = (p_log.exp() * (p_log - q_log)).sum(1).mean()
        loss = alpha * t * t * soft + (1 - alpha) * F.cross_entropy(z, labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    ours = torch.stack(losses).double()
    theirs = torch.tensor(record["losses"], dtype=torch.float64)
    rel = (ours - theirs).abs() / theirs.abs()
    loss_rel = rel.max().item()
    print("relative loss difference at steps 0, 1, 10, 50, 100, last: " + ", ".join(
        f"{rel[i].item():.1e}" for i in (0, 1, 10, 50, 100, steps - 1) if i < steps))
    final = load(os.path.join(args.dump, "final.pt"))
    mine = student.state_dict()
    weight_abs = max((mine[k] - v).abs().max().item() for k, v in final.items())
    # Per tensor: the norm of the difference over the norm of the tensor.
    weight_rel = max(((mine[k] - v).norm() / v.norm()).item() for k, v in final.items())
    print(f"{steps} steps: max relative loss difference {loss_rel:.3e} (limit {args.loss_rtol}); "
          f"final weights: max relative difference (per-tensor norm) {weight_rel:.3e} (limit "
          f"{args.weight_rtol}), max absolute difference {weight_abs:.3e}")
    return 0 if loss_rel <= args.loss_rtol and weight_rel <= args.weight_rtol else 1


if __name__ == "__main__":
    sys.exit(main())
