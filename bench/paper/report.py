"""Writes <out>/RESULTS.md and <out>/plots/<experiment>.png from the JSON that paper.py leaves
in <out>/results/. Every number in the table comes from those files; a hand-written note on an
experiment (what was tried, why a result differs) goes in <out>/notes/<experiment>.md and is
copied under its table."""
import json
import os
import shutil
import statistics
import subprocess
import tempfile

ORDER = ["big-small", "omitted-class", "ensemble", "regularizer", "specialists", "sweep"]
TITLES = {
    "big-small": "§3: a big net distilled into a small net",
    "omitted-class": "§3: a class omitted from the transfer set",
    "ensemble": "§4: distilling an ensemble into one model",
    "regularizer": "§6: soft targets as a regularizer (3 % of the data)",
    "specialists": "§5: a generalist with specialists",
    "sweep": "Temperature and alpha sweep (the demo's teacher and student)",
}


def pm(stat, digits=1):
    """'mean ± std' of a summary entry ('n/a' where the seeds gave no value or no spread)."""
    if stat.get("mean") is None:
        return "n/a"
    spread = "n/a" if stat.get("std") is None else f"{stat['std']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ± {spread}"


def compare(r, a, b):
    """Whether the values under key `a` are below those under key `b`: 'below', 'above' or
    'within'. Runs of the same seed are paired (same data order and initial weights), so the
    per-seed differences a - b decide: 'below' when their mean is below zero by more than their
    standard deviation, 'above' when above by more than it. Without per-seed records the means
    and standard deviations of the summary decide (apart by more than both spreads added).
    With one seed (no spread) the sign decides."""
    pairs = [(p[a], p[b]) for p in r.get("per_seed", [])
             if p.get(a) is not None and p.get(b) is not None]
    if pairs:
        diffs = [x - y for x, y in pairs]
        mean = statistics.mean(diffs)
        spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
    else:
        sa, sb = r["summary"][a], r["summary"][b]
        mean = sa["mean"] - sb["mean"]
        spread = (sa.get("std") or 0.0) + (sb.get("std") or 0.0)
    if mean + spread < 0:
        return "below"
    if mean - spread > 0:
        return "above"
    return "within"


def word(outcome):
    """The verdict for an outcome of compare() where 'below' is what the paper found."""
    return {"below": "Reproduced", "within": "Inconclusive (within the seeds' spread)",
            "above": "Not reproduced"}[outcome]


def seeds_caveat(r):
    return " (one seed: no spread to judge by)" if len(r["seeds"]) < 2 else ""


def gap_share(baseline, improved, target):
    """The share of the baseline-to-target improvement (fewer errors) that `improved` keeps,
    in %; None when the target is no better than the baseline (there is no gap to recover)."""
    gap = baseline - target
    return 100.0 * (baseline - improved) / gap if gap > 0 else None


def share(baseline, improved, target):
    """gap_share of the means of three summary entries (errors: lower is better)."""
    return gap_share(baseline["mean"], improved["mean"], target["mean"])


def percent(value):
    return "n/a" if value is None else f"{value:.0f} %"


def _settings_line(r):
    s = r["settings"]
    parts = []
    for key, value in s.items():
        if isinstance(value, dict) and "training" in value:
            t = value["training"]
            model = value.get("model", {})
            shape = f"{model.get('architecture', '')} {model.get('hidden', '')}".strip()
            parts.append(f"{key}: {shape}, {t['epochs']} epochs")
        elif isinstance(value, dict) and "architecture" in value:
            parts.append(f"{key}: {value['architecture']} {value.get('hidden', '')}".strip())
        elif isinstance(value, dict) and "epochs" in value:
            parts.append(f"{key}: {value['epochs']} epochs")
        elif not isinstance(value, dict):
            parts.append(f"{key}: {value}")
    return "; ".join(parts)


