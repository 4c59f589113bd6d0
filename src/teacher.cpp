#include "distillery/teacher.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "distillery/fingerprint.h"
#include "distillery/models.h"

namespace distillery {
namespace {

// The logits of a TorchScript teacher, with the module's own mistakes named as such.
torch::Tensor scripted_logits(torch::jit::Module& module, const torch::Tensor& inputs,
                              const std::string& path) {
  const auto out = module.forward({inputs});
  if (!out.isTensor()) {
    const std::string what = out.isTuple()         ? "a tuple"
                             : out.isList()        ? "a list"
                             : out.isGenericDict() ? "a dict"
                                                   : "a " + std::string(out.tagKind());
    throw std::runtime_error(path + ": the TorchScript teacher returns " + what +
                             "; its forward must return the logits tensor [B, C] (return only "
                             "the logits)");
  }
  auto logits = out.toTensor();
  if (logits.dim() != 2 || logits.size(0) != inputs.size(0)) {
    std::ostringstream message;
    message << path << ": the TorchScript teacher returns a tensor of shape " << logits.sizes()
            << " for " << inputs.size(0) << " inputs; its forward must return the logits tensor "
            << "[B, C]";
    throw std::runtime_error(message.str());
  }
  return logits;
}

}  // namespace

const EnumNames<EnsembleMode>& ensemble_mode_names() {
  static const EnumNames<EnsembleMode> names{
      {{EnsembleMode::kArithmetic, "arithmetic"}, {EnsembleMode::kGeometric, "geometric"}}};
  return names;
}

EnsembleMode parse_ensemble_mode(const std::string& name) {
  const auto mode = ensemble_mode_names().find(name);
  if (!mode) {
    throw std::invalid_argument("ensemble mode must be " + ensemble_mode_names().choices() +
                                ", got \"" + name + "\"");
  }
  return *mode;
}

std::string to_string(EnsembleMode mode) { return ensemble_mode_names().name(mode); }

torch::Tensor combine_member_logits(const torch::Tensor& member_logits, EnsembleMode mode,
                                    double temperature) {
  TORCH_CHECK(member_logits.dim() == 3, "member_logits must be [M, B, C], got shape ",
              member_logits.sizes());
  TORCH_CHECK(std::isfinite(temperature) && temperature > 0,
              "temperature must be finite and > 0, got ", temperature);
  if (member_logits.size(0) == 1) return member_logits[0];
  if (mode == EnsembleMode::kGeometric) return member_logits.mean(0);  // [B, C]
  // log of the mean probability, as a logsumexp of log-probabilities for stability.
  const auto log_probs = torch::log_softmax(member_logits / temperature, -1);  // [M, B, C]
  const auto log_mean =
      torch::logsumexp(log_probs, 0) - std::log(static_cast<double>(member_logits.size(0)));
  return temperature * log_mean;  // softmax_T of this is exactly the mean probability
}

TeacherImpl::TeacherImpl(std::vector<Member> members, EnsembleMode mode, double temperature)
    : members_(std::move(members)), mode_(mode), temperature_(temperature) {
  TORCH_CHECK(!members_.empty(), "a teacher needs at least one member");
  TORCH_CHECK(std::isfinite(temperature) && temperature > 0,
              "temperature must be finite and > 0, got ", temperature);
  for (auto& m : members_) m.freeze();
  torch::nn::Module::train(false);
}

torch::Tensor TeacherImpl::member_logits(const torch::Tensor& inputs) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> outputs;
  outputs.reserve(members_.size());
  for (auto& m : members_) {
    outputs.push_back(m.forward(inputs));
    TORCH_CHECK(outputs.back().dim() == 2 && outputs.back().sizes() == outputs.front().sizes(),
                "ensemble member ", outputs.size() - 1, " returns logits of shape ",
                outputs.back().sizes(), " but member 0 returns ", outputs.front().sizes());
  }
  return torch::stack(outputs);  // [M, B, C]
}

torch::Tensor TeacherImpl::forward(const torch::Tensor& inputs) {
  return logits(inputs, temperature_);
}

torch::Tensor TeacherImpl::logits(const torch::Tensor& inputs, double temperature) {
  if (members_.size() == 1) {
    torch::NoGradGuard no_grad;
    return members_.front().forward(inputs);
  }
  return combine_member_logits(member_logits(inputs), mode_, temperature);
}

