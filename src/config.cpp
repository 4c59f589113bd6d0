#include "distillery/config.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

#include "distillery/io.h"
#include "distillery/models.h"

namespace distillery {
namespace {

constexpr int kMaxNesting = 64;
constexpr double kMinTemperature = 0.01;
constexpr double kMaxTemperature = 1e4;

TrainerOptions read_training(ObjectReader& parent, const std::string& key,
                             const TrainerOptions& defaults = TrainerOptions()) {
  ObjectReader r(parent.object(key), parent.where(key));
  TrainerOptions o = defaults;
  o.epochs(r.get("epochs", o.epochs()));
  o.batch_size(r.get("batch_size", o.batch_size()));
  o.optimizer(r.get("optimizer", o.optimizer()));
  o.learning_rate(r.get("learning_rate", o.learning_rate()));
  o.momentum(r.get("momentum", o.momentum()));
  o.weight_decay(r.get("weight_decay", o.weight_decay()));
  o.lr_schedule(r.get("lr_schedule", o.lr_schedule()));
  o.lr_step_epochs(r.get("lr_step_epochs", o.lr_step_epochs()));
  o.lr_gamma(r.get("lr_gamma", o.lr_gamma()));
  o.eval_batch_size(r.get("eval_batch_size", o.eval_batch_size()));
  o.jitter_pixels(r.get("jitter_pixels", o.jitter_pixels()));
  o.prefetch(r.get("prefetch", o.prefetch()));
  r.finish();
  try {
    validate(o);
  } catch (const c10::Error& e) {
    throw ConfigError(parent.where(key) + ": " + e.what_without_backtrace());
  }
  return o;
}

nlohmann::json training_to_json(const TrainerOptions& o) {
  return {{"epochs", o.epochs()},
          {"batch_size", o.batch_size()},
          {"optimizer", o.optimizer()},
          {"learning_rate", o.learning_rate()},
          {"momentum", o.momentum()},
          {"weight_decay", o.weight_decay()},
          {"lr_schedule", o.lr_schedule()},
          {"lr_step_epochs", o.lr_step_epochs()},
          {"lr_gamma", o.lr_gamma()},
          {"eval_batch_size", o.eval_batch_size()},
          {"jitter_pixels", o.jitter_pixels()},
          {"prefetch", o.prefetch()}};
}

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

TeacherConfig read_teacher(const nlohmann::json& json, const std::string& path, uint64_t seed,
                           bool allow_members) {
  ObjectReader r(json, path);
  TeacherConfig t;
  t.seed = static_cast<uint64_t>(r.get<int64_t>("seed", static_cast<int64_t>(seed)));
  t.weights = r.get<std::string>("weights", "");
  t.checkpoint = r.get<std::string>("checkpoint", "");
  t.torchscript = r.get<std::string>("torchscript", "");
  const bool has_model = r.has("model");
  const bool has_members = r.has("members");
  const int sources = (has_model ? 1 : 0) + !t.checkpoint.empty() + !t.torchscript.empty() +
                      (has_members ? 1 : 0);
  if (sources != 1) {
    throw ConfigError(path + ": give exactly one of \"model\" (to train, or with \"weights\"), "
                             "\"checkpoint\", \"torchscript\" or \"members\"");
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
    } else {
      out["training"] = training_to_json(t.training);
      out["seed"] = t.seed;
    }
  }
  return out;
}

void apply_runtime(TeacherConfig& t, int64_t threads, const std::string& device) {
  t.training.seed(t.seed).threads(threads).device(device);
  for (auto& m : t.members) apply_runtime(m, threads, device);
}

// The nlohmann parser nests without bound; refuse absurd nesting before parsing.
void check_nesting(const std::string& text, const std::string& source) {
  int depth = 0, line = 1;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (c == '\n') ++line;
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '[' || c == '{') {
      if (++depth > kMaxNesting) {
        throw ConfigError(source + ": JSON nested deeper than " + std::to_string(kMaxNesting) +
                          " levels at line " + std::to_string(line));
      }
    }
    if (c == ']' || c == '}') --depth;
  }
}

