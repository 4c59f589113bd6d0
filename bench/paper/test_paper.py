"""Tests of the paper harness (CTest `paper_harness`): its arithmetic, its report on results
with known figures, its errors on bad input, and, when DISTILLERY_CLI names the built program
and Fashion-MNIST is installed, every experiment end to end in the smoke setting.

    DISTILLERY_CLI=build/distillery python3 -m unittest bench/paper/test_paper.py
"""
import contextlib
import io
import json
import math
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paper  # noqa: E402
import report  # noqa: E402

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def stat(mean, std=0.0):
    return {"mean": mean, "std": std}


def fake_result(name, summary, settings):
    return {"experiment": name, "size": "reduced", "dataset": "mnist", "data_dir": "/d",
            "command": "python3 bench/paper/paper.py " + name, "date": "2026-11-29",
            "machine": {"cpu": "cpu", "cores": 2, "commit": "abc"}, "seconds": 60.0,
            "seeds": [0, 1, 2], "settings": settings, "data_limits": {"train": 0, "test": 0},
            "per_seed": [], "summary": summary}


class Arithmetic(unittest.TestCase):
    def test_gap_share_is_the_papers_91_percent(self):
        # §3 on MNIST: 146 errors on hard labels, 74 distilled, 67 for the teacher.
        self.assertAlmostEqual(paper.gap_share(146, 74, 67), 100 * 72 / 79, places=12)
        self.assertEqual(paper.gap_share(100, 100, 50), 0.0)
        # No gap (teacher no better than the baseline): no share, not a division by zero.
        self.assertIsNone(paper.gap_share(100, 90, 100))
        self.assertIsNone(paper.gap_share(100, 90, 120))

    def test_summarize_gives_mean_and_sample_std(self):
        s = paper.summarize([{"a": 1, "b": 5}, {"a": 3, "b": 5}, {"a": 5, "b": 5}])
        self.assertEqual(s["a"]["mean"], 3)
        self.assertAlmostEqual(s["a"]["std"], 2.0, places=12)  # sqrt(((1-3)^2 + (5-3)^2) / 2)
        self.assertEqual(s["b"], {"mean": 5, "std": 0.0, "n": 3})
        self.assertEqual(paper.summarize([{"a": 7}])["a"], {"mean": 7, "std": None, "n": 1})

    def test_summarize_leaves_out_missing_shares(self):
        s = paper.summarize([{"a": None}, {"a": 4.0}, {"a": float("nan")}, {"a": 6.0}])
        self.assertEqual(s["a"], {"mean": 5.0, "std": math.sqrt(2.0), "n": 2})
        self.assertEqual(paper.summarize([{"a": None}, {"a": None}])["a"],
                         {"mean": None, "std": None, "n": 0})