def _header(r, stem):
    m = r["machine"]
    limits = r["data_limits"]
    data = r["dataset"] + ("" if not limits["train"] else
                           f" (first {limits['train']} training / {limits['test']} test images)")
    return (f"Setting **{r['size']}** on {data}, seeds {r['seeds']}, {r['seconds'] / 60:.1f} min on "
            f"{m['cpu']} ({m['cores']} cores), commit {m['commit']}, {r['date']}.  \n"
            f"Command: `{r['command']}`.  \nModels and training: {_settings_line(r)}. "
            f"Full settings: [`results/{stem}.json`](results/{stem}.json).")


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def big_small(r):
    s, temps = r["summary"], r["settings"]["temperatures"]
    teacher, scratch = s["teacher_errors"], s["scratch_errors"]
    t = r["settings"]["teacher"]
    jitter = t["training"].get("jitter_pixels", 0)
    regularised = f"dropout {t['model'].get('dropout', 0)}, " + \
        (f"jitter {jitter} px" if jitter else "no jitter")
    rows = [[f"big MLP teacher ({regularised})", pm(teacher), "", "67"],
            ["small MLP, hard labels", pm(scratch), "", "146"]]
    for t in temps:
        d = s[f"distilled_T{t}_errors"]
        rows.append([f"small MLP distilled, T = {t}", pm(d), percent(share(scratch, d, teacher)),
                     "74 (T = 20)" if t == 20 else ""])
    best = min(temps, key=lambda t: s[f"distilled_T{t}_errors"]["mean"])
    judged = 20 if 20 in temps else best
    d = s[f"distilled_T{judged}_errors"]
    if compare(r, "teacher_errors", "scratch_errors") != "below":
        verdict = (f"**Not reproduced:** the teacher ({pm(teacher)} errors) is not clearly better "
                   f"than the small net on hard labels ({pm(scratch)}): there is no gap to "
                   "recover.")
    else:
        outcome = compare(r, f"distilled_T{judged}_errors", "scratch_errors")
        verdict = (f"**{word(outcome)}{seeds_caveat(r)}:** at the paper's T = "
                   f"{judged} the distilled student makes {pm(d)} errors against {pm(scratch)} on "
                   f"hard labels and recovers {percent(share(scratch, d, teacher))} of the "
                   f"teacher-student gap (paper, MNIST: 91 %). Fewest errors at T = {best}.")
    note = ("Gap recovered: (hard-label errors − distilled errors) / (hard-label errors − teacher "
            "errors), from the means over seeds.")
    return table(["model", "test errors", "gap recovered", "paper (MNIST)"], rows) + "\n\n" + \
        note, verdict


FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot"]


def class_name(r, k):
    """'3 (Dress)' on Fashion-MNIST, '3' on MNIST (whose class k is the digit k)."""
    return f"{k} ({FASHION_MNIST_CLASSES[k]})" if r["dataset"] == "fashion-mnist" else str(k)


def omitted_class(r):
    s, k0 = r["summary"], r["settings"]["omitted"]
    k = class_name(r, k0)
    rows = [["teacher (saw every class)", pm(s["teacher_errors"]), pm(s["teacher_class_errors"]),
             ""],
            ["student distilled without class " + str(k), pm(s["distilled_errors"]),
             pm(s["distilled_class_errors"]), "206 (133 of 1010 threes)"],
            [f"the same, bias of class {k} raised by {pm(s['bias_shift'], 2)}",
             pm(s["corrected_errors"]), pm(s["corrected_class_errors"]), "109 (14 threes)"]]
    outcome = compare(r, "corrected_class_errors", "distilled_class_errors")
    verdict = (f"**{word(outcome)}{seeds_caveat(r)}:** errors on class {k}, never "
               f"seen in the transfer set, go {pm(s['distilled_class_errors'])} → "
               f"{pm(s['corrected_class_errors'])} with the bias correction; over all classes "
               f"{pm(s['distilled_errors'])} → {pm(s['corrected_errors'])}.")
    return table(["model", "test errors", f"errors on class {k}", "paper (MNIST, class 3)"],
                 rows), verdict


def ensemble(r):
    s, n = r["summary"], r["settings"]["members"]
    single, ens, distilled = s["member_mean_errors"], s["ensemble_errors"], s["distilled_errors"]
    kept = share(single, distilled, ens)
    rows = [["one member (mean over members)", pm(single),
             f"best {pm(s['member_best_errors'])}, worst {pm(s['member_worst_errors'])}"],
            [f"ensemble of {n} ({r['settings']['combine']} mean)", pm(ens), ""],
            ["same model from scratch (hard labels)", pm(s["scratch_errors"]), ""],
            ["same model distilled from the ensemble", pm(distilled),
             f"keeps {percent(kept)} of the ensemble's gain"]]
    if compare(r, "ensemble_errors", "member_mean_errors") != "below":
        verdict = (f"**Not reproduced:** the ensemble ({pm(ens)} errors) is not clearly better "
                   f"than one member ({pm(single)}): there is no gain to keep.")
    else:
        outcome = compare(r, "distilled_errors", "member_mean_errors")
        verdict = (f"**{word(outcome)}{seeds_caveat(r)}:** the distilled "
                   f"model makes {pm(distilled)} errors against {pm(single)} for one member and "
                   f"{pm(ens)} for the ensemble: it keeps {percent(kept)} of the ensemble's gain "
                   "(paper, speech: more than 80 %).")
    return table(["model", "test errors", ""], rows), verdict


