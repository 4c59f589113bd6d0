#include "traced_forward.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include <utility>

namespace distillery::detail {

std::shared_ptr<torch::jit::Graph> trace_forward(const Model& model, const torch::Tensor& image) {
  torch::jit::Stack inputs{image};
  for (const auto& tensor : model->parameters()) inputs.emplace_back(tensor);
  for (const auto& tensor : model->buffers()) {
    if (tensor.defined()) inputs.emplace_back(tensor);
  }
  const auto& forward = model.forward_function();
  const auto traced = torch::jit::tracer::trace(
      std::move(inputs),
      [&forward](torch::jit::Stack stack) -> torch::jit::Stack {
        return {forward(stack.front().toTensor())};
      },
      [](const torch::autograd::Variable&) { return std::string(); }, /*strict=*/false);
  return traced.first->graph;
}

std::string first_line(const std::string& message) {
  auto line = message.substr(0, message.find('\n'));
  if (line.size() > 300) line = line.substr(0, 300) + " ...";
  return line;
}

}  // namespace distillery::detail
