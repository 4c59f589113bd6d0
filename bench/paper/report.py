"""Writes <out>/RESULTS.md and <out>/plots/<experiment>.png from the JSON that paper.py leaves
in <out>/results/. Every number in the table comes from those files; a hand-written note on an
experiment (what was tried, why a result differs) goes in <out>/notes/<experiment>.md and is
copied under its table."""
import json
import os
import shutil
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
    """'mean ± std' of a summary entry."""
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def clearly_below(a, b):
    """Whether mean a is below mean b by more than both spreads together."""
    return a["mean"] + a["std"] + b["std"] < b["mean"]


def _settings_line(r):
    s = r["settings"]
    parts = []
    for key, value in s.items():
        if isinstance(value, dict) and "training" in value:
            t = value["training"]
            model = value.get("model", {})
            shape = f"{model.get('architecture', '')} {model.get('hidden', '')}".strip()
            parts.append(f"{key}: {shape}, {t['epochs']} epochs")
        elif isinstance(value, dict) and "epochs" in value:
            parts.append(f"{key}: {value['epochs']} epochs")
        elif not isinstance(value, dict):
            parts.append(f"{key}: {value}")
    return "; ".join(parts)


def _header(r):
    m = r["machine"]
    limits = r["data_limits"]
    data = r["dataset"] + ("" if not limits["train"] else
                           f" (first {limits['train']} training / {limits['test']} test images)")
    return (f"Setting **{r['size']}** on {data}, seeds {r['seeds']}, {r['seconds'] / 60:.1f} min on "
            f"{m['cpu']} ({m['cores']} cores), commit {m['commit']}, {r['date']}.  \n"
            f"Command: `{r['command']}`.  \nModels and training: {_settings_line(r)}. "
            f"Full settings: [`results/{r['experiment']}.json`](results/{r['experiment']}.json).")


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def big_small(r):
    s, temps = r["summary"], r["settings"]["temperatures"]
    rows = [["big MLP teacher (dropout, jitter)", pm(s["teacher_errors"]), "", "67"],
            ["small MLP, hard labels", pm(s["scratch_errors"]), "", "146"]]
    for t in temps:
        rows.append([f"small MLP distilled, T = {t}", pm(s[f"distilled_T{t}_errors"]),
                     pm(s[f"recovered_T{t}_percent"]), "74 (T = 20)" if t == 20 else ""])
    best = min(temps, key=lambda t: s[f"distilled_T{t}_errors"]["mean"])
    b = s[f"distilled_T{best}_errors"]
    won = clearly_below(b, s["scratch_errors"])
    verdict = (f"**{'Reproduced' if won else 'Not reproduced'}:** the best distilled student "
               f"(T = {best}) makes {pm(b)} errors against {pm(s['scratch_errors'])} on hard "
               f"labels, recovering {pm(s[f'recovered_T{best}_percent'])} % of the teacher-student "
               "gap (paper, MNIST: 91 %).")
    return table(["model", "test errors", "gap recovered %", "paper (MNIST)"], rows), verdict


def omitted_class(r):
    s, k = r["summary"], r["settings"]["omitted"]
    rows = [["teacher (saw every class)", pm(s["teacher_errors"]), pm(s["teacher_class_errors"]),
             ""],
            ["student distilled without class " + str(k), pm(s["distilled_errors"]),
             pm(s["distilled_class_errors"]), "206 (133 of 1010 threes)"],
            [f"the same, bias of class {k} raised by {pm(s['bias_shift'], 2)}",
             pm(s["corrected_errors"]), pm(s["corrected_class_errors"]), "109 (14 threes)"]]
    fixed = clearly_below(s["corrected_class_errors"], s["distilled_class_errors"])
    verdict = (f"**{'Reproduced' if fixed else 'Not reproduced'}:** errors on class {k}, never "
               f"seen in the transfer set, go {pm(s['distilled_class_errors'])} → "
               f"{pm(s['corrected_class_errors'])} with the bias correction (overall "
               f"{pm(s['distilled_errors'])} → {pm(s['corrected_errors'])}).")
    return table(["model", "test errors", f"errors on class {k}", "paper (MNIST, class 3)"],
                 rows), verdict


def ensemble(r):
    s, n = r["summary"], r["settings"]["members"]
    rows = [["one member (mean over members)", pm(s["member_mean_errors"]),
             f"best {pm(s['member_best_errors'])}, worst {pm(s['member_worst_errors'])}"],
            [f"ensemble of {n} ({r['settings']['combine']} mean)", pm(s["ensemble_errors"]), ""],
            ["same model from scratch (hard labels)", pm(s["scratch_errors"]), ""],
            ["same model distilled from the ensemble", pm(s["distilled_errors"]),
             f"keeps {pm(s['gain_kept_percent'])} % of the ensemble's gain"]]
    won = clearly_below(s["distilled_errors"], s["member_mean_errors"])
    verdict = (f"**{'Reproduced' if won else 'Not reproduced'}:** the distilled model keeps "
               f"{pm(s['gain_kept_percent'])} % of the ensemble's gain over one model (paper, "
               "speech: 80 %).")
    return table(["model", "test errors", ""], rows), verdict


