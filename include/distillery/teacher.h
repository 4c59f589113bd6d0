#pragma once
/// @file teacher.h
/// The teacher ("cumbersome model", Hinton et al. 2015, §1-2): a trained network, a
/// TorchScript file, or an ensemble of either, whose class probabilities at temperature T
/// become the student's soft targets.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "distillery/model.h"
#include "distillery/option_fields.h"

namespace distillery {

/// How an ensemble's members are combined into one distribution (Hinton et al. 2015, §2, §4).
enum class EnsembleMode {
  /// `p = (1/M) sum_m softmax_T(v_m)`: arithmetic mean of the members' probabilities,
  /// formed at the same T the loss uses.
  kArithmetic,
  /// `p proportional to prod_m softmax_T(v_m)^(1/M) = softmax_T(mean_m v_m)`: geometric mean.
  kGeometric,
};

/// Parses "arithmetic" / "geometric". Throws std::invalid_argument naming the value otherwise.
EnsembleMode parse_ensemble_mode(const std::string& name);
/// The name table of EnsembleMode: "arithmetic", "geometric".
const EnumNames<EnsembleMode>& ensemble_mode_names();
/// "arithmetic" or "geometric".
std::string to_string(EnsembleMode mode);

/// Combines member logits `[M, B, C]` into one set of logits `[B, C]` whose softmax at
/// `temperature` is the ensemble's distribution: for kGeometric the mean logits; for
/// kArithmetic `T * log((1/M) sum_m softmax_T(v_m))`. With M = 1 both return the member.
/// Throws c10::Error if `member_logits` is not 3-D or T is not finite and positive.
/// Example: members [10, 0, 0] and [0, 0, 0] at T = 1 give probabilities
/// [0.6667, 0.1667, 0.1667] (arithmetic) and [0.9867, 0.0066, 0.0066] (geometric).
torch::Tensor combine_member_logits(const torch::Tensor& member_logits, EnsembleMode mode,
                                    double temperature);

/// A frozen teacher, frozen by construction:
/// - its parameters have `requires_grad == false` and are *not* registered with this module,
///   so `parameters()` of the teacher (or of anything owning it) never hands them to an
///   optimiser;
/// - it is in eval mode and stays there when `train()` is called on it or on its owner
///   (Dropout off, BatchNorm uses and never updates its running statistics);
/// - it runs under `torch::NoGradGuard`.
/// A teacher has one or more members (an ensemble); `forward` combines them with the
/// ensemble's mode at the ensemble's temperature. Source: Hinton et al. 2015, §2 and §4.
/// Example:
///     Teacher teacher(trained_convnet);      // any Model (model.h): Tensor forward(Tensor)
///     auto v = teacher(images);              // [B, C] logits, no grad
class TeacherImpl : public torch::nn::Module {
 public:
  /// One member: how to run it, move it, freeze it, read its weights and buffers, and count
  /// its parameters.
  struct Member {
    /// Inputs `[B, ...]` to logits `[B, C]`; called under NoGradGuard.
    std::function<torch::Tensor(const torch::Tensor&)> forward;
    /// Moves the member's weights and buffers to a device.
    std::function<void(torch::Device)> to;
    /// The member's weights and buffers, for the fingerprint.
    std::function<std::vector<torch::Tensor>()> state;
    /// Eval mode and `requires_grad = false` on every weight.
    std::function<void()> freeze;
    /// Number of the member's parameter scalars (buffers excluded); a member without it
    /// counts 0.
    std::function<int64_t()> parameter_count;
  };

  /// Wraps `model` (a `Sequential`, any module holder or `Model`, model.h), whose forward maps
  /// `[B, ...]` inputs to `[B, C]` logits. The module is shared, not copied, so it is frozen in
  /// place: train it before wrapping it (afterwards its weights no longer require a gradient).
  /// Throws c10::Error if `model` is empty.
  explicit TeacherImpl(const Model& model)
      : TeacherImpl(std::vector<Member>{member_of(model)}, EnsembleMode::kGeometric, 1.0) {}
  /// An ensemble of members combined by `mode`; `temperature` is the T at which `forward`
  /// forms an arithmetic mean (`distill` passes the loss's T to `logits` instead). Throws
  /// c10::Error if `members` is empty or T is invalid.
  TeacherImpl(std::vector<Member> members, EnsembleMode mode, double temperature);

  /// Teacher logits `v`, `[B, C]`, for inputs `[B, ...]`: `logits(inputs, temperature())`.
  torch::Tensor forward(const torch::Tensor& inputs);
  /// Teacher logits `[B, C]` for inputs `[B, ...]`, an ensemble's combined at `temperature`
  /// (`combine_member_logits`; only an arithmetic mean depends on it); never records autograd
  /// history. Throws c10::Error if the members disagree on the output shape or T is invalid.
  torch::Tensor logits(const torch::Tensor& inputs, double temperature);

  /// Each member's logits, `[M, B, C]`, without combining them.
  torch::Tensor member_logits(const torch::Tensor& inputs);

  /// Number of members M (1 for a single network).
  int64_t num_members() const { return static_cast<int64_t>(members_.size()); }
  /// The combination mode (kGeometric for a single network, where both modes agree).
  EnsembleMode mode() const { return mode_; }
  /// The temperature at which `forward` forms an arithmetic ensemble (fixed at construction).
  double temperature() const { return temperature_; }
  /// Parameter scalars of all members together (the teacher's own `parameters()` is empty:
  /// the members' weights are not registered, see above). Buffers are not counted.
  int64_t parameter_count() const;

  /// Fingerprint of every member's weights and buffers and of the mode (see fingerprint.h):
  /// identifies the teacher in stored soft targets.
  uint64_t fingerprint() const;

  /// Ignores `on`: a teacher always stays in eval mode.
  void train(bool on = true) override;
  /// Moves every member (their parameters are not registered here, so the base class would
  /// not see them). The dtype is kept: the losses upcast half-precision logits themselves.
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;
  /// Keeps the dtype (see above).
  void to(torch::Dtype dtype, bool non_blocking = false) override;
  /// Moves every member to `device`.
  void to(torch::Device device, bool non_blocking = false) override;

  /// The member record of a model (used by the constructor; public so that ensembles of C++
  /// modules can be assembled). Throws c10::Error if `model` is empty.
  static Member member_of(const Model& model);

 private:
  std::vector<Member> members_;
  EnsembleMode mode_;
  double temperature_;
};
TORCH_MODULE(Teacher);

/// Loads a TorchScript teacher (`torch.jit.script(model).save(path)` or `torch.jit.trace`
/// in Python) whose `forward` maps `[B, ...]` float32 inputs to `[B, C]` logits, so a
/// teacher trained in Python can be distilled here.
/// Throws std::runtime_error naming the path: "<path>: cannot load TorchScript teacher:
/// <reason>" if the file is missing or not TorchScript; ModelFileKindError (models.h, kind
/// kDistilleryModel or kPickle) for a model file written by distillery or a PyTorch state
/// dict; a message if the module has no `forward`. The teacher's `forward` throws
/// std::runtime_error naming the path if the module returns a tuple, list or dict, or a tensor
/// that is not `[B, C]`.
Teacher load_torchscript_teacher(const std::string& path);

/// An ensemble of teachers combined by `mode` at `temperature` (Hinton et al. 2015, §4).
/// Members keep their own weights; each must output the same `[B, C]`.
/// Throws c10::Error if `members` is empty or T is invalid.
Teacher make_ensemble(const std::vector<Teacher>& members, EnsembleMode mode,
                      double temperature);

}  // namespace distillery
