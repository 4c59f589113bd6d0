#pragma once
/// @file losses.h
/// The objectives of Hinton, Vinyals & Dean (2015), §2, as pure functions of tensors
/// (namespace `functional`) and as LibTorch-style modules with Options structs:
/// - `kd_loss`: soft targets at temperature T (scaled by T^2) plus hard labels at T = 1;
/// - `soft_target_loss`: the soft term alone, for unlabeled transfer sets;
/// - `logit_matching`: the high-temperature limit (Caruana et al.; Ba & Caruana 2014).
/// The losses know nothing of models, data or configs. Half and bfloat16 inputs are computed
/// in float32 and give float32 results; other dtypes keep theirs.

#include <torch/enum.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <ostream>
#include <variant>

namespace distillery {

/// How per-sample losses `[B]` become the result: `torch::kMean` (batch mean, the default),
/// `torch::kSum` (sum over the batch) or `torch::kNone` (the `[B]` vector itself).
using Reduction = std::variant<torch::enumtype::kNone, torch::enumtype::kMean, torch::enumtype::kSum>;

/// Options of the combined distillation objective (Hinton et al. 2015, §2):
///
///     L = alpha * T^2 * KL(p || q) + (1 - alpha) * CE(y, softmax(z))
///
/// with `p = softmax_T(teacher_logits)` and `q = softmax_T(student_logits)`.
/// Example: `KDLossOptions().temperature(4.0).alpha(0.9).reduction(torch::kSum)`.
struct KDLossOptions {
  /// Softmax temperature T (dimensionless). Must be finite and > 0. T = 1 is the ordinary
  /// softmax; higher T gives softer targets (paper: T between 2.5 and 20 on MNIST).
  TORCH_ARG(double, temperature) = 4.0;
  /// Weight of the soft term, in [0, 1]; the hard term gets (1 - alpha). The paper puts a
  /// "considerably lower weight" on the hard term, hence the default 0.9.
  TORCH_ARG(double, alpha) = 0.9;
  /// Reduction over the batch.
  TORCH_ARG(Reduction, reduction) = torch::kMean;
};

/// Options of the soft term alone, `T^2 * KL(p || q)` (Hinton et al. 2015, §2).
struct SoftTargetLossOptions {
  /// Softmax temperature T, finite and > 0.
  TORCH_ARG(double, temperature) = 4.0;
  /// Reduction over the batch.
  TORCH_ARG(Reduction, reduction) = torch::kMean;
};

/// Options of logit matching, `0.5 * sum_i (z_i - v_i)^2` per sample (§2.1).
struct LogitMatchingOptions {
  /// Reduction over the batch.
  TORCH_ARG(Reduction, reduction) = torch::kMean;
};

namespace functional {

/// Checks `options` as `kd_loss` does, before any work: throws c10::Error
/// "alpha must be in [0, 1], got <alpha>" or "temperature must be finite and > 0, got <T>".
void validate(const KDLossOptions& options);

/// Temperature-scaled log-softmax along the last dimension: `log_softmax(logits / T)`.
/// @param logits  `[B, C]` (or any shape; the last dimension is the class), floating point.
/// @param temperature  T, finite and > 0.
/// @returns the same shape (float32 for half / bfloat16 inputs, else the input dtype).
/// Throws c10::Error "temperature must be finite and > 0, got <T>". Source: Hinton et al.
/// 2015, §2, eq. (1).
torch::Tensor log_softmax_t(const torch::Tensor& logits, double temperature);

/// Temperature-scaled softmax `softmax_T(z)_i = exp(z_i / T) / sum_j exp(z_j / T)`, computed
/// as `exp(log_softmax_t(z, T))` for stability.
/// @param logits  `[B, C]` floating point; @returns probabilities of the same shape, rows sum
/// to 1. Throws as `log_softmax_t`. Source: Hinton et al. 2015, eq. (1).
/// Example: `softmax_t(torch::tensor({{1.0, 2.0}}), 2.0)`.
torch::Tensor softmax_t(const torch::Tensor& logits, double temperature);

/// Soft term alone: `T^2 * KL(softmax_T(teacher) || softmax_T(student))`, summed over classes.
/// This is the whole objective for an unlabeled transfer set (Hinton et al. 2015, §2).
/// @param student_logits `[B, C]`, floating point, may require grad.
/// @param teacher_logits `[B, C]`, same shape; a constant (no gradient flows into it).
/// @returns per the reduction: a scalar, or `[B]` for kNone. With kMean its gradient w.r.t.
/// the student logits is `T * (q - p) / B` (§2.1), computed in closed form (one autograd
/// node; no double backward). Never negative.
/// Throws c10::Error if the logits are not 2-D, their shapes differ (both shapes are named),
/// they are not floating point, or T is not finite and positive.
torch::Tensor soft_target_loss(const torch::Tensor& student_logits,
                               const torch::Tensor& teacher_logits,
                               const SoftTargetLossOptions& options = {});

/// Soft term from teacher *probabilities* (e.g. the arithmetic mean of an ensemble's
/// softmax_T outputs, Hinton et al. 2015, §4): `T^2 * sum_i p_i (log p_i - log q_i)`.
/// @param teacher_probabilities `[B, C]`, entries >= 0, rows summing to 1 within 1e-4;
/// zero entries contribute 0. Throws c10::Error as `soft_target_loss`, and
/// "teacher_probabilities row <b> sums to <s>, not 1 (tolerance 1e-4)" or
/// "teacher_probabilities must be >= 0, got <min>" for invalid rows.
torch::Tensor soft_target_loss_from_probabilities(const torch::Tensor& student_logits,
                                                  const torch::Tensor& teacher_probabilities,
                                                  const SoftTargetLossOptions& options = {});

/// The combined distillation objective of Hinton et al. 2015, §2, per sample
/// `alpha * T^2 * KL(p || q) + (1 - alpha) * CE(y, softmax(z))`, then reduced.
/// @param student_logits `[B, C]` floating point.
/// @param teacher_logits `[B, C]` floating point (no gradient flows into it).
/// @param targets        `[B]` int64 hard labels in [0, C).
/// @returns a scalar, or `[B]` for kNone. With kMean the soft part's gradient is
/// `alpha * T * (q - p) / B`; the gradient is computed in closed form in one autograd node
/// (cheap for small students; no double backward). On the CPU out-of-range targets are
/// caught by the hard term's gather and then reported with the message below.
/// Throws c10::Error on mismatched shapes, targets that are not int64 `[B]` in [0, C),
/// T not finite and positive, or alpha outside [0, 1]; each message names the argument and
/// its value, e.g. "alpha must be in [0, 1], got 1.5".
/// Example: `kd_loss(z, v, y, KDLossOptions().temperature(4).alpha(0.9)).backward();`
torch::Tensor kd_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                      const torch::Tensor& targets, const KDLossOptions& options = {});

/// Logit matching (Caruana et al.; Ba & Caruana 2014), the T -> infinity limit of the soft
/// term for zero-mean logits (Hinton et al. 2015, §2.1): per sample
/// `0.5 * sum_i (z_i - v_i)^2`, then reduced (kMean: batch mean).
/// @param student_logits `[B, C]`; @param teacher_logits `[B, C]` (no gradient flows into it).
/// Throws c10::Error on mismatched or non-2-D shapes.
torch::Tensor logit_matching(const torch::Tensor& student_logits,
                             const torch::Tensor& teacher_logits,
                             const LogitMatchingOptions& options = {});

}  // namespace functional

