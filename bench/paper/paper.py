#!/usr/bin/env python3
"""Re-runs the experiments of Hinton, Vinyals & Dean 2015 with the `distillery` program and
reports them: JSON under <out>/results/, a Markdown table in <out>/RESULTS.md and a gnuplot PNG
per experiment under <out>/plots/ (<out> is bench/paper by default).

    bench/paper/run.sh <experiment> [--full | --smoke] [--seeds N] [--mnist DIR | --data DIR]
                       [--teacher-jitter N] [--temperature T] [--alpha A]

experiments: big-small (§3), omitted-class (§3), ensemble (§4), regularizer (§6),
specialists (§5), sweep (temperature and alpha), all; `report` only rewrites the table and plots
from the JSON already there. Fashion-MNIST by default; `--mnist DIR` runs on the standard MNIST
IDX files in DIR. The default size is "reduced" (each experiment under 45 minutes on a 2-core
machine); `--full` trains as long as settings.py says for "full". `--build DIR` names the build
directory holding the `distillery` program (default build/), `--out DIR` where results/, plots/
and RESULTS.md go (default bench/paper), `--work DIR` where the runs' configs and models go
(default runs/paper). Standard library only.
"""
import argparse
import datetime
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402
from report import gap_share  # noqa: E402
from settings import settings  # noqa: E402

PAPER_JITTER = 2  # §3: "the input images were jittered by up to two pixels"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class HarnessError(RuntimeError):
    """A step of an experiment failed; the message says which and shows its output."""


