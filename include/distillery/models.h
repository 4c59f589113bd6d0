#pragma once
/// @file models.h
/// The model zoo: classifiers built from options structs, their size (parameters) and cost
/// (multiply-adds per image), and self-describing model files (weights, buffers and a record of
/// the architecture and data). Every zoo model is a `torch::nn::Sequential` mapping
/// `[B, C_in, H, W]` float32 images to `[B, classes]` logits. Building a model by name from a
/// JSON spec, and rebuilding one from its file, is the application layer's
/// (distillery/app/model_specs.h): the core never reads JSON specs.

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "distillery/data/dataset.h"
#include "distillery/model_size.h"  // InputShape; count_parameters, count_multiply_adds
#include "distillery/model.h"

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
/// the sign of a zero maximum may differ, -0 against +0) without computing the argmax indices
/// that ATen's NCHW max_pool2d kernel computes (timings: bench/RESULTS.md). When the input
/// requires a gradient it calls torch::max_pool2d, so training is unchanged.
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


/// What a model was trained on, stored in its file by `save_model` so that it can be evaluated
/// on data prepared the same way (the data set, its classes, the input normalisation).
/// Example: `record.info = model_info_of(data.train);` (see ModelRecord)
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

/// What a model file records besides the weights and buffers: how the model was built, what
/// it takes and what it was trained on. `spec` and `metadata` are JSON text, stored as JSON in
/// the file and read back as compact JSON text: the core never reads the spec (the application
/// layer's registry rebuilds zoo models from it, distillery/app/model_specs.h), and `metadata`
/// carries what the caller stores with the model (a teacher's recipe; a specialist's classes,
/// see specialists/specialist.h).
/// Example:
///     ModelRecord record;
///     record.spec = R"({"architecture": "mlp", "hidden": [800, 800]})";
///     record.input = {1, 28, 28};
///     record.num_classes = 10;
///     record.info = model_info_of(data.train);
///     save_model("mlp.pt", net, record);
struct ModelRecord {
  /// The architecture spec, JSON text; "null" (or empty) for a model of one's own that only
  /// `load_model_weights` into a module built by the caller reads back.
  std::string spec = "null";
  /// Anything the caller stores with the model, JSON text; "null" for nothing.
  std::string metadata = "null";
  /// Image shape the model takes.
  InputShape input;
  /// Number of output classes.
  int64_t num_classes = 0;
  /// What it was trained on; ModelInfo{} ("unknown", no normalisation) when not recorded (also
  /// for files written before distillery recorded it).
  ModelInfo info;
};

/// Saves the weights and buffers of `model` (by name, as `torch::nn::Module::save`) and `record`
/// in one `torch::save` archive (format "distillery-model-2", with a checksum of the weights).
/// The archive is serialised in memory and written with `write_file_atomic`, so a failed write
/// (a full disk) leaves `path` as it was and no temporary file behind.
/// Throws std::runtime_error naming the path on I/O failure; c10::Error if `record.spec` or
/// `record.metadata` is not JSON text, or as `check_model_info(record.info, record.input,
/// record.num_classes)`.
void save_model(const std::string& path, const Model& model, const ModelRecord& record);

/// What a file given as a model is, judged from its records without running pickled code.
enum class ModelFileKind {
  /// A file written by `save_model`.
  kDistilleryModel,
  /// A TorchScript module (`torch.jit.save`).
  kTorchScript,
  /// A `torch.save` pickle archive, e.g. a state dict (see state_dict.h).
  kPickle,
  /// Anything else: missing, unreadable, not a PyTorch zip archive.
  kOther,
};

/// Inspects `path` (see ModelFileKind); used to say how a misplaced file should be given.
/// Never throws.
ModelFileKind detect_model_file_kind(const std::string& path);

/// Thrown when a file is not of the kind a loader expects, e.g. a state dict given to
/// `read_model_record` or a distillery model file given to `load_torchscript_teacher`; `kind()`
/// says what the file is instead, so that a caller can tell how such a file is to be given.
class ModelFileKindError : public std::runtime_error {
 public:
  /// `message` names the path and says what the file is.
  ModelFileKindError(const std::string& message, ModelFileKind kind)
      : std::runtime_error(message), kind_(kind) {}
  /// What the file is (kOther: not a PyTorch archive distillery knows).
  ModelFileKind kind() const { return kind_; }

 private:
  ModelFileKind kind_;
};

/// The record of a file written by `save_model` (files written before the data record existed
/// give `info` = ModelInfo{}), without loading the weights.
/// Throws std::runtime_error naming the path if it is missing or not a regular file;
/// ModelFileKindError if it is not such a file (a state dict, a TorchScript file, anything
/// else: the message says which); std::runtime_error "<path>: damaged model file: ..." if its
/// record is malformed or does not fit its class count and input shape.
ModelRecord read_model_record(const std::string& path);

/// Loads the weights and buffers of a file written by `save_model` into `model` (by name; the
/// model must have the architecture the file was saved from, e.g. rebuilt from
/// `read_model_record(path).spec`), checking them against the stored checksum. Leaves the
/// model's train/eval mode as it is.
/// Throws as `read_model_record`; std::runtime_error naming the path if a weight or buffer is
/// missing or its shape differs ("the weights do not fit the model"), or the weights do not
/// match their checksum ("damaged model file"). On any failure the model keeps the weights
/// and buffers it had.
void load_model_weights(const std::string& path, const Model& model);

}  // namespace distillery
