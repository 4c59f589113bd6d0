// The name tables of the config's enums, the soft-targets source, and the documented schema
// generated from the options structs' field tables (docs/config.md).

#include <stdexcept>
#include <string>

#include "distillery/app/config.h"
#include "option_json.h"

namespace distillery {

const EnumNames<SoftTargetsMode>& soft_targets_mode_names() {
  static const EnumNames<SoftTargetsMode> names{
      {{SoftTargetsMode::kAuto, "auto"}, {SoftTargetsMode::kOnline, "online"}}};
  return names;
}

std::string SoftTargetsSource::to_string() const {
  return is_file() ? path : soft_targets_mode_names().name(mode);
}

SoftTargetsSource SoftTargetsSource::parse(const std::string& text) {
  if (text.empty()) {
    throw ConfigError("distillation.soft_targets: must be \"auto\", \"online\" or a file path");
  }
  SoftTargetsSource source;
  if (const auto mode = soft_targets_mode_names().find(text)) {
    source.mode = *mode;
  } else {
    source.mode = SoftTargetsMode::kFile;
    source.path = text;
  }
  return source;
}

const EnumNames<ClusterOn>& cluster_on_names() {
  static const EnumNames<ClusterOn> names{
      {{ClusterOn::kHeldout, "heldout"}, {ClusterOn::kTrain, "train"}}};
  return names;
}

std::string training_schema() {
  detail::SchemaWriter writer;
  const TrainerOptions defaults;
  visit_fields(defaults, writer);
  return writer.text();
}

std::string specialists_schema() {
  detail::SchemaWriter writer;
  const specialists::ClusteringOptions clustering;
  const specialists::CombineOptions combination;
  visit_fields(clustering, writer);
  visit_fields(combination, writer);
  return writer.text();
}

int64_t dataset_classes(const std::string& dataset) {
  if (dataset == "cifar100") return 100;
  if (dataset == "cifar100-coarse") return 20;
  if (dataset == "fashion-mnist" || dataset == "mnist" || dataset == "cifar10") return 10;
  if (dataset == "image-folder" || dataset == "npy") return 0;
  throw std::invalid_argument("unknown data set \"" + dataset + "\" (known: " + kDatasetNames +
                              ")");
}

}  // namespace distillery
