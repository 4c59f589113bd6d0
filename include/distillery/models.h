#pragma once
/// @file models.h
/// The model zoo: classifiers built by name from JSON, and saving / loading them together with
/// their architecture. Their size and cost are counted in model_size.h (included here).
/// Every model is a `torch::nn::Sequential` mapping `[B, C_in, H, W]` float32 images to
/// `[B, classes]` logits.

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "distillery/data/dataset.h"
#include "distillery/model_size.h"  // InputShape; count_parameters, count_multiply_adds

namespace distillery {

/// Multi-layer perceptron: flatten, then `hidden.size()` Linear + ReLU (+ Dropout) layers,
/// then a Linear head. The small nets of Hinton et al. 2015, §3, are MLPs.
struct MLPOptions {
  /// Widths of the hidden layers, e.g. {800, 800}; may be empty (a linear classifier).
  TORCH_ARG(std::vector<int64_t>, hidden) = std::vector<int64_t>{800, 800};
  /// Dropout probability after each hidden layer, in [0, 1); 0 disables it.
  TORCH_ARG(double, dropout) = 0.0;
};

/// Small convolutional net: per entry of `channels` a `kernel_size` convolution ("same"
/// padding), optional BatchNorm, ReLU and 2x2 max-pooling; then flatten, Dropout, the `hidden`
/// Linear + ReLU + Dropout layers and a Linear head.
struct ConvNetOptions {
  /// Output channels of each convolution block, e.g. {32, 64}; at least one.
  TORCH_ARG(std::vector<int64_t>, channels) = std::vector<int64_t>{32, 64};
  /// Square kernel size, odd, >= 1.
  TORCH_ARG(int64_t, kernel_size) = 3;
  /// Widths of the fully connected hidden layers after the convolutions.
  TORCH_ARG(std::vector<int64_t>, hidden) = std::vector<int64_t>{512};
  /// Dropout probability before each fully connected layer, in [0, 1).
  TORCH_ARG(double, dropout) = 0.3;
  /// Whether each convolution is followed by BatchNorm2d.
  TORCH_ARG(bool, batch_norm) = true;
};

/// 2x2 max-pooling with stride 2 (floor mode: a trailing odd row or column is dropped), as
/// `torch::nn::MaxPool2d(2)`, on `[B, C, H, W]` inputs giving `[B, C, H / 2, W / 2]`.
/// Without autograd (a teacher's pass, evaluation) it takes the element-wise maximum of the
/// four strided sub-grids, which gives the same values (NaN propagates as in max_pool2d; only
/// the sign of a zero maximum may differ, -0 against +0) and runs several times faster on the CPU than ATen's NCHW max_pool2d kernel,
/// which also computes the argmax indices (see bench/RESULTS.md). When the input requires a
/// gradient it calls torch::max_pool2d, so training is unchanged.
/// Throws c10::Error if the input is not 4-D or smaller than 2 x 2.
class MaxPool2x2Impl : public torch::nn::Cloneable<MaxPool2x2Impl> {
 public:
  void reset() override {}
  /// `x`: `[B, C, H, W]` floating point; returns `[B, C, H / 2, W / 2]`.
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;
};
TORCH_MODULE(MaxPool2x2);

/// Builds an MLP for `input` images and `num_classes` outputs.
/// Throws c10::Error on a non-positive width, class count or dropout outside [0, 1).
torch::nn::Sequential make_mlp(const MLPOptions& options, InputShape input, int64_t num_classes);

/// Builds a ConvNet for `input` images and `num_classes` outputs.
/// Throws c10::Error on bad options or when pooling would shrink the image below 1 x 1.
torch::nn::Sequential make_convnet(const ConvNetOptions& options, InputShape input,
                                   int64_t num_classes);

/// Builds a model from the options object of one architecture (without "architecture").
using ModelFactory = std::function<torch::nn::Sequential(
    const nlohmann::json& options, const std::string& path, InputShape input, int64_t classes)>;

/// Adds an architecture to the registry under `name` (adding a model is one header, one
/// source, one call here and it is picked up by every test that loops over `list_models()`).
/// Throws std::invalid_argument if the name is taken.
void register_model(const std::string& name, ModelFactory factory);

/// Names of all registered architectures, sorted ("convnet", "mlp", ...).
std::vector<std::string> list_models();

/// Builds a model from a JSON spec such as `{"architecture": "mlp", "hidden": [800, 800]}`.
/// @param path  the spec's dotted location in its config, used in error messages.
/// Throws ConfigError naming the key when the architecture is unknown (listing the known
/// ones), a key is unknown, or a value has the wrong type; c10::Error on invalid values.
torch::nn::Sequential build_model(const nlohmann::json& spec, InputShape input,
                                  int64_t num_classes, const std::string& path = "model");

/// What a model was trained on, stored in its file by `save_model` so that it can be evaluated
/// on data prepared the same way (the data set, its classes, the input normalisation).
/// Example: `save_model(path, net, spec, input, 10, model_info_of(data.train));`
struct ModelInfo {
  /// Name of the data set ("mnist", "fashion-mnist"); "unknown" when not recorded (a file
  /// written before distillery recorded it, or a model trained on a set built by hand).
  std::string dataset = "unknown";
  /// Name of each output class, `num_classes` entries; empty when unknown.
  std::vector<std::string> class_names;
  /// Per-channel mean of the input normalisation `(x / 255 - mean) / std`, one entry per
  /// input channel; empty when unknown.
  std::vector<double> mean;
  /// Per-channel standard deviation of the same normalisation (each > 0); empty when unknown.
  std::vector<double> std;

