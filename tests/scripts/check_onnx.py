"""Checks ONNX files that the export tests wrote, with the ONNX checker and onnxruntime.

Usage: python check_onnx.py <cases.json>
cases.json lists {"model": file.onnx, "pixels": raw float32 file, "logits": raw float32 file,
"shape": [N, C, H, W], "classes": K}: the pixels in [0, 1] the ONNX model takes, and the logits
LibTorch gave for the same images. Prints one JSON line per case: the checker's verdict, the
input and output names and shapes, and the largest difference between onnxruntime's logits and
LibTorch's, relative to the largest LibTorch logit in absolute value. Exit 0 when every case ran.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime


def check(case, base):
    path = os.path.join(base, case["model"])
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    pixels = np.fromfile(os.path.join(base, case["pixels"]), dtype=np.float32)
    pixels = pixels.reshape(case["shape"])
    expected = np.fromfile(os.path.join(base, case["logits"]), dtype=np.float32)
    expected = expected.reshape(case["shape"][0], case["classes"])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    inputs, outputs = session.get_inputs(), session.get_outputs()
    (logits,) = session.run(None, {inputs[0].name: pixels})
    scale = float(np.abs(expected).max())
    return {"model": case["model"], "batch": case["shape"][0], "checker": "ok",
            "inputs": [[i.name, i.shape] for i in inputs],
            "outputs": [[o.name, o.shape] for o in outputs],
            "ops": sorted({n.op_type for n in model.graph.node}),
            "op_sequence": [n.op_type for n in model.graph.node],
            "metadata": {p.key: p.value for p in model.metadata_props},
            "opset": model.opset_import[0].version,
            "max_relative_error": float(np.abs(logits - expected).max()) / max(scale, 1e-12)}


def main(cases_path):
    with open(cases_path) as f:
        cases = json.load(f)
    base = os.path.dirname(os.path.abspath(cases_path))
    for case in cases:
        print(json.dumps(check(case, base)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
