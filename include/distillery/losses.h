#pragma once
/// @file losses.h
/// The distillation objective of Hinton, Vinyals & Dean (2015), §2, as pure functions of
/// tensors (namespace `functional`) and as a LibTorch-style module (`KDLoss`).
/// The losses know nothing of models, data or configs.

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <ostream>

namespace distillery {

/// Options of the distillation objective (Hinton et al. 2015, §2):
///
///     L = alpha * T^2 * KL(p || q) + (1 - alpha) * CE(y, softmax(z))
///
/// with `p = softmax_T(teacher_logits)` and `q = softmax_T(student_logits)`.
/// Example: `KDLossOptions().temperature(4.0).alpha(0.9)`.
struct KDLossOptions {
  /// Softmax temperature T (dimensionless). Must be finite and > 0. T = 1 is the ordinary
  /// softmax; higher T gives softer targets (paper: T between 2.5 and 20 on MNIST).
  TORCH_ARG(double, temperature) = 4.0;
  /// Weight of the soft term, in [0, 1]; the hard term gets (1 - alpha). The paper puts a
  /// "considerably lower weight" on the hard term, hence the default 0.9.
  TORCH_ARG(double, alpha) = 0.9;
};

namespace functional {

/// Temperature-scaled log-softmax along the last dimension: `log_softmax(logits / T)`.
/// @param logits  `[B, C]` (or any shape; the last dimension is the class), floating point.
/// @param temperature  T, finite and > 0.
/// @returns a tensor of the same shape and dtype (float32 for half / bfloat16 inputs).
/// Throws c10::Error if T is not finite and positive. Source: Hinton et al. 2015, §2, eq. (1).
torch::Tensor log_softmax_t(const torch::Tensor& logits, double temperature);

/// Temperature-scaled softmax `softmax_T(z)_i = exp(z_i / T) / sum_j exp(z_j / T)`, computed
/// as `exp(log_softmax_t(z, T))` for stability.
/// @param logits  `[B, C]` floating point; @returns probabilities of the same shape, rows sum
/// to 1. Throws c10::Error if T is not finite and positive. Source: Hinton et al. 2015, eq. (1).
/// Example: `softmax_t(torch::tensor({{1.0, 2.0}}), 2.0)`.
torch::Tensor softmax_t(const torch::Tensor& logits, double temperature);

/// Soft term alone: `T^2 * KL(softmax_T(teacher) || softmax_T(student))`, summed over classes
/// and averaged over the batch. This is the whole objective for an unlabeled transfer set.
/// @param student_logits `[B, C]`, floating point, may require grad.
/// @param teacher_logits `[B, C]`, same shape; treated as constants (no gradient flows).
/// @returns a scalar (float32 for half / bfloat16 inputs, else the input dtype). Its
/// gradient w.r.t. the student logits is `T * (q - p) / B` (§2.1).
/// Throws c10::Error if the shapes differ (both are named), are not 2-D, or T is invalid.
torch::Tensor soft_target_loss(const torch::Tensor& student_logits,
                               const torch::Tensor& teacher_logits, double temperature);

/// The combined distillation objective of Hinton et al. 2015, §2:
/// `alpha * T^2 * KL(p || q) + (1 - alpha) * CE(targets, softmax(student_logits))`,
/// both terms averaged over the batch.
/// @param student_logits `[B, C]` floating point.
/// @param teacher_logits `[B, C]` floating point (no gradient flows into it).
/// @param targets        `[B]` int64 hard labels in [0, C).
/// @returns a scalar tensor. Gradient of the soft part: `alpha * T * (q - p) / B`.
/// Throws c10::Error on mismatched shapes, targets that are not int64 `[B]` in [0, C),
/// T not finite and positive, or alpha outside [0, 1]. The messages name the offending
/// argument and its value.
/// Example: `kd_loss(z, v, y, KDLossOptions().temperature(4).alpha(0.9)).backward();`
torch::Tensor kd_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                      const torch::Tensor& targets, const KDLossOptions& options = {});

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

}  // namespace distillery
