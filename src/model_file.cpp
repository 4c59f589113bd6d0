// Model files (declared in models.h): the weights and buffers of a model with its ModelRecord, in
// one torch::save archive. The record is a JSON header; JSON stays inside this file.

#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "distillery/fingerprint.h"
#include "distillery/io.h"
#include "distillery/models.h"

namespace distillery {
namespace {

constexpr const char* kSpecKey = "distillery.spec";
constexpr const char* kWeightsKey = "distillery.model";

uint64_t state_fingerprint(torch::nn::Module& model) {
  auto tensors = model.parameters();
  for (const auto& b : model.buffers()) tensors.push_back(b);
  return fingerprint_tensors(tensors);
}

// Every parameter and buffer of `model`, copied (same order as `restore_state` walks them).
std::vector<torch::Tensor> state_copy(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> copy;
  for (const auto& p : model.parameters()) copy.push_back(p.detach().clone());
  for (const auto& b : model.buffers()) copy.push_back(b.detach().clone());
  return copy;
}

// Puts back what `state_copy` took, in place (the tensors keep their identity).
void restore_state(torch::nn::Module& model, const std::vector<torch::Tensor>& copy) {
  torch::NoGradGuard no_grad;
  std::size_t i = 0;
  for (auto& p : model.parameters()) p.set_data(copy.at(i++));
  for (auto& b : model.buffers()) b.set_data(copy.at(i++));
}

// JSON text of a ModelRecord field as JSON ("" stands for null).
nlohmann::json json_of(const std::string& text, const char* field) {
  if (text.empty()) return nullptr;
  nlohmann::json value;
  std::string error;
  try {
    value = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    error = e.what();
  }
  TORCH_CHECK(error.empty(), "ModelRecord::", field, " must be JSON text: ", error);
  return value;
}

// `info` as it is stored in a model file: {"dataset": ..., "class_names": [...],
// "normalization": {"mean": [...], "std": [...]}} (normalization null when unknown).
nlohmann::json to_json(const ModelInfo& info) {
  nlohmann::json normalization = nullptr;
  if (info.has_normalization()) normalization = {{"mean", info.mean}, {"std", info.std}};
  return {{"dataset", info.dataset},
          {"class_names", info.class_names},
          {"normalization", normalization}};
}

// The record written by to_json(ModelInfo); null (a file without it) gives ModelInfo{}.
ModelInfo model_info_from_json(const nlohmann::json& json, const std::string& path,
                               InputShape input, int64_t num_classes) {
  ModelInfo info;
  if (json.is_null()) return info;
  try {
    info.dataset = json.at("dataset").get<std::string>();
    info.class_names = json.at("class_names").get<std::vector<std::string>>();
    const auto& normalization = json.at("normalization");
    if (!normalization.is_null()) {
      info.mean = normalization.at("mean").get<std::vector<double>>();
      info.std = normalization.at("std").get<std::vector<double>>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": damaged model file: bad data record: " + e.what());
  }
  try {
    check_model_info(info, input, num_classes);
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": damaged model file: bad data record: " + e.msg());
  }
  return info;
}

// A file that is not a distillery model but a kind the caller may know how to take.
void throw_if_misplaced(const std::string& path) {
  const auto kind = detect_model_file_kind(path);
  if (kind == ModelFileKind::kPickle) {
    throw ModelFileKindError(path + ": this is a PyTorch state dict or other torch.save file, "
                                    "not a distillery model file",
                             kind);
  }
  if (kind == ModelFileKind::kTorchScript) {
    throw ModelFileKindError(path + ": this is a TorchScript file, not a distillery model file",
                             kind);
  }
}

// The archive of a file written by save_model and its JSON header.
struct OpenedModelFile {
  torch::serialize::InputArchive archive;
  std::string header;
};

OpenedModelFile open_model_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw std::runtime_error(path + (std::filesystem::exists(path, ec)
                                         ? ": not a regular file; give a model file (.pt)"
                                         : ": no such file"));
  }
  OpenedModelFile out;
  try {
    out.archive.load_from(path);
  } catch (const c10::Error& e) {
    throw_if_misplaced(path);
    const std::string reason = e.what_without_backtrace();
    throw ModelFileKindError(
        path + ": not a distillery model file (" + reason.substr(0, reason.find('\n')) + ")",
        ModelFileKind::kOther);
  }
  c10::IValue header;
  if (!out.archive.try_read(kSpecKey, header) || !header.isString()) {
    throw_if_misplaced(path);
    throw ModelFileKindError(path + ": not a distillery model file (no architecture record)",
                             ModelFileKind::kOther);
  }
  out.header = header.toStringRef();
  return out;
}

}  // namespace

