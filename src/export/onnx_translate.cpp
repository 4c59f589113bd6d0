// The walk over a traced forward for export_onnx: each operator to its translator.
#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include <torch/torch.h>

#include "onnx_ops.h"

namespace distillery::detail {
namespace {

const std::unordered_map<std::string, OnnxTranslator>& translators() {
  static const auto table = [] {
    std::unordered_map<std::string, OnnxTranslator> t;
    add_layer_translators(t);
    add_tensor_translators(t);
    return t;
  }();
  return table;
}

// The operators translated, without the "aten::" prefix and in-place twins, sorted.
std::string supported_operators() {
  std::vector<std::string> names;
  for (const auto& [name, translator] : translators()) {
    if (name.back() != '_') names.push_back(name.substr(name.find("::") + 2));
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

void translate_nodes(const torch::jit::Graph& graph, OnnxTranslation& t) {
  // Read by the translators of the operators that use them, not translated themselves.
  static const std::unordered_set<std::string> kArguments = {
      "prim::Constant", "prim::ListConstruct", "prim::ListUnpack", "aten::size", "aten::Int",
      "prim::NumToTensor"};
  int64_t index = 0;
  for (const auto* n : graph.nodes()) {
    const std::string kind = n->kind().toQualString();
    if (t.done.count(n) > 0 || kArguments.count(kind) > 0) continue;
    ++index;
    const auto it = translators().find(kind);
    TORCH_CHECK(it != translators().end(), "export_onnx: the model's forward calls ", kind,
                " (operator ", index, " of the traced forward), which the ONNX export does not "
                "translate; supported: ", supported_operators());
    it->second(t, n);
  }
}

}  // namespace distillery::detail
