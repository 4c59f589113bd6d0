#pragma once
// Optimisers for the trainer. LibTorch's C++ torch::optim::Adam updates each parameter with
// about a dozen separate element-wise kernels; FusedAdam runs ATen's fused Adam kernel
// (`at::_fused_adam_`, the one Python's `torch.optim.Adam(fused=True)` calls), one pass over
// each parameter's memory per step.

#include <torch/optim/adam.h>
#include <torch/optim/optimizer.h>

#include <unordered_map>
#include <vector>

namespace distillery {

/// Adam (Kingma & Ba 2015) with L2 weight decay added to the gradient, as torch::optim::Adam,
/// computed by ATen's fused kernel. Takes the same torch::optim::AdamOptions (lr, betas, eps,
/// weight_decay, amsgrad); the learning rate can be changed between steps through
/// `param_groups()[g].options().set_lr(...)`.
///
/// Parameters are dense float32, float64, float16 or bfloat16 tensors on the CPU or a CUDA
/// device. Parameters whose gradient is undefined are skipped, as torch::optim::Adam does; a
/// gradient laid out with other strides than its parameter is copied into the parameter's
/// layout first. The moments are kept per parameter (by identity, not position).
/// step() throws c10::Error for a non-dense parameter, a gradient whose shape, dtype or device
/// differs from its parameter's, or a parameter that changed shape, layout or dtype after its
/// first step.
/// The per-parameter step count is a float32 scalar tensor (as in PyTorch's fused Adam), exact
/// up to 2^24 steps. The results agree with torch::optim::Adam to rounding (the fused kernel
/// evaluates the same update in another order); `tests/test_optim.cpp` checks this.
///
/// Saving and loading the optimiser state (`save`/`load`) are not supported and throw
/// std::logic_error: distillery checkpoints models, not optimisers.
class FusedAdam : public torch::optim::Optimizer {
 public:
  /// Throws c10::Error on a negative learning rate, eps or weight decay, or betas outside
  /// [0, 1).
  FusedAdam(std::vector<torch::Tensor> parameters, torch::optim::AdamOptions options = {});
  /// One Adam step on every parameter that has a gradient. `closure`, when given, is called
  /// first (under grad mode) and its loss returned.
  torch::Tensor step(LossClosure closure = nullptr) override;
  /// Throws std::logic_error (see the class comment).
  void save(torch::serialize::OutputArchive& archive) const override;
  /// Throws std::logic_error (see the class comment).
  void load(torch::serialize::InputArchive& archive) override;

 private:
  struct Moments {
    torch::Tensor exp_avg, exp_avg_sq, max_exp_avg_sq, step;
  };
  // Keyed by the parameter's TensorImpl (as torch::optim::Adam keys its state).
  std::unordered_map<const c10::TensorImpl*, Moments> moments_;
};

}  // namespace distillery
