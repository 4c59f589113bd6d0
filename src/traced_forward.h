#pragma once
// Internal: one forward of a Model recorded by LibTorch's tracer, shared by the multiply-add
// count (model_size.cpp) and the ONNX export (export/). Not installed.

#include <torch/csrc/jit/ir/ir.h>
#include <torch/types.h>

#include <memory>
#include <string>

#include "distillery/model.h"

namespace distillery::detail {

/// The graph of one forward of `model` on `image`. Its inputs are `image`, then the module's
/// parameters (`model->parameters()` order), then its defined buffers (`model->buffers()`
/// order), so that no weight is baked in as a constant (the tracer refuses a tensor that
/// requires grad as one). Throws what the forward or the tracer throws.
std::shared_ptr<torch::jit::Graph> trace_forward(const Model& model, const torch::Tensor& image);

/// The first line of `message`, at most 300 characters (the tracer's messages may print whole
/// weight tensors).
std::string first_line(const std::string& message);

}  // namespace distillery::detail
