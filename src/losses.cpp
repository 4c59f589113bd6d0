#include "distillery/losses.h"

#include <torch/torch.h>

#include <cmath>

namespace distillery {
namespace functional {
namespace {

void check_temperature(double temperature) {
  TORCH_CHECK(std::isfinite(temperature) && temperature > 0,
              "temperature must be finite and > 0, got ", temperature);
}

// Half and bfloat16 logits lose too much in exp/log; compute in float32.
torch::Tensor upcast(const torch::Tensor& t) {
  if (t.scalar_type() == torch::kHalf || t.scalar_type() == torch::kBFloat16) {
    return t.to(torch::kFloat32);
  }
  return t;
}

void check_logit_pair(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits) {
  TORCH_CHECK(student_logits.dim() == 2, "student_logits must be [B, C], got shape ",
              student_logits.sizes());
  TORCH_CHECK(student_logits.sizes() == teacher_logits.sizes(),
              "student_logits and teacher_logits must have the same shape, got student ",
              student_logits.sizes(), " and teacher ", teacher_logits.sizes());
  TORCH_CHECK(student_logits.is_floating_point() && teacher_logits.is_floating_point(),
              "logits must be floating point, got student ", student_logits.scalar_type(),
              " and teacher ", teacher_logits.scalar_type());
}

}  // namespace

torch::Tensor log_softmax_t(const torch::Tensor& logits, double temperature) {
  check_temperature(temperature);
  return torch::log_softmax(upcast(logits) / temperature, -1);
}

torch::Tensor softmax_t(const torch::Tensor& logits, double temperature) {
  return log_softmax_t(logits, temperature).exp();
}

torch::Tensor soft_target_loss(const torch::Tensor& student_logits,
                               const torch::Tensor& teacher_logits, double temperature) {
  check_logit_pair(student_logits, teacher_logits);
  const auto log_q = log_softmax_t(student_logits, temperature);                 // [B, C]
  const auto log_p = log_softmax_t(teacher_logits.detach(), temperature);        // [B, C]
  // KL(p || q) = sum_i p_i (log p_i - log q_i); p_i = 0 contributes 0 (xlogy convention).
  const auto kl = (log_p.exp() * (log_p - log_q)).sum(-1);                       // [B]
  return kl.mean() * (temperature * temperature);
}

torch::Tensor kd_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                      const torch::Tensor& targets, const KDLossOptions& options) {
  const double alpha = options.alpha();
  TORCH_CHECK(alpha >= 0.0 && alpha <= 1.0, "alpha must be in [0, 1], got ", alpha);
  check_logit_pair(student_logits, teacher_logits);
  const int64_t batch = student_logits.size(0);
  const int64_t classes = student_logits.size(1);
  TORCH_CHECK(targets.scalar_type() == torch::kInt64, "targets must be int64, got ",
              targets.scalar_type());
  TORCH_CHECK(targets.dim() == 1 && targets.size(0) == batch, "targets must be [B] = [", batch,
              "], got shape ", targets.sizes());
  if (batch > 0) {
    const auto lo = targets.min().item<int64_t>();
    const auto hi = targets.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < classes, "targets must be class indices in [0, ", classes,
                "), got values in [", lo, ", ", hi, "]");
  }
  torch::Tensor loss = torch::zeros({}, upcast(student_logits).options());
  if (alpha > 0.0) {
    loss = loss + alpha * soft_target_loss(student_logits, teacher_logits, options.temperature());
  } else {
    check_temperature(options.temperature());
  }
  if (alpha < 1.0) {
    const auto hard = torch::nll_loss(torch::log_softmax(upcast(student_logits), -1), targets);
    loss = loss + (1.0 - alpha) * hard;
  }
  return loss;
}

}  // namespace functional

KDLossImpl::KDLossImpl(KDLossOptions options_) : options(options_) {}

void KDLossImpl::pretty_print(std::ostream& stream) const {
  stream << "distillery::KDLoss(temperature=" << options.temperature()
         << ", alpha=" << options.alpha() << ")";
}

torch::Tensor KDLossImpl::forward(const torch::Tensor& student_logits,
                                  const torch::Tensor& teacher_logits,
                                  const torch::Tensor& targets) {
  return functional::kd_loss(student_logits, teacher_logits, targets, options);
}

}  // namespace distillery
