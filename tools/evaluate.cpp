// The `distillery evaluate` command: a model file written by distillery, scored on a data set
// prepared as the model's file records.

#include "evaluate.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "distillery/app/config.h"
#include "distillery/app/experiment.h"
#include "distillery/app/model_specs.h"
#include "distillery/data/dataset.h"
#include "distillery/metrics.h"
#include "distillery/models.h"

namespace distillery::tool {
namespace {


// The data set and normalisation to evaluate `saved` with: the ones its file records. --dataset
// is for files written before distillery recorded them (default fashion-mnist); for a newer file
// it may only repeat the recorded data set. Throws ConfigError (exit 2) on a contradiction.
std::pair<std::string, distillery::data::Normalization> evaluation_data(
    const distillery::SavedModel& saved, const std::string& model_path, const EvaluateOptions& o) {
  namespace data = distillery::data;
  const auto norm_of = [](const std::string& name) {
    return name == "mnist" ? data::kMnistNormalization : data::kFashionMnistNormalization;
  };
  const auto& info = saved.info;
  if (!info.has_normalization()) {
    const auto dataset = o.dataset.empty() ? std::string("fashion-mnist") : o.dataset;
    spdlog::warn("{}: the file does not record its data set and normalisation (written by an "
                 "older distillery); normalising as {}{}", model_path, dataset,
                 o.dataset.empty() ? " (the default; say --dataset mnist for an MNIST model)" : "");
    return {dataset, norm_of(dataset)};
  }
  if (!o.dataset.empty() && o.dataset != info.dataset) {
    throw distillery::ConfigError(
        "--dataset " + o.dataset + " contradicts " + model_path + ", which was trained on " +
        info.dataset + " and records its normalisation; drop --dataset (it is for model files "
        "that do not record their data set)");
  }
  if (!o.data_given && info.dataset != "fashion-mnist" && info.dataset != "unknown") {
    throw distillery::ConfigError(model_path + " was trained on " + info.dataset + " but --data "
                                  "defaults to the Fashion-MNIST directory " + o.data_dir +
                                  "; give the " + info.dataset + " directory with --data");
  }
  return {info.dataset, data::Normalization{info.mean, info.std}};
}

// A specialist's file holds a generalist-shaped network whose C outputs are not its task
// (S + dustbin, see specialists/specialist.h): scoring it as a C-class model would mislead.
void refuse_specialist(const distillery::SavedModel& saved, const std::string& model_path) {
  if (saved.metadata.is_object() && saved.metadata.value("kind", "") == "specialist") {
    throw std::runtime_error(
        model_path + ": this is a specialist (classes " + saved.metadata.at("classes").dump() +
        " + dustbin), not a model of all classes; `evaluate` scores whole models (teacher, "
        "students, generalist); the specialists' test errors on their classes are in the "
        "results.json of their run");
  }
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Refuses data unlike the model's: another image shape, class count or class names.
void check_fits(const distillery::SavedModel& saved, const std::string& model_path,
                const distillery::data::Dataset& set, const std::string& data_dir) {
  const distillery::InputShape shape{set.images.size(1), set.images.size(2), set.images.size(3)};
  if (shape.channels != saved.input.channels || shape.height != saved.input.height ||
      shape.width != saved.input.width) {
    throw std::runtime_error(model_path + ": the model takes " +
                             std::to_string(saved.input.height) + "x" +
                             std::to_string(saved.input.width) + " images but " + data_dir +
                             " holds " + std::to_string(shape.height) + "x" +
                             std::to_string(shape.width) + " images");
  }
  if (set.num_classes != saved.num_classes) {
    throw std::runtime_error(model_path + ": the model has " + std::to_string(saved.num_classes) +
                             " classes but " + data_dir + " has " +
                             std::to_string(set.num_classes));
  }
  // Folders name their classes: the same count in another order would shift every label.
  if (!saved.info.class_names.empty() && !set.class_names.empty() &&
      saved.info.class_names != set.class_names) {
    throw std::runtime_error(data_dir + ": the classes (" + joined(set.class_names) +
                             ") are not the model's (" + joined(saved.info.class_names) + ", "
                             "from " + model_path + "); evaluate on data of the same classes");
  }
}

}  // namespace

distillery::SavedModel load_model_file(const std::string& model_path, const std::string& command) {
  try {
    return distillery::load_model(model_path);
  } catch (const distillery::ModelFileKindError& e) {
    if (e.kind() != distillery::ModelFileKind::kPickle &&
        e.kind() != distillery::ModelFileKind::kTorchScript) {
      throw;
    }
    const char* what = e.kind() == distillery::ModelFileKind::kPickle
                           ? "a PyTorch state dict or other torch.save file"
                           : "a TorchScript file";
    throw std::runtime_error(model_path + ": this is " + what + ", not a distillery model file; "
                             "`distillery " + command + "` takes a model file written by "
                             "distillery (run, train, specialists), which records its "
                             "architecture");
  }
}

int evaluate(const std::string& model_path, const EvaluateOptions& o) {
  auto saved = load_model_file(model_path, "evaluate");
  refuse_specialist(saved, model_path);
  const auto [dataset, norm] = evaluation_data(saved, model_path, o);
  const auto which = o.split == "train" ? distillery::data::Split::kTrain
                                        : distillery::data::Split::kTest;
  // Only the first `limit` images are read, normalised as the model was trained.
  distillery::DataConfig source;
  source.dataset = dataset;
  source.dir = o.data_dir;
  if (dataset == "image-folder") {  // read at (resized to) the model's size and channels
    source.image_size = {saved.input.height, saved.input.width};
    source.resize = true;
    source.grayscale = saved.input.channels == 1;
  }
  if (dataset == "npy") source.layout = o.layout;
  auto test = distillery::load_dataset_split(source, which, o.limit, norm, saved.num_classes);
  test.normalization = norm;
  check_fits(saved, model_path, test, o.data_dir);
  const auto result = distillery::evaluate(
      [&](const torch::Tensor& x) { return saved.model(x); }, test);
  const auto& split = o.split;
  const nlohmann::json out = {
      {"model", model_path},
      {"dataset", dataset},
      {"normalization", {{"mean", norm.mean}, {"std", norm.std}}},
      {"split", split},
      {split + "_errors", result.errors},
      {split + "_examples", result.examples},
      {split + "_accuracy", result.accuracy},
      {split + "_nll", result.nll},
      {"parameters", distillery::count_parameters(saved.model.module())},
      {"multiply_adds", distillery::count_multiply_adds(saved.model, saved.input)}};
  if (o.as_json) {
    std::cout << out.dump(2) << std::endl;
  } else {
    std::printf("%s (%s): %lld / %lld %s errors, accuracy %.2f%%, NLL %.4f\n", model_path.c_str(),
                dataset.c_str(), static_cast<long long>(result.errors),
                static_cast<long long>(result.examples), split.c_str(), 100.0 * result.accuracy,
                result.nll);
  }
  return 0;
}

}  // namespace distillery::tool
