"""Test errors of an exported ONNX model in onnxruntime, on MNIST-format IDX files.

Usage: python bench/deploy/evaluate_onnx.py <model.onnx> [data_dir] [--threads N]
data_dir holds t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (plain or .gz; default the
Fashion-MNIST of /usr/share/datasets/fashion-mnist). The model takes pixels / 255, as every
file `distillery export` writes; its metadata carries the class names and normalisation.
Prints JSON: test_errors, test_examples, test_accuracy.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnxruntime

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from fashion_mnist import find, read_idx  # noqa: E402  (the IDX reader of the reference loop)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("data_dir", nargs="?", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    images = read_idx(find(args.data_dir, "t10k-images-idx3-ubyte")).numpy()
    labels = read_idx(find(args.data_dir, "t10k-labels-idx1-ubyte")).numpy().astype(np.int64)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = onnxruntime.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    errors = 0
    for start in range(0, len(images), 500):
        pixels = images[start:start + 500, None, :, :].astype(np.float32) / 255.0
        (logits,) = session.run(["logits"], {"pixels": pixels})
        errors += int((logits.argmax(axis=1) != labels[start:start + 500]).sum())
    print(json.dumps({"model": args.model, "test_errors": errors, "test_examples": len(images),
                      "test_accuracy": (len(images) - errors) / len(images)}))


if __name__ == "__main__":
    main()
