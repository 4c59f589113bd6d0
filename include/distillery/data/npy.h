#pragma once
/// @file data/npy.h
/// Reader for NumPy's `.npy` files (format versions 1.0, 2.0 and 3.0), the form Python users
/// hand arrays over in (`np.save("images.npy", x)`), and a data set made of an images array and
/// a labels array.
///
/// Layout: the magic `\x93NUMPY`, a major and a minor version byte, a little-endian header
/// length (2 bytes in version 1.0, 4 in 2.0 and 3.0), then the header, a Python dict literal
/// such as `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, then the data in
/// C (row-major) order. Only plain little-endian numbers are read; no pickled object is ever
/// executed (object arrays are refused).

#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "distillery/data/dataset.h"

namespace distillery::data {

/// Reads a `.npy` file holding a C-order array of unsigned bytes (`|u1`), signed bytes (`|i1`),
/// little-endian int32 (`<i4`), int64 (`<i8`), float32 (`<f4`) or float64 (`<f8`).
/// @returns a CPU tensor of the file's shape and dtype (kUInt8, kInt8, kInt32, kInt64,
///   kFloat32, kFloat64); a 0-d tensor for shape `()`.
/// Throws std::runtime_error naming the file when it is missing or not a regular file, does
/// not start with the magic, has a version other than 1.0, 2.0 or 3.0, a header that is cut
/// short or is not such a dict (unknown or missing key, e.g. `"<path>: the .npy header has no
/// 'shape'"`), another dtype (a big-endian one is named with its fix: save it with
/// `x.astype('<f4')`), `fortran_order` True (save with `np.ascontiguousarray`), or a size that
/// does not match its shape (e.g. `"<path>: the header's shape (2, 3) of <f4 promises 24 data
/// bytes but the file holds 20"`).
/// Example: `read_npy("labels.npy")` gives `[N]` int64 labels saved from `np.int64`.
torch::Tensor read_npy(const std::string& path);

/// How the dimensions of an images array map onto `[N, C, H, W]`.
enum class NpyLayout {
  /// From the shape: 3-D is `[N, H, W]`; 4-D is `[N, H, W, C]` when the last dimension is
  /// 1, 3 or 4 and the second is not, `[N, C, H, W]` when the second is and the last is not;
  /// any other 4-D shape is ambiguous and an error that asks for an explicit layout.
  kAuto,
  /// `[N, H, W, C]` (NumPy and TensorFlow's usual order, e.g. CIFAR arrays from Keras).
  kNHWC,
  /// `[N, C, H, W]` (PyTorch's order).
  kNCHW,
  /// `[N, H, W]`: one channel (e.g. MNIST from Keras).
  kNHW,
};

/// Options of `load_npy`.
struct NpyOptions {
  /// How the images array's dimensions are read.
  TORCH_ARG(NpyLayout, layout) = NpyLayout::kAuto;
  /// The number of classes C; 0 for the largest label + 1 (or 0 without labels).
  TORCH_ARG(int64_t, num_classes) = 0;
  /// The normalisation recorded for `Dataset::inputs`; nullopt to measure it from the images
  /// (`measure_normalization`).
  TORCH_ARG(std::optional<Normalization>, normalization) = std::nullopt;
  /// `Dataset::name` of the result (e.g. "my-pets"); may be empty.
  TORCH_ARG(std::string, name) = "";
};

/// A data set from `images_path` (uint8 pixels, or float32 pixels that are all whole numbers
/// in [0, 255], which are converted exactly; 3-D or 4-D, see `NpyLayout`) and `labels_path`
/// (a 1-D array of N integer labels, uint8, int32 or int64, each in [0, C)), or an unlabeled
/// set when `labels_path` is empty.
/// Float32 images in [0, 1] or otherwise fractional are refused rather than guessed at: give
/// `np.round(x * 255).astype(np.uint8)` instead; pixels then stay uint8 in memory as from
/// every other reader.
/// @returns images `[N, C, H, W]` uint8 (in `empty_huge_pages` memory), labels `[N]` int64
///   (undefined without labels), `num_classes`, `name`, no class names, and the normalisation
///   of `options` or the one measured from the images.
/// Throws std::runtime_error naming the file as `read_npy`, and for an images dtype other than
/// uint8 or float32, a fractional or out-of-range float32 pixel (naming its value and index), a
/// shape that is not 3-D or 4-D or is ambiguous under `kAuto` or does not fit the layout given,
/// a labels array that is not 1-D integers, a label count other than N, or a label outside
/// [0, C) (naming it and its index). Throws std::invalid_argument for a normalisation that does
/// not fit the channels; c10::Error if `num_classes` < 0.
/// Example: `load_npy("x_train.npy", "y_train.npy", NpyOptions().layout(NpyLayout::kNHWC))`.
Dataset load_npy(const std::string& images_path, const std::string& labels_path,
                 const NpyOptions& options = {});

}  // namespace distillery::data
