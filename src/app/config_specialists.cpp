// The "generalist" and "specialists" sections of an experiment config (Hinton et al. 2015, §5).

#include <torch/torch.h>

#include "config_readers.h"
#include "option_json.h"
#include "distillery/app/specialists/class_subsets.h"

namespace distillery::detail {
namespace {

TeacherConfig read_generalist(ObjectReader& root, uint64_t seed) {
  if (!root.has("generalist")) {
    throw ConfigError("generalist: required key is missing (the model whose classes the "
                      "specialists split, e.g. {\"model\": {...}, \"training\": {...}} or "
                      "{\"checkpoint\": \"generalist.pt\"})");
  }
  auto generalist = read_teacher(root.object("generalist"), "generalist", seed,
                                 /*allow_members=*/false);
  if (!generalist.torchscript.empty()) {
    throw ConfigError("generalist.torchscript: the specialists copy the generalist's weights, so "
                      "it must be a distillery model: give \"model\" (to train, or with "
                      "\"weights\") or \"checkpoint\"");
  }
  return generalist;
}

// "clusters" and the K-means settings, or "subsets" given by hand (inline or a file).
void read_subsets(ObjectReader& s, const nlohmann::json& json, uint64_t seed,
                  SpecialistsConfig& c) {
  auto& k = c.clustering;
  const bool has_clusters = s.has("clusters");
  // One cluster would hold every class, leaving its specialist no dustbin.
  k.clusters(read_bounded(s, "clusters", k.clusters(), 2, kClasses));
  k.min_subset_size(read_bounded(s, "min_subset_size", k.min_subset_size(), 1, kClasses - 1));
  read_fields(s, k);  // the rest of the table (clusters and min_subset_size read again: same)
  k.seed(seed);
  if (!s.has("subsets")) return;
  if (has_clusters) {
    throw ConfigError("specialists.clusters: give either \"clusters\" (to find the subsets) "
                      "or \"subsets\" (by hand), not both");
  }
  const auto& given = json.at("subsets");
  try {
    if (given.is_string()) {
      c.subsets_file = given.get<std::string>();
      if (c.subsets_file.empty()) {
        throw std::invalid_argument("give an array of class subsets or a non-empty path");
      }
      c.subsets = specialists::load_class_subsets(c.subsets_file, kClasses);
    } else {
      c.subsets = specialists::class_subsets_from_json(given, kClasses, "subsets");
    }
  } catch (const std::exception& e) {
    throw ConfigError(std::string("specialists.") + (given.is_string() ? "subsets: " : "") +
                      e.what());
  }
}

// Each specialist's fine-tuning: its training options, objective and soft-target prior.
void read_specialist_training(ObjectReader& s, SpecialistsConfig& c) {
  c.training = read_training(s, "training", c.training);
  if (c.training.batch_size() < 2) {
    throw ConfigError("specialists.training.batch_size: must be >= 2 (half of each batch is from "
                      "the specialist's classes), got " + std::to_string(c.training.batch_size()));
  }
  if (!describe_augmentation(c.training).empty()) {
    throw ConfigError("specialists.training: no augmentation for specialists, got " +
                      describe_augmentation(c.training) + " (their soft targets are the "
                      "generalist's logits on the training images as they are)");
  }
  c.loss.temperature(s.get("temperature", c.loss.temperature()));
  c.loss.alpha(s.get("alpha", c.loss.alpha()));
  check_temperature_and_alpha(c.loss, "specialists");
  c.soft_target_prior = read_choice(s, "soft_target_prior", specialists::soft_target_prior_names(),
                                    c.soft_target_prior);
}

// The test-time combination (specialists/inference.h).
specialists::CombineOptions read_inference(ObjectReader& s) {
  specialists::CombineOptions i;
  i.top_n(read_bounded(s, "top_n", i.top_n(), 1, kClasses));
  read_fields(s, i);
  return i;
}

}  // namespace

SpecialistsConfig read_specialists(ObjectReader& root, const DataConfig& data, uint64_t seed) {
  SpecialistsConfig c;
  c.generalist = read_generalist(root, seed);
  const auto& json = root.object("specialists");
  ObjectReader s(json, "specialists");
  read_subsets(s, json, seed, c);
  c.cluster_on = read_choice(s, "cluster_on", cluster_on_names(),
                             data.heldout > 0 ? ClusterOn::kHeldout : ClusterOn::kTrain);
  if (c.subsets.empty() && c.cluster_on == ClusterOn::kHeldout && data.heldout < 2) {
    throw ConfigError("specialists.cluster_on: \"heldout\" needs data.heldout >= 2 (e.g. 5000)");
  }
  read_specialist_training(s, c);
  c.inference = read_inference(s);
  s.finish();
  return c;
}

nlohmann::json specialists_to_json(const SpecialistsConfig& c) {
  nlohmann::json out = {
      {"cluster_on", cluster_on_names().name(c.cluster_on)},
      {"training", training_to_json(c.training)},
      {"temperature", c.loss.temperature()},
      {"alpha", c.loss.alpha()},
      {"soft_target_prior", specialists::soft_target_prior_names().name(c.soft_target_prior)},
  };
  detail::JsonFieldWriter writer(out);
  visit_fields(c.clustering, writer);
  visit_fields(c.inference, writer);
  if (!c.subsets.empty()) {
    out.erase("clusters");
    out["subsets"] = c.subsets;
  }
  return out;
}

}  // namespace distillery::detail
