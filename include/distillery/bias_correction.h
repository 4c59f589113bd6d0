#pragma once
/// @file bias_correction.h
/// The omitted-class correction of Hinton et al. 2015, §3: a student distilled on a transfer
/// set without any example of class k still learns much about k from the soft targets of the
/// other classes; raising the output bias of k by a well-chosen delta recovers most of it
/// ("if the bias for the 3 is increased by 3.5 the distilled model makes 109 errors of which
/// 14 are on 3s").

#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "distillery/model.h"

namespace distillery {

/// Adds `delta` (logit units) to the output bias of class `class_index` in the output layer of
/// `model`, taken to be its last `torch::nn::Linear`: the last one in `named_modules()` order
/// (the module itself first, then its submodules depth first in the order they were
/// registered). The zoo's MLP and ConvNet, a Sequential ending in a Linear, and the usual
/// classifier that registers its head after its body (`fc`, `classifier`, `head`, nested or
/// not) all satisfy this rule; for a model that registers another Linear after its output
/// layer, pass the output layer to the overload below.
/// Example: `shift_class_bias(student, 3, 3.5);` (Hinton et al. 2015, §3, the omitted 3s).
/// Throws c10::Error "shift_class_bias: the model has no torch::nn::Linear with a bias; pass
/// its output layer explicitly" when it has no Linear; a c10::Error naming the layer when its
/// last Linear has no bias; and as the overload below for a bad class index.
void shift_class_bias(const Model& model, int64_t class_index, double delta);

/// Adds `delta` to `head.bias[class_index]`, for an output layer given explicitly (e.g.
/// `shift_class_bias(*net->classifier, k, delta)`). The change is made without autograd.
/// Throws c10::Error "shift_class_bias: the output layer has no bias" when it was built with
/// `bias(false)`, and "shift_class_bias: class index <k> is outside [0, <out_features>) (the
/// output layer's out_features)".
void shift_class_bias(torch::nn::LinearImpl& head, int64_t class_index, double delta);

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