class Harness:
    """Writes experiment configs, runs the `distillery` program on them and reads its results."""

    def __init__(self, args):
        self.cli = os.path.join(args.build, "distillery")
        if not os.access(self.cli, os.X_OK):
            raise HarnessError(f"{self.cli} is not an executable; run the experiment with "
                               "bench/paper/run.sh (it sets the project up and builds the "
                               "program in build/), or pass --build DIR naming a build directory "
                               "that holds it")
        self.dataset = "mnist" if args.mnist else "fashion-mnist"
        self.data_dir = os.path.abspath(args.mnist or args.data)
        for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
            if not any(os.path.exists(os.path.join(self.data_dir, name + ext))
                       for ext in ("", ".gz")):
                raise HarnessError(f"{self.data_dir}: no {name}[.gz]; give the directory of the "
                                   "IDX files with --data (Fashion-MNIST) or --mnist (MNIST); "
                                   "scripts/setup.sh installs Fashion-MNIST (Debian package "
                                   "dataset-fashion-mnist), scripts/fetch_data.sh downloads it")
        self.size = args.size
        self.teacher_jitter = args.teacher_jitter
        self.s = settings(args.size, args.teacher_jitter)
        self.overrides = {k: v for k, v in (("temperature", args.temperature),
                                            ("alpha", args.alpha)) if v is not None}
        self.work = os.path.abspath(args.work)
        self.log = None

    def data(self, **extra):
        out = {"dataset": self.dataset, "dir": self.data_dir,
               "train_limit": self.s["train_limit"], "test_limit": self.s["test_limit"]}
        out.update(extra)
        return out

    def base(self, run, seed, **data):
        """The top of a config whose outputs go to <work>/<run>."""
        return {"name": run.replace("/", "_"), "out_dir": os.path.join(self.work, run),
                "seed": seed, "threads": 0, "device": "cpu", "data": self.data(**data)}

    def _call(self, args, what):
        started = time.time()
        proc = subprocess.run([self.cli, "--quiet"] + args, capture_output=True, text=True)
        print(f"    {what}: {time.time() - started:.0f} s", flush=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise HarnessError(f"{what}: `{' '.join([self.cli] + args)}` exited with "
                               f"{proc.returncode}:\n{tail}")
        return proc.stdout

    def _write_config(self, config):
        os.makedirs(self.work, exist_ok=True)
        path = config["out_dir"] + ".json"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(config, f, indent=2)
        return path

    def run(self, config, command="run"):
        """Runs `distillery <command>` on `config`; returns its results.json."""
        path = self._write_config(config)
        self._call([command, path], f"{command} {config['name']}")
        with open(os.path.join(config["out_dir"], "results.json")) as f:
            return json.load(f)

    def train(self, config, which):
        """Trains one model of `config` on hard labels; returns the saved model's path."""
        path = self._write_config(config)
        self._call(["train", path, "--model", which], f"train {which} {config['name']}")
        return os.path.join(config["out_dir"], f"train-{which}", f"{which}.pt")

    def evaluate(self, model, split="test", limit=0):
        """`distillery evaluate --json` of a saved model on the test or training images."""
        limit = limit or (self.s["test_limit"] if split == "test" else self.s["train_limit"])
        out = self._call(["evaluate", model, "--json", "--data", self.data_dir, "--dataset",
                          self.dataset, "--split", split, "--limit", str(limit)],
                         f"evaluate {os.path.basename(model)} on {split}")
        return json.loads(out[out.index("{"):])


def teacher(spec, seed):
    return {"model": spec["model"], "training": spec["training"], "seed": seed}


def student(spec, scratch=True):
    return {"model": spec["model"], "training": spec["training"], "scratch": scratch}


def big_small(h, seed):
    """§3: a big regularised MLP teacher, the small MLP on hard labels and distilled at each T."""
    s = h.s["big_small"]
    temperatures = s["temperatures"]
    first = h.base(f"big_small/seed{seed}/T{temperatures[0]}", seed)
    first.update(teacher=teacher(s["teacher"], seed), student=student(s["student"]),
                 distillation={"temperature": temperatures[0], "alpha": s["alpha"]})
    r = h.run(first)
    record = {"teacher_errors": r["teacher"]["test_errors"],
              "scratch_errors": r["student_scratch"]["test_errors"]}
    stored = {"checkpoint": os.path.join(first["out_dir"], "teacher.pt")}
    soft = os.path.join(first["out_dir"], "soft_targets.bin")
    for t in temperatures:
        if t != temperatures[0]:
            c = h.base(f"big_small/seed{seed}/T{t}", seed)
            c.update(teacher=stored, student=student(s["student"], scratch=False),
                     distillation={"temperature": t, "alpha": s["alpha"], "soft_targets": soft})
            r = h.run(c)
        errors = r["student_distilled"]["test_errors"]
        record[f"distilled_T{t}_errors"] = errors
        record[f"recovered_T{t}_percent"] = gap_share(record["scratch_errors"], errors,
                                                      record["teacher_errors"])
    return record


def omitted_class(h, seed):
    """§3: the transfer set without one class; that class's errors before and after the bias
    of its logit is raised by the shift that is best on held-out images."""
    s = h.s["omitted_class"]
    k = s["omitted"]
    c = h.base(f"omitted_class/seed{seed}", seed, heldout=s["heldout"], omit_classes=[k])
    c.update(teacher=teacher(s["teacher"], seed), student=student(s["student"], scratch=False),
             distillation={"temperature": s["temperature"], "alpha": s["alpha"]})
    r = h.run(c)
    before, after = r["student_distilled"], r["student_distilled_corrected"]
    return {"teacher_errors": r["teacher"]["test_errors"],
            "teacher_class_errors": r["teacher"]["errors_per_class"][k],
            "distilled_errors": before["test_errors"],
            "distilled_class_errors": before["errors_per_class"][k],
            "corrected_errors": after["test_errors"],
            "corrected_class_errors": after["errors_per_class"][k],
            "bias_shift": r["bias_shifts"][0]}


def ensemble(h, seed):
    """§4: members trained from different seeds, their arithmetic-mean ensemble, a single model
    of the same size from scratch, and one distilled from the ensemble."""
    s = h.s["ensemble"]
    members = [teacher(s["member"], seed * 1000 + 1 + m) for m in range(s["members"])]
    c = h.base(f"ensemble/seed{seed}", seed)
    c.update(teacher={"members": members, "combine": s["combine"]}, student=student(s["member"]),
             distillation={"temperature": s["temperature"], "alpha": s["alpha"]})
    r = h.run(c)
    member_errors = [h.evaluate(os.path.join(c["out_dir"], f"teacher_member_{m}.pt"))["test_errors"]
                     for m in range(s["members"])]
    single = statistics.mean(member_errors)
    ensemble_errors = r["teacher"]["test_errors"]
    distilled = r["student_distilled"]["test_errors"]
    return {"member_mean_errors": single, "member_best_errors": min(member_errors),
            "member_worst_errors": max(member_errors), "ensemble_errors": ensemble_errors,
            "scratch_errors": r["student_scratch"]["test_errors"], "distilled_errors": distilled,
            "gain_kept_percent": gap_share(single, distilled, ensemble_errors)}


def regularizer(h, seed):
    """§6: a model trained on all the data (also the teacher), and the same model trained on a
    few percent of it with hard targets or with that teacher's soft targets."""
    s = h.s["regularizer"]
    spec = {"model": s["model"], "training": s["teacher_training"]}
    full = h.base(f"regularizer/seed{seed}/full", seed)
    full.update(teacher=teacher(spec, seed), student=student(spec))
    model = h.train(full, "teacher")
    full_test, full_train = h.evaluate(model), h.evaluate(model, "train")
    images = full_train["train_examples"]
    few = max(100, round(s["fraction"] * images))
    c = h.base(f"regularizer/seed{seed}/few", seed, train_limit=few)
    c.update(teacher={"checkpoint": model},
             student={"model": s["model"], "training": s["student_training"]},
             distillation={"temperature": s["temperature"], "alpha": s["alpha"]})
    h.run(c)
    record = {"training_images": images, "few_images": few,
              "full_train_accuracy": 100 * full_train["train_accuracy"],
              "full_test_accuracy": 100 * full_test["test_accuracy"]}
    for name, file in (("hard", "student_scratch.pt"), ("soft", "student_distilled.pt")):
        path = os.path.join(c["out_dir"], file)
        record[f"{name}_train_accuracy"] = 100 * h.evaluate(path, "train", few)["train_accuracy"]
        record[f"{name}_test_accuracy"] = 100 * h.evaluate(path)["test_accuracy"]
    return record


def specialists(h, seed):
    """§5: a generalist, specialists on the clusters of its predictions' covariance, and their
    KL-minimising combination."""
    s = h.s["specialists"]
    c = h.base(f"specialists/seed{seed}", seed, heldout=s["heldout"])
    c["generalist"] = teacher(s["generalist"], seed)
    c["specialists"] = {"clusters": s["clusters"], "restarts": 10, "min_subset_size": 2,
                        "standardize": True, "cluster_on": "heldout", "training": s["training"],
                        "temperature": s["temperature"], "alpha": s["alpha"]}
    r = h.run(c, "specialists")
    return {"generalist_errors": r["generalist"]["test_errors"],
            "combined_errors": r["combined"]["test_errors"],
            "generalist_subset_errors": r["errors_in_subsets"]["generalist"],
            "combined_subset_errors": r["errors_in_subsets"]["combined"],
            "subset_classes": sum(len(x) for x in r["subsets"]),
            "specialists": len(r["subsets"]),
            "changed_predictions": r["combination"]["changed_predictions"]}


def sweep(h, seed):
    """Test errors of the demo's student distilled from the demo's teacher for each (T, alpha)."""
    s = h.s["sweep"]
    pairs = [(t, a) for a in s["alphas"] for t in s["temperatures"]]
    record, stored, soft = {}, None, None
    for t, a in pairs:
        c = h.base(f"sweep/seed{seed}/T{t}_a{a}", seed)
        if stored is None:
            c.update(teacher=teacher(s["teacher"], seed), student=student(s["student"]))
        else:
            c.update(teacher=stored, student=student(s["student"], scratch=False))
        c["distillation"] = {"temperature": t, "alpha": a}
        if soft:
            c["distillation"]["soft_targets"] = soft
        r = h.run(c)
        if stored is None:
            record["teacher_errors"] = r["teacher"]["test_errors"]
            record["scratch_errors"] = r["student_scratch"]["test_errors"]
            stored = {"checkpoint": os.path.join(c["out_dir"], "teacher.pt")}
            soft = os.path.join(c["out_dir"], "soft_targets.bin")
        record[f"distilled_T{t}_a{a}_errors"] = r["student_distilled"]["test_errors"]
    return record


EXPERIMENTS = {"big-small": big_small, "omitted-class": omitted_class, "ensemble": ensemble,
               "regularizer": regularizer, "specialists": specialists, "sweep": sweep}


def summarize(per_seed):
    """Mean and sample standard deviation over seeds of every number of the per-seed records,
    and how many seeds gave one (None values, e.g. a share without a gap, are left out; mean
    and std are None when no seed gave a value, std when only one did)."""
    out = {}
    for key in per_seed[0]:
        values = [r[key] for r in per_seed if r[key] is not None and math.isfinite(r[key])]
        out[key] = {"mean": statistics.mean(values) if values else None,
                    "std": statistics.stdev(values) if len(values) > 1 else None,
                    "n": len(values)}
    return out


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    def git(*args):
        try:
            return subprocess.run(["git", "-C", ROOT] + list(args), capture_output=True,
                                  text=True).stdout.strip()
        except OSError:
            return ""
    commit = git("rev-parse", "--short", "HEAD")
    if commit and git("status", "--porcelain", "--untracked-files=no", "--", "src", "include",
                      "tools", "bench/paper/paper.py", "bench/paper/settings.py"):
        commit += " with uncommitted changes"
    return {"cpu": cpu, "cores": os.cpu_count(), "commit": commit}


JITTERED = ("big-small", "omitted-class")  # the experiments with the §3 jittered teacher


def result_name(h, name):
    """The results file's stem: the experiment, then what differs from settings.py, if
    anything: -jitterN (the §3 teachers' jitter), -T<temperature>, -a<alpha>."""
    stem = name
    if name in JITTERED and h.teacher_jitter != PAPER_JITTER:
        stem += f"-jitter{h.teacher_jitter}"
    if "temperature" in h.overrides:
        stem += f"-T{h.overrides['temperature']:g}"
    if "alpha" in h.overrides:
        stem += f"-a{h.overrides['alpha']:g}"
    return stem


def apply_overrides(h, name):
    """Puts --temperature and --alpha into the experiment's settings; an error where the
    experiment has no single such setting (big-small sweeps T, sweep sweeps both)."""
    s = h.s[name.replace("-", "_")]
    for key, value in h.overrides.items():
        if key not in s:
            raise HarnessError(f"--{key} does not apply to {name}: its settings have no single "
                               f"{key} (see bench/paper/settings.py)")
        s[key] = value


def run_experiment(h, name, seeds, out, command):
    stem = result_name(h, name)
    apply_overrides(h, name)
    print(f"{stem}: {len(seeds)} seeds, {h.size} setting, {h.dataset} ({h.data_dir})", flush=True)
    code = machine()  # the code that runs: at the start, not at the end
    work = h.work
    h.work = os.path.join(work, stem)
    started = time.time()
    per_seed = []
    for seed in seeds:
        print(f"  seed {seed}", flush=True)
        record = EXPERIMENTS[name](h, seed)
        per_seed.append(record)
    h.work = work
    result = {"experiment": name, "variant": stem, "size": h.size, "dataset": h.dataset,
              "data_dir": h.data_dir,
              "command": command, "date": datetime.date.today().isoformat(),
              "machine": code, "seconds": round(time.time() - started, 1),
              "seeds": seeds, "settings": h.s[name.replace("-", "_")],
              "data_limits": {"train": h.s["train_limit"], "test": h.s["test_limit"]},
              "per_seed": per_seed, "summary": summarize(per_seed)}
    os.makedirs(os.path.join(out, "results"), exist_ok=True)
    path = os.path.join(out, "results", f"{stem}.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, path)  # a half-written results file never replaces a good one
    print(f"{stem}: {result['seconds']:.0f} s, results in {path}", flush=True)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", choices=list(EXPERIMENTS) + ["all", "report"],
                        help="which experiment to run; all: every one in turn; report: no "
                             "training, only rewrite RESULTS.md and the plots from results/")
    parser.add_argument("--check-args", action="store_true",
                        help="only check the arguments (bench/paper/run.sh does, before set-up)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", dest="size", action="store_const", const="full",
                      help="the long setting of settings.py")
    size.add_argument("--smoke", dest="size", action="store_const", const="smoke",
                      help="a few hundred images and one epoch: checks the harness only")
    parser.set_defaults(size="reduced")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--temperature", type=float,
                        help="distil at this temperature instead of the setting's (not for "
                             "big-small or sweep); writes results/<experiment>-T<value>.json")
    parser.add_argument("--alpha", type=float,
                        help="weight of the soft term instead of the setting's (not for sweep); "
                             "writes results/<experiment>-a<value>.json")
    parser.add_argument("--teacher-jitter", type=int, default=PAPER_JITTER,
                        help="pixels of jitter for the §3 teachers (default 2, the paper's); "
                             "another value writes results/<experiment>-jitter<N>.json")
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--data", default=os.environ.get("DISTILLERY_FASHION_MNIST",
                                                       "/usr/share/datasets/fashion-mnist"),
                      help="Fashion-MNIST IDX directory (default $DISTILLERY_FASHION_MNIST or "
                           "/usr/share/datasets/fashion-mnist)")
    data.add_argument("--mnist", help="run on MNIST: the directory of its IDX files")
    parser.add_argument("--build", default=os.path.join(ROOT, "build"),
                        help="build directory holding the distillery program")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "paper"),
                        help="where results/, plots/ and RESULTS.md go")
    parser.add_argument("--work", default=os.path.join(ROOT, "runs", "paper"),
                        help="where the runs' configs, models and logs go")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if not 0 <= args.teacher_jitter < 14:
        parser.error("--teacher-jitter must be in [0, 14) pixels")
    if args.temperature is not None and not args.temperature > 0:
        parser.error("--temperature must be > 0")
    if args.alpha is not None and not 0 <= args.alpha <= 1:
        parser.error("--alpha must be in [0, 1]")
    if args.check_args:
        return 0
    try:
        if args.experiment != "report":
            h = Harness(args)
            names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
            command = shlex.join(["python3", "bench/paper/paper.py"] + argv)
            for name in names:
                run_experiment(h, name, list(range(args.seeds)), args.out, command)
        report.write(args.out)
    except HarnessError as e:
        print(f"paper.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
