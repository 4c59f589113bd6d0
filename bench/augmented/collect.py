"""Collects the runs of one setup of bench/augmented/run.sh into <setup>/results.json.

Usage: python3 bench/augmented/collect.py bench/augmented/<setup> [--headline]
With --headline the same results also go to bench/augmented/results.json, the issue's file (the
setup that answers it: resnet110_resnet8). The run folders are the configs' out_dir. Accuracies are fractions of the 10,000 test images;
seconds are the student's training plus the teacher passes it needs (the stored soft targets'
computation; online, the passes are inside the training steps).
"""
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def student(config):
    r = load(os.path.join(config["out_dir"], "results.json"))
    d = r["student_distilled"]
    return {"test_accuracy": d["test_accuracy"],
            "validation_accuracy": d["validation_accuracy"],
            "seconds": d["train_seconds"] + r["distillation"]["soft_targets_seconds"],
            "train_seconds": d["train_seconds"],
            "soft_targets_seconds": r["distillation"]["soft_targets_seconds"]}


def teacher(setup, online_run):
    config = load(os.path.join(setup, "teacher.json"))
    with open(os.path.join(config["out_dir"], "train-teacher", "metrics.jsonl")) as f:
        epochs = [json.loads(line) for line in f if line.strip()]
    t = online_run["teacher"]
    return {"architecture": config["teacher"]["model"]["architecture"],
            "test_accuracy": t["test_accuracy"],
            "validation_accuracy": t["validation_accuracy"],
            "parameters": t["parameters"],
            "epochs": len(epochs),
            "train_seconds": sum(e["seconds"] for e in epochs)}


def main(setup, headline=False):
    configs = {n: load(os.path.join(setup, n + ".json"))
               for n in ("online", "stored_views", "stored_no_augmentation")}
    online_run = load(os.path.join(configs["online"]["out_dir"], "results.json"))
    views_run = load(os.path.join(configs["stored_views"]["out_dir"], "results.json"))
    data = configs["online"]["data"]
    results = {
        "setup": os.path.basename(os.path.normpath(setup)),
        "teacher": teacher(setup, online_run),
        "student": {"architecture": configs["online"]["student"]["model"]["architecture"],
                    "parameters": online_run["student_distilled"]["parameters"],
                    "epochs": configs["online"]["student"]["training"]["epochs"]},
        "transfer_set_images": (data.get("train_limit") or 60000) - data.get("heldout", 0),
        "online": student(configs["online"]),
        "stored_views": dict(student(configs["stored_views"]),
                             k=views_run["distillation"]["views"]),
        "stored_no_augmentation": student(configs["stored_no_augmentation"]),
    }
    results["stored_views_time_ratio"] = (results["stored_views"]["seconds"] /
                                          results["online"]["seconds"])
    outs = [os.path.join(setup, "results.json")]
    if headline:
        outs.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json"))
    for out in outs:
        with open(out + ".tmp", "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
        os.replace(out + ".tmp", out)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1], "--headline" in sys.argv[2:])
