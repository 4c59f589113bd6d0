#include "distillery/export.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <set>
#include <string>

#include "../eval_mode.h"
#include "../traced_forward.h"
#include "distillery/data/dataset.h"
#include "distillery/io.h"
#include "distillery/version.h"
#include "onnx_ir.h"
#include "onnx_ops.h"

namespace distillery {
namespace {

using detail::OnnxGraph;
using detail::OnnxTranslation;

void check_request(const Model& model, InputShape input, const OnnxExportOptions& options) {
  TORCH_CHECK(!model.is_empty(), "export_onnx: the model is empty (default-constructed)");
  TORCH_CHECK(input.channels > 0 && input.height > 0 && input.width > 0,
              "export_onnx: the input shape must be positive, got [", input.channels, ", ",
              input.height, ", ", input.width, "]");
  TORCH_CHECK(options.opset() >= min_onnx_opset() && options.opset() <= max_onnx_opset(),
              "export_onnx: opset ", options.opset(), " is outside [", min_onnx_opset(), ", ",
              max_onnx_opset(), "], the operator sets this build writes");
  if (options.info().has_normalization()) {
    data::Normalization(options.info().mean, options.info().std).check(input.channels);
  }
}

// The traced forward on kTraceBatch zero images, in eval mode, without autograd.
std::shared_ptr<torch::jit::Graph> trace_for_export(const Model& model, InputShape input) {
  auto options = torch::TensorOptions().dtype(torch::kFloat32);
  const auto parameters = model->parameters();
  if (!parameters.empty() && parameters.front().is_floating_point()) {
    options = options.dtype(parameters.front().scalar_type()).device(parameters.front().device());
  }
  const auto image =
      torch::zeros({detail::kTraceBatch, input.channels, input.height, input.width}, options);
  detail::EvalModeGuard eval_mode(model.ptr());
  torch::NoGradGuard no_grad;
  try {
    return detail::trace_forward(model, image);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "export_onnx: could not trace the model's forward on a [",
                detail::kTraceBatch, ", ", input.channels, ", ", input.height, ", ", input.width,
                "] batch: ", detail::first_line(e.what()));
  }
}

// `pixels`, normalised as the model was trained: (pixels - mean) / std per channel.
std::string normalised_pixels(OnnxGraph& graph, const ModelInfo& info, int64_t channels) {
  if (!info.has_normalization()) return "pixels";
  const data::Normalization norm(info.mean, info.std);
  const auto mean = torch::tensor(norm.means(channels), torch::kDouble).view({1, -1, 1, 1});
  const auto deviation = torch::tensor(norm.stds(channels), torch::kDouble).view({1, -1, 1, 1});
  const auto centred = graph.fresh("centred"), normalised = graph.fresh("normalised");
  graph.node("Sub", {"pixels", graph.initializer("mean", mean)}, {centred});
  graph.node("Div", {centred, graph.initializer("std", deviation)}, {normalised});
  return normalised;
}

// Names the graph's result "logits": the output of the node that makes it, or an Identity.
void name_logits(detail::OnnxModel& model, OnnxGraph& graph, const std::string& result) {
  bool read_elsewhere = result == "pixels";
  for (const auto& node : model.nodes) {
    for (const auto& input : node.inputs) read_elsewhere |= input == result;
  }
  const auto producer = graph.producer(result);
  if (read_elsewhere || producer < 0) {
    graph.node("Identity", {result}, {"logits"});
    return;
  }
  for (auto& output : graph.node_at(producer).outputs) {
    if (output == result) output = "logits";
  }
}

std::vector<std::pair<std::string, std::string>> metadata_of(const Model& model, InputShape input,
                                                             const OnnxExportOptions& options) {
  const auto& info = options.info();
  const nlohmann::json norm = info.has_normalization()
                                  ? nlohmann::json{{"mean", info.mean}, {"std", info.std}}
                                  : nlohmann::json(nullptr);
  std::vector<std::pair<std::string, std::string>> out = {
      {"class_names", nlohmann::json(info.class_names).dump()},
      {"normalization", norm.dump()},
      {"dataset", info.dataset},
      {"parameters", std::to_string(count_parameters(*model.ptr()))},
      {"multiply_adds", std::to_string(count_multiply_adds(model, input))},
      {"distillery_version", kVersion}};
  std::set<std::string> keys;
  for (const auto& [key, value] : out) keys.insert(key);
  for (const auto& [key, value] : options.metadata()) {
    TORCH_CHECK(keys.insert(key).second, "export_onnx: metadata key \"", key,
                "\" is given twice or is one export_onnx writes itself");
    out.emplace_back(key, value);
  }
  return out;
}

// The graph of `traced` into `model`: input, normalisation, the translated nodes, the output.
void write_graph(const torch::jit::Graph& traced, const Model& net, InputShape input,
                 const OnnxExportOptions& options, detail::OnnxModel& model,
                 OnnxExportSummary& summary) {
  OnnxGraph graph(&model);
  OnnxTranslation t(graph, options.opset());
  model.input = {"pixels", {input.channels, input.height, input.width}};
  t.names[traced.inputs()[0]] = normalised_pixels(graph, options.info(), input.channels);
  std::size_t at = 1;
  for (const auto& p : net->parameters()) t.weights[traced.inputs()[at++]] = p;
  for (const auto& b : net->buffers()) {
    if (b.defined()) t.weights[traced.inputs()[at++]] = b;
  }
  detail::translate_nodes(traced, t);
  TORCH_CHECK(traced.outputs().size() == 1, "export_onnx: the forward returns ",
              traced.outputs().size(), " values; it must return one logits tensor");
  const auto* result = traced.outputs()[0];
  const auto sizes = detail::sizes_of(result->node(), result);
  TORCH_CHECK(sizes.size() == 2 && sizes[0] == detail::kTraceBatch, "export_onnx: the "
              "forward's result on ", detail::kTraceBatch, " images has shape ",
              c10::IntArrayRef(sizes), "; it must be logits [", detail::kTraceBatch,
              ", classes]");
  name_logits(model, graph, detail::onnx_name(t, result));
  model.output = {"logits", {sizes[1]}};
  summary.folded_batch_norms = t.folded_batch_norms;
  summary.removed_dropouts = t.removed_dropouts;
  summary.nodes = graph.node_count();
  summary.initializer_values = graph.finish();
}

}  // namespace