def few_percent(r):
    """The share of the training images the few-data models saw, in % (as run, not as asked)."""
    s = r["summary"]
    return 100 * s["few_images"]["mean"] / s["training_images"]["mean"]


def regularizer(r):
    s = r["summary"]
    pct = f"{few_percent(r):.0f} %"
    rows = [["100 % of the data, hard targets", pm(s["full_train_accuracy"], 2),
             pm(s["full_test_accuracy"], 2), "63.4 / 58.9"],
            [f"{pct}, hard targets", pm(s["hard_train_accuracy"], 2),
             pm(s["hard_test_accuracy"], 2), "67.3 / 44.5 (3 %)"],
            [f"{pct}, soft targets of the 100 % model", pm(s["soft_train_accuracy"], 2),
             pm(s["soft_test_accuracy"], 2), "65.4 / 57.0 (3 %)"]]
    hard, soft, full = s["hard_test_accuracy"], s["soft_test_accuracy"], s["full_test_accuracy"]
    # Accuracies: higher is better, so the roles of compare()'s arguments swap.
    outcome = compare(r, "hard_test_accuracy", "soft_test_accuracy")
    verdict = (f"**{word(outcome)}{seeds_caveat(r)}:** on {pct} of the data, soft "
               f"targets give {pm(soft, 2)} % test accuracy against {pm(hard, 2)} % with hard "
               f"targets: {percent(_up_share(hard, soft, full))} of the way to the 100 % model "
               "(paper, speech: 87 %).")
    return table(["model", "train accuracy %", "test accuracy %", "paper (speech) train / test"],
                 rows), verdict


def _up_share(low, improved, high):
    """share() where higher is better (accuracies): the gap from `low` up to `high`."""
    return gap_share(-low["mean"], -improved["mean"], -high["mean"])


def specialists(r):
    s = r["summary"]
    rows = [["generalist", pm(s["generalist_errors"]), pm(s["generalist_subset_errors"])],
            ["generalist + specialists", pm(s["combined_errors"]), pm(s["combined_subset_errors"])]]
    outcome = compare(r, "combined_errors", "generalist_errors")
    verdict = (f"**{word(outcome)}{seeds_caveat(r)}:** with {pm(s['specialists'])} "
               f"specialists covering {pm(s['subset_classes'])} classes the test errors go "
               f"{pm(s['generalist_errors'])} → {pm(s['combined_errors'])} (paper, JFT: test "
               "accuracy 25.0 % → 26.1 %, a 4.4 % relative gain).")
    return table(["model", "test errors", "errors on the clustered classes"], rows), verdict


def sweep(r):
    s, temps, alphas = r["summary"], r["settings"]["temperatures"], r["settings"]["alphas"]
    rows = [[f"T = {t}"] + [pm(s[f"distilled_T{t}_a{a}_errors"]) for a in alphas] for t in temps]
    best = min(((t, a) for t in temps for a in alphas),
               key=lambda p: s[f"distilled_T{p[0]}_a{p[1]}_errors"]["mean"])
    verdict = (f"Teacher {pm(s['teacher_errors'])} errors, student on hard labels "
               f"{pm(s['scratch_errors'])}. Best: T = {best[0]}, alpha = {best[1]} with "
               f"{pm(s[f'distilled_T{best[0]}_a{best[1]}_errors'])} errors.")
    return table(["test errors"] + [f"alpha = {a}" for a in alphas], rows), verdict


SECTIONS = {"big-small": big_small, "omitted-class": omitted_class, "ensemble": ensemble,
            "regularizer": regularizer, "specialists": specialists, "sweep": sweep}


# --- plots -------------------------------------------------------------------------------------

