#include "distillery/config.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

#include "distillery/io.h"
#include "distillery/models.h"

namespace distillery {
namespace {

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
          {"eval_batch_size", o.eval_batch_size()}};
}

// Builds the model once so that bad architecture options fail at load time, with the key.
void check_model(const nlohmann::json& spec, const std::string& where) {
  try {
    build_model(spec, InputShape{}, 10, where);
  } catch (const c10::Error& e) {
    throw ConfigError(where + ": " + e.what_without_backtrace());
  }
}

ModelConfig read_model(ObjectReader& root, const std::string& key, bool is_teacher) {
  ObjectReader r(root.object(key), key);
  ModelConfig m;
  if (is_teacher) m.checkpoint = r.get<std::string>("checkpoint", "");
  const bool has_model = r.has("model");
  if (has_model) {
    m.model = r.object("model");
    check_model(m.model, r.where("model"));
  } else if (!is_teacher || m.checkpoint.empty()) {
    throw ConfigError(r.where("model") + ": required key is missing (e.g. {\"architecture\": "
                      "\"mlp\", \"hidden\": [800, 800]})");
  }
  m.training = read_training(r, "training");
  r.finish();
  return m;
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

}  // namespace

ExperimentConfig parse_config(const std::string& text, const std::string& source) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    const auto [line, column] = line_and_column(text, e.byte == 0 ? 0 : e.byte - 1);
    throw ConfigError(source + ": malformed JSON at line " + std::to_string(line) +
                      ", column " + std::to_string(column) + ": " + e.what());
  }
  try {
    ExperimentConfig c;
    ObjectReader r(json, "");
    c.name = r.get("name", c.name);
    c.out_dir = r.get("out_dir", "runs/" + c.name);
    const auto seed = r.get<int64_t>("seed", 0);
    if (seed < 0) throw ConfigError("seed: must be >= 0, got " + std::to_string(seed));
    c.seed = static_cast<uint64_t>(seed);
    c.threads = r.get("threads", c.threads);
    if (c.threads < 0) throw ConfigError("threads: must be >= 0, got " + std::to_string(c.threads));
    c.device = r.get("device", c.device);
    {
      ObjectReader d(r.object("data"), "data");
      c.data.dataset = d.get("dataset", c.data.dataset);
      if (c.data.dataset != "fashion-mnist" && c.data.dataset != "mnist") {
        throw ConfigError("data.dataset: must be \"fashion-mnist\" or \"mnist\", got \"" +
                          c.data.dataset + "\"");
      }
      c.data.dir = d.get("dir", c.data.dir);
      c.data.train_limit = d.get("train_limit", c.data.train_limit);
      c.data.test_limit = d.get("test_limit", c.data.test_limit);
      if (c.data.train_limit < 0 || c.data.test_limit < 0) {
        throw ConfigError("data.train_limit / data.test_limit: must be >= 0");
      }
      d.finish();
    }
    c.teacher = read_model(r, "teacher", /*is_teacher=*/true);
    c.student = read_model(r, "student", /*is_teacher=*/false);
    {
      ObjectReader k(r.object("distillation"), "distillation");
      c.distillation.temperature(k.get("temperature", c.distillation.temperature()));
      c.distillation.alpha(k.get("alpha", c.distillation.alpha()));
      k.finish();
      const double t = c.distillation.temperature(), a = c.distillation.alpha();
      if (!(std::isfinite(t) && t > 0)) {
        throw ConfigError("distillation.temperature: must be finite and > 0, got " +
                          std::to_string(t));
      }
      if (!(a >= 0 && a <= 1)) {
        throw ConfigError("distillation.alpha: must be in [0, 1], got " + std::to_string(a));
      }
    }
    r.finish();
    for (auto* m : {&c.teacher, &c.student}) {
      m->training.seed(c.seed).threads(c.threads).device(c.device);
      try {
        validate(m->training);
      } catch (const c10::Error& e) {
        throw ConfigError(std::string("device: ") + e.what_without_backtrace());
      }
    }
    return c;
  } catch (const ConfigError& e) {
    throw ConfigError(source + ": " + e.what());
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
  nlohmann::json teacher = {{"training", training_to_json(c.teacher.training)},
                            {"checkpoint", c.teacher.checkpoint}};
  if (!c.teacher.model.is_null()) teacher["model"] = c.teacher.model;
  return {{"name", c.name},
          {"out_dir", c.out_dir},
          {"seed", c.seed},
          {"threads", c.threads},
          {"device", c.device},
          {"data",
           {{"dataset", c.data.dataset},
            {"dir", c.data.dir},
            {"train_limit", c.data.train_limit},
            {"test_limit", c.data.test_limit}}},
          {"teacher", teacher},
          {"student", {{"model", c.student.model}, {"training", training_to_json(c.student.training)}}},
          {"distillation",
           {{"temperature", c.distillation.temperature()}, {"alpha", c.distillation.alpha()}}}};
}

}  // namespace distillery