/// Module form of `functional::kd_loss` (Hinton et al. 2015, §2); holds only its options.
/// Example: `KDLoss loss(KDLossOptions().temperature(4)); auto l = loss(z, v, y);`
class KDLossImpl : public torch::nn::Cloneable<KDLossImpl> {
 public:
  explicit KDLossImpl(KDLossOptions options = {});
  /// Nothing to reset: the loss has no parameters or buffers.
  void reset() override {}
  /// Prints `distillery::KDLoss(temperature=4, alpha=0.9)`.
  void pretty_print(std::ostream& stream) const override;
  /// See `functional::kd_loss` for shapes, dtypes and errors.
  torch::Tensor forward(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                        const torch::Tensor& targets);
  /// The options this loss was built with.
  KDLossOptions options;
};
TORCH_MODULE(KDLoss);

/// Module form of `functional::soft_target_loss`.
/// Example: `SoftTargetLoss loss(SoftTargetLossOptions().temperature(8)); loss(z, v);`
class SoftTargetLossImpl : public torch::nn::Cloneable<SoftTargetLossImpl> {
 public:
  explicit SoftTargetLossImpl(SoftTargetLossOptions options = {});
  /// Nothing to reset: the loss has no parameters or buffers.
  void reset() override {}
  /// Prints `distillery::SoftTargetLoss(temperature=4)`.
  void pretty_print(std::ostream& stream) const override;
  /// See `functional::soft_target_loss`.
  torch::Tensor forward(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits);
  /// The options this loss was built with.
  SoftTargetLossOptions options;
};
TORCH_MODULE(SoftTargetLoss);

/// Module form of `functional::logit_matching`.
/// Example: `LogitMatching loss; loss(z, v);`
class LogitMatchingImpl : public torch::nn::Cloneable<LogitMatchingImpl> {
 public:
  explicit LogitMatchingImpl(LogitMatchingOptions options = {});
  /// Nothing to reset: the loss has no parameters or buffers.
  void reset() override {}
  /// Prints `distillery::LogitMatching()`.
  void pretty_print(std::ostream& stream) const override;
  /// See `functional::logit_matching`.
  torch::Tensor forward(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits);
  /// The options this loss was built with.
  LogitMatchingOptions options;
};
TORCH_MODULE(LogitMatching);

}  // namespace distillery
