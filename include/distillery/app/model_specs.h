#pragma once
#ifdef DISTILLERY_CORE_ONLY
#error "an application-layer header (distillery::app): the core must not include it"
#endif
/// @file app/model_specs.h
/// The model registry of the application layer: models built by name from a JSON spec such
/// as `{"architecture": "mlp", "hidden": [800, 800]}` or `{"architecture": "resnet20"}` (the
/// spec maps onto the options structs of models.h and of the CIFAR zoo, zoo/zoo.h), and model
/// files rebuilt from the spec they store. The core's models.h and zoo/ build models from
/// options structs and read model files into a model the caller built.
///
/// Registered: "mlp" and "convnet" (models.h), and every name of `zoo::zoo_model_names()`
/// ("resnet8" ... "vgg13"), which take no other keys except "mobilenetv2"'s "width" (its width
/// multiplier, default 0.5).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "distillery/model.h"
#include "distillery/models.h"
#include "distillery/specialists/specialist.h"

namespace distillery {

/// Builds a model from the options object of one architecture (the spec without
/// "architecture"); `path` is the object's dotted location, for messages (see ObjectReader).
using ModelFactory = std::function<Model(
    const nlohmann::json& options, const std::string& path, InputShape input, int64_t classes)>;

/// Adds an architecture to the registry under `name` (adding a model is one header, one
/// source, one call here and it is picked up by every test that loops over `list_models()`).
/// Throws std::invalid_argument if the name is taken.
void register_model(const std::string& name, ModelFactory factory);

/// Names of all registered architectures, sorted ("convnet", "mlp", "mobilenetv2", "resnet110",
/// ...).
std::vector<std::string> list_models();

/// Builds a model from a JSON spec such as `{"architecture": "mlp", "hidden": [800, 800]}`.
/// @param path  the spec's dotted location in its config, used in error messages.
/// Throws ConfigError naming the key when the architecture is unknown (listing the known
/// ones), a key is unknown, or a value has the wrong type; c10::Error on invalid values.
Model build_model(const nlohmann::json& spec, InputShape input, int64_t num_classes,
                  const std::string& path = "model");

/// The record `save_model` stores with a zoo model built from `spec` (its JSON as text).
/// Example: `save_model(path, net, model_record(spec, input, 10, model_info_of(data.train)));`
ModelRecord model_record(const nlohmann::json& spec, InputShape input, int64_t num_classes,
                         const ModelInfo& info = {}, const nlohmann::json& metadata = nullptr);

/// A model read back by `load_model`, with what is needed to rebuild it.
struct SavedModel {
  /// The rebuilt model with the saved weights and buffers, in eval mode.
  Model model;
  /// The architecture spec it was built from.
  nlohmann::json spec;
  /// Image shape it expects.
  InputShape input;
  /// Number of output classes.
  int64_t num_classes = 0;
  /// What it was trained on; ModelInfo{} ("unknown", no normalisation) for files written
  /// before distillery recorded it.
  ModelInfo info;
  /// What the caller stored with the model (null if nothing), e.g. a specialist's classes
  /// (`{"kind": "specialist", ...}`, see specialists/specialist.h).
  nlohmann::json metadata;
};

/// Loads a file written by `save_model`, rebuilding the architecture from the stored spec with
/// `build_model`. Files written before the data record existed load with `info` = ModelInfo{}.
/// Throws as `read_model_record` and `load_model_weights`, where a ModelFileKindError's message
/// goes on to say under which config key such a file is given ("weights" with "model",
/// "torchscript", or a file written by distillery); std::runtime_error
/// "<path>: damaged model file: ..." if the stored spec does not build.
SavedModel load_model(const std::string& path);

namespace specialists {

/// Loads a file written by `save_specialist`, rebuilding its network from the stored spec with
/// `build_model`. Throws as `load_model`, and as the core's `load_specialist`.
Specialist load_specialist(const std::string& path);

}  // namespace specialists

}  // namespace distillery
