"""Collects the runs of bench/augmented/run.sh into bench/augmented/results.json.

Usage: python3 bench/augmented/collect.py <runs/augmented> <results.json>
Accuracies are fractions of the 10,000 test images; seconds are the student's training plus the
teacher passes it needs (the stored soft targets' computation; online, the passes are inside
the training steps).
"""
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def student(runs, name):
    r = load(os.path.join(runs, name, "results.json"))
    d = r["student_distilled"]
    return {"test_accuracy": d["test_accuracy"],
            "validation_accuracy": d["validation_accuracy"],
            "seconds": d["train_seconds"] + r["distillation"]["soft_targets_seconds"],
            "train_seconds": d["train_seconds"],
            "soft_targets_seconds": r["distillation"]["soft_targets_seconds"]}


def main(runs, out):
    teacher_run = load(os.path.join(runs, "online", "results.json"))["teacher"]
    with open(os.path.join(runs, "teacher", "train-teacher", "metrics.jsonl")) as f:
        epochs = [json.loads(line) for line in f if line.strip()]
    results = {
        "teacher": {"architecture": "resnet20", "test_accuracy": teacher_run["test_accuracy"],
                    "validation_accuracy": teacher_run["validation_accuracy"],
                    "parameters": teacher_run["parameters"],
                    "epochs": len(epochs),
                    "train_seconds": sum(e["seconds"] for e in epochs)},
        "student": {"architecture": "resnet8",
                    "parameters": load(os.path.join(runs, "online", "results.json"))
                    ["student_distilled"]["parameters"], "epochs": 8},
        "online": student(runs, "online"),
        "stored_views": dict(student(runs, "stored_views"),
                             k=load(os.path.join(runs, "stored_views", "results.json"))
                             ["distillation"]["views"]),
        "stored_no_augmentation": student(runs, "stored_no_augmentation"),
    }
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    os.replace(tmp, out)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
