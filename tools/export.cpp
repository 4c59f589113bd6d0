// `distillery export`: a model file written by distillery, as an ONNX file for a device.
#include "export.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "distillery/app/config.h"
#include "distillery/export.h"
#include "distillery/io.h"
#include "evaluate.h"

namespace distillery::tool {
namespace {
namespace fs = std::filesystem;

// The test accuracy the run's results.json reports for the model file `model_path` (the entry
// named after the file, e.g. "student_distilled"), as text; empty when there is none.
std::string reported_test_accuracy(const std::string& model_path) {
  const auto results = fs::path(model_path).parent_path() / "results.json";
  if (!fs::is_regular_file(results)) return "";
  try {
    const auto json = nlohmann::json::parse(distillery::read_file(results.string()));
    const auto entry = fs::path(model_path).stem().string();
    if (!json.contains(entry) || !json[entry].is_object() ||
        !json[entry].contains("test_accuracy")) {
      return "";
    }
    return json[entry]["test_accuracy"].dump();
  } catch (const std::exception& e) {
    spdlog::warn("{}: not read ({}); the export records no test accuracy", results.string(),
                 e.what());
    return "";
  }
}

// Refuses an output that would replace the model file itself, or something that is not a
// regular file (a device such as /dev/null, a pipe, a link, a directory): the atomic write
// replaces what is at the path.
void check_output(const std::string& model_path, const std::string& output) {
  std::error_code error;
  const auto status = fs::symlink_status(output, error);
  if (error || !fs::exists(status)) return;
  if (!fs::is_regular_file(status)) {
    throw distillery::ConfigError(output + ": exists and is not a regular file (a link, "
                                  "device, pipe or directory), which the export would replace; "
                                  "give --output a file path");
  }
  if (fs::equivalent(model_path, output, error)) {
    throw distillery::ConfigError(output + ": is the model file being exported; give --output "
                                  "another path (the default is the model's with .onnx)");
  }
}

}  // namespace

int export_model(const std::string& model_path, const ExportOptions& o) {
  const auto saved = load_model_file(model_path, "export");
  const auto output =
      o.output.empty() ? fs::path(model_path).replace_extension(".onnx").string() : o.output;
  check_output(model_path, output);
  auto options = distillery::OnnxExportOptions().opset(o.opset).info(saved.info);
  std::vector<std::pair<std::string, std::string>> extra{{"source_model", model_path}};
  if (const auto accuracy = reported_test_accuracy(model_path); !accuracy.empty()) {
    extra.emplace_back("test_accuracy", accuracy);
  }
  if (!saved.metadata.is_null()) extra.emplace_back("distillery_metadata", saved.metadata.dump());
  options.metadata(extra);
  const auto summary = distillery::export_onnx(saved.model, saved.input, output, options);
  nlohmann::json out = {{"model", model_path},
                        {"output", output},
                        {"opset", o.opset},
                        {"bytes", summary.bytes},
                        {"nodes", summary.nodes},
                        {"initializer_values", summary.initializer_values},
                        {"folded_batch_norms", summary.folded_batch_norms},
                        {"removed_dropouts", summary.removed_dropouts}};
  for (const auto& [key, value] : summary.metadata) out["metadata"][key] = value;
  if (o.as_json) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("%s -> %s: %lld bytes, %lld nodes, %lld weights (opset %lld; %lld BatchNorm "
                "folded, %lld dropout removed)\n",
                model_path.c_str(), output.c_str(), static_cast<long long>(summary.bytes),
                static_cast<long long>(summary.nodes),
                static_cast<long long>(summary.initializer_values),
                static_cast<long long>(o.opset),
                static_cast<long long>(summary.folded_batch_norms),
                static_cast<long long>(summary.removed_dropouts));
  }
  return 0;
}

}  // namespace distillery::tool
