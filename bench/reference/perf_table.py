#!/usr/bin/env python3
"""Writes bench/perf.sh's measurements as the perf section of bench/RESULTS.md.

    perf_table.py <measurements.jsonl> <RESULTS.md> <command>

Each line of the measurements is one JSON object from bench_perf or perf_reference.py. The
section (between "<!-- perf:begin -->" and "<!-- perf:end -->") is replaced, the rest of the
file kept. Also prints the table.
"""
import json
import os
import platform
import sys

import torch

# (row, prefetch on the distillery side, name); PyTorch rows are always without prefetch.
ROWS = [("hard", False, "student on hard labels"),
        ("hard", True, "student on hard labels, `prefetch`"),
        ("online", False, "distillation, teacher online"),
        ("stored", False, "distillation, stored soft targets"),
        ("stored", True, "distillation, stored soft targets, `prefetch`")]
TARGETS = {("demo", "hard"): 1.1, ("demo", "online"): 1.1, ("demo", "stored"): 1.1,
           ("tiny", "hard"): 1.5, ("tiny", "online"): 1.5, ("tiny", "stored"): 1.5}


def target(student, row, prefetch):
    """The issue's target for a row; prefetch is the recommended setting for the tiny student
    only, and its demo rows are there to show what it costs a larger one."""
    if prefetch and student == "demo":
        return "none (not recommended here)"
    return f">= {TARGETS[(student, row)]}"


def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return (f"{model}, {os.cpu_count()} hardware threads, {memory:.0f} GiB, "
            f"{platform.system()} {platform.release()}; LibTorch and PyTorch {torch.__version__}")


def main():
    path, results_md, command = sys.argv[1:4]
    found = {}
    for line in open(path):
        if line.strip():
            m = json.loads(line)
            found[(m["impl"], m["row"], m["student"], m.get("prefetch", False))] = m

    def get(impl, row, student="demo", prefetch=False):
        return found[(impl, row, student, prefetch)]

    threads = get("distillery", "matmul")["threads"]
    peak = get("distillery", "matmul")["multiply_adds_per_second"]
    out = ["## distillery against a plain PyTorch loop", "",
           f"Made by `{command}` on {machine()}, {threads} intra-op threads on both sides. "
           "Fashion-MNIST in memory, batch 128, Adam with a per-step cosine rate, T = 2, "
           "alpha = 0.5. Median samples per second of the timed passes over the training set "
           "(one warm-up pass first); each cell is its own process, and its peak resident memory "
           "(MiB) is given. The PyTorch side is bench/reference/perf_reference.py: data as one "
           "tensor, teacher under `torch.inference_mode()`, no per-step syncs, "
           "`torch.optim.Adam(fused=True)`.", ""]
    out += ["| row | student | distillery samples/s | PyTorch samples/s | ratio | target | "
            "peak MiB (distillery / PyTorch) | batch share of step (distillery / PyTorch) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    t_ours, t_theirs = get("distillery", "teacher"), get("pytorch", "teacher")
    ratio = t_ours["samples_per_second"] / t_theirs["samples_per_second"]
    out.append(f"| teacher pass (inference) | - | {t_ours['samples_per_second']:.0f} | "
               f"{t_theirs['samples_per_second']:.0f} | {ratio:.2f} | >= 0.95 | "
               f"{t_ours['peak_rss_mib']:.0f} / {t_theirs['peak_rss_mib']:.0f} | - |")
    for student in ("demo", "tiny"):
        for row, prefetch, name in ROWS:
            a, b = get("distillery", row, student, prefetch), get("pytorch", row, student)
            ratio = a["samples_per_second"] / b["samples_per_second"]
            out.append(
                f"| {name} | {student} ({a['parameters']} parameters) | "
                f"{a['samples_per_second']:.0f} | {b['samples_per_second']:.0f} | {ratio:.2f} | "
                f"{target(student, row, prefetch)} | {a['peak_rss_mib']:.0f} / "
                f"{b['peak_rss_mib']:.0f} | {100 * a['data_share']:.1f} % / "
                f"{100 * b['data_share']:.1f} % |")
    out.append("")
    for student in ("demo", "tiny"):
        a = get("distillery", "stored", student)["samples_per_second"]
        b = get("pytorch", "online", student)["samples_per_second"]
        out.append(f"- Stored soft targets (distillery) against the PyTorch loop running its "
                   f"teacher online, {student} student: **{a / b:.2f} times** (target >= 1.5).")
    macs = t_ours["multiply_adds_per_sample"]
    out.append(f"- Teacher pass: {macs / 1e6:.2f} M multiply-adds per image; distillery "
               f"{t_ours['multiply_adds_per_second'] / 1e9:.1f} G multiply-adds/s, PyTorch "
               f"{t_theirs['multiply_adds_per_second'] / 1e9:.1f} G/s, against a measured "
               f"float32 1024 x 1024 matmul peak of {peak / 1e9:.1f} G/s "
               f"({100 * t_ours['multiply_adds_per_second'] / peak:.0f} % and "
               f"{100 * t_theirs['multiply_adds_per_second'] / peak:.0f} % of it).")
    out.append("- Batch share: the part of the training steps' time spent obtaining the batch "
               "(sampler, gathering rows, for PyTorch also the stored logits), measured inside "
               "the loop.")
    out.append(f"- `prefetch` rows: distillery with `TrainerOptions::prefetch` (config "
               f"`training.prefetch`): the next batch is gathered on a background thread while "
               f"the step runs, and the intra-op pool has one thread fewer "
               f"({max(1, threads - 1)} + 1 = {max(1, threads - 1) + 1} threads in all, "
               f"against PyTorch's {threads}). The batch share is then the wait for a batch "
               f"already gathered, plus the sampler. It is the setting for a small student, "
               f"whose step is too short to hide the gather; the demo's student loses more from "
               f"the missing intra-op thread than it gains.")
    section = "\n".join(out) + "\n"
    text = open(results_md).read() if os.path.exists(results_md) else ""
    begin, end = "<!-- perf:begin -->\n", "<!-- perf:end -->\n"
    block = begin + section + end
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text + ("\n" if text and not text.endswith("\n\n") else "") + block
    with open(results_md + ".tmp", "w") as f:
        f.write(text)
    os.replace(results_md + ".tmp", results_md)
    print(section)


if __name__ == "__main__":
    main()
