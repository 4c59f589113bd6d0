#include "distillery/app/specialists/class_subsets.h"

namespace distillery::specialists {

ClassSubsets class_subsets_from_json(const nlohmann::json& json, int64_t num_classes,
                                     const std::string& where) {
  // One reader for config values and subsets files: the core's, on the value's JSON text.
  return parse_class_subsets(json.dump(), num_classes, where);
}

}  // namespace distillery::specialists