class Report(unittest.TestCase):
    def big_small(self, distilled):
        summary = {"teacher_errors": stat(67, 2), "scratch_errors": stat(146, 3),
                   "distilled_T20_errors": stat(distilled, 2),
                   "recovered_T20_percent": stat(paper.gap_share(146, distilled, 67))}
        teacher = {"model": {"architecture": "mlp", "hidden": [1200, 1200], "dropout": 0.3},
                   "training": {"epochs": 30, "jitter_pixels": 2}}
        return fake_result("big-small", summary,
                           {"teacher": teacher, "temperatures": [20], "alpha": 0.9})

    def test_verdict_follows_the_figures(self):
        table, verdict = report.big_small(self.big_small(74))
        self.assertIn("| small MLP distilled, T = 20 | 74.0 ± 2.0 | 91 % | 74 (T = 20) |", table)
        self.assertIn("| big MLP teacher (dropout 0.3, jitter 2 px) | 67.0 ± 2.0 |", table)
        self.assertTrue(verdict.startswith("**Reproduced:**"), verdict)
        self.assertIn("recovers 91 % of the teacher-student gap", verdict)
        # Worse than the hard-label student beyond the spread: not reproduced.
        _, verdict = report.big_small(self.big_small(160))
        self.assertTrue(verdict.startswith("**Not reproduced:**"), verdict)
        # Better, but within the seeds' spread (146 - 3 - 2 = 141 is not above 142).
        _, verdict = report.big_small(self.big_small(142))
        self.assertTrue(verdict.startswith("**Inconclusive (within the seeds' spread):**"),
                        verdict)

    def test_runs_of_one_seed_are_compared_in_pairs(self):
        # Seeds differ by far more than the effect, but every seed improves by 10 to 12.
        per_seed = [{"generalist_errors": g, "combined_errors": g - d}
                    for g, d in ((819, 12), (786, 10), (804, 11))]
        r = fake_result("specialists", paper.summarize(per_seed), {})
        r["per_seed"] = per_seed
        self.assertEqual(report.compare(r, "combined_errors", "generalist_errors"), "below")
        self.assertEqual(report.compare(r, "generalist_errors", "combined_errors"), "above")
        # Unpaired, the same figures are within the spread.
        r["per_seed"] = []
        self.assertEqual(report.compare(r, "combined_errors", "generalist_errors"), "within")
        # Differences that change sign are within their spread.
        r["per_seed"] = [{"a": 1, "b": 3}, {"a": 5, "b": 2}, {"a": 2, "b": 2}]
        self.assertEqual(report.compare(r, "a", "b"), "within")

    def test_a_teacher_no_better_than_the_student_leaves_no_gap(self):
        r = self.big_small(60)
        r["summary"]["teacher_errors"] = stat(150, 2)
        r["summary"]["recovered_T20_percent"] = stat(None)
        table, verdict = report.big_small(r)
        self.assertIn("| small MLP distilled, T = 20 | 60.0 ± 2.0 | n/a |", table)
        self.assertTrue(verdict.startswith("**Not reproduced:** the teacher (150.0 ± 2.0 errors) "
                                           "is not clearly better"), verdict)

    def test_one_seed_says_it_has_no_spread(self):
        r = self.big_small(74)
        r["seeds"] = [0]
        for key in r["summary"]:
            r["summary"][key]["std"] = None
        table, verdict = report.big_small(r)
        self.assertIn("| small MLP, hard labels | 146.0 ± n/a |", table)
        self.assertTrue(verdict.startswith("**Reproduced (one seed: no spread to judge by):**"),
                        verdict)

    def test_write_lists_missing_experiments_and_copies_notes(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "it's here")  # a quote in the path, for gnuplot
            os.makedirs(os.path.join(out, "results"))
            with open(os.path.join(out, "results", "sweep.json"), "w") as f:
                json.dump({"experiment": "sweep", "old": "layout"}, f)
            os.makedirs(os.path.join(out, "notes"))
            with open(os.path.join(out, "results", "big-small.json"), "w") as f:
                json.dump(self.big_small(74), f)
            variant = self.big_small(80)
            for stem in ("big-small-jitter0", "big-small-jitter1-a0.5"):
                variant["variant"] = stem
                with open(os.path.join(out, "results", f"{stem}.json"), "w") as f:
                    json.dump(variant, f)
            with open(os.path.join(out, "notes", "big-small.md"), "w") as f:
                f.write("Tried T = 30 as well.\n")
            with contextlib.redirect_stdout(io.StringIO()):
                report.write(out)
            with open(os.path.join(out, "RESULTS.md")) as f:
                text = f.read()
            self.assertIn("Tried T = 30 as well.", text)
            self.assertIn("Not run yet: `bench/paper/run.sh ensemble`.", text)
            self.assertIn("seeds [0, 1, 2]", text)
            self.assertIn("(Could not read `results/sweep.json`: KeyError", text)
            self.assertLess(text.index("### As in the paper"),
                            text.index("### Variant: teacher inputs jittered by 0 pixels, not 2"))
            self.assertIn("[`results/big-small-jitter0.json`](results/big-small-jitter0.json)",
                          text)
            self.assertIn("### Variant: teacher inputs jittered by 1 pixels, not 2, alpha = 0.5",
                          text)
            if report.shutil.which("gnuplot"):
                self.assertIn("![", text)
                with open(os.path.join(out, "plots", "big-small.png"), "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


class BadInput(unittest.TestCase):
    def run_main(self, args):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = paper.main(args)
        return code, err.getvalue()

    def test_missing_program_and_data_are_named(self):
        with tempfile.TemporaryDirectory() as tmp:
            code, err = self.run_main(["sweep", "--build", tmp, "--out", tmp])
            self.assertEqual(code, 1)
            self.assertIn(os.path.join(tmp, "distillery") + " is not an executable", err)
            cli = os.environ.get("DISTILLERY_CLI")
            if cli:
                code, err = self.run_main(["sweep", "--build", os.path.dirname(cli),
                                           "--data", tmp, "--out", tmp])
                self.assertEqual(code, 1)
                self.assertIn(f"{tmp}: no train-images-idx3-ubyte[.gz]", err)

    def test_bad_numbers_are_usage_errors(self):
        for args in (["--seeds", "0"], ["--alpha", "1.5"], ["--temperature", "0"],
                     ["--teacher-jitter", "-1"]):
            with self.assertRaises(SystemExit) as e, contextlib.redirect_stderr(io.StringIO()):
                paper.main(["sweep"] + args)
            self.assertEqual(e.exception.code, 2, args)

    def test_overrides_name_the_variant_and_refuse_sweeps(self):
        class H:
            teacher_jitter = paper.PAPER_JITTER
            overrides = {"temperature": 2.0, "alpha": 0.5}
            s = paper.settings("smoke")
        self.assertEqual(paper.result_name(H, "ensemble"), "ensemble-T2-a0.5")
        paper.apply_overrides(H, "ensemble")
        self.assertEqual((H.s["ensemble"]["temperature"], H.s["ensemble"]["alpha"]), (2.0, 0.5))
        with self.assertRaises(paper.HarnessError) as e:
            paper.apply_overrides(H, "big-small")
        self.assertIn("--temperature does not apply to big-small", str(e.exception))


@unittest.skipUnless(os.environ.get("DISTILLERY_CLI") and os.path.isdir(FASHION_MNIST),
                     "needs DISTILLERY_CLI and Fashion-MNIST")
class Smoke(unittest.TestCase):
    def test_every_experiment_end_to_end(self):
        build = os.path.dirname(os.environ["DISTILLERY_CLI"])
        with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as work:
            with contextlib.redirect_stdout(io.StringIO()):
                code = paper.main(["all", "--smoke", "--seeds", "2", "--build", build,
                                   "--out", out, "--work", work])
            self.assertEqual(code, 0)
            results = {}
            for name in report.ORDER:
                with open(os.path.join(out, "results", f"{name}.json")) as f:
                    results[name] = json.load(f)
                r = results[name]
                self.assertEqual(r["seeds"], [0, 1])
                self.assertEqual(len(r["per_seed"]), 2)
                self.assertEqual(set(r["summary"]), set(r["per_seed"][0]))
                with open(os.path.join(out, "plots", f"{name}.png"), "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            test_images = 200  # the smoke setting's test_limit
            for record in results["big-small"]["per_seed"]:
                for key, value in record.items():
                    if key.endswith("_errors"):
                        self.assertTrue(0 <= value <= test_images, (key, value))
            for record in results["ensemble"]["per_seed"]:
                self.assertLessEqual(record["member_best_errors"], record["member_mean_errors"])
                self.assertLessEqual(record["member_mean_errors"], record["member_worst_errors"])
            for record in results["omitted-class"]["per_seed"]:
                # Raising the omitted class's bias can only move predictions to that class.
                if record["bias_shift"] >= 0:
                    self.assertLessEqual(record["corrected_class_errors"],
                                         record["distilled_class_errors"])
            for record in results["regularizer"]["per_seed"]:
                self.assertEqual(record["training_images"], 600)
                self.assertEqual(record["few_images"], 100)  # 3 % of 600, raised to 100
            sweep = results["sweep"]["per_seed"][0]
            self.assertEqual(sorted(k for k in sweep if k.startswith("distilled_")),
                             ["distilled_T1_a0.5_errors", "distilled_T4_a0.5_errors"])
            with open(os.path.join(out, "RESULTS.md")) as f:
                text = f.read()
            for title in report.TITLES.values():
                self.assertIn(f"## {title}", text)
            self.assertNotIn("Not run yet", text)


if __name__ == "__main__":
    unittest.main()
