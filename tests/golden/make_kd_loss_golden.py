#!/usr/bin/env python3
"""Writes kd_loss.json: golden values of the distillation objective computed by PyTorch.

The objective (Hinton et al. 2015, section 2), with p = softmax(v / T), q = softmax(z / T):
    L = alpha * T^2 * KL(p || q) + (1 - alpha) * CE(y, softmax(z))
computed here with torch.nn.functional.kl_div (batchmean) and cross_entropy, in float64,
together with dL/dz from autograd. Run from anywhere:
    .venv/bin/python tests/golden/make_kd_loss_golden.py
"""
import json
import pathlib

import torch
import torch.nn.functional as F


def case(seed, batch, classes, temperature, alpha, scale):
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(batch, classes, generator=g, dtype=torch.float64) * scale).requires_grad_()
    v = torch.randn(batch, classes, generator=g, dtype=torch.float64) * scale
    y = torch.randint(0, classes, (batch,), generator=g)
    soft = F.kl_div(F.log_softmax(z / temperature, 1), F.log_softmax(v / temperature, 1),
                    reduction="batchmean", log_target=True) * temperature ** 2
    hard = F.cross_entropy(z, y)
    loss = alpha * soft + (1 - alpha) * hard
    loss.backward()
    return {
        "temperature": temperature, "alpha": alpha,
        "student_logits": z.detach().tolist(), "teacher_logits": v.tolist(),
        "targets": y.tolist(), "soft": soft.item(), "hard": hard.item(),
        "loss": loss.item(), "grad_student_logits": z.grad.tolist(),
    }


def main():
    cases = [case(1, 4, 5, 1.0, 0.5, 1.0), case(2, 3, 10, 4.0, 0.9, 3.0),
             case(3, 8, 3, 20.0, 0.7, 5.0), case(4, 2, 7, 0.5, 1.0, 2.0),
             case(5, 5, 4, 2.0, 0.0, 1.0)]
    out = pathlib.Path(__file__).with_name("kd_loss.json")
    out.write_text(json.dumps({"generator": "make_kd_loss_golden.py",
                               "torch": torch.__version__, "cases": cases}, indent=1) + "\n")
    print(f"wrote {out} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
