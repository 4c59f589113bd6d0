#pragma once
#ifdef DISTILLERY_CORE_ONLY
#error "an application-layer header (distillery::app): the core must not include it"
#endif
/// @file specialists/pipeline.h
/// The whole §5 experiment as `distillery specialists` runs it (Hinton et al. 2015, §5):
/// train or load a generalist, find the class subsets from the covariance of its predictions
/// (or take them as given), train one specialist per subset, and compare the generalist alone
/// with the generalist combined with its specialists on the test set.

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "distillery/app/config.h"
#include "distillery/app/experiment.h"
#include "distillery/specialists/clustering.h"
#include "distillery/specialists/inference.h"
#include "distillery/specialists/specialist.h"
#include "distillery/trainer.h"

namespace distillery::specialists {

/// One trained specialist, as written to results.json.
struct SpecialistReport {
  /// Its subset S, ascending.
  std::vector<int64_t> classes;
  /// Share f of S in the training data.
  double subset_share = 0.0;
  /// log(a / b) added to its dustbin logit after training.
  double dustbin_correction = 0.0;
  /// Test errors of the specialist alone on S + dustbin labels, after the bias correction.
  int64_t test_errors = 0;
  /// Test errors of the generalist on the same task (its predictions reduced to S + dustbin).
  int64_t generalist_test_errors = 0;
  /// Wall time of its training, in seconds.
  double train_seconds = 0.0;
};

/// Results of `run_specialists`.
struct SpecialistsResult {
  /// The generalist alone.
  ModelReport generalist;
  /// The generalist combined with its specialists (parameters and multiply-adds summed over
  /// all models; every specialist counted, although only the active ones need to run).
  ModelReport combined;
  /// The subsets used, and where they came from: "clustering" or "given".
  ClassSubsets subsets;
  std::string subsets_source;
  /// `[C][C]` covariance of the generalist's predictions that was clustered (empty when the
  /// subsets were given).
  std::vector<std::vector<double>> covariance;
  /// One per subset.
  std::vector<SpecialistReport> specialists;
  /// Test errors on images whose true class lies in some subset: generalist vs combined.
  int64_t generalist_errors_in_subsets = 0;
  int64_t combined_errors_in_subsets = 0;
  /// Test images for which at least one specialist was active.
  int64_t active_cases = 0;
  /// Test images whose predicted class the specialists changed.
  int64_t changed_predictions = 0;
  /// Mean iterations of the combination over the active cases, and how many did not converge.
  double mean_iterations = 0.0;
  int64_t not_converged = 0;
  /// Multiply-adds per test image actually needed: the generalist's plus those of the
  /// specialists active for it, averaged over the test set (`combined.multiply_adds` counts
  /// every specialist).
  double mean_multiply_adds = 0.0;
};

/// Runs the specialists experiment of `config` (which must have a "specialists" section) and
/// writes to `config.out_dir`, staged like `run_experiment`: `results.json` (a
/// SpecialistsResult: `generalist` and `combined` ModelReports, `subsets`, `subset_names`,
/// `covariance`, `specialists`, the in-subset error counts and combination statistics),
/// `subsets.json` (readable as "specialists.subsets"), `config.json`, `metrics.jsonl`,
/// `generalist.pt` and `specialist_<m>.pt`.
/// Throws ConfigError when the config has no "specialists" section or the generalist is not
/// a single distillery model, std::runtime_error on data and I/O errors, a NaN loss, or when
/// clustering leaves no subset of at least `min_subset_size` classes.
SpecialistsResult run_specialists(const ExperimentConfig& config,
                                  const std::vector<std::shared_ptr<Callback>>& callbacks = {});

}  // namespace distillery::specialists