void save_model(const std::string& path, const Model& model, const ModelRecord& record) {
  check_model_info(record.info, record.input, record.num_classes);
  const auto& input = record.input;
  nlohmann::json header = {{"spec", json_of(record.spec, "spec")},
                           {"metadata", json_of(record.metadata, "metadata")},
                           {"input", {input.channels, input.height, input.width}},
                           {"num_classes", record.num_classes},
                           {"data", to_json(record.info)},
                           {"format", "distillery-model-2"},
                           {"fingerprint", fingerprint_hex(state_fingerprint(model.module()))}};
  torch::serialize::OutputArchive archive;
  archive.write(kSpecKey, c10::IValue(header.dump()));
  torch::serialize::OutputArchive weights;
  model->save(weights);
  archive.write(kWeightsKey, weights);
  // Serialised in memory: LibTorch's file writer aborts the program (std::terminate) when a
  // write fails while it unwinds, e.g. on a full disk; write_file_atomic reports it instead.
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(path, bytes.str());
}

ModelRecord read_model_record(const std::string& path) {
  const auto file = open_model_file(path);
  ModelRecord out;
  nlohmann::json data_record;  // absent in files written before it existed
  try {
    const auto header = nlohmann::json::parse(file.header);
    out.spec = header.at("spec").dump();
    const auto shape = header.at("input").get<std::vector<int64_t>>();
    out.input = InputShape{shape.at(0), shape.at(1), shape.at(2)};
    out.num_classes = header.at("num_classes").get<int64_t>();
    if (header.contains("metadata")) out.metadata = header.at("metadata").dump();
    if (header.contains("data")) data_record = header.at("data");
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": damaged model file: " + e.what());
  }
  out.info = model_info_from_json(data_record, path, out.input, out.num_classes);
  return out;
}

void load_model_weights(const std::string& path, const Model& model) {
  auto file = open_model_file(path);
  torch::serialize::InputArchive weights;
  if (!file.archive.try_read(kWeightsKey, weights)) {
    throw std::runtime_error(path + ": damaged model file: no weights record");
  }
  std::string fingerprint;
  try {
    const auto header = nlohmann::json::parse(file.header);
    if (header.contains("fingerprint")) fingerprint = header.at("fingerprint").get<std::string>();
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": damaged model file: " + e.what());
  }
  // The model is changed only when every weight fits and the checksum holds: a copy of its
  // state is put back on any failure.
  const auto saved = state_copy(model.module());
  try {
    try {
      model->load(weights);
    } catch (const c10::Error& e) {
      throw std::runtime_error(path + ": the weights do not fit the model: " +
                               e.what_without_backtrace());
    }
    if (!fingerprint.empty() &&
        fingerprint != fingerprint_hex(state_fingerprint(model.module()))) {
      throw std::runtime_error(path + ": damaged model file: the weights do not match their "
                               "checksum");
    }
  } catch (...) {
    restore_state(model.module(), saved);
    throw;
  }
}

ModelFileKind detect_model_file_kind(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    // torch.save archives hold data.pkl; TorchScript modules (and the archives save_model
    // writes, which are TorchScript modules without methods) also hold constants.pkl.
    if (!reader.hasRecord("constants.pkl")) {
      return reader.hasRecord("data.pkl") ? ModelFileKind::kPickle : ModelFileKind::kOther;
    }
    const auto module = torch::jit::load(path);
    return module.hasattr(kSpecKey) ? ModelFileKind::kDistilleryModel : ModelFileKind::kTorchScript;
  } catch (const std::exception&) {
    return ModelFileKind::kOther;
  }
}

}  // namespace distillery
