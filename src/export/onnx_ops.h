#pragma once
// Internal: the translation of a traced forward (torch::jit::Graph, see traced_forward.h) into
// ONNX nodes, for export_onnx (export.h). Not installed.

#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "onnx_graph.h"

namespace distillery::detail {

/// The batch the forward is traced on. A C++ forward's `x.size(0)` is a plain number to the
/// tracer: traced on 2 images, a reshape whose first size is 2 on an input of 2 rows is taken
/// to keep the batch, and written as ONNX Reshape's 0 (copy the input's dimension).
inline constexpr int64_t kTraceBatch = 2;

/// A convolution written to the graph, which a BatchNorm may still fold into.
struct OnnxConv {
  std::string weight;  // initialiser [O, I / groups, kh, kw]
  std::string bias;    // initialiser [O], or "" (none yet)
  bool foldable = false;  // its weight and bias are its own (not tied to another layer's)
};

/// The state of one translation.
struct OnnxTranslation {
  explicit OnnxTranslation(OnnxGraph& g, int64_t set) : graph(g), opset(set) {}
  OnnxGraph& graph;
  int64_t opset;
  /// The ONNX name of each traced value written so far.
  std::unordered_map<const torch::jit::Value*, std::string> names;
  /// The traced inputs that are parameters and buffers, and their tensors.
  std::unordered_map<const torch::jit::Value*, torch::Tensor> weights;
  /// The initialiser made for a weight used more than once.
  std::unordered_map<const torch::jit::Value*, std::string> shared;
  /// Convolutions by the ONNX name of their output.
  std::unordered_map<std::string, OnnxConv> convs;
  /// Nodes already written by the translation of another (a chunk's ListUnpack).
  std::unordered_set<const torch::jit::Node*> done;
  int64_t folded_batch_norms = 0;
  int64_t removed_dropouts = 0;
};

/// Translates one traced node (its inputs already named).
using OnnxTranslator = void (*)(OnnxTranslation&, const torch::jit::Node*);
/// The translators of layers (convolution, BatchNorm, linear, pooling, dropout;
/// onnx_layers.cpp) and of tensor operators (element-wise, shapes; onnx_tensor_ops.cpp), by
/// LibTorch operator name ("aten::conv2d").
void add_layer_translators(std::unordered_map<std::string, OnnxTranslator>& table);
void add_tensor_translators(std::unordered_map<std::string, OnnxTranslator>& table);

/// Writes the nodes of `graph` in order; `t.names` must hold the graph's first input and
/// `t.weights` the others. Throws c10::Error naming the first operator it cannot translate.
void translate_nodes(const torch::jit::Graph& graph, OnnxTranslation& t);

/// The ONNX name of `value`: a value written before, or a new initialiser for a weight or a
/// constant (tensor or number). Throws c10::Error for anything else.
std::string onnx_name(OnnxTranslation& t, const torch::jit::Value* value);

// Reading a traced node's arguments (onnx_values.cpp). Each throws c10::Error through `refuse`
// when the argument is not what the translation needs.
int64_t int_of(const torch::jit::Node* n, std::size_t input);
double number_of(const torch::jit::Node* n, std::size_t input);
bool bool_of(const torch::jit::Node* n, std::size_t input);
bool is_none(const torch::jit::Node* n, std::size_t input);
/// A constant int list, or a list built from constants.
std::vector<int64_t> ints_of(const torch::jit::Node* n, std::size_t input);
/// The sizes the tracer recorded for `value`.
std::vector<int64_t> sizes_of(const torch::jit::Node* n, const torch::jit::Value* value);
/// A parameter, buffer or constant tensor argument; undefined for None.
torch::Tensor weight_of(OnnxTranslation& t, const torch::jit::Node* n, std::size_t input);
/// Throws c10::Error "export_onnx: the model's forward calls <op> <how>".
[[noreturn]] void refuse(const torch::jit::Node* n, const std::string& how);
/// `n`'s output is `from`'s ONNX value (an identity in inference).
void alias(OnnxTranslation& t, const torch::jit::Node* n, std::size_t from = 0);
/// A new ONNX name for `n`'s (single) output.
std::string name_output(OnnxTranslation& t, const torch::jit::Node* n, const std::string& hint);

}  // namespace distillery::detail
