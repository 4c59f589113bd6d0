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

TrainerOptions read_training(ObjectReader& parent, const std::string& key) {
  ObjectReader r(parent.object(key), parent.where(key));
  TrainerOptions o;
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
          {"jitter_pixels", o.jitter_pixels()}};
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
    if (!allow_members) throw ConfigError(r.where("members") + ": members cannot be nested");
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

DistillationConfig read_distillation(ObjectReader& root) {
  ObjectReader k(root.object("distillation"), "distillation");
  DistillationConfig c;
  c.loss.temperature(k.get("temperature", c.loss.temperature()));
  c.loss.alpha(k.get("alpha", c.loss.alpha()));
  c.soft_targets = k.get("soft_targets", c.soft_targets);
  k.finish();
  const double t = c.loss.temperature(), a = c.loss.alpha();
  if (!(t >= kMinTemperature && t <= kMaxTemperature)) {
    throw ConfigError("distillation.temperature: must be in [0.01, 10000], got " + std::to_string(t));
  }
  if (!(a >= 0 && a <= 1)) {
    throw ConfigError("distillation.alpha: must be in [0, 1], got " + std::to_string(a));
  }
  if (c.soft_targets.empty()) {
    throw ConfigError("distillation.soft_targets: must be \"auto\", \"online\" or a file path");
  }
  return c;
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
    if (!r.has("teacher")) throw ConfigError("teacher: required key is missing");
    c.teacher = read_teacher(r.object("teacher"), "teacher", c.seed, /*allow_members=*/true);
    {
      ObjectReader s(r.object("student"), "student");
      if (!s.has("model")) {
        throw ConfigError("student.model: required key is missing (e.g. {\"architecture\": "
                          "\"mlp\", \"hidden\": [800, 800]})");
      }
      c.student.model = read_model_spec(s);
      c.student.training = read_training(s, "training");
      s.finish();
    }
    c.distillation = read_distillation(r);
    r.finish();
    c.student.training.seed(c.seed).threads(c.threads).device(c.device);
    apply_runtime(c.teacher, c.threads, c.device);
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
  return {{"name", c.name},
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
            {"omit_classes", c.data.omit_classes}}},
          {"teacher", teacher_to_json(c.teacher)},
          {"student",
           {{"model", c.student.model}, {"training", training_to_json(c.student.training)}}},
          {"distillation",
           {{"temperature", c.distillation.loss.temperature()},
            {"alpha", c.distillation.loss.alpha()},
            {"soft_targets", c.distillation.soft_targets}}}};
}

}  // namespace distillery
