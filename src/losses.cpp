#include "distillery/losses.h"

#include <torch/torch.h>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <array>
#include <cmath>

namespace distillery {
namespace functional {
namespace {

constexpr double kProbabilityTolerance = 1e-4;

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

void check_pair(const torch::Tensor& student_logits, const torch::Tensor& teacher,
                const char* teacher_name) {
  TORCH_CHECK(student_logits.dim() == 2, "student_logits must be [B, C], got shape ",
              student_logits.sizes());
  TORCH_CHECK(student_logits.sizes() == teacher.sizes(), "student_logits and ", teacher_name,
              " must have the same shape, got student ", student_logits.sizes(), " and teacher ",
              teacher.sizes());
  TORCH_CHECK(student_logits.device() == teacher.device(), "student_logits and ", teacher_name,
              " must be on the same device, got ", student_logits.device(), " and ",
              teacher.device());
  TORCH_CHECK(student_logits.is_floating_point() && teacher.is_floating_point(),
              "logits must be floating point, got student ", student_logits.scalar_type(),
              " and teacher ", teacher.scalar_type());
}

void check_target_shape(const torch::Tensor& targets, int64_t batch) {
  TORCH_CHECK(targets.scalar_type() == torch::kInt64, "targets must be int64, got ",
              targets.scalar_type());
  TORCH_CHECK(targets.dim() == 1 && targets.size(0) == batch, "targets must be [B] = [", batch,
              "], got shape ", targets.sizes());
}

void check_targets(const torch::Tensor& targets, int64_t batch, int64_t classes) {
  check_target_shape(targets, batch);
  if (batch == 0) return;
  const auto [lo, hi] = torch::aminmax(targets);
  const auto low = lo.item<int64_t>(), high = hi.item<int64_t>();
  TORCH_CHECK(low >= 0 && high < classes, "targets must be class indices in [0, ", classes,
              "), got values in [", low, ", ", high, "]");
}

torch::Tensor reduce(const torch::Tensor& per_sample, const Reduction& reduction) {
  if (std::holds_alternative<torch::enumtype::kNone>(reduction)) return per_sample;
  if (std::holds_alternative<torch::enumtype::kSum>(reduction)) return per_sample.sum();
  return per_sample.mean();
}

// T^2 * KL(p || q) per sample [B], from teacher probabilities p (which may hold zeros).
// A zero p_i contributes 0, not 0 * -inf. KL >= 0 mathematically; rounding can make an
// agreeing pair come out at -1e-17, so clamp (clamp_min keeps NaN, so NaN is still reported).
torch::Tensor soft_term_from_probabilities(const torch::Tensor& student_logits,
                                           const torch::Tensor& p, double temperature) {
  const auto log_q = log_softmax_t(student_logits, temperature);  // [B, C]
  const auto terms = torch::where(p > 0, p * (p.log() - log_q), torch::zeros_like(log_q));
  return terms.sum(-1).clamp_min(0.0).mul(temperature * temperature);  // [B]
}

// One row of the combined objective on the CPU: its value and its gradient with respect to z,
// in one pass over the C classes (accumulating in double). Same formulas as the tensor path.
template <typename scalar_t>
void kd_row(const scalar_t* z, const scalar_t* v, int64_t y, int64_t C, double T, double alpha,
            scalar_t* loss, scalar_t* grad) {
  double value = 0.0;
  for (int64_t j = 0; j < C; ++j) grad[j] = 0;
  if (alpha > 0.0) {
    double max_a = -INFINITY, max_b = -INFINITY;
    for (int64_t j = 0; j < C; ++j) {
      max_a = std::max(max_a, static_cast<double>(z[j]) / T);
      max_b = std::max(max_b, static_cast<double>(v[j]) / T);
    }
    double sum_a = 0.0, sum_b = 0.0;
    for (int64_t j = 0; j < C; ++j) {
      sum_a += std::exp(static_cast<double>(z[j]) / T - max_a);
      sum_b += std::exp(static_cast<double>(v[j]) / T - max_b);
    }
    const double lse_a = max_a + std::log(sum_a), lse_b = max_b + std::log(sum_b);
    double kl = 0.0;
    for (int64_t j = 0; j < C; ++j) {
      const double log_q = static_cast<double>(z[j]) / T - lse_a;
      const double log_p = static_cast<double>(v[j]) / T - lse_b;
      const double p = std::exp(log_p);
      if (p > 0) kl += p * (log_p - log_q);  // a zero p (teacher logit -inf) adds 0, not NaN
      grad[j] = static_cast<scalar_t>(alpha * T * (std::exp(log_q) - p));
    }
    // KL >= 0; rounding can give -1e-17 when p == q (NaN passes through std::max unchanged).
    value = std::max(kl, 0.0) * alpha * T * T;
  }
  if (alpha < 1.0) {
    double max_z = -INFINITY;
    for (int64_t j = 0; j < C; ++j) max_z = std::max(max_z, static_cast<double>(z[j]));
    double sum = 0.0;
    for (int64_t j = 0; j < C; ++j) sum += std::exp(static_cast<double>(z[j]) - max_z);
    const double lse = max_z + std::log(sum);
    for (int64_t j = 0; j < C; ++j) {
      const double s = std::exp(static_cast<double>(z[j]) - lse);
      grad[j] = static_cast<scalar_t>(grad[j] + (1.0 - alpha) * (s - (j == y ? 1.0 : 0.0)));
    }
    value -= (1.0 - alpha) * (static_cast<double>(z[y]) - lse);
  }
  *loss = static_cast<scalar_t>(value);
}

// The per-sample combined objective with its closed-form gradient (DESIGN.md, "The math"):
//   d/dz [alpha T^2 KL(p||q) + (1 - alpha) CE(y, s)] = alpha T (q - p) + (1 - alpha) (s - onehot(y))
// with q = softmax(z / T), s = softmax(z). One autograd node instead of a graph of small ops
// keeps a distillation step close to the cost of a hard-label step. On the CPU the value and
// the gradient come from one loop over the rows (kd_row) for up to 64 classes, which for a
// small student saves some twenty kernel launches per step; elsewhere from tensor ops. Inputs
// are float32/float64 (already upcast); the teacher gets no gradient; the gradient is saved as
// a constant, so there is no double backward. Targets are checked by the caller.
class KDPerSample : public torch::autograd::Function<KDPerSample> {
 public:
  static constexpr int64_t kRowLoopMaxClasses = 64;

  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& z,
                               const torch::Tensor& v, const torch::Tensor& targets,
                               double temperature, double alpha) {
    // The row loop is scalar: above a few dozen classes the vectorised kernels win.
    const bool row_loop = z.device().is_cpu() && z.size(1) <= kRowLoopMaxClasses;
    const auto grad = row_loop ? forward_cpu(z, v, targets, temperature, alpha)
                               : forward_tensors(z, v, targets, temperature, alpha);
    ctx->save_for_backward({grad[1]});
    return grad[0];
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto grad = ctx->get_saved_variables()[0];  // [B, C]: d(loss_i) / d(z_i)
    return {grad * grad_outputs[0].unsqueeze(1), torch::Tensor(), torch::Tensor(),
            torch::Tensor(), torch::Tensor()};
  }

