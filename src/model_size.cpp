#include "distillery/model_size.h"

#include <torch/csrc/jit/ir/ir.h>
#include <torch/torch.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "eval_mode.h"
#include "traced_forward.h"

namespace distillery {
namespace {

using detail::first_line;
using detail::trace_forward;

int64_t product(const std::vector<int64_t>& sizes, std::size_t from = 0) {
  int64_t total = 1;
  for (std::size_t i = from; i < sizes.size(); ++i) total *= sizes[i];
  return total;
}

// The concrete sizes the tracer recorded for `value`, an operand or result of `node`.
std::vector<int64_t> sizes_of(const torch::jit::Value* value, const torch::jit::Node* node) {
  const auto type = value->type()->cast<c10::TensorType>();
  std::optional<std::vector<int64_t>> sizes;
  if (type) sizes = type->sizes().concrete_sizes();
  TORCH_CHECK(sizes.has_value(), "count_multiply_adds: the traced graph holds no sizes for an "
              "operand of ", node->kind().toQualString());
  return *sizes;
}

// The operator's base name split at underscores: "aten::_scaled_mm_v2" -> {scaled, mm, v2}.
std::vector<std::string> words_of(const std::string& name) {
  std::vector<std::string> words;
  std::stringstream stream(name.substr(name.find("::") == std::string::npos ? 0
                                                                           : name.find("::") + 2));
  for (std::string word; std::getline(stream, word, '_');) {
    if (!word.empty()) words.push_back(word);
  }
  return words;
}

bool contains(const std::string& text, const char* part) {
  return text.find(part) != std::string::npos;
}

// Whether an operator this count does not handle may hide matrix products: its name speaks of a
// convolution ("qconv2d", but not "convert"), a matrix product ("int4mm", "bmm", but not
// "gamma"), a linear map (but not an upsampling's interpolation), a recurrent layer or attention.
bool hides_products(const std::string& name) {
  if (contains(name, "upsample")) return false;
  for (const auto& word : words_of(name)) {
    const bool ends_in_mm = word.size() >= 2 && word.compare(word.size() - 2, 2, "mm") == 0;
    if (ends_in_mm || (contains(word, "conv") && word.rfind("convert", 0) != 0)) return true;
    for (const char* part : {"matmul", "linear", "lstm", "gru", "rnn", "attention", "dot",
                             "einsum", "cdist", "transformer", "inner", "cosine", "affine",
                             "distance"}) {
      if (contains(word, part)) return true;
    }
  }
  return false;
}

// The operand named `argument` of `node` (nullptr if its schema has no such argument).
const torch::jit::Value* argument_of(const torch::jit::Node* node, const char* argument) {
  const auto* schema = node->maybeSchema();
  if (schema == nullptr) return nullptr;
  const auto index = schema->argumentIndexWithName(argument);
  return index.has_value() ? node->input(*index) : nullptr;
}

[[noreturn]] void refuse(const std::string& name, const char* why) {
  TORCH_CHECK(false, "count_multiply_adds: cannot count the multiply-adds of ", name, "; ", why,
              " (count that part of the model by hand)");
}

int64_t convolution_cost(const torch::jit::Node* node, bool transposed) {
  const auto weight = sizes_of(node->input(1), node);  // [out, in / groups, k...] or transposed
  const auto* side = transposed ? node->input(0) : node->output(0);
  return product(sizes_of(side, node)) * product(weight, 1);
}

// Multiply-adds of one operator of the traced graph (0 for element-wise and the like).
int64_t multiply_adds_of(const torch::jit::Node* node) {
  const std::string name = node->kind().toQualString();
  const auto operand = [node](std::size_t i) { return sizes_of(node->input(i), node); };
  const auto output_elements = [node] { return product(sizes_of(node->output(0), node)); };
  if (name == "aten::conv1d" || name == "aten::conv2d" || name == "aten::conv3d" ||
      name == "aten::_convolution_mode") {
    return convolution_cost(node, false);
  }
  if (name == "aten::conv_transpose1d" || name == "aten::conv_transpose2d" ||
      name == "aten::conv_transpose3d") {
    return convolution_cost(node, true);
  }
  if (name == "aten::_convolution" || name == "aten::convolution") {
    const auto transposed = torch::jit::toIValue(argument_of(node, "transposed"));
    TORCH_CHECK(transposed.has_value() && transposed->isBool(), "count_multiply_adds: ", name,
                " without a constant 'transposed' flag");
    return convolution_cost(node, transposed->toBool());
  }
  if (name == "aten::linear" || name == "aten::matmul" || name == "aten::linalg_matmul" ||
      name == "aten::mm" || name == "aten::bmm" || name == "aten::mv" || name == "aten::dot" ||
      name == "aten::vdot") {
    // linear(x, weight [out, in]): the inner dimension is in; the others: the last of operand 0.
    return output_elements() * operand(name == "aten::linear" ? 1 : 0).back();
  }
  if (name == "aten::addmm" || name == "aten::_addmm_activation" || name == "aten::baddbmm" ||
      name == "aten::addmv") {
    return output_elements() * operand(1).back();
  }
  if (name == "aten::addbmm") {  // sums the products of a batch [b, n, m] x [b, m, p] into [n, p]
    const auto batch = operand(1);
    return output_elements() * batch.at(0) * batch.at(2);
  }
  if (contains(name, "embedding_bag")) {
    const auto* weights = argument_of(node, "per_sample_weights");
    if (weights != nullptr && weights->type()->kind() != c10::TypeKind::NoneType) {
      refuse(name, "its per-sample weights make multiply-adds hidden inside one operator");
    }
    return 0;
  }
  if (name == "aten::bilinear" || hides_products(name)) {
    refuse(name, "its matrix products are hidden inside one operator");
  }
  return 0;
}

int64_t multiply_adds_of(const torch::jit::Block* block) {
  int64_t total = 0;
  for (const auto* node : block->nodes()) {
    total += multiply_adds_of(node);
    for (const auto* inner : node->blocks()) total += multiply_adds_of(inner);
  }
  return total;
}

}  // namespace

int64_t count_parameters(const torch::nn::Module& module) {
  std::unordered_set<const void*> seen;
  int64_t total = 0;
  for (const auto& parameter : module.parameters(/*recurse=*/true)) {
    if (seen.insert(parameter.unsafeGetTensorImpl()).second) total += parameter.numel();
  }
  return total;
}

int64_t count_multiply_adds(const Model& model, InputShape input) {
  TORCH_CHECK(!model.is_empty(), "count_multiply_adds: the model is empty (default-constructed)");
  TORCH_CHECK(input.channels > 0 && input.height > 0 && input.width > 0,
              "count_multiply_adds: the input shape must be positive, got [", input.channels,
              ", ", input.height, ", ", input.width, "]");
  // The probe image lives where the parameters do, in their floating-point type.
  auto options = torch::TensorOptions().dtype(torch::kFloat32);
  const auto parameters = model->parameters();
  if (!parameters.empty() && parameters.front().is_floating_point()) {
    options = options.dtype(parameters.front().scalar_type()).device(parameters.front().device());
  }
  const auto image = torch::zeros({1, input.channels, input.height, input.width}, options);
  std::shared_ptr<torch::jit::Graph> graph;
  {
    torch::NoGradGuard no_grad;
    detail::EvalModeGuard eval_mode(model.ptr());
    try {
      graph = trace_forward(model, image);
    } catch (const c10::Error& e) {
      TORCH_CHECK(false, "count_multiply_adds: could not trace the model's forward on a [1, ",
                  input.channels, ", ", input.height, ", ", input.width, "] image: ",
                  first_line(e.msg()));
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "count_multiply_adds: could not trace the model's forward on a [1, ",
                  input.channels, ", ", input.height, ", ", input.width, "] image: ",
                  first_line(e.what()));
    }
  }
  // One image: the batch is 1, so the graph's count is already per image.
  return multiply_adds_of(graph->block());
}

}  // namespace distillery
