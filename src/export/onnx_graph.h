#pragma once
// Internal: an ONNX graph under construction (onnx_ir.h), for export_onnx (export.h).
// Initialisers stay LibTorch tensors until `finish`, so that a BatchNorm can still fold into the
// convolution weights before them. Not installed.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "onnx_ir.h"

namespace distillery::detail {

class OnnxGraph {
 public:
  /// Fills the nodes and initialisers of `model` (owned by the caller).
  explicit OnnxGraph(OnnxModel* model) : model_(model) {}

  /// A value name not used before: `hint` and a number.
  std::string fresh(const std::string& hint);
  /// A new initialiser holding `value` (float tensors are written as float32, integer ones as
  /// int64); returns its name.
  std::string initializer(const std::string& hint, const torch::Tensor& value);
  /// An int64 initialiser `[values.size()]`.
  std::string int64s(const std::string& hint, const std::vector<int64_t>& values);
  /// A float32 scalar initialiser (shape `[]`).
  std::string scalar(const std::string& hint, double value);
  /// The tensor of initialiser `name` (which may be replaced until `finish`). The reference
  /// lasts until the next initialiser is added.
  torch::Tensor& tensor(const std::string& name);
  /// Appends a node `op` from `inputs` to `outputs`.
  OnnxNode& node(const std::string& op, const std::vector<std::string>& inputs,
                 const std::vector<std::string>& outputs);
  /// The nodes so far.
  int64_t node_count() const { return static_cast<int64_t>(model_->nodes.size()); }
  /// The index of the node whose output is `name`, or -1.
  int64_t producer(const std::string& name) const;
  OnnxNode& node_at(int64_t index) { return model_->nodes[static_cast<std::size_t>(index)]; }
  /// Writes the initialisers into the model; returns the scalars they hold.
  int64_t finish();

 private:
  OnnxModel* model_;
  std::vector<std::pair<std::string, torch::Tensor>> initializers_;
  std::unordered_map<std::string, std::size_t> index_;
  std::unordered_map<std::string, int64_t> producers_;
  int64_t counter_ = 0;
};

/// Attributes of a node.
void set_attribute(OnnxNode& node, const std::string& name, int64_t value);
void set_attribute(OnnxNode& node, const std::string& name, float value);
void set_attribute(OnnxNode& node, const std::string& name, const std::vector<int64_t>& values);

}  // namespace distillery::detail