 private:
  // {per-sample loss [B], gradient [B, C]}.
  static std::array<torch::Tensor, 2> forward_cpu(const torch::Tensor& z_in,
                                                  const torch::Tensor& v_in,
                                                  const torch::Tensor& targets_in, double T,
                                                  double alpha) {
    const auto z = z_in.contiguous(), v = v_in.contiguous();
    const auto targets = alpha < 1.0 ? targets_in.contiguous() : targets_in;
    const int64_t B = z.size(0), C = z.size(1);
    auto loss = torch::empty({B}, z.options());
    auto grad = torch::empty({B, C}, z.options());
    AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "kd_loss", [&] {
      const auto* zp = z.data_ptr<scalar_t>();
      const auto* vp = v.data_ptr<scalar_t>();
      const int64_t* yp = alpha < 1.0 ? targets.data_ptr<int64_t>() : nullptr;
      auto* lp = loss.data_ptr<scalar_t>();
      auto* gp = grad.data_ptr<scalar_t>();
      // Rows are independent; below 1024 rows the loop runs on the calling thread.
      at::parallel_for(0, B, 1024, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const int64_t y = yp ? yp[i] : 0;
          TORCH_CHECK(!yp || (y >= 0 && y < C), "target ", y, " out of range");
          kd_row(zp + i * C, vp + i * C, y, C, T, alpha, lp + i, gp + i * C);
        }
      });
    });
    return {loss, grad};
  }

  static std::array<torch::Tensor, 2> forward_tensors(const torch::Tensor& z,
                                                      const torch::Tensor& v,
                                                      const torch::Tensor& targets, double T,
                                                      double alpha) {
    torch::Tensor per_sample = torch::zeros({z.size(0)}, z.options());  // [B]
    torch::Tensor grad = torch::zeros_like(z);                          // [B, C]
    if (alpha > 0.0) {
      const auto log_q = torch::log_softmax(z / T, -1);  // [B, C]
      const auto log_p = torch::log_softmax(v / T, -1);  // [B, C]
      const auto p = log_p.exp();
      // A zero p adds 0, not 0 * -inf. KL >= 0; rounding can give -1e-17 when p == q, hence
      // the clamp (NaN passes through).
      per_sample = torch::where(p > 0, p * (log_p - log_q), torch::zeros_like(p))
                       .sum(-1)
                       .clamp_min_(0.0)
                       .mul_(alpha * T * T);
      grad = (log_q.exp() - p).mul_(alpha * T);
    }
    if (alpha < 1.0) {
      const auto log_s = torch::log_softmax(z, -1);  // [B, C]
      per_sample.sub_(log_s.gather(1, targets.unsqueeze(1)).squeeze(1), 1.0 - alpha);
      auto hard = log_s.exp();
      hard.scatter_add_(1, targets.unsqueeze(1),
                        torch::full({targets.size(0), 1}, -1.0, z.options()));
      grad.add_(hard, 1.0 - alpha);
    }
    return {per_sample, grad};
  }
};

}  // namespace

