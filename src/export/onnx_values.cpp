#include <torch/csrc/jit/ir/constants.h>
#include <torch/torch.h>

#include <optional>
#include <vector>

#include "onnx_ops.h"

namespace distillery::detail {
namespace {

using torch::jit::Node;
using torch::jit::Value;

c10::IValue constant_of(const Node* n, std::size_t input, const char* what) {
  const auto value = torch::jit::toIValue(n->input(input));
  if (!value) refuse(n, std::string("with a ") + what + " computed in the forward (argument " +
                            std::to_string(input) + "); the export needs a constant there");
  return *value;
}

// The batch size `x.size(0)` of a traced shape, through the int conversions the tracer records.
bool is_batch_size(const Value* v) {
  const auto* node = v->node();
  while (node->kind() == c10::Symbol::fromQualString("aten::Int") ||
         node->kind() == c10::Symbol::fromQualString("prim::NumToTensor")) {
    node = node->input(0)->node();
  }
  if (node->kind() != c10::Symbol::fromQualString("aten::size") || node->inputs().size() != 2) {
    return false;
  }
  const auto dim = torch::jit::toIValue(node->input(1));
  return dim && dim->isInt() && dim->toInt() == 0;
}

}  // namespace

void refuse(const Node* n, const std::string& how) {
  C10_THROW_ERROR(Error, std::string("export_onnx: the model's forward calls ") +
                             n->kind().toQualString() + " " + how);
}

int64_t int_of(const Node* n, std::size_t input) {
  const auto v = constant_of(n, input, "number");
  if (!v.isInt()) refuse(n, "with a non-integer where an integer is expected");
  return v.toInt();
}

double number_of(const Node* n, std::size_t input) {
  const auto v = constant_of(n, input, "number");
  if (v.isInt()) return static_cast<double>(v.toInt());
  if (v.isDouble()) return v.toDouble();
  if (v.isBool()) return v.toBool() ? 1.0 : 0.0;
  refuse(n, "with a non-number where a number is expected");
}

bool bool_of(const Node* n, std::size_t input) {
  const auto v = constant_of(n, input, "flag");
  if (!v.isBool()) refuse(n, "with a non-boolean where a flag is expected");
  return v.toBool();
}

bool is_none(const Node* n, std::size_t input) {
  const auto v = torch::jit::toIValue(n->input(input));
  return v && v->isNone();
}

std::vector<int64_t> ints_of(const Node* n, std::size_t input) {
  const auto* list = n->input(input);
  if (const auto v = torch::jit::toIValue(list)) {
    if (v->isIntList()) return v->toIntVector();
    if (v->isInt()) return {v->toInt()};
    refuse(n, "with a non-integer list where an integer list is expected");
  }
  if (list->node()->kind() != c10::Symbol::fromQualString("prim::ListConstruct")) {
    refuse(n, "with a list computed in the forward; the export needs constants there");
  }
  std::vector<int64_t> out;
  for (std::size_t i = 0; i < list->node()->inputs().size(); ++i) {
    const auto* element = list->node()->input(i);
    if (const auto c = torch::jit::toIValue(element); c && c->isInt()) {
      out.push_back(c->toInt());
    } else if (i == 0 && is_batch_size(element)) {
      out.push_back(0);  // ONNX Reshape: 0 copies the input's dimension, the dynamic batch
    } else {
      refuse(n, "with a size computed in the forward other than the batch size x.size(0) "
                "first; give the other sizes as constants");
    }
  }
  return out;
}

std::vector<int64_t> sizes_of(const Node* n, const Value* value) {
  const auto type = value->type()->cast<c10::TensorType>();
  std::optional<std::vector<int64_t>> sizes;
  if (type) sizes = type->sizes().concrete_sizes();
  if (!sizes) refuse(n, "on a value whose shape the tracer did not record");
  return *sizes;
}

torch::Tensor weight_of(OnnxTranslation& t, const Node* n, std::size_t input) {
  const auto* v = n->input(input);
  if (const auto it = t.weights.find(v); it != t.weights.end()) return it->second;
  if (const auto c = torch::jit::toIValue(v)) {
    if (c->isNone()) return {};
    if (c->isTensor()) return c->toTensor();
  }
  refuse(n, "with a weight computed in the forward (argument " + std::to_string(input) +
                "); the export needs a parameter, a buffer or a constant there");
}

std::string onnx_name(OnnxTranslation& t, const Value* value) {
  if (const auto it = t.names.find(value); it != t.names.end()) return it->second;
  if (const auto it = t.shared.find(value); it != t.shared.end()) return it->second;
  if (const auto it = t.weights.find(value); it != t.weights.end()) {
    return t.shared[value] = t.graph.initializer("weight", it->second);
  }
  if (const auto c = torch::jit::toIValue(value)) {
    if (c->isTensor()) return t.shared[value] = t.graph.initializer("constant", c->toTensor());
    if (c->isInt() || c->isDouble()) {
      return t.shared[value] = t.graph.scalar("number", c->isInt() ? c->toInt() : c->toDouble());
    }
  }
  refuse(value->node(), "whose result the export cannot represent (a list, a size or a "
                        "number computed in the forward, used where a tensor is expected)");
}

void alias(OnnxTranslation& t, const Node* n, std::size_t from) {
  t.names[n->output()] = onnx_name(t, n->input(from));
}

std::string name_output(OnnxTranslation& t, const Node* n, const std::string& hint) {
  return t.names[n->output()] = t.graph.fresh(hint);
}

}  // namespace distillery::detail
