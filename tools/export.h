#pragma once
// The `distillery export` command (tools/export.cpp): a model file written as ONNX.

#include <cstdint>
#include <string>

namespace distillery::tool {

/// The command's flags.
struct ExportOptions {
  /// The ONNX file to write; empty = the model file's path with the extension .onnx.
  std::string output;
  /// The ONNX operator set (export.h: min_onnx_opset() to max_onnx_opset()).
  int64_t opset = 17;
  bool as_json = false;  // print the summary as JSON
};

/// Writes the model file at `model_path` as ONNX (export_onnx, export.h), with its class names,
/// normalisation and data set, and its test accuracy when the results.json of the run that wrote
/// it (the same folder) reports it under the file's name (e.g. "student_distilled"). Prints what
/// it wrote. Returns the exit code. Throws ConfigError (exit 2) when the output is the model
/// file itself or exists and is not a regular file (a link, device, pipe or directory);
/// std::runtime_error naming the file on unreadable models or an unwritable output; c10::Error naming the first operator the export cannot
/// translate.
int export_model(const std::string& model_path, const ExportOptions& o);

}  // namespace distillery::tool