void validate(const KDLossOptions& options) {
  TORCH_CHECK(options.alpha() >= 0.0 && options.alpha() <= 1.0, "alpha must be in [0, 1], got ",
              options.alpha());
  check_temperature(options.temperature());
}

torch::Tensor log_softmax_t(const torch::Tensor& logits, double temperature) {
  check_temperature(temperature);
  return torch::log_softmax(upcast(logits) / temperature, -1);
}

torch::Tensor softmax_t(const torch::Tensor& logits, double temperature) {
  return log_softmax_t(logits, temperature).exp();
}

torch::Tensor soft_target_loss(const torch::Tensor& student_logits,
                               const torch::Tensor& teacher_logits,
                               const SoftTargetLossOptions& options) {
  check_temperature(options.temperature());
  check_pair(student_logits, teacher_logits, "teacher_logits");
  // The combined objective's node with alpha = 1: the hard term and its targets are unused.
  const auto z = upcast(student_logits);
  const auto v = upcast(teacher_logits.detach()).to(z.scalar_type());
  const auto no_targets = torch::empty({0}, z.options().dtype(torch::kInt64));
  return reduce(KDPerSample::apply(z, v, no_targets, options.temperature(), 1.0),
                options.reduction());
}

torch::Tensor soft_target_loss_from_probabilities(const torch::Tensor& student_logits,
                                                  const torch::Tensor& teacher_probabilities,
                                                  const SoftTargetLossOptions& options) {
  check_pair(student_logits, teacher_probabilities, "teacher_probabilities");
  check_temperature(options.temperature());
  const auto p = upcast(teacher_probabilities.detach());  // [B, C]
  if (p.numel() > 0) {
    const auto min = p.min().item<double>();
    TORCH_CHECK(min >= 0, "teacher_probabilities must be >= 0, got ", min);
    const auto error = (p.sum(-1) - 1.0).abs();  // [B]
    const auto worst = error.argmax().item<int64_t>();
    TORCH_CHECK(error[worst].item<double>() <= kProbabilityTolerance, "teacher_probabilities row ",
                worst, " sums to ", p[worst].sum().item<double>(), ", not 1 (tolerance 1e-4)");
  }
  return reduce(soft_term_from_probabilities(student_logits, p, options.temperature()),
                options.reduction());
}