def _bars(r):
    """(groups, series, values[group][series] = summary entry, y label) of a bar chart."""
    s = r["summary"]
    name = r["experiment"]
    if name == "omitted-class":
        k = class_name(r, r["settings"]["omitted"])
        return (["all classes", f"class {k}"], ["teacher", "distilled", "bias-corrected"],
                [[s["teacher_errors"], s["distilled_errors"], s["corrected_errors"]],
                 [s["teacher_class_errors"], s["distilled_class_errors"],
                  s["corrected_class_errors"]]], "test errors")
    if name == "ensemble":
        return (["test errors"], ["one member (mean)", "ensemble", "scratch", "distilled"],
                [[s["member_mean_errors"], s["ensemble_errors"], s["scratch_errors"],
                  s["distilled_errors"]]], "test errors")
    if name == "regularizer":
        pct = f"{few_percent(r):.0f} %"
        return (["train", "test"], ["100 % hard", f"{pct} hard", f"{pct} soft"],
                [[s["full_train_accuracy"], s["hard_train_accuracy"], s["soft_train_accuracy"]],
                 [s["full_test_accuracy"], s["hard_test_accuracy"], s["soft_test_accuracy"]]],
                "accuracy %")
    if name == "specialists":
        return (["all classes", "clustered classes"], ["generalist", "+ specialists"],
                [[s["generalist_errors"], s["combined_errors"]],
                 [s["generalist_subset_errors"], s["combined_subset_errors"]]], "test errors")
    return None


def _lines(r):
    """(x label, x values, {series: [summary entries]}, {line label: summary entry})."""
    s = r["summary"]
    if r["experiment"] == "big-small":
        temps = r["settings"]["temperatures"]
        return ("temperature T", temps,
                {"distilled small MLP": [s[f"distilled_T{t}_errors"] for t in temps]},
                {"teacher": s["teacher_errors"], "small MLP, hard labels": s["scratch_errors"]})
    temps, alphas = r["settings"]["temperatures"], r["settings"]["alphas"]
    return ("temperature T", temps,
            {f"alpha = {a}": [s[f"distilled_T{t}_a{a}_errors"] for t in temps] for a in alphas},
            {"student, hard labels": s["scratch_errors"], "teacher": s["teacher_errors"]})


def plot(r, path):
    """Draws the experiment's PNG with gnuplot: None when done, else why not."""
    if shutil.which("gnuplot") is None:
        return "gnuplot is not installed; `apt-get install gnuplot-nox`"
    if any(v is None for row in (_bars(r) or [None, None, []])[2] for v in
           (x.get("mean") for x in row)):
        return "a value is missing"
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        quoted = path.replace("'", "''")  # gnuplot's single-quoted strings double a quote
        script = [f"set terminal pngcairo size 900,520 font ',11'", f"set output '{quoted}'",
                  f"set title \"{TITLES[r['experiment']]}\\n{r['dataset']}, {r['size']} "
                  f"setting, mean ± std over {len(r['seeds'])} seeds\"",
                  "set key outside right", "set grid ytics"]
        bars = _bars(r)
        if bars:
            groups, series, values, ylabel = bars
            with open(data, "w") as f:
                for g, row in zip(groups, values):
                    f.write(f"\"{g}\" " + " ".join(f"{v['mean']} {v['std'] or 0}" for v in row) +
                            "\n")
            script += [f"set ylabel '{ylabel}'", "set style data histograms",
                       "set style histogram errorbars gap 2 lw 1", "set style fill solid 0.6",
                       "set yrange [0:*]", "set boxwidth 0.9"]
            parts = [f"'{data}' using {2 + 2 * i}:{3 + 2 * i}" + (":xtic(1)" if i == 0 else "") +
                     f" title '{name}'" for i, name in enumerate(series)]
            script.append("plot " + ", ".join(parts))
        else:
            xlabel, xs, series, hlines = _lines(r)
            with open(data, "w") as f:
                for i, x in enumerate(xs):
                    f.write(f"{x} " + " ".join(f"{v[i]['mean']} {v[i]['std'] or 0}"
                                               for v in series.values()) + "\n")
            script += [f"set xlabel '{xlabel}'", "set ylabel 'test errors'", "set logscale x 2",
                       f"set xrange [{min(xs) / 1.3}:{max(xs) * 1.3}]"]
            parts = [f"'{data}' using 1:{2 + 2 * i}:{3 + 2 * i} with yerrorlines lw 2 "
                     f"title '{name}'" for i, name in enumerate(series)]
            parts += [f"{v['mean']} with lines dt 2 lw 2 title '{name}'"
                      for name, v in hlines.items()]
            script.append("plot " + ", ".join(parts))
        proc = subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True,
                              capture_output=True)
        if proc.returncode != 0:
            return f"gnuplot failed: {proc.stderr.strip()}"
    return None


