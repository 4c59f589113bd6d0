#pragma once
// Model files as older versions of distillery wrote them, for the tests that old files still load.

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <string>

#include "distillery/fingerprint.h"
#include "distillery/models.h"

namespace distillery::test {

/// Writes `model` in the layout of format "distillery-model-1" (before the data record): one
/// archive with the header "distillery.spec" (spec, metadata, input, num_classes, format,
/// fingerprint) and the weights "distillery.model".
inline void write_model_file_without_data_record(const std::string& path,
                                                 const Model& model,
                                                 const nlohmann::json& spec, InputShape input,
                                                 int64_t num_classes) {
  auto tensors = model->parameters();
  for (const auto& b : model->buffers()) tensors.push_back(b);
  const nlohmann::json header = {{"spec", spec},
                                 {"metadata", nullptr},
                                 {"input", {input.channels, input.height, input.width}},
                                 {"num_classes", num_classes},
                                 {"format", "distillery-model-1"},
                                 {"fingerprint", fingerprint_hex(fingerprint_tensors(tensors))}};
  torch::serialize::OutputArchive archive;
  archive.write("distillery.spec", c10::IValue(header.dump()));
  torch::serialize::OutputArchive weights;
  model->save(weights);
  archive.write("distillery.model", weights);
  archive.save_to(path);
}

}  // namespace distillery::test
