#include "models.h"

#include <torch/types.h>

#include <cstdio>
#include <regex>

#include "distillery/app/json_fields.h"  // ConfigError
#include "distillery/app/model_specs.h"

namespace distillery::tool {

InputShape parse_input_shape(const std::string& text) {
  static const std::regex shape("([1-9][0-9]{0,5})x([1-9][0-9]{0,5})x([1-9][0-9]{0,5})");
  std::smatch m;
  if (!std::regex_match(text, m, shape)) {
    throw ConfigError("--input: expected CxHxW, channels x height x width in positive whole "
                      "numbers (e.g. 3x32x32 or 1x28x28), got '" + text + "'");
  }
  return {std::stoll(m[1].str()), std::stoll(m[2].str()), std::stoll(m[3].str())};
}

int print_models(const ModelsOptions& o) {
  const auto input = parse_input_shape(o.input);
  std::printf("%-14s %12s %15s\n", "name", "parameters", "multiply_adds");
  for (const auto& name : distillery::list_models()) {
    try {
      const auto model = build_model({{"architecture", name}}, input, o.classes, name);
      const auto parameters = count_parameters(model.module());
      const auto multiply_adds = count_multiply_adds(model, input);
      std::printf("%-14s %12lld %15lld\n", name.c_str(), static_cast<long long>(parameters),
                  static_cast<long long>(multiply_adds));
    } catch (const c10::Error& e) {
      std::printf("%-14s %12s %15s  (%s)\n", name.c_str(), "-", "-", e.what_without_backtrace());
    }
  }
  return 0;
}

}  // namespace distillery::tool
