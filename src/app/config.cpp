#include "distillery/app/config.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <cmath>
#include <stdexcept>

#include "config_readers.h"
#include "option_json.h"
#include "distillery/io.h"
#include "distillery/app/model_specs.h"

namespace distillery {
namespace detail {
namespace {

constexpr double kMinTemperature = 0.01;
constexpr double kMaxTemperature = 1e4;

// Builds the model once so that bad architecture options fail at load time, with the key.
nlohmann::json read_model_spec(ObjectReader& r) {
  const auto& spec = r.object("model");
  try {
    build_model(spec, InputShape{}, 10, r.where("model"));
  } catch (const c10::Error& e) {
    throw ConfigError(r.where("model") + ": " + e.what_without_backtrace());
  }
  return spec;
}

}  // namespace

void check_path(const std::string& key, const std::string& path) {
  if (path.empty()) {
    throw ConfigError(key + ": must not be empty (give a path, or leave the key out)");
  }
  if (path.find('\0') != std::string::npos) {
    throw ConfigError(key + ": contains a NUL character");
  }
}

void check_out_dir(const std::string& out_dir) {
  check_path("out_dir", out_dir);
  std::error_code ec;
  const auto resolved = std::filesystem::weakly_canonical(out_dir, ec);
  if (!ec && resolved == resolved.root_path()) {
    throw ConfigError("out_dir: " + out_dir + " is the root directory; give a directory of its "
                      "own for the outputs");
  }
}

TrainerOptions read_training(ObjectReader& parent, const std::string& key,
                             const TrainerOptions& defaults) {
  ObjectReader r(parent.object(key), parent.where(key));
  TrainerOptions o = defaults;
  detail::JsonFieldReader reader(r);
  visit_fields(o, reader);
  r.finish();
  try {
    validate(o);
  } catch (const c10::Error& e) {
    throw ConfigError(parent.where(key) + ": " + e.what_without_backtrace());
  }
  return o;
}

nlohmann::json training_to_json(const TrainerOptions& o) {
  nlohmann::json out = nlohmann::json::object();
  detail::JsonFieldWriter writer(out);
  visit_fields(o, writer);
  return out;
}

TeacherConfig read_teacher(const nlohmann::json& json, const std::string& path, uint64_t seed,
                           bool allow_members) {
  ObjectReader r(json, path);
  TeacherConfig t;
  const auto own_seed = r.get<int64_t>("seed", static_cast<int64_t>(seed));
  if (own_seed < 0) {
    throw ConfigError(r.where("seed") + ": must be >= 0, got " + std::to_string(own_seed));
  }
  t.seed = static_cast<uint64_t>(own_seed);
  for (auto [key, field] : {std::pair{"weights", &t.weights},
                            std::pair{"checkpoint", &t.checkpoint},
                            std::pair{"torchscript", &t.torchscript}}) {
    *field = r.get<std::string>(key, "");
    if (r.has(key)) check_path(r.where(key), *field);
  }
  t.weights_key = r.get<std::string>("weights_key", "");
  const bool has_model = r.has("model");
  const bool has_members = r.has("members");
  const int sources = (has_model ? 1 : 0) + !t.checkpoint.empty() + !t.torchscript.empty() +
                      (has_members ? 1 : 0);
  if (sources != 1) {
    throw ConfigError(path + ": give exactly one of \"model\" (to train, or with \"weights\"), "
                             "\"checkpoint\", \"torchscript\" or \"members\"");
  }
  if (!t.weights_key.empty() && t.weights.empty()) {
    throw ConfigError(r.where("weights_key") + ": needs \"weights\", the state dict file to read");
  }
  if (!t.weights.empty() && !has_model) {
    throw ConfigError(r.where("weights") + ": needs \"model\", the architecture to load into");
  }
  if (has_model) t.model = read_model_spec(r);
  t.training = read_training(r, "training");
  t.combine = parse_ensemble_mode(r.get<std::string>("combine", "arithmetic"));
  if (has_members) {
    if (!allow_members) {
      throw ConfigError(r.where("members") + (path == "generalist"
                                                  ? ": the generalist must be one model, not an "
                                                    "ensemble"
                                                  : ": members cannot be nested"));
    }
    const auto& list = json.at("members");
    if (!list.is_array() || list.empty()) {
      throw ConfigError(r.where("members") + ": expected a non-empty array of teachers");
    }
    constexpr auto kMaxSeed = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (seed > kMaxSeed - (list.size() - 1)) {
      throw ConfigError(r.where("members") + ": member i is seeded with seed + i, which passes " +
                        std::to_string(kMaxSeed) + "; give a smaller seed");
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      t.members.push_back(read_teacher(list[i], r.where("members") + "[" + std::to_string(i) + "]",
                                       seed + i, /*allow_members=*/false));
    }
  }
  r.finish();
  return t;
}

nlohmann::json teacher_to_json(const TeacherConfig& t) {
  nlohmann::json out = nlohmann::json::object();
  if (!t.members.empty()) {
    out["members"] = nlohmann::json::array();
    for (const auto& m : t.members) out["members"].push_back(teacher_to_json(m));
    out["combine"] = to_string(t.combine);
    return out;
  }
  if (!t.checkpoint.empty()) out["checkpoint"] = t.checkpoint;
  if (!t.torchscript.empty()) out["torchscript"] = t.torchscript;
  if (!t.model.is_null()) {
    out["model"] = t.model;
    if (!t.weights.empty()) {
      out["weights"] = t.weights;
      if (!t.weights_key.empty()) out["weights_key"] = t.weights_key;
    } else {
      out["training"] = training_to_json(t.training);
      out["seed"] = t.seed;
    }
  }
  return out;
}

void check_temperature_and_alpha(const KDLossOptions& loss, const std::string& section) {
  const double t = loss.temperature(), a = loss.alpha();
  if (!(t >= kMinTemperature && t <= kMaxTemperature)) {
    throw ConfigError(section + ".temperature: must be in [0.01, 10000], got " + std::to_string(t));
  }
  if (!(a >= 0 && a <= 1)) {
    throw ConfigError(section + ".alpha: must be in [0, 1], got " + std::to_string(a));
  }
}

int64_t read_bounded(ObjectReader& r, const std::string& key, int64_t fallback, int64_t low,
                     int64_t high) {
  const auto value = r.get(key, fallback);
  if (value < low || value > high) {
    throw ConfigError(r.where(key) + ": must be in [" + std::to_string(low) + ", " +
                      std::to_string(high) + "], got " + std::to_string(value));
  }
  return value;
}

}  // namespace detail

namespace {

using namespace detail;

void apply_runtime(TeacherConfig& t, int64_t threads, const torch::Device& device) {
  t.training.seed(t.seed).threads(threads).device(device).reseed(true);
  for (auto& m : t.members) apply_runtime(m, threads, device);
}


DistillationConfig read_distillation(ObjectReader& root) {
  ObjectReader k(root.object("distillation"), "distillation");
  DistillationConfig c;
  c.loss.temperature(k.get("temperature", c.loss.temperature()));
  c.loss.alpha(k.get("alpha", c.loss.alpha()));
  const auto soft_targets = k.get("soft_targets", c.soft_targets.to_string());
  check_path("distillation.soft_targets", soft_targets);
  c.views = k.get("views", c.views);
  k.finish();
  if (c.views < 0 || c.views > 64) {
    throw ConfigError("distillation.views: must be in [0, 64] (augmented views stored per "
                      "image; 0 = none), got " + std::to_string(c.views));
  }
  check_temperature_and_alpha(c.loss, "distillation");
  c.soft_targets = SoftTargetsSource::parse(soft_targets);
  return c;
}

// The name labels the run and makes the default out_dir runs/<name>: it must stay a plain name.
void check_name(const std::string& name) {
  const bool control = std::any_of(name.begin(), name.end(),
                                   [](char ch) { return static_cast<unsigned char>(ch) < 0x20; });
  if (name.empty() || name == "." || name == ".." ||
      name.find_first_of("/\\") != std::string::npos || control) {
    throw ConfigError("name: must be a plain, non-empty name without '/', '\\' or control "
                      "characters, and not \".\" or \"..\" (the default out_dir is runs/<name>); "
                      "got " + nlohmann::json(name).dump());
  }
}

// "teacher", "student" and "distillation" of `distillery run`.
void read_distillation_sections(ObjectReader& r, ExperimentConfig& c) {
  if (!r.has("teacher")) throw ConfigError("teacher: required key is missing");
  c.teacher = read_teacher(r.object("teacher"), "teacher", c.seed, /*allow_members=*/true);
  ObjectReader s(r.object("student"), "student");
  if (!s.has("model")) {
    throw ConfigError("student.model: required key is missing (e.g. {\"architecture\": "
                      "\"mlp\", \"hidden\": [800, 800]})");
  }
  c.student.model = read_model_spec(s);
  c.student.training = read_training(s, "training");
  c.student.scratch = s.get("scratch", c.student.scratch);
  s.finish();
  c.distillation = read_distillation(r);
  const auto augmented = describe_augmentation(c.student.training);
  if (c.distillation.views > 0 && !c.student.training.augmentation().any()) {
    throw ConfigError("distillation.views: " + std::to_string(c.distillation.views) + " augmented "
                      "views need an augmentation in student.training (crop_padding, "
                      "horizontal_flip or erasing_size), and no jitter_pixels");
  }
  if (c.distillation.views > 0 && c.student.training.jitter_pixels() > 0) {
    throw ConfigError("distillation.views: stored views cannot be used with "
                      "student.training.jitter_pixels (jitter is not stored with a view); use "
                      "crop_padding instead");
  }
  if (!augmented.empty() && c.distillation.soft_targets.is_file() && c.distillation.views == 0) {
    throw ConfigError("distillation.soft_targets: a file of stored soft targets cannot be used "
                      "with student.training " + augmented +
                      " (the teacher must see every augmented image); use \"online\", or "
                      "\"auto\", which runs the teacher online for augmented images, or store "
                      "augmented views (distillation.views)");
  }
}

// Threads, device and seeds from the top level reach every trainer.
void apply_runtime(ExperimentConfig& c) {
  try {
    const auto device = parse_device(c.device);
    c.student.training.seed(c.seed).threads(c.threads).device(device).reseed(true);
    apply_runtime(c.teacher, c.threads, device);
    if (c.specialists) {
      apply_runtime(c.specialists->generalist, c.threads, device);
      c.specialists->training.seed(c.seed).threads(c.threads).device(device).reseed(true);
    }
    validate(c.student.training);
  } catch (const c10::Error& e) {
    const std::string key = std::string(e.msg()).rfind("threads", 0) == 0 ? "threads" : "device";
    throw ConfigError(key + ": " + e.what_without_backtrace());
  }
}

}  // namespace

ExperimentConfig parse_config(const std::string& text, const std::string& source) {
  const auto json = parse_json_strict(text, source);
  try {
    ExperimentConfig c;
    ObjectReader r(json, "");
    c.name = r.get("name", c.name);
    check_name(c.name);
    c.out_dir = r.get("out_dir", "runs/" + c.name);
    check_out_dir(c.out_dir);
    const auto seed = r.get<int64_t>("seed", 0);
    if (seed < 0) throw ConfigError("seed: must be >= 0, got " + std::to_string(seed));
    c.seed = static_cast<uint64_t>(seed);
    c.threads = r.get("threads", c.threads);
    c.device = r.get("device", c.device);
    c.data = read_data(r);
    if (r.has("specialists")) c.specialists = read_specialists(r, c.data, c.seed);
    if (!c.specialists && r.has("generalist")) {
      throw ConfigError("generalist: given without a \"specialists\" section; a generalist is "
                        "only used by `distillery specialists`");
    }
    c.has_distillation = !c.specialists || r.has("teacher") || r.has("student");
    if (c.has_distillation) read_distillation_sections(r, c);
    r.finish();
    apply_runtime(c);
    return c;
  } catch (const ConfigError& e) {
    throw ConfigError(source + ": " + e.what());
  } catch (const std::invalid_argument& e) {
    throw ConfigError(source + ": teacher.combine: " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(source + ": " + e.what());
  }
}

ExperimentConfig load_config(const std::string& path) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const std::runtime_error& e) {
    throw ConfigError(e.what());
  }
  auto config = parse_config(text, path);
  config.config_file = path;
  return config;
}

nlohmann::json to_json(const ExperimentConfig& c) {
  nlohmann::json out = {{"name", c.name},
          {"out_dir", c.out_dir},
          {"seed", c.seed},
          {"threads", c.threads},
          {"device", c.device},
          {"data", data_to_json(c.data)}};
  if (c.has_distillation) {
    out["teacher"] = teacher_to_json(c.teacher);
    out["student"] = {{"model", c.student.model},
                      {"training", training_to_json(c.student.training)},
                      {"scratch", c.student.scratch}};
    out["distillation"] = {{"temperature", c.distillation.loss.temperature()},
                           {"alpha", c.distillation.loss.alpha()},
                           {"soft_targets", c.distillation.soft_targets.to_string()},
                           {"views", c.distillation.views}};
  }
  if (c.specialists) {
    out["generalist"] = teacher_to_json(c.specialists->generalist);
    out["specialists"] = specialists_to_json(*c.specialists);
  }
  return out;
}

}  // namespace distillery
