#pragma once
/// @file export.h
/// ONNX export of a trained model, the student to ship to a phone or a serving stack (the point
/// of distillation, Hinton et al. 2015, §1): the model's forward is traced once with LibTorch's
/// tracer and each recorded operator is written as ONNX nodes with the ONNX library's protobuf
/// messages, checked by its checker. No Python is involved.
///
/// The file holds one input `pixels` `[N, C, H, W]` float32 in [0, 1] (pixel / 255) and one
/// output `logits` `[N, classes]`, with a dynamic batch axis N. The data set's normalisation
/// `(pixels - mean) / std` is the graph's first two nodes, BatchNorm after a convolution is
/// folded into its weights, and dropout (an identity in inference) is gone.

#include <torch/arg.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "distillery/model.h"
#include "distillery/model_size.h"
#include "distillery/models.h"

namespace distillery {

/// The operator-set versions export_onnx writes: 17 (the first with every operator used here
/// in its present form) up to the newest that the ONNX library it was built with knows.
int64_t min_onnx_opset();
/// See min_onnx_opset.
int64_t max_onnx_opset();

/// Metadata properties of an ONNX file: (key, value) pairs, in order.
using OnnxMetadata = std::vector<std::pair<std::string, std::string>>;

/// Options of export_onnx.
struct OnnxExportOptions {
  /// The ONNX operator set the file declares, in [min_onnx_opset(), max_onnx_opset()].
  TORCH_ARG(int64_t, opset) = 17;
  /// What the model was trained on: its normalisation goes into the graph (none recorded: the
  /// model takes pixel / 255 as it is), its class names and data set into the metadata.
  TORCH_ARG(ModelInfo, info);
  /// More metadata properties, (key, value) pairs written after the standard ones (e.g.
  /// {"test_accuracy", "0.8912"}); a key may not repeat a standard one.
  TORCH_ARG(OnnxMetadata, metadata);
};

/// What export_onnx wrote.
struct OnnxExportSummary {
  /// ONNX nodes in the graph (the normalisation's included).
  int64_t nodes = 0;
  /// Scalars in the initialisers (weights, biases, constants), after folding BatchNorm.
  int64_t initializer_values = 0;
  /// BatchNorm layers folded into the convolution before them.
  int64_t folded_batch_norms = 0;
  /// Dropout layers left out.
  int64_t removed_dropouts = 0;
  /// Size of the serialised model, in bytes.
  int64_t bytes = 0;
  /// The metadata properties written, in order: `class_names` (JSON list; "[]" when unknown),
  /// `normalization` (JSON `{"mean": [...], "std": [...]}`, or "null"), `dataset`, `parameters`
  /// and `multiply_adds` of the source model (count_parameters, count_multiply_adds),
  /// `distillery_version`, then `OnnxExportOptions::metadata`.
  OnnxMetadata metadata;
};

/// The ONNX model of `model` for images of `input`, serialised (an `onnx.ModelProto`, IR
/// version 8), with `summary` (if not null) filled in. The model is traced in eval mode, without
/// autograd, on a batch of two zero images (its mode is restored): a C++ forward's `x.size(0)` is
/// a plain number to the tracer, and on two images a reshape to `{2, ...}` of a 2-row input is
/// recognised as keeping the batch. Its parameters and buffers are read where they live and
/// written as float32.
///
/// Translated operators (LibTorch's names, as the tracer records them): conv2d and _convolution
/// (any stride, padding, dilation, groups; not transposed), t and addmm (linear), matmul, mm,
/// batch_norm (folded into a preceding convolution whose output nothing else reads, else
/// BatchNormalization), linear, relu, relu6 / hardtanh (Clip), sigmoid, tanh, add / mul (of
/// tensors, or a tensor and a number; add's alpha 1), maximum, max_pool2d, avg_pool2d,
/// adaptive_avg_pool2d (to 1 x 1, or to a size that divides the input), flatten (from
/// dimension 1), view / reshape (to constants, with the batch size as `x.size(0)`), cat, chunk,
/// narrow, slice, channel_shuffle, dropout (any kind, in inference), contiguous, detach, clone.
/// That covers the MLP, the ConvNet and the whole zoo (zoo/zoo.h).
///
/// Throws std::invalid_argument for a normalisation that does not fit the channels; c10::Error:
/// for an empty model, a non-positive input size, an opset out of range; starting
/// "export_onnx: could not trace the model's forward" when the forward fails on a
/// `[2, C, H, W]` batch; naming the first operator
/// it cannot translate, e.g. "export_onnx: the model's forward calls aten::gelu (operator 4 of
/// the traced forward), which the ONNX export does not translate; supported: ..." (also for a
/// supported operator used in an unsupported way, saying how); for a forward whose result is not
/// one `[N, classes]` tensor; and, should the ONNX checker refuse the graph (a bug to report),
/// with the checker's message.
/// Example: `onnx_model_bytes(student, {1, 28, 28}, OnnxExportOptions().info(record.info))`.
std::string onnx_model_bytes(const Model& model, InputShape input,
                             const OnnxExportOptions& options = {},
                             OnnxExportSummary* summary = nullptr);

/// onnx_model_bytes written to `path` with write_file_atomic (io.h): a failure leaves `path` as
/// it was. Returns the summary. Throws as onnx_model_bytes, and std::runtime_error naming
/// `path` when it cannot be written.
OnnxExportSummary export_onnx(const Model& model, InputShape input, const std::string& path,
                              const OnnxExportOptions& options = {});

}  // namespace distillery