  /// Whether the normalisation is recorded.
  bool has_normalization() const { return !mean.empty(); }
};

/// Checks that `info` can describe a model of `input` images and `num_classes` outputs: no class
/// names or `num_classes` of them; no normalisation or one mean and one std (> 0) per channel.
/// Throws c10::Error saying what does not fit.
void check_model_info(const ModelInfo& info, InputShape input, int64_t num_classes);

/// The record of a model trained on `set`: its name ("unknown" when empty), class names and
/// normalisation (the same mean and std for each of its channels; none when unknown).
ModelInfo model_info_of(const data::Dataset& set);

/// `info` as it is stored in a model file: `{"dataset": ..., "class_names": [...],
/// "normalization": {"mean": [...], "std": [...]}}` (`normalization` null when unknown).
nlohmann::json to_json(const ModelInfo& info);

/// Reads the record written by `to_json(ModelInfo)`; a null `json` (a file without the
/// record) gives the unknown ModelInfo{}. Throws std::runtime_error naming `path` if the
/// record is malformed, or its class names or normalisation do not fit `num_classes` and
/// `input`.
ModelInfo model_info_from_json(const nlohmann::json& json, const std::string& path,
                               InputShape input, int64_t num_classes);

/// A model read back by `load_model`, with what is needed to rebuild it.
struct SavedModel {
  /// The rebuilt model with the saved weights and buffers, in eval mode.
  torch::nn::Sequential model;
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

/// Saves weights, buffers, the architecture spec, `info` (what the model was trained on) and
/// `metadata` (any JSON, returned by `load_model` as `SavedModel::metadata`) in one
/// `torch::save` archive. The archive is serialised in memory and written with
/// `write_file_atomic`, so a failed write (a full disk) leaves `path` as it was and no
/// temporary file behind.
/// Throws std::runtime_error naming the path on I/O failure; c10::Error as `check_model_info`.
void save_model(const std::string& path, torch::nn::Sequential& model, const nlohmann::json& spec,
                InputShape input, int64_t num_classes, const ModelInfo& info,
                const nlohmann::json& metadata = nullptr);

/// Loads a file written by `save_model`, rebuilding the architecture from the stored spec.
/// Files written before the data record existed load with `info` = ModelInfo{}.
/// Throws std::runtime_error naming the path if it is missing, not such an archive (a PyTorch
/// state dict or a TorchScript file is named as such, with the config key to give it under:
/// "weights" with "model", or "torchscript"), or its weights do not fit the stored architecture.
SavedModel load_model(const std::string& path);

/// What a file given as a model is, judged from its records without running pickled code.
enum class ModelFileKind {
  /// A file written by `save_model` (config key "checkpoint").
  kDistilleryModel,
  /// A TorchScript module (`torch.jit.save`; config key "torchscript").
  kTorchScript,
  /// A `torch.save` pickle archive, e.g. a state dict (config key "weights" with "model").
  kPickle,
  /// Anything else: missing, unreadable, not a PyTorch zip archive.
  kOther,
};

/// Inspects `path` (see ModelFileKind); used to say how a misplaced file should be given.
/// Never throws.
ModelFileKind detect_model_file_kind(const std::string& path);

}  // namespace distillery
