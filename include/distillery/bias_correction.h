#pragma once
/// @file bias_correction.h
/// The omitted-class correction of Hinton et al. 2015, §3: a student distilled on a transfer
/// set without any example of class k still learns much about k from the soft targets of the
/// other classes; raising the output bias of k by a well-chosen delta recovers most of it
/// ("if the bias for the 3 is increased by 3.5 the distilled model makes 109 errors of which
/// 14 are on 3s").

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace distillery {

/// Adds `delta` to the output bias of class `class_index` in the last Linear layer of `model`.
/// Throws c10::Error if the model has no Linear layer with a bias, or the class index is
/// outside [0, outputs).
void shift_class_bias(torch::nn::Sequential& model, int64_t class_index, double delta);

/// The chosen shift and what it does on the held-out set.
struct BiasShift {
  /// The bias shift, in logit units.
  double delta = 0.0;
  /// Held-out errors with the shift (all classes).
  int64_t errors = 0;
  /// Held-out errors without it.
  int64_t errors_before = 0;
};

/// Picks the delta among `candidates` that minimises errors on a held-out set, given the
/// model's held-out logits `[N, C]` and labels `[N]` (int64); ties go to the smallest |delta|.
/// Shifting the bias by delta is adding delta to column `class_index` of the logits, so no
/// model is run here.
/// Throws c10::Error on mismatched shapes, an empty candidate list or a bad class index.
BiasShift choose_bias_shift(const torch::Tensor& heldout_logits, const torch::Tensor& labels,
                            int64_t class_index, const std::vector<double>& candidates);

/// The default candidates: 0, 0.25, ..., 10.
std::vector<double> default_bias_candidates();

}  // namespace distillery
