#include "distillery/optim.h"

#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_fused_adam.h>
#include <torch/torch.h>

#include <stdexcept>

namespace distillery {

FusedAdam::FusedAdam(std::vector<torch::Tensor> parameters, torch::optim::AdamOptions options)
    : torch::optim::Optimizer(std::move(parameters),
                              std::make_unique<torch::optim::AdamOptions>(options)) {
  const auto [beta1, beta2] = options.betas();
  TORCH_CHECK(options.lr() >= 0, "Adam: learning rate must be >= 0, got ", options.lr());
  TORCH_CHECK(options.eps() >= 0, "Adam: eps must be >= 0, got ", options.eps());
  TORCH_CHECK(options.weight_decay() >= 0, "Adam: weight_decay must be >= 0, got ",
              options.weight_decay());
  TORCH_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
              "Adam: betas must be in [0, 1), got (", beta1, ", ", beta2, ")");
}

torch::Tensor FusedAdam::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode enable_grad(true);
    loss = closure();
  }
  torch::NoGradGuard no_grad;
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(group.options());
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps;
    for (const auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      // The fused kernel walks raw memory: parameter, gradient and moments must share one
      // dense layout, or it would update the wrong elements (or past the end).
      TORCH_CHECK(p.is_non_overlapping_and_dense(),
                  "FusedAdam: parameters must be dense tensors, got one of shape ", p.sizes(),
                  " and strides ", p.strides());
      auto grad = p.grad();
      TORCH_CHECK(grad.sizes() == p.sizes() && grad.scalar_type() == p.scalar_type() &&
                      grad.device() == p.device(),
                  "FusedAdam: a gradient of shape ", grad.sizes(), " (", grad.scalar_type(),
                  ") for a parameter of shape ", p.sizes(), " (", p.scalar_type(), ")");
      if (grad.strides() != p.strides()) grad = torch::empty_like(p).copy_(p.grad());
      auto& m = moments_[p.unsafeGetTensorImpl()];
      if (!m.step.defined() || m.exp_avg.sizes() != p.sizes() ||
          m.exp_avg.strides() != p.strides() || m.exp_avg.scalar_type() != p.scalar_type()) {
        TORCH_CHECK(!m.step.defined(), "FusedAdam: a parameter changed its shape, layout or "
                    "dtype after its first step (now ", p.sizes(), ", ", p.scalar_type(),
                    "); create a new optimiser");
        m.exp_avg = torch::zeros_like(p, torch::MemoryFormat::Preserve);
        m.exp_avg_sq = torch::zeros_like(p, torch::MemoryFormat::Preserve);
        if (o.amsgrad()) m.max_exp_avg_sq = torch::zeros_like(p, torch::MemoryFormat::Preserve);
        m.step = torch::zeros({}, p.options().dtype(torch::kFloat32));
      }
      if (o.amsgrad() && !m.max_exp_avg_sq.defined()) {
        m.max_exp_avg_sq = torch::zeros_like(p, torch::MemoryFormat::Preserve);
      }
      params.push_back(p);
      grads.push_back(grad);
      exp_avgs.push_back(m.exp_avg);
      exp_avg_sqs.push_back(m.exp_avg_sq);
      if (o.amsgrad()) max_exp_avg_sqs.push_back(m.max_exp_avg_sq);
      steps.push_back(m.step);
    }
    if (params.empty()) continue;
    at::_foreach_add_(steps, 1);
    const auto [beta1, beta2] = o.betas();
    at::_fused_adam_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, o.lr(), beta1,
                     beta2, o.weight_decay(), o.eps(), o.amsgrad(), /*maximize=*/false);
  }
  return loss;
}

void FusedAdam::save(torch::serialize::OutputArchive& /*archive*/) const {
  throw std::logic_error("FusedAdam: saving the optimiser state is not supported");
}

void FusedAdam::load(torch::serialize::InputArchive& /*archive*/) {
  throw std::logic_error("FusedAdam: loading the optimiser state is not supported");
}

}  // namespace distillery
