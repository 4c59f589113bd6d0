"""Collects the measurements of bench/deploy.sh into bench/deploy/results.json and RESULTS.md.

Usage: python bench/deploy/collect.py <runs/deploy> <bench/deploy>
"""
import json
import os
import platform
import sys

MODELS = [("fashion_mnist_teacher", "Fashion-MNIST teacher (demo ConvNet)"),
          ("fashion_mnist_student", "Fashion-MNIST student (demo 400-400 MLP, distilled)"),
          ("cifar100_resnet32x4", "CIFAR-100 teacher resnet32x4 (initial weights)"),
          ("cifar100_resnet8x4", "CIFAR-100 student resnet8x4 (initial weights)")]


def load(path):
    with open(path) as f:
        return json.load(f)


def gather(runs):
    rows = {}
    for name, label in MODELS:
        row = load(os.path.join(runs, name + ".libtorch.json"))
        row["label"] = label
        row["onnxruntime"] = load(os.path.join(runs, name + ".onnxruntime.json"))
        evaluated = os.path.join(runs, name + ".evaluate.json")
        if os.path.exists(evaluated):
            row["test_errors_libtorch"] = load(evaluated)["test_errors"]
            row["test_errors_onnxruntime"] = load(
                os.path.join(runs, name + ".evaluate_onnx.json"))["test_errors"]
        rows[name] = row
    return rows


def table(rows):
    lines = ["| model | parameters | multiply-adds | .pt file | .onnx file (fp32) | LibTorch p50 / p99 "
             "(ms) | LibTorch batch 64 (images/s) | onnxruntime p50 / p99 (ms) | onnxruntime "
             "batch 64 (images/s) | test errors LibTorch / onnxruntime |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, _ in MODELS:
        r = rows[name]
        lt, ort = r["libtorch"], r["onnxruntime"]
        errors = (f"{r['test_errors_libtorch']} / {r['test_errors_onnxruntime']}"
                  if "test_errors_libtorch" in r else "-")
        lines.append(f"| {r['label']} | {r['parameters']:,} | {r['multiply_adds']:,} | "
                     f"{r['pt_bytes'] / 1e6:.2f} MB | {r['onnx_bytes'] / 1e6:.2f} MB | "
                     f"{lt['p50_ms']:.3f} / {lt['p99_ms']:.3f} | {lt['batch64_images_per_s']:,.0f} | "
                     f"{ort['p50_ms']:.3f} / {ort['p99_ms']:.3f} | "
                     f"{ort['batch64_images_per_s']:,.0f} | {errors} |")
    return "\n".join(lines)


def main(runs, out):
    rows = gather(runs)
    results = {"machine": platform.processor() or platform.machine(), "threads": 1,
               "models": rows}
    with open(os.path.join(out, "results.json.tmp"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    os.replace(os.path.join(out, "results.json.tmp"), os.path.join(out, "results.json"))
    text = ("# Deployment footprint (bench/deploy.sh)\n\n"
            "One thread, CPU, this project's 2-core machine; single-image latency over 200 "
            "forwards after 10 warm-up ones, throughput over 20 batches of 64. The ONNX files "
            "are `distillery export`'s (fp32, BatchNorm folded); test errors on the 10,000 "
            "Fashion-MNIST test images. Int8 files are not written yet (issue 16).\n\n"
            + table(rows) + "\n")
    with open(os.path.join(out, "RESULTS.md.tmp"), "w") as f:
        f.write(text)
    os.replace(os.path.join(out, "RESULTS.md.tmp"), os.path.join(out, "RESULTS.md"))
    print(text)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
