#pragma once
/// @file teacher.h
/// The teacher ("cumbersome model", Hinton et al. 2015, §1-2): a trained network whose
/// class probabilities at temperature T become the student's soft targets.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <functional>
#include <memory>

namespace distillery {

/// A frozen teacher, frozen by construction:
/// - its parameters have `requires_grad == false` and are *not* registered with this module,
///   so `parameters()` of the teacher (or of anything owning it) never hands them to an
///   optimiser;
/// - it is in eval mode and stays there when `train()` is called on it or on its owner
///   (Dropout off, BatchNorm uses and never updates its running statistics);
/// - `forward` runs under `torch::NoGradGuard`.
/// `to(device)` moves the wrapped model. Source: Hinton et al. 2015, §2.
/// Example:
///     Teacher teacher(trained_convnet);      // any module with Tensor forward(Tensor)
///     auto v = teacher(images);              // [B, C] logits, no grad
class TeacherImpl : public torch::nn::Module {
 public:
  /// Wraps `model` (a module holder such as `torch::nn::Sequential`), whose `forward` maps
  /// `[B, ...]` inputs to `[B, C]` logits.
  template <typename ModuleHolder>
  explicit TeacherImpl(ModuleHolder model)
      : model_ptr_(model.ptr()),
        forward_([model](const torch::Tensor& x) mutable -> torch::Tensor {
          return model->forward(x);
        }) {
    freeze();
  }

  /// Teacher logits `v`, `[B, C]`, for inputs `[B, ...]`; never records autograd history.
  torch::Tensor forward(const torch::Tensor& inputs);

  /// Ignores `on`: a teacher always stays in eval mode.
  void train(bool on = true) override;

  /// Moves the wrapped model (its parameters are not registered here, so the base class
  /// would not see them).
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;
  /// See above.
  void to(torch::Dtype dtype, bool non_blocking = false) override;
  /// See above.
  void to(torch::Device device, bool non_blocking = false) override;

  /// The wrapped model (read-only use: e.g. copying a checkpoint).
  const std::shared_ptr<torch::nn::Module>& model() const { return model_ptr_; }

 private:
  void freeze();

  std::shared_ptr<torch::nn::Module> model_ptr_;
  std::function<torch::Tensor(const torch::Tensor&)> forward_;
};
TORCH_MODULE(Teacher);

}  // namespace distillery
