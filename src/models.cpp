#include "distillery/models.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "distillery/fingerprint.h"
#include "distillery/io.h"
#include "distillery/json_fields.h"

namespace distillery {
namespace {

constexpr int64_t kMaxWidth = 65536;

void check_widths(const std::vector<int64_t>& widths, const char* what) {
  for (auto w : widths) {
    TORCH_CHECK(w > 0 && w <= kMaxWidth, what, " must be in [1, 65536], got ", w);
  }
}

void check_dropout(double p) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "dropout must be in [0, 1), got ", p);
}

torch::nn::Sequential mlp_from_json(const nlohmann::json& json, const std::string& path,
                                    InputShape input, int64_t classes) {
  ObjectReader r(json, path);
  MLPOptions options;
  options.hidden(r.get("hidden", options.hidden()));
  options.dropout(r.get("dropout", options.dropout()));
  r.finish();
  return make_mlp(options, input, classes);
}

torch::nn::Sequential convnet_from_json(const nlohmann::json& json, const std::string& path,
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

std::map<std::string, ModelFactory>& registry() {
  static std::map<std::string, ModelFactory> models{{"mlp", mlp_from_json},
                                                   {"convnet", convnet_from_json}};
  return models;
}

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

constexpr const char* kSpecKey = "distillery.spec";

uint64_t state_fingerprint(torch::nn::Module& model) {
  auto tensors = model.parameters();
  for (const auto& b : model.buffers()) tensors.push_back(b);
  return fingerprint_tensors(tensors);
}
constexpr const char* kWeightsKey = "distillery.model";

// A file that is not a distillery model but a kind of file the config takes under another key.
void throw_if_misplaced(const std::string& path) {
  const auto kind = detect_model_file_kind(path);
  if (kind == ModelFileKind::kPickle) {
    throw std::runtime_error(path + ": this is a PyTorch state dict or other torch.save file, not "
                             "a distillery model file; give it as \"weights\" together with "
                             "\"model\" (its architecture), not as \"checkpoint\"");
  }
  if (kind == ModelFileKind::kTorchScript) {
    throw std::runtime_error(path + ": this is a TorchScript file, not a distillery model file; "
                             "give it as \"torchscript\", not as \"checkpoint\"");
  }
}

}  // namespace

torch::nn::Sequential make_mlp(const MLPOptions& options, InputShape input, int64_t num_classes) {
  TORCH_CHECK(num_classes > 0, "num_classes must be positive, got ", num_classes);
  check_widths(options.hidden(), "MLP hidden width");
  check_dropout(options.dropout());
  torch::nn::Sequential net;
  net->push_back(torch::nn::Flatten());
  int64_t width = input.channels * input.height * input.width;
  for (const auto hidden : options.hidden()) {
    net->push_back(torch::nn::Linear(width, hidden));
    net->push_back(torch::nn::ReLU());
    if (options.dropout() > 0) net->push_back(torch::nn::Dropout(options.dropout()));
    width = hidden;
  }
  net->push_back(torch::nn::Linear(width, num_classes));
  return net;
}

torch::Tensor MaxPool2x2Impl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(2) >= 2 && x.size(3) >= 2,
              "MaxPool2x2 needs [B, C, H, W] input with H, W >= 2, got shape ", x.sizes());
  if (torch::GradMode::is_enabled() && x.requires_grad()) return torch::max_pool2d(x, 2);
  using torch::indexing::Slice;
  const int64_t h = x.size(2) / 2 * 2, w = x.size(3) / 2 * 2;
  auto sub = [&](int64_t row, int64_t col) {
    return x.index({Slice(), Slice(), Slice(row, h, 2), Slice(col, w, 2)});
  };
  return torch::maximum(torch::maximum(sub(0, 0), sub(0, 1)), torch::maximum(sub(1, 0), sub(1, 1)));
}

void MaxPool2x2Impl::pretty_print(std::ostream& stream) const {
  stream << "distillery::MaxPool2x2()";
}