# --- RESULTS.md --------------------------------------------------------------------------------

def _stems(out, name):
    """The results files of an experiment: `name` (the paper's setting) first, then variants
    such as `name`-jitter0."""
    directory = os.path.join(out, "results")
    files = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
    stems = [f[:-5] for f in files if f.endswith(".json") and f.startswith(name + "-")]
    return ([name] if f"{name}.json" in files else []) + stems


def _variant_title(name, stem):
    """'As in the paper' for the experiment's own settings, else what the variant changes."""
    if stem == name:
        return "As in the paper"
    changes = []
    for part in stem[len(name) + 1:].split("-"):
        if part.startswith("jitter"):
            changes.append(f"teacher inputs jittered by {part[6:]} pixels, not 2")
        elif part.startswith("T"):
            changes.append(f"T = {part[1:]}")
        elif part.startswith("a"):
            changes.append(f"alpha = {part[1:]}")
        else:
            changes.append(part)
    return "Variant: " + ", ".join(changes)


def _section(out, name, stem):
    """The Markdown of one results file: header, table, verdict and plot."""
    try:
        with open(os.path.join(out, "results", f"{stem}.json")) as f:
            r = json.load(f)
        body, verdict = SECTIONS[name](r)
        header = _header(r, stem)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [f"(Could not read `results/{stem}.json`: {type(e).__name__} {e}; re-run "
                f"`bench/paper/run.sh {name}`.)", ""]
    lines = [header, "", body, "", verdict, ""]
    why_not = plot(r, os.path.abspath(os.path.join(out, "plots", f"{stem}.png")))
    if why_not is None:
        lines += [f"![{TITLES[name]}](plots/{stem}.png)", ""]
    else:
        lines += [f"(No plot: {why_not}.)", ""]
    return lines


def write(out):
    """Rewrites <out>/RESULTS.md and the plots from <out>/results/*.json."""
    lines = ["# The paper's experiments, re-run with distillery", "",
             "<!-- Written by bench/paper/report.py from results/*.json; edit notes/*.md "
             "instead. -->", "",
             "Hinton, Vinyals & Dean, \"Distilling the Knowledge in a Neural Network\" (2015), "
             "re-run on real data with `bench/paper/run.sh <experiment>`. Every figure is the "
             "mean ± sample standard deviation over the seeds listed; the paper's own figures "
             "are given beside ours for comparison (it used MNIST, a speech corpus and JFT, so "
             "only the direction and the rough size of each effect can be compared).", "",
             "Verdicts compare runs of the same seed, which share data order and initial "
             "weights: **Reproduced** when the mean of the per-seed differences goes the "
             "paper's way by more than their standard deviation; **Inconclusive** when it "
             "goes either way by less; **Not reproduced** when it goes the other way by more, "
             "or when the effect's premise fails (e.g. a teacher no better than the student "
             "leaves no gap to recover). A verdict is about the direction only; the size is in "
             "the tables.", ""]
    os.makedirs(os.path.join(out, "plots"), exist_ok=True)
    for name in ORDER:
        lines += [f"## {TITLES[name]}", ""]
        stems = _stems(out, name)
        if not stems:
            lines += [f"Not run yet: `bench/paper/run.sh {name}`.", ""]
        for stem in stems:
            if len(stems) > 1 or stem != name:
                lines += [f"### {_variant_title(name, stem)}", ""]
            lines += _section(out, name, stem)
        note = os.path.join(out, "notes", f"{name}.md")
        if os.path.exists(note):
            with open(note) as f:
                lines += [f.read().strip(), ""]
    handle, tmp = tempfile.mkstemp(dir=out, prefix=".RESULTS.md.")
    with os.fdopen(handle, "w") as f:
        f.write("\n".join(lines))
    os.chmod(tmp, 0o644)
    os.replace(tmp, os.path.join(out, "RESULTS.md"))
    print(f"report: {os.path.join(out, 'RESULTS.md')}")