def regularizer(r):
    s = r["summary"]
    pct = round(100 * r["settings"]["fraction"])
    rows = [["100 % of the data, hard targets", pm(s["full_train_accuracy"], 2),
             pm(s["full_test_accuracy"], 2), "63.4 / 58.9"],
            [f"{pct} %, hard targets", pm(s["hard_train_accuracy"], 2),
             pm(s["hard_test_accuracy"], 2), "67.3 / 44.5"],
            [f"{pct} %, soft targets of the 100 % model", pm(s["soft_train_accuracy"], 2),
             pm(s["soft_test_accuracy"], 2), "65.4 / 57.0"]]
    hard, soft = s["hard_test_accuracy"], s["soft_test_accuracy"]
    won = soft["mean"] - soft["std"] - hard["std"] > hard["mean"]
    full = s["full_test_accuracy"]["mean"]
    share = 100 * (soft["mean"] - hard["mean"]) / (full - hard["mean"]) if full != hard["mean"] \
        else float("nan")
    verdict = (f"**{'Reproduced' if won else 'Not reproduced'}:** on {pct} % of the data, soft "
               f"targets give {pm(soft, 2)} % test accuracy against {pm(hard, 2)} % with hard "
               f"targets: {share:.0f} % of the way to the 100 % model (paper, speech: 88 %).")
    return table(["model", "train accuracy %", "test accuracy %", "paper (speech) train / test"],
                 rows), verdict


def specialists(r):
    s = r["summary"]
    rows = [["generalist", pm(s["generalist_errors"]), pm(s["generalist_subset_errors"])],
            ["generalist + specialists", pm(s["combined_errors"]), pm(s["combined_subset_errors"])]]
    won = clearly_below(s["combined_errors"], s["generalist_errors"])
    verdict = (f"**{'Reproduced' if won else 'Not reproduced'}:** with {pm(s['specialists'])} "
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
        k = r["settings"]["omitted"]
        return (["all classes", f"class {k}"], ["teacher", "distilled", "bias-corrected"],
                [[s["teacher_errors"], s["distilled_errors"], s["corrected_errors"]],
                 [s["teacher_class_errors"], s["distilled_class_errors"],
                  s["corrected_class_errors"]]], "test errors")
    if name == "ensemble":
        return (["test errors"], ["one member (mean)", "ensemble", "scratch", "distilled"],
                [[s["member_mean_errors"], s["ensemble_errors"], s["scratch_errors"],
                  s["distilled_errors"]]], "test errors")
    if name == "regularizer":
        return (["train", "test"], ["100 % hard", "3 % hard", "3 % soft"],
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
    """Draws the experiment's PNG with gnuplot; False when gnuplot is missing."""
    if shutil.which("gnuplot") is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        script = [f"set terminal pngcairo size 900,520 font ',11'", f"set output '{path}'",
                  f"set title \"{TITLES[r['experiment']]}\\n{r['dataset']}, {r['size']} "
                  f"setting, mean ± std over {len(r['seeds'])} seeds\"",
                  "set key outside right", "set grid ytics"]
        bars = _bars(r)
        if bars:
            groups, series, values, ylabel = bars
            with open(data, "w") as f:
                for g, row in zip(groups, values):
                    f.write(f"\"{g}\" " + " ".join(f"{v['mean']} {v['std']}" for v in row) + "\n")
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
                    f.write(f"{x} " + " ".join(f"{v[i]['mean']} {v[i]['std']}"
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
            raise RuntimeError(f"gnuplot failed on {path}: {proc.stderr.strip()}")
    return True


# --- RESULTS.md --------------------------------------------------------------------------------

def write(out):
    """Rewrites <out>/RESULTS.md and the plots from <out>/results/*.json."""
    lines = ["# The paper's experiments, re-run with distillery", "",
             "<!-- Written by bench/paper/report.py from results/*.json; edit notes/*.md "
             "instead. -->", "",
             "Hinton, Vinyals & Dean, \"Distilling the Knowledge in a Neural Network\" (2015), "
             "re-run on real data with `bench/paper/run.sh <experiment>`. Every figure is the "
             "mean ± sample standard deviation over the seeds listed; the paper's own figures "
             "are given beside ours for comparison (it used MNIST, a speech corpus and JFT, so "
             "only the direction and the rough size of each effect can be compared).", ""]
    os.makedirs(os.path.join(out, "plots"), exist_ok=True)
    for name in ORDER:
        path = os.path.join(out, "results", f"{name}.json")
        lines += [f"## {TITLES[name]}", ""]
        if not os.path.exists(path):
            lines += [f"Not run yet: `bench/paper/run.sh {name}`.", ""]
            continue
        with open(path) as f:
            r = json.load(f)
        body, verdict = SECTIONS[name](r)
        lines += [_header(r), "", body, "", verdict, ""]
        png = os.path.join(out, "plots", f"{name}.png")
        if plot(r, os.path.abspath(png)):
            lines += [f"![{TITLES[name]}](plots/{name}.png)", ""]
        else:
            lines += ["(No plot: gnuplot is not installed; `apt-get install gnuplot-nox`.)", ""]
        note = os.path.join(out, "notes", f"{name}.md")
        if os.path.exists(note):
            with open(note) as f:
                lines += [f.read().strip(), ""]
    tmp = os.path.join(out, "RESULTS.md.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, os.path.join(out, "RESULTS.md"))
    print(f"report: {os.path.join(out, 'RESULTS.md')}")