std::pair<int, int> line_and_column(const std::string& text, std::size_t byte) {
  int line = 1, column = 1;
  for (std::size_t i = 0; i < std::min(byte, text.size()); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

DataConfig read_data(ObjectReader& root) {
  ObjectReader d(root.object("data"), "data");
  DataConfig c;
  c.dataset = d.get("dataset", c.dataset);
  if (c.dataset != "fashion-mnist" && c.dataset != "mnist") {
    throw ConfigError("data.dataset: must be \"fashion-mnist\" or \"mnist\", got \"" +
                      c.dataset + "\"");
  }
  c.dir = d.get("dir", c.dir);
  for (auto [key, field] : {std::pair{"train_limit", &c.train_limit},
                            std::pair{"test_limit", &c.test_limit},
                            std::pair{"heldout", &c.heldout}}) {
    *field = d.get(key, *field);
    if (*field < 0) {
      throw ConfigError(std::string("data.") + key + ": must be >= 0, got " + std::to_string(*field));
    }
  }
  c.unlabeled = d.get("unlabeled", c.unlabeled);
  c.omit_classes = d.get("omit_classes", c.omit_classes);
  for (const auto k : c.omit_classes) {
    if (k < 0 || k >= 10) {
      throw ConfigError("data.omit_classes: class " + std::to_string(k) + " is outside [0, 10)");
    }
  }
  if (!c.omit_classes.empty() && c.heldout == 0) {
    throw ConfigError("data.heldout: must be > 0 with data.omit_classes, to choose the bias "
                      "shift on images the student never saw (e.g. 5000)");
  }
  d.finish();
  return c;
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

DistillationConfig read_distillation(ObjectReader& root) {
  ObjectReader k(root.object("distillation"), "distillation");
  DistillationConfig c;
  c.loss.temperature(k.get("temperature", c.loss.temperature()));
  c.loss.alpha(k.get("alpha", c.loss.alpha()));
  c.soft_targets = k.get("soft_targets", c.soft_targets);
  k.finish();
  check_temperature_and_alpha(c.loss, "distillation");
  if (c.soft_targets.empty()) {
    throw ConfigError("distillation.soft_targets: must be \"auto\", \"online\" or a file path");
  }
  return c;
}

constexpr int64_t kClasses = 10;  // both IDX data sets (MNIST, Fashion-MNIST) have 10 classes

// An integer option of `r` that must lie in [low, high].
int64_t read_bounded(ObjectReader& r, const std::string& key, int64_t fallback, int64_t low,
                     int64_t high) {
  const auto value = r.get(key, fallback);
  if (value < low || value > high) {
    throw ConfigError(r.where(key) + ": must be in [" + std::to_string(low) + ", " +
                      std::to_string(high) + "], got " + std::to_string(value));
  }
  return value;
}

SpecialistsConfig read_specialists(ObjectReader& root, const DataConfig& data, uint64_t seed) {
  SpecialistsConfig c;
  if (!root.has("generalist")) {
    throw ConfigError("generalist: required key is missing (the model whose classes the "
                      "specialists split, e.g. {\"model\": {...}, \"training\": {...}} or "
                      "{\"checkpoint\": \"generalist.pt\"})");
  }
  c.generalist = read_teacher(root.object("generalist"), "generalist", seed,
                              /*allow_members=*/false);
  if (!c.generalist.torchscript.empty()) {
    throw ConfigError("generalist.torchscript: the specialists copy the generalist's weights, so "
                      "it must be a distillery model: give \"model\" (to train, or with "
                      "\"weights\") or \"checkpoint\"");
  }
  const auto& json = root.object("specialists");
  ObjectReader s(json, "specialists");
  auto& k = c.clustering;
  const bool has_clusters = s.has("clusters");
  // One cluster would hold every class, leaving its specialist no dustbin.
  k.clusters(read_bounded(s, "clusters", k.clusters(), 2, kClasses));
  k.restarts(read_bounded(s, "restarts", k.restarts(), 1, 10000));
  k.min_subset_size(read_bounded(s, "min_subset_size", k.min_subset_size(), 1, kClasses - 1));
  k.max_iterations(read_bounded(s, "kmeans_iterations", k.max_iterations(), 1, 1000000));
  k.standardize(s.get("standardize", k.standardize()));
  k.seed(seed);
  if (s.has("subsets")) {
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
  c.cluster_on = s.get<std::string>("cluster_on", data.heldout > 0 ? "heldout" : "train");
  if (c.cluster_on != "heldout" && c.cluster_on != "train") {
    throw ConfigError("specialists.cluster_on: must be \"heldout\" or \"train\", got \"" +
                      c.cluster_on + "\"");
  }
  if (c.subsets.empty() && c.cluster_on == "heldout" && data.heldout < 2) {
    throw ConfigError("specialists.cluster_on: \"heldout\" needs data.heldout >= 2 (e.g. 5000)");
  }
  c.training = read_training(s, "training", c.training);
  if (c.training.batch_size() < 2) {
    throw ConfigError("specialists.training.batch_size: must be >= 2 (half of each batch is from "
                      "the specialist's classes), got " + std::to_string(c.training.batch_size()));
  }
  if (c.training.jitter_pixels() != 0) {
    throw ConfigError("specialists.training.jitter_pixels: must be 0 for specialists (their soft "
                      "targets are the generalist's logits on unjittered images)");
  }
  c.loss.temperature(s.get("temperature", c.loss.temperature()));
  c.loss.alpha(s.get("alpha", c.loss.alpha()));
  check_temperature_and_alpha(c.loss, "specialists");
  const auto prior = s.get<std::string>("soft_target_prior", "sampled");
  if (prior != "sampled" && prior != "natural") {
    throw ConfigError("specialists.soft_target_prior: must be \"sampled\" or \"natural\", got \"" +
                      prior + "\"");
  }
  c.soft_target_prior = prior == "natural" ? specialists::SoftTargetPrior::kNatural
                                           : specialists::SoftTargetPrior::kSampled;
  auto& i = c.inference;
  i.top_n(read_bounded(s, "top_n", i.top_n(), 1, kClasses));
  i.max_iterations(read_bounded(s, "max_iterations", i.max_iterations(), 1, 1000000));
  i.tolerance(s.get("tolerance", i.tolerance()));
  if (!(i.tolerance() > 0 && i.tolerance() < 1)) {
    throw ConfigError("specialists.tolerance: must be in (0, 1), got " +
                      nlohmann::json(i.tolerance()).dump());
  }
  const auto method = s.get<std::string>("method", "multiplicative");
  if (method != "multiplicative" && method != "gradient") {
    throw ConfigError("specialists.method: must be \"multiplicative\" or \"gradient\", got \"" +
                      method + "\"");
  }
  i.method(method == "gradient" ? specialists::CombineMethod::kGradient
                                : specialists::CombineMethod::kMultiplicative);
  s.finish();
  return c;
}

nlohmann::json specialists_to_json(const SpecialistsConfig& c) {
  nlohmann::json out = {
      {"restarts", c.clustering.restarts()},
      {"min_subset_size", c.clustering.min_subset_size()},
      {"kmeans_iterations", c.clustering.max_iterations()},
      {"standardize", c.clustering.standardize()},
      {"cluster_on", c.cluster_on},
      {"training", training_to_json(c.training)},
      {"temperature", c.loss.temperature()},
      {"alpha", c.loss.alpha()},
      {"soft_target_prior",
       c.soft_target_prior == specialists::SoftTargetPrior::kNatural ? "natural" : "sampled"},
      {"top_n", c.inference.top_n()},
      {"method", c.inference.method() == specialists::CombineMethod::kGradient ? "gradient"
                                                                                 : "multiplicative"},
      {"max_iterations", c.inference.max_iterations()},
      {"tolerance", c.inference.tolerance()}};
  if (c.subsets.empty()) {
    out["clusters"] = c.clustering.clusters();
  } else {
    out["subsets"] = c.subsets;
  }
  return out;
}

}  // namespace

ExperimentConfig parse_config(const std::string& text, const std::string& source) {
  check_nesting(text, source);
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    const auto [line, column] = line_and_column(text, e.byte == 0 ? 0 : e.byte - 1);
    throw ConfigError(source + ": malformed JSON at line " + std::to_string(line) +
                      ", column " + std::to_string(column) + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(source + ": unreadable JSON (" + e.what() +
                      "); numbers must fit in a 64-bit integer or double");
  }
  try {
    ExperimentConfig c;
    ObjectReader r(json, "");
    c.name = r.get("name", c.name);
    c.out_dir = r.get("out_dir", "runs/" + c.name);
    if (c.out_dir.empty()) throw ConfigError("out_dir: must not be empty");
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
    if (c.has_distillation) {
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
    }
    r.finish();
    c.student.training.seed(c.seed).threads(c.threads).device(c.device);
    apply_runtime(c.teacher, c.threads, c.device);
    if (c.specialists) {
      apply_runtime(c.specialists->generalist, c.threads, c.device);
      c.specialists->training.seed(c.seed).threads(c.threads).device(c.device);
    }
    try {
      validate(c.student.training);
    } catch (const c10::Error& e) {
      const std::string key = std::string(e.msg()).rfind("threads", 0) == 0 ? "threads" : "device";
      throw ConfigError(key + ": " + e.what_without_backtrace());
    }
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
  return parse_config(text, path);
}

nlohmann::json to_json(const ExperimentConfig& c) {
  nlohmann::json out = {{"name", c.name},
          {"out_dir", c.out_dir},
          {"seed", c.seed},
          {"threads", c.threads},
          {"device", c.device},
          {"data",
           {{"dataset", c.data.dataset},
            {"dir", c.data.dir},
            {"train_limit", c.data.train_limit},
            {"test_limit", c.data.test_limit},
            {"heldout", c.data.heldout},
            {"unlabeled", c.data.unlabeled},
            {"omit_classes", c.data.omit_classes}}}};
  if (c.has_distillation) {
    out["teacher"] = teacher_to_json(c.teacher);
    out["student"] = {{"model", c.student.model},
                      {"training", training_to_json(c.student.training)},
                      {"scratch", c.student.scratch}};
    out["distillation"] = {{"temperature", c.distillation.loss.temperature()},
                           {"alpha", c.distillation.loss.alpha()},
                           {"soft_targets", c.distillation.soft_targets}};
  }
  if (c.specialists) {
    out["generalist"] = teacher_to_json(c.specialists->generalist);
    out["specialists"] = specialists_to_json(*c.specialists);
  }
  return out;
}

}  // namespace distillery
