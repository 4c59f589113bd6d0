#pragma once
// The `distillery models` command (tools/models.cpp): every registered architecture with its
// size and cost for one input shape and class count.

#include <cstdint>
#include <string>

#include "distillery/model_size.h"

namespace distillery::tool {

/// The command's flags.
struct ModelsOptions {
  int64_t classes = 10;          // --classes
  std::string input = "1x28x28";  // --input, CxHxW
};

/// Parses "CxHxW" (positive whole numbers, e.g. "3x32x32"). Throws ConfigError naming --input
/// and saying what is expected.
InputShape parse_input_shape(const std::string& text);

/// Prints one line per registered architecture (its default spec, `{"architecture": name}`):
/// name, parameters and multiply-adds per image for `o.input` images and `o.classes` classes,
/// in plain columns under a header line; an architecture that cannot take such images says
/// why in place of its numbers. Returns the exit code (0). Throws ConfigError on a bad --input.
int print_models(const ModelsOptions& o);

}  // namespace distillery::tool