TeacherImpl::Member TeacherImpl::member_of(const Model& model) {
  TORCH_CHECK(!model.is_empty(), "a teacher member needs a model (this one is empty)");
  std::shared_ptr<torch::nn::Module> module = model.ptr();
  Member m;
  m.forward = model.forward_function();
  m.to = [module](torch::Device device) { module->to(device); };
  m.state = [module] {
    auto tensors = module->parameters();
    for (const auto& b : module->buffers()) tensors.push_back(b);
    return tensors;
  };
  m.freeze = [module] {
    for (auto& p : module->parameters()) p.set_requires_grad(false);
    module->eval();
  };
  m.parameter_count = [module] {
    int64_t total = 0;
    for (const auto& p : module->parameters()) total += p.numel();
    return total;
  };
  return m;
}

int64_t TeacherImpl::parameter_count() const {
  int64_t total = 0;
  for (const auto& m : members_) {
    if (m.parameter_count) total += m.parameter_count();
  }
  return total;
}

uint64_t TeacherImpl::fingerprint() const {
  std::vector<torch::Tensor> tensors;
  tensors.push_back(torch::tensor({static_cast<int64_t>(mode_),
                                   static_cast<int64_t>(members_.size())}));
  for (const auto& m : members_) {
    for (const auto& t : m.state()) tensors.push_back(t);
  }
  return fingerprint_tensors(tensors);
}

void TeacherImpl::train(bool /*on*/) {
  for (auto& m : members_) m.freeze();
  torch::nn::Module::train(false);
}

void TeacherImpl::to(torch::Device device, torch::Dtype /*dtype*/, bool /*non_blocking*/) {
  to(device);
}

void TeacherImpl::to(torch::Dtype /*dtype*/, bool /*non_blocking*/) {}

void TeacherImpl::to(torch::Device device, bool /*non_blocking*/) {
  for (auto& m : members_) m.to(device);
}

Teacher load_torchscript_teacher(const std::string& path) {
  auto module = std::make_shared<torch::jit::Module>();
  try {
    *module = torch::jit::load(path);
  } catch (const c10::Error& e) {
    if (detect_model_file_kind(path) == ModelFileKind::kPickle) {
      throw ModelFileKindError(path + ": this is a PyTorch state dict or other torch.save file, "
                               "not TorchScript", ModelFileKind::kPickle);
    }
    throw std::runtime_error(path + ": cannot load TorchScript teacher: " +
                             e.what_without_backtrace());
  }
  if (!module->find_method("forward")) {
    if (detect_model_file_kind(path) == ModelFileKind::kDistilleryModel) {
      throw ModelFileKindError(path + ": this is a model file written by distillery, not "
                               "TorchScript", ModelFileKind::kDistilleryModel);
    }
    throw std::runtime_error(path + ": the TorchScript module has no forward method; save a "
                             "module whose forward maps images [B, C, H, W] to logits [B, C]");
  }
  TeacherImpl::Member m;
  m.forward = [module, path](const torch::Tensor& x) { return scripted_logits(*module, x, path); };
  m.to = [module](torch::Device device) { module->to(device); };
  m.state = [module] {
    std::vector<torch::Tensor> tensors;
    for (const auto& p : module->parameters()) tensors.push_back(p);
    for (const auto& b : module->buffers()) tensors.push_back(b);
    return tensors;
  };
  m.freeze = [module] {
    for (auto p : module->parameters()) p.set_requires_grad(false);
    module->eval();
  };
  m.parameter_count = [module] {
    int64_t total = 0;
    for (const auto& p : module->parameters()) total += p.numel();
    return total;
  };
  return Teacher(std::vector<TeacherImpl::Member>{m}, EnsembleMode::kGeometric, 1.0);
}

Teacher make_ensemble(const std::vector<Teacher>& members, EnsembleMode mode,
                      double temperature) {
  TORCH_CHECK(!members.empty(), "an ensemble needs at least one member");
  std::vector<TeacherImpl::Member> all;
  for (const auto& t : members) {
    auto holder = t;
    TeacherImpl::Member m;
    m.forward = [holder](const torch::Tensor& x) mutable { return holder->forward(x); };
    m.to = [holder](torch::Device device) mutable { holder->to(device); };
    m.state = [holder] {
      return std::vector<torch::Tensor>{
          torch::tensor(static_cast<int64_t>(holder->fingerprint()))};
    };
    m.freeze = [holder]() mutable { holder->train(false); };
    m.parameter_count = [holder] { return holder->parameter_count(); };
    all.push_back(std::move(m));
  }
  return Teacher(std::move(all), mode, temperature);
}

}  // namespace distillery
