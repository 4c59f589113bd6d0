#pragma once
/// @file specialists/specialist.h
/// A specialist model (Hinton et al. 2015, §5): a copy of the generalist whose head predicts
/// the classes of its subset S plus one "dustbin" class standing for every other class; how
/// labels and the generalist's soft targets are reduced to S + dustbin; and the correction of
/// the dustbin logit for the over-sampled specialist classes.

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "distillery/models.h"

namespace distillery::specialists {

/// For each of the C classes, its output in a specialist over `subset`: the position of the
/// class within `subset` (0..|S|-1), or |S| (the dustbin) for a class outside it.
/// Returns `[C]` int64. Throws c10::Error if a class of `subset` is outside [0, num_classes)
/// or repeated, or `subset` is empty or holds every class.
torch::Tensor dustbin_label_map(const std::vector<int64_t>& subset, int64_t num_classes);

/// Hard labels `[N]` int64 in [0, C) mapped to a specialist's outputs with
/// `dustbin_label_map`: labels outside `subset` become the dustbin |S|. Throws c10::Error as
/// `dustbin_label_map`, or if a label is outside [0, num_classes).
torch::Tensor to_specialist_labels(const torch::Tensor& labels, const std::vector<int64_t>& subset,
                                   int64_t num_classes);

/// A distribution over C classes reduced to S + dustbin, in log space: entries `subset` of
/// `log_probabilities` (`[B, C]`, normalised log-probabilities), then the log of the summed
/// probability of the other classes (by logsumexp, so it stays exact when they are tiny).
/// Returns `[B, |S| + 1]` in the input's dtype. Throws c10::Error as `dustbin_label_map` or
/// if the input is not `[B, C]`.
torch::Tensor reduce_log_probabilities(const torch::Tensor& log_probabilities,
                                       const std::vector<int64_t>& subset);

/// Logits whose softmax at `temperature` is the generalist's soft targets reduced to S +
/// dustbin: `T * reduce_log_probabilities(log_softmax(logits / T))`, `[B, |S| + 1]`. Feeding
/// them to `kd_loss` at the same T trains against exactly the reduced soft targets
/// (Hinton et al. 2015, §5). Throws c10::Error if `temperature` <= 0 or as above.
torch::Tensor reduce_logits(const torch::Tensor& logits, const std::vector<int64_t>& subset,
                            double temperature);

/// The dustbin logit's correction for training batches that are half specialist examples
/// when the specialist classes are a share `f` of the data: they were over-sampled by
/// `a = 0.5 / f` and the dustbin under-sampled by `b = 0.5 / (1 - f)`, so `log(a / b)`
/// (= log((1 - f) / f)) is added to the dustbin logit (a prior shift; Hinton et al. 2015, §5).
/// Throws std::invalid_argument unless 0 < f < 1.
double dustbin_bias_correction(double subset_share);

/// A specialist's model as it is used and stored.
struct Specialist {
  /// `[B, ...]` images to `[B, |S| + 1]` logits; the last output is the dustbin.
  torch::nn::Sequential model;
  /// Architecture spec (the generalist's) used to rebuild the model.
  nlohmann::json spec;
  /// Image shape the model expects.
  InputShape input;
  /// C, the generalist's class count.
  int64_t num_classes = 0;
  /// The subset S, ascending.
  std::vector<int64_t> classes;
  /// Share f of S in the training data.
  double subset_share = 0.0;
  /// The `dustbin_bias_correction(subset_share)` already added to the dustbin's bias (0 before
  /// training is finished).
  double dustbin_bias = 0.0;
};

/// A new specialist for `subset`, initialised from `generalist` (Hinton et al. 2015, §5):
/// built from the same `spec` with |S| + 1 outputs, every weight and buffer copied from the
/// generalist except the head (the Sequential's last module, which must be a Linear layer).
/// Head rows 0..|S|-1 are the generalist's rows for the classes of S. The dustbin row is the
/// mean of the generalist's rows for the other classes, and its bias their mean bias plus
/// log(C - |S|): its logit is then mean_{j not in S} z_j + log(C - |S|), a lower bound on
/// logsumexp_{j not in S} z_j (the log of the generalist's total for those classes) that is
/// exact when they are equal, so the new specialist starts close to the generalist's reduced
/// prediction. Throws c10::Error if the generalist's head is not a Linear layer with
/// `num_classes` outputs or the architectures differ, or as `dustbin_label_map`.
Specialist make_specialist(torch::nn::Sequential& generalist, const nlohmann::json& spec,
                           InputShape input, int64_t num_classes,
                           const std::vector<int64_t>& subset);

/// Adds `shift` to the dustbin's bias (the last row of the head's bias) and to
/// `specialist.dustbin_bias`. Throws c10::Error if the head is not a Linear layer with a bias.
void shift_dustbin_bias(Specialist& specialist, double shift);

/// Saves the model with its classes, subset share and dustbin bias (see `save_model`),
/// atomically. Throws std::runtime_error naming the path on I/O failure.
void save_specialist(const std::string& path, Specialist& specialist);

/// Loads a file written by `save_specialist`. Throws std::runtime_error naming the path if it
/// is missing, damaged, not a specialist, or its output count is not |S| + 1.
Specialist load_specialist(const std::string& path);

}  // namespace distillery::specialists