torch::nn::Sequential make_convnet(const ConvNetOptions& options, InputShape input,
                                   int64_t num_classes) {
  TORCH_CHECK(num_classes > 0, "num_classes must be positive, got ", num_classes);
  TORCH_CHECK(!options.channels().empty(), "ConvNet needs at least one convolution channel count");
  check_widths(options.channels(), "ConvNet channel count");
  check_widths(options.hidden(), "ConvNet hidden width");
  check_dropout(options.dropout());
  const int64_t k = options.kernel_size();
  TORCH_CHECK(k >= 1 && k % 2 == 1, "ConvNet kernel_size must be odd and >= 1, got ", k);
  torch::nn::Sequential net;
  int64_t channels = input.channels, height = input.height, width = input.width;
  for (const auto out : options.channels()) {
    TORCH_CHECK(height >= 2 && width >= 2, "ConvNet has too many pooling stages for a ",
                input.height, "x", input.width, " image");
    net->push_back(torch::nn::Conv2d(
        torch::nn::Conv2dOptions(channels, out, k).padding(k / 2).bias(!options.batch_norm())));
    if (options.batch_norm()) net->push_back(torch::nn::BatchNorm2d(out));
    net->push_back(torch::nn::ReLU());
    net->push_back(MaxPool2x2());
    channels = out;
    height /= 2;
    width /= 2;
  }
  net->push_back(torch::nn::Flatten());
  int64_t features = channels * height * width;
  for (const auto hidden : options.hidden()) {
    if (options.dropout() > 0) net->push_back(torch::nn::Dropout(options.dropout()));
    net->push_back(torch::nn::Linear(features, hidden));
    net->push_back(torch::nn::ReLU());
    features = hidden;
  }
  if (options.dropout() > 0) net->push_back(torch::nn::Dropout(options.dropout()));
  net->push_back(torch::nn::Linear(features, num_classes));
  return net;
}

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

torch::nn::Sequential build_model(const nlohmann::json& spec, InputShape input,
                                  int64_t num_classes, const std::string& path) {
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

void save_model(const std::string& path, torch::nn::Sequential& model, const nlohmann::json& spec,
                InputShape input, int64_t num_classes, const ModelInfo& info,
                const nlohmann::json& metadata) {
  check_model_info(info, input, num_classes);
  nlohmann::json header = {{"spec", spec},
                           {"metadata", metadata},
                           {"input", {input.channels, input.height, input.width}},
                           {"num_classes", num_classes},
                           {"data", to_json(info)},
                           {"format", "distillery-model-2"},
                           {"fingerprint", fingerprint_hex(state_fingerprint(*model))}};
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

SavedModel load_model(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw std::runtime_error(path + (std::filesystem::exists(path, ec)
                                         ? ": not a regular file; give a model file (.pt)"
                                         : ": no such file"));
  }
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw_if_misplaced(path);
    const std::string reason = e.what_without_backtrace();
    throw std::runtime_error(path + ": not a distillery model file (" +
                             reason.substr(0, reason.find('\n')) +
                             "); give a file written by distillery (run, train, specialists) or "
                             "distillery::save_model");
  }
  c10::IValue header_value;
  if (!archive.try_read(kSpecKey, header_value) || !header_value.isString()) {
    throw_if_misplaced(path);
    throw std::runtime_error(path + ": not a distillery model file (no architecture record); "
                             "save models with distillery::save_model");
  }
  SavedModel out;
  nlohmann::json data_record;  // absent in files written before it existed
  try {
    const auto header = nlohmann::json::parse(header_value.toStringRef());
    out.spec = header.at("spec");
    const auto shape = header.at("input").get<std::vector<int64_t>>();
    out.input = InputShape{shape.at(0), shape.at(1), shape.at(2)};
    out.num_classes = header.at("num_classes").get<int64_t>();
    if (header.contains("metadata")) out.metadata = header.at("metadata");
    if (header.contains("data")) data_record = header.at("data");
    out.model = build_model(out.spec, out.input, out.num_classes, path + ":spec");
    torch::serialize::InputArchive weights;
    if (!archive.try_read(kWeightsKey, weights)) throw std::runtime_error("no weights record");
    out.model->load(weights);
    if (header.contains("fingerprint") &&
        header.at("fingerprint").get<std::string>() != fingerprint_hex(state_fingerprint(*out.model))) {
      throw std::runtime_error("the weights do not match their checksum");
    }
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": damaged model file: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": damaged model file: " + e.what());
  }
  out.info = model_info_from_json(data_record, path, out.input, out.num_classes);
  out.model->eval();
  return out;
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