int64_t min_onnx_opset() { return 17; }

int64_t max_onnx_opset() { return detail::newest_onnx_opset(); }

std::string onnx_model_bytes(const Model& model, InputShape input,
                             const OnnxExportOptions& options, OnnxExportSummary* summary) {
  check_request(model, input, options);
  const auto traced = trace_for_export(model, input);
  OnnxExportSummary s;
  detail::OnnxModel onnx_model;
  onnx_model.opset = options.opset();
  onnx_model.producer_version = kVersion;
  onnx_model.graph_name = "distillery_model";
  write_graph(*traced, model, input, options, onnx_model, s);
  s.metadata = metadata_of(model, input, options);
  onnx_model.metadata = s.metadata;
  std::string bytes;
  try {
    bytes = detail::serialize_onnx(onnx_model);
  } catch (const std::runtime_error& e) {
    TORCH_CHECK(false, "export_onnx: ", detail::first_line(e.what()),
                " (a bug in the export; please report it with the model)");
  }
  s.bytes = static_cast<int64_t>(bytes.size());
  if (summary != nullptr) *summary = s;
  return bytes;
}

OnnxExportSummary export_onnx(const Model& model, InputShape input, const std::string& path,
                              const OnnxExportOptions& options) {
  OnnxExportSummary summary;
  const auto bytes = onnx_model_bytes(model, input, options, &summary);
  write_file_atomic(path, bytes);
  return summary;
}

}  // namespace distillery