torch::Tensor kd_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                      const torch::Tensor& targets, const KDLossOptions& options) {
  validate(options);
  const double alpha = options.alpha();
  check_pair(student_logits, teacher_logits, "teacher_logits");
  const int64_t batch = student_logits.size(0), classes = student_logits.size(1);
  TORCH_CHECK(alpha == 1.0 || targets.device() == student_logits.device(),
              "targets and student_logits must be on the same device, got ", targets.device(),
              " and ", student_logits.device());
  // On the CPU the row loop or the gather bounds-checks the targets for free; the range check
  // (two host syncs per step) then only runs to word the error. Elsewhere check up front.
  const bool gather_checks =
      targets.device().is_cpu() && student_logits.device().is_cpu() && alpha < 1.0;
  if (gather_checks) {
    check_target_shape(targets, batch);
  } else {
    check_targets(targets, batch, classes);
  }
  const auto z = upcast(student_logits);
  const auto v = upcast(teacher_logits.detach()).to(z.scalar_type());
  torch::Tensor per_sample;  // [B]
  try {
    per_sample = KDPerSample::apply(z, v, targets, options.temperature(), alpha);
  } catch (const c10::Error&) {
    if (gather_checks) check_targets(targets, batch, classes);  // throws the clear message
    throw;
  }
  return reduce(per_sample, options.reduction());
}

torch::Tensor logit_matching(const torch::Tensor& student_logits,
                             const torch::Tensor& teacher_logits,
                             const LogitMatchingOptions& options) {
  check_pair(student_logits, teacher_logits, "teacher_logits");
  const auto diff = upcast(student_logits) - upcast(teacher_logits.detach());  // [B, C]
  return reduce(0.5 * diff.square().sum(-1), options.reduction());
}

}  // namespace functional

KDLossImpl::KDLossImpl(KDLossOptions options_) : options(std::move(options_)) {}

void KDLossImpl::pretty_print(std::ostream& stream) const {
  stream << "distillery::KDLoss(temperature=" << options.temperature()
         << ", alpha=" << options.alpha() << ")";
}

torch::Tensor KDLossImpl::forward(const torch::Tensor& student_logits,
                                  const torch::Tensor& teacher_logits,
                                  const torch::Tensor& targets) {
  return functional::kd_loss(student_logits, teacher_logits, targets, options);
}

SoftTargetLossImpl::SoftTargetLossImpl(SoftTargetLossOptions options_)
    : options(std::move(options_)) {}

void SoftTargetLossImpl::pretty_print(std::ostream& stream) const {
  stream << "distillery::SoftTargetLoss(temperature=" << options.temperature() << ")";
}

torch::Tensor SoftTargetLossImpl::forward(const torch::Tensor& student_logits,
                                          const torch::Tensor& teacher_logits) {
  return functional::soft_target_loss(student_logits, teacher_logits, options);
}

LogitMatchingImpl::LogitMatchingImpl(LogitMatchingOptions options_)
    : options(std::move(options_)) {}

void LogitMatchingImpl::pretty_print(std::ostream& stream) const {
  stream << "distillery::LogitMatching()";
}

torch::Tensor LogitMatchingImpl::forward(const torch::Tensor& student_logits,
                                         const torch::Tensor& teacher_logits) {
  return functional::logit_matching(student_logits, teacher_logits, options);
}

}  // namespace distillery
