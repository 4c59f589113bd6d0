#pragma once
/// @file metrics.h
/// Evaluation of a classifier on a labeled data set.

#include <torch/nn/modules/container/any.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <type_traits>
#include <vector>

#include "distillery/data/dataset.h"
#include "distillery/model.h"

namespace distillery {

/// Results of evaluating a classifier on a labeled set.
struct EvalResult {
  /// Number of examples evaluated.
  int64_t examples = 0;
  /// Misclassified examples (argmax of the logits differs from the label); the paper reports
  /// "test errors" out of 10,000 MNIST test images (Hinton et al. 2015, §3).
  int64_t errors = 0;
  /// (examples - errors) / examples, in [0, 1], computed as that one correctly rounded
  /// division (so 174 of 300 right is exactly the double 0.58, with no float noise in JSON).
  double accuracy = 0.0;
  /// Mean negative log-likelihood of the labels at T = 1 (nats per example).
  double nll = 0.0;
  /// Misclassified examples of each true class, `[C]`.
  std::vector<int64_t> errors_per_class;
};

/// Scores precomputed logits `[N, C]` (float) against labels `[N]` (int64).
/// Throws c10::Error if the shapes do not match or N = 0.
EvalResult evaluate_logits(const torch::Tensor& logits, const torch::Tensor& labels);

/// A function from a batch of inputs `[B, ...]` to logits `[B, C]`.
using LogitsFunction = std::function<torch::Tensor(const torch::Tensor&)>;

/// Computes `logits_fn` over `dataset` in batches of `batch_size` (on `device`), each batch's
/// model inputs from `Dataset::inputs` (uint8 pixels normalised per batch, float images as
/// they are), and compares with its labels. Runs under NoGradGuard; the caller sets eval mode.
/// Throws c10::Error if the set is unlabeled or empty, or the logits are not `[B, C]` with C
/// equal to `dataset.num_classes`.
EvalResult evaluate(const LogitsFunction& logits_fn, const data::Dataset& dataset,
                    int64_t batch_size = 1000, torch::Device device = torch::kCPU);

/// `evaluate` of a model (any module, model.h; already on `device`), run in eval mode; each
/// of its modules gets its own mode back afterwards. Throws as above.
/// Example: `auto result = evaluate(student, test_set);`
EvalResult evaluate(const Model& model, const data::Dataset& dataset, int64_t batch_size = 1000,
                    torch::Device device = torch::kCPU);

/// `evaluate` of a module holder (a `TORCH_MODULE` of one's own, a Sequential) as a Model.
template <typename Holder,
          std::enable_if_t<torch::detail::is_module_holder<Holder>::value, int> = 0>
EvalResult evaluate(const Holder& holder, const data::Dataset& dataset,
                    int64_t batch_size = 1000, torch::Device device = torch::kCPU) {
  return evaluate(Model(holder), dataset, batch_size, device);
}

/// Logits of `logits_fn` for every example of `images` (`[N, ...]` model inputs, e.g. float32
/// normalised images), computed in batches without autograd, returned on the CPU as `[N, C]`
/// float32. Throws c10::Error if `images` are uint8 pixels (pass the data set instead, whose
/// batches are normalised) or `batch_size` <= 0.
torch::Tensor compute_logits(const LogitsFunction& logits_fn, const torch::Tensor& images,
                             int64_t batch_size = 1000, torch::Device device = torch::kCPU);

/// Logits of `logits_fn` for every example of `dataset`, each batch's model inputs from
/// `Dataset::inputs` (uint8 pixels normalised per batch); `[N, C]` float32 on the CPU.
/// Throws c10::Error if the set is empty or `batch_size` <= 0.
torch::Tensor compute_logits(const LogitsFunction& logits_fn, const data::Dataset& dataset,
                             int64_t batch_size = 1000, torch::Device device = torch::kCPU);

/// `compute_logits` of a model (already on `device`), run in eval mode; each of its modules
/// gets its own mode back afterwards.
torch::Tensor compute_logits(const Model& model, const torch::Tensor& images,
                             int64_t batch_size = 1000, torch::Device device = torch::kCPU);

/// `compute_logits` of a module holder as a Model.
template <typename Holder,
          std::enable_if_t<torch::detail::is_module_holder<Holder>::value, int> = 0>
torch::Tensor compute_logits(const Holder& holder, const torch::Tensor& images,
                             int64_t batch_size = 1000, torch::Device device = torch::kCPU) {
  return compute_logits(Model(holder), images, batch_size, device);
}

/// `compute_logits` of a model over a data set (already on `device`), run in eval mode; each
/// of its modules gets its own mode back afterwards.
/// Example: `auto logits = compute_logits(teacher_net, train_set);  // [N, C]`
torch::Tensor compute_logits(const Model& model, const data::Dataset& dataset,
                             int64_t batch_size = 1000, torch::Device device = torch::kCPU);

/// `compute_logits` of a module holder over a data set, as a Model.
template <typename Holder,
          std::enable_if_t<torch::detail::is_module_holder<Holder>::value, int> = 0>
torch::Tensor compute_logits(const Holder& holder, const data::Dataset& dataset,
                             int64_t batch_size = 1000, torch::Device device = torch::kCPU) {
  return compute_logits(Model(holder), dataset, batch_size, device);
}

}  // namespace distillery
