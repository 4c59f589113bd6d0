#include "distillery/app/model_specs.h"

#include <torch/torch.h>

#include <map>
#include <mutex>
#include <stdexcept>

#include "distillery/app/json_fields.h"
#include "distillery/zoo/mobilenet_v2.h"
#include "distillery/zoo/zoo.h"

namespace distillery {
namespace {

Model mlp_from_json(const nlohmann::json& json, const std::string& path,
                    InputShape input, int64_t classes) {
  ObjectReader r(json, path);
  MLPOptions options;
  options.hidden(r.get("hidden", options.hidden()));
  options.dropout(r.get("dropout", options.dropout()));
  r.finish();
  return make_mlp(options, input, classes);
}

Model convnet_from_json(const nlohmann::json& json, const std::string& path,
                        InputShape input, int64_t classes) {
  ObjectReader r(json, path);
  ConvNetOptions options;
  options.channels(r.get("channels", options.channels()));
  options.kernel_size(r.get("kernel_size", options.kernel_size()));
  options.hidden(r.get("hidden", options.hidden()));
  options.dropout(r.get("dropout", options.dropout()));
  options.batch_norm(r.get("batch_norm", options.batch_norm()));
  r.finish();
  return make_convnet(options, input, classes);
}

// A zoo model that takes no options (zoo/zoo.h).
ModelFactory zoo_factory(const std::string& name) {
  return [name](const nlohmann::json& json, const std::string& path, InputShape input,
                int64_t classes) -> Model {
    const ObjectReader r(json, path);
    if (!json.empty()) {
      throw ConfigError(r.where(json.begin().key()) + ": unknown key (" + name +
                        " takes no options besides \"architecture\")");
    }
    return zoo::build_zoo_model(name, input, classes);
  };
}

// MobileNetV2 with its width multiplier (zoo/mobilenet_v2.h).
Model mobilenet_v2_from_json(const nlohmann::json& json, const std::string& path,
                             InputShape input, int64_t classes) {
  ObjectReader r(json, path);
  zoo::MobileNetV2Options options;
  options.width(r.get("width", options.width()));
  r.finish();
  TORCH_CHECK(classes > 0, "mobilenetv2: num_classes must be positive, got ", classes);
  return zoo::MobileNetV2(options.input_channels(input.channels).num_classes(classes));
}

std::map<std::string, ModelFactory> builtin_models() {
  std::map<std::string, ModelFactory> models{{"mlp", mlp_from_json},
                                             {"convnet", convnet_from_json}};
  for (const auto& name : zoo::zoo_model_names()) models.emplace(name, zoo_factory(name));
  models["mobilenetv2"] = mobilenet_v2_from_json;
  return models;
}

std::map<std::string, ModelFactory>& registry() {
  static std::map<std::string, ModelFactory> models = builtin_models();
  return models;
}

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

// The core's message says what the file is; this adds how the config takes such a file.
ModelFileKindError with_config_advice(const ModelFileKindError& e) {
  const char* advice = "";
  switch (e.kind()) {
    case ModelFileKind::kPickle:
      advice = "; give it as \"weights\" together with \"model\" (its architecture), not as "
               "\"checkpoint\"";
      break;
    case ModelFileKind::kTorchScript:
      advice = "; give it as \"torchscript\", not as \"checkpoint\"";
      break;
    case ModelFileKind::kOther:
      advice = "; give a file written by distillery (run, train, specialists) or "
               "distillery::save_model";
      break;
    case ModelFileKind::kDistilleryModel:
      break;
  }
  return ModelFileKindError(e.what() + std::string(advice), e.kind());
}

ModelRecord read_record(const std::string& path) {
  try {
    return read_model_record(path);
  } catch (const ModelFileKindError& e) {
    throw with_config_advice(e);
  }
}

// The zoo model a record's spec describes, on the CPU with fresh weights.
Model build_from_record(const ModelRecord& record, const std::string& path,
                                        nlohmann::json& spec) {
  try {
    spec = nlohmann::json::parse(record.spec);
    return build_model(spec, record.input, record.num_classes, path + ":spec");
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": damaged model file: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": damaged model file: " + e.what());
  }
}

}  // namespace

void register_model(const std::string& name, ModelFactory factory) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  if (!registry().emplace(name, std::move(factory)).second) {
    throw std::invalid_argument("model architecture '" + name + "' is already registered");
  }
}

std::vector<std::string> list_models() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::string> names;
  for (const auto& item : registry()) names.push_back(item.first);
  return names;
}

Model build_model(const nlohmann::json& spec, InputShape input, int64_t num_classes,
                  const std::string& path) {
  if (!spec.is_object()) {
    throw ConfigError(path + ": expected a JSON object, got " + std::string(spec.type_name()));
  }
  if (!spec.contains("architecture") || !spec.at("architecture").is_string()) {
    throw ConfigError(path + ".architecture: required string is missing (one of: " +
                      nlohmann::json(list_models()).dump() + ")");
  }
  const auto name = spec.at("architecture").get<std::string>();
  ModelFactory factory;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    const auto it = registry().find(name);
    if (it == registry().end()) {
      std::string known;
      for (const auto& item : registry()) known += (known.empty() ? "" : ", ") + item.first;
      throw ConfigError(path + ".architecture: unknown architecture '" + name +
                        "' (known: " + known + ")");
    }
    factory = it->second;
  }
  auto options = spec;
  options.erase("architecture");
  return factory(options, path, input, num_classes);
}

ModelRecord model_record(const nlohmann::json& spec, InputShape input, int64_t num_classes,
                         const ModelInfo& info, const nlohmann::json& metadata) {
  ModelRecord record;
  record.spec = spec.dump();
  record.metadata = metadata.dump();
  record.input = input;
  record.num_classes = num_classes;
  record.info = info;
  return record;
}

SavedModel load_model(const std::string& path) {
  const auto record = read_record(path);
  SavedModel out;
  out.model = build_from_record(record, path, out.spec);
  load_model_weights(path, out.model);
  out.input = record.input;
  out.num_classes = record.num_classes;
  out.info = record.info;
  out.metadata = nlohmann::json::parse(record.metadata);
  out.model->eval();
  return out;
}

namespace specialists {

Specialist load_specialist(const std::string& path) {
  try {
    return load_specialist(path, [&](const ModelRecord& record) -> Model {
      nlohmann::json spec;
      return build_from_record(record, path, spec);
    });
  } catch (const ModelFileKindError& e) {
    throw with_config_advice(e);
  }
}

}  // namespace specialists

}  // namespace distillery
