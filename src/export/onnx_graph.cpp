#include "onnx_graph.h"

#include <torch/torch.h>

#include <stdexcept>

namespace distillery::detail {

std::string OnnxGraph::fresh(const std::string& hint) {
  return hint + "_" + std::to_string(counter_++);
}

std::string OnnxGraph::initializer(const std::string& hint, const torch::Tensor& value) {
  const auto name = fresh(hint);
  const auto type = value.is_floating_point() ? torch::kFloat32 : torch::kInt64;
  index_[name] = initializers_.size();
  initializers_.emplace_back(name, value.detach().to(torch::kCPU, type).contiguous().clone());
  return name;
}

std::string OnnxGraph::int64s(const std::string& hint, const std::vector<int64_t>& values) {
  return initializer(hint, torch::tensor(values, torch::kInt64));
}

std::string OnnxGraph::scalar(const std::string& hint, double value) {
  return initializer(hint, torch::scalar_tensor(value, torch::kFloat32));
}

torch::Tensor& OnnxGraph::tensor(const std::string& name) {
  const auto it = index_.find(name);
  if (it == index_.end()) throw std::logic_error("OnnxGraph: no initialiser " + name);
  return initializers_[it->second].second;
}

OnnxNode& OnnxGraph::node(const std::string& op, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs) {
  auto& node = model_->nodes.emplace_back();
  node.op = op;
  node.name = op + "_" + std::to_string(model_->nodes.size() - 1);
  node.inputs = inputs;
  node.outputs = outputs;
  for (const auto& output : outputs) producers_[output] = node_count() - 1;
  return node;
}

int64_t OnnxGraph::producer(const std::string& name) const {
  const auto it = producers_.find(name);
  return it == producers_.end() ? -1 : it->second;
}

int64_t OnnxGraph::finish() {
  int64_t values = 0;
  for (auto& [name, value] : initializers_) {
    auto& init = model_->initializers.emplace_back();
    init.name = name;
    init.dims = value.sizes().vec();
    init.is_float = value.scalar_type() == torch::kFloat32;
    const auto n = static_cast<std::size_t>(value.numel());
    if (init.is_float) {
      init.floats.assign(value.data_ptr<float>(), value.data_ptr<float>() + n);
    } else {
      init.ints.assign(value.data_ptr<int64_t>(), value.data_ptr<int64_t>() + n);
    }
    values += value.numel();
  }
  initializers_.clear();
  index_.clear();
  return values;
}

namespace {

OnnxAttribute& add_attribute(OnnxNode& node, const std::string& name, OnnxAttribute::Kind kind) {
  auto& a = node.attributes.emplace_back();
  a.name = name;
  a.kind = kind;
  return a;
}

}  // namespace

void set_attribute(OnnxNode& node, const std::string& name, int64_t value) {
  add_attribute(node, name, OnnxAttribute::Kind::kInt).i = value;
}

void set_attribute(OnnxNode& node, const std::string& name, float value) {
  add_attribute(node, name, OnnxAttribute::Kind::kFloat).f = value;
}

void set_attribute(OnnxNode& node, const std::string& name, const std::vector<int64_t>& values) {
  add_attribute(node, name, OnnxAttribute::Kind::kInts).ints = values;
}

}  // namespace distillery::detail
