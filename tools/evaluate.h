#pragma once
// The `distillery evaluate` command (tools/evaluate.cpp): a model file scored on a data set.

#include <cstdint>
#include <string>

namespace distillery::tool {

/// The command's flags.
struct EvaluateOptions {
  std::string data_dir;
  bool data_given = false;  // --data on the command line (else the Fashion-MNIST default)
  std::string dataset;      // --dataset, or empty
  std::string split = "test";
  int64_t limit = 0;
  bool as_json = false;
};

/// Scores the model file at `model_path` on the split of `o.data_dir` that `o` names, printing a
/// line (or JSON with `o.as_json`). Returns the exit code. Throws ConfigError (exit 2) on
/// contradicting flags, std::runtime_error naming the file on unreadable models or data.
int evaluate(const std::string& model_path, const EvaluateOptions& o);

}  // namespace distillery::tool
