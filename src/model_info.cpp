// The data record of a model file (ModelInfo, declared in models.h): what a model was trained on.

#include <c10/util/Exception.h>

#include "distillery/models.h"

namespace distillery {

void check_model_info(const ModelInfo& info, InputShape input, int64_t num_classes) {
  TORCH_CHECK(info.class_names.empty() ||
                  static_cast<int64_t>(info.class_names.size()) == num_classes,
              info.class_names.size(), " class names for ", num_classes, " classes");
  TORCH_CHECK(info.mean.size() == info.std.size() &&
                  (info.mean.empty() || static_cast<int64_t>(info.mean.size()) == input.channels),
              "a normalisation of ", info.mean.size(), " means and ", info.std.size(),
              " standard deviations for ", input.channels, " input channel(s)");
  for (const auto s : info.std) TORCH_CHECK(s > 0, "normalisation std must be > 0, got ", s);
}

ModelInfo model_info_of(const data::Dataset& set) {
  ModelInfo info;
  if (!set.name.empty()) info.dataset = set.name;
  info.class_names = set.class_names;
  if (set.normalization && set.images.defined() && set.images.dim() >= 2) {
    const auto channels = set.images.size(1);
    info.mean = set.normalization->means(channels);
    info.std = set.normalization->stds(channels);
  }
  return info;
}

}  // namespace distillery
