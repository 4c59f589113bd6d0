#include "distillery/teacher.h"

#include <torch/torch.h>

namespace distillery {

void TeacherImpl::freeze() {
  for (auto& p : model_ptr_->parameters()) p.set_requires_grad(false);
  model_ptr_->eval();
  torch::nn::Module::train(false);
}

torch::Tensor TeacherImpl::forward(const torch::Tensor& inputs) {
  torch::NoGradGuard no_grad;
  return forward_(inputs);
}

void TeacherImpl::train(bool /*on*/) {
  model_ptr_->eval();
  torch::nn::Module::train(false);
}

void TeacherImpl::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  model_ptr_->to(device, dtype, non_blocking);
}

void TeacherImpl::to(torch::Dtype dtype, bool non_blocking) {
  model_ptr_->to(dtype, non_blocking);
}

void TeacherImpl::to(torch::Device device, bool non_blocking) {
  model_ptr_->to(device, non_blocking);
}

}  // namespace distillery
