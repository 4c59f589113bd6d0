#pragma once
/// @file specialists/specialist.h
/// A specialist model (Hinton et al. 2015, §5): a copy of the generalist whose head predicts
/// the classes of its subset S plus one "dustbin" class standing for every other class; how
/// labels and the generalist's soft targets are reduced to S + dustbin; and the correction of
/// the dustbin logit for the over-sampled specialist classes.

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "distillery/model.h"
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

/// Reduced logits (`[B, |S| + 1]`, last column the dustbin, e.g. from `reduce_logits`) moved
/// from the data's class prior to that of half-subset batches: log a = log(0.5 / f) added to
/// the columns of S and log b = log(0.5 / (1 - f)) to the dustbin, f being the share of S in
/// the data. `dustbin_bias_correction(f)` added to the dustbin afterwards undoes it exactly.
/// Throws std::invalid_argument unless 0 < f < 1, c10::Error if `logits` is not 2-D.
torch::Tensor to_sampled_prior(const torch::Tensor& logits, double subset_share);

/// The dustbin logit's correction for training batches that are half specialist examples
/// when the specialist classes are a share `f` of the data: they were over-sampled by
/// `a = 0.5 / f` and the dustbin under-sampled by `b = 0.5 / (1 - f)`, so `log(a / b)`
/// (= log((1 - f) / f)) is added to the dustbin logit (a prior shift; Hinton et al. 2015, §5).
/// Throws std::invalid_argument unless 0 < f < 1.
double dustbin_bias_correction(double subset_share);

/// The output layer that turns C logits into a specialist's |S| + 1: the logits of the classes
/// of S, then the dustbin logit logsumexp_{j not in S} z_j + `dustbin_bias`. With
/// `dustbin_bias` = 0, softmax of its output is exactly softmax(z) reduced to S + dustbin.
/// Buffers: `subset` and `rest` (int64 class indices), `dustbin_bias` (float32 scalar).
class DustbinReductionImpl : public torch::nn::Module {
 public:
  /// Throws c10::Error as `dustbin_label_map`.
  DustbinReductionImpl(const std::vector<int64_t>& subset, int64_t num_classes);
  /// `[B, C]` logits to `[B, |S| + 1]`. Throws c10::Error if the input does not have C columns.
  torch::Tensor forward(const torch::Tensor& logits);
  torch::Tensor subset, rest, dustbin_bias;
};
TORCH_MODULE(DustbinReduction);

/// A specialist's model as it is used and stored.
struct Specialist {
  /// `[B, ...]` images to `[B, |S| + 1]` logits (the last output is the dustbin): `network`
  /// followed by `reduction`, sharing their parameters. When `network` is a Sequential its
  /// layers come first, one by one; any other network is one module ("network") of it. (A
  /// Sequential converts to a Model wherever one is taken.)
  torch::nn::Sequential model;
  /// The generalist-shaped network, `[B, ...]` images to `[B, C]` logits.
  Model network;
  /// Its output layer.
  DustbinReduction reduction{nullptr};
  /// C, the generalist's class count.
  int64_t num_classes = 0;
  /// The subset S, ascending.
  std::vector<int64_t> classes;
  /// Share f of S in the training data.
  double subset_share = 0.0;
  /// The dustbin bias (the reduction's `dustbin_bias`): 0 for a new specialist;
  /// `train_specialist` lowers it by log(a / b) for training and adds log(a / b) back after.
  double dustbin_bias = 0.0;
  /// The correction log(a / b) added to the dustbin logit after training (0 before).
  double dustbin_correction = 0.0;
};

/// A new specialist for `subset`, initialised from `generalist` (Hinton et al. 2015, §5): a
/// network built by `make_network` (the generalist's architecture with C = `num_classes`
/// outputs) into which every weight and buffer of the generalist is copied by name, followed
/// by a DustbinReduction, on the generalist's device. The head's rows for S are thus the
/// generalist's, and the dustbin logit is the logsumexp of the generalist's rows for the other
/// classes, so a new specialist predicts exactly the generalist's distribution reduced to S +
/// dustbin, and training specialises it from there. (A linear dustbin row can only approximate
/// that logsumexp; README, "Specialists", shows what that costs.)
/// Example:
///     auto make_network = [] { return Model(make_mlp(MLPOptions(), {1, 28, 28}, 10)); };
///     auto s = make_specialist(generalist, make_network, 10, {3, 5});
/// Throws c10::Error if `make_network` is empty or builds an empty model, if a weight or buffer
/// of the network is missing from the generalist or has another shape there (e.g. a generalist
/// without C = `num_classes` outputs), if the generalist has parameters the network has not,
/// or as `dustbin_label_map`.
Specialist make_specialist(const Model& generalist, const std::function<Model()>& make_network,
                           int64_t num_classes, const std::vector<int64_t>& subset);

/// Adds `shift` to the dustbin logit (the reduction's `dustbin_bias`) and to
/// `specialist.dustbin_bias`.
void shift_dustbin_bias(Specialist& specialist, double shift);

/// Saves the network with `record` (its architecture spec, input shape and what the generalist
/// was trained on, see `save_model`; its `metadata` is replaced by the specialist's classes,
/// subset share and dustbin bias, kind "specialist"), atomically.
/// Throws c10::Error if `record.num_classes` is not the specialist's C, or as `save_model`.
void save_specialist(const std::string& path, const Specialist& specialist,
                     const ModelRecord& record);

/// Loads a file written by `save_specialist`: `build_network(record)` builds a network of the
/// architecture the record describes (C = `record.num_classes` outputs), the file's weights are
/// loaded into it, and the specialist is assembled around it, in eval mode. (The application
/// layer's `load_specialist(path)`, distillery/app/model_specs.h, builds zoo networks from the
/// stored spec.)
/// Throws std::runtime_error naming the path if the file is not a specialist, or its record is
/// damaged or its subset does not fit its class count; as `read_model_record` and
/// `load_model_weights`; and whatever `build_network` throws.
Specialist load_specialist(const std::string& path,
                           const std::function<Model(const ModelRecord&)>& build_network);

}  // namespace distillery::specialists
