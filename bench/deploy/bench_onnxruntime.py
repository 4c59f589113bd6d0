"""onnxruntime's side of bench/deploy.sh: single-image latency and batch-64 throughput of an
ONNX file on one thread (CPU), as on a phone core.

Usage: python bench/deploy/bench_onnxruntime.py <model.onnx> [latency_runs=200] [batch_runs=20]
Prints one JSON object: p50_ms, p99_ms, batch64_images_per_s.
"""
import json
import sys
import time

import numpy as np
import onnxruntime


def main(path, latency_runs=200, batch_runs=20):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape[1:]
    rng = np.random.default_rng(0)
    one = rng.random([1] + shape, dtype=np.float32)
    batch = rng.random([64] + shape, dtype=np.float32)
    for _ in range(10):
        session.run(None, {"pixels": one})
    latencies = []
    for _ in range(latency_runs):
        start = time.perf_counter()
        session.run(None, {"pixels": one})
        latencies.append(1e3 * (time.perf_counter() - start))
    session.run(None, {"pixels": batch})
    start = time.perf_counter()
    for _ in range(batch_runs):
        session.run(None, {"pixels": batch})
    seconds = time.perf_counter() - start
    latencies.sort()
    pick = lambda p: latencies[int(p * (len(latencies) - 1) + 0.5)]
    print(json.dumps({"p50_ms": pick(0.5), "p99_ms": pick(0.99),
                      "batch64_images_per_s": 64 * batch_runs / seconds}))


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
