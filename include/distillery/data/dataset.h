#pragma once
/// @file data/dataset.h
/// In-memory image-classification data sets and the batches sliced from them.
/// Everything stays as whole tensors: a batch is an `index_select` of rows, never a
/// per-example collation, so training is bound by compute, not by data loading.

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace distillery::data {

/// Per-channel normalisation of uint8 pixels into model inputs:
/// `input[c] = (pixel / 255 - mean[c]) / std[c]`, computed in float32 per batch (Dataset::inputs).
/// `mean` and `std` hold one value per channel, or one value for every channel.
struct Normalization {
  /// Means of the pixel values scaled to [0, 1]: one per channel, or one for all.
  std::vector<double> mean;
  /// Standard deviations of the pixel values scaled to [0, 1], each finite and > 0: one per
  /// channel, or one for all.
  std::vector<double> std;

  /// No values: `check` refuses it.
  Normalization() = default;
  /// One mean and standard deviation for every channel (MNIST, Fashion-MNIST).
  Normalization(double mean, double std) : mean{mean}, std{std} {}
  /// One mean and standard deviation per channel (e.g. CIFAR's red, green, blue).
  Normalization(std::vector<double> mean, std::vector<double> std)
      : mean(std::move(mean)), std(std::move(std)) {}

  /// Throws std::invalid_argument unless `mean` and `std` are both of size 1 or both of size
  /// `channels`, every mean is finite and every std finite and > 0; the message names the
  /// offending value, e.g. "normalization std must be finite and > 0, got 0 (channel 2)".
  void check(int64_t channels) const;
  /// `mean` for `channels` channels (a single value repeated). Throws as `check`.
  std::vector<double> means(int64_t channels) const;
  /// `std` for `channels` channels (a single value repeated). Throws as `check`.
  std::vector<double> stds(int64_t channels) const;
};

/// Normalisation of Fashion-MNIST's training images (mean 0.2860, std 0.3530).
inline const Normalization kFashionMnistNormalization{0.2860, 0.3530};
/// Normalisation of MNIST's training images (mean 0.1307, std 0.3081).
inline const Normalization kMnistNormalization{0.1307, 0.3081};

/// Float32 model inputs `[B, C, H, W]` from uint8 pixels `[B, C, H, W]` (any device):
/// `(pixels / 255 - mean[c]) / std[c]`, on the pixels' device. With one value for all channels
/// this is exactly (bit for bit) the float32 operations `x.div_(255).sub_(mean).div_(std)`.
/// Throws c10::Error if `pixels` is not 4-D uint8; std::invalid_argument as
/// `Normalization::check` for `pixels.size(1)` channels.
torch::Tensor normalize_pixels(const torch::Tensor& pixels, const Normalization& normalization);

/// A labeled (or unlabeled) image set held in memory, with what it is (its name, class names
/// and normalisation), so that a model trained on it can record them (see `ModelInfo`).
struct Dataset {
  /// `[N, channels, height, width]`: uint8 pixels in [0, 255], as every loader gives them (4x
  /// less memory than float32; a batch is normalised when it is used, see `inputs`), or
  /// float32 model inputs already normalised (a set built by hand).
  torch::Tensor images;
  /// `[N]` int64 class indices in [0, num_classes), or an undefined tensor for an unlabeled
  /// transfer set.
  torch::Tensor labels;
  /// Number of classes C (10 for MNIST and Fashion-MNIST).
  int64_t num_classes = 0;
  /// Name of the data set ("mnist", "fashion-mnist"); empty when unknown (a set built by hand).
  std::string name;
  /// Name of each class, `num_classes` entries; empty when unknown.
  std::vector<std::string> class_names;
  /// How uint8 `images` become model inputs (`inputs`); for float32 images, the normalisation
  /// they were made with. nullopt when unknown (uint8 pixels are then only scaled to [0, 1]).
  std::optional<Normalization> normalization;

  /// Number of examples N.
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  /// Whether `labels` holds hard targets.
  bool labeled() const { return labels.defined(); }
  /// Whether `images` holds uint8 pixels (normalised per batch by `inputs`).
  bool holds_pixels() const { return images.defined() && images.scalar_type() == torch::kUInt8; }
  /// Model inputs for `rows`, a batch of this set's images (`[B, C, H, W]` on any device, e.g.
  /// `images.index_select(0, indices).to(device)`): uint8 pixels become float32 by
  /// `normalize_pixels` with `normalization` (divided by 255 alone when it is nullopt);
  /// floating-point rows are model inputs already and are returned as they are.
  /// Throws c10::Error for another dtype; std::invalid_argument for a normalisation that does
  /// not fit the channels.
  torch::Tensor inputs(const torch::Tensor& rows) const;
  /// Model inputs of examples [start, start + count) on `device` (see above). Throws c10::Error
  /// if the range is outside the set.
  torch::Tensor inputs(int64_t start, int64_t count, torch::Device device = torch::kCPU) const;
  /// The first `count` examples (all of them when `count` >= N); shares storage. Like `slice`
  /// and `without_classes`, keeps `name`, `class_names`, `normalization` and `num_classes`.
  Dataset head(int64_t count) const;
  /// Examples [start, start + count), clipped to the set; shares storage.
  Dataset slice(int64_t start, int64_t count) const;
  /// The examples whose label is not in `classes` (copies). Throws c10::Error if the set is
  /// unlabeled.
  Dataset without_classes(const std::vector<int64_t>& classes) const;
};

/// The class names of an MNIST-format data set by its name: the ten garment names of
/// Fashion-MNIST ("T-shirt/top", "Trouser", ..., "Ankle boot") or the digits "0".."9" of MNIST.
/// Throws std::invalid_argument naming the value if `dataset` is neither "fashion-mnist" nor
/// "mnist".
std::vector<std::string> mnist_format_class_names(const std::string& dataset);

/// Which half of an IDX data set to read.
enum class Split { kTrain, kTest };

/// An uninitialised contiguous CPU tensor of `sizes` and `dtype` whose memory is aligned to 2 MiB
/// and advised for transparent huge pages (Linux madvise(MADV_HUGEPAGE)); elsewhere, or when
/// the allocation or advice is refused, an ordinary torch::empty. The loaders hold images here:
/// gathering a batch of random rows then misses the TLB far less (bench/RESULTS.md).
/// Throws c10::Error if `sizes` has a negative entry.
torch::Tensor empty_huge_pages(at::IntArrayRef sizes, torch::Dtype dtype = torch::kFloat32);

/// Loads an MNIST-format split (MNIST or Fashion-MNIST) from `directory`, which holds
/// `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]`
/// and `t10k-labels-idx1-ubyte[.gz]`.
/// @param limit  0 for the whole split, else read only its first `limit` images and labels
///   (clipped to the split's size, as `Dataset::head`), so that memory is proportional to
///   `limit`; what is checked then is said at `read_idx`'s `max_items`. The files' own counts
///   must still agree.
/// @returns images `[n, 1, rows, cols]` uint8 pixels (held in `empty_huge_pages` memory) with
/// `normalization` recorded for `Dataset::inputs`, labels `[n]` int64, `num_classes` = 10; the
/// first `n` of a whole load.
/// With `labels_optional`, a missing labels file gives an unlabeled set (undefined `labels`,
/// `num_classes` still 10): an unlabeled transfer set (Hinton et al. 2015, §2). A labels file
/// that exists but is unusable (e.g. a dangling symbolic link) is an error, not a missing one.
/// Throws std::runtime_error naming the file when a file is missing, not a regular file or
/// malformed, when image and label counts differ, or when a label is outside [0, 10); throws
/// std::invalid_argument as `Normalization::check` (one channel); c10::Error if `limit` is
/// negative.
/// Example: `load_mnist_format(dir, Split::kTrain, kFashionMnistNormalization, false, 300)`.
Dataset load_mnist_format(const std::string& directory, Split split,
                          Normalization normalization = kFashionMnistNormalization,
                          bool labels_optional = false, int64_t limit = 0);

/// Random translation ("jitter") of a batch of images by up to `max_pixels` in each direction,
/// independently per image, with zero fill (Hinton et al. 2015, §3: "jittered by up to two
/// pixels"). `images` is `[B, C, H, W]`; returns a new tensor of the same shape, device and
/// dtype. `max_pixels` = 0 returns `images` unchanged. Offsets come from `generator` (CPU).
/// Throws c10::Error if `images` is not 4-D or `max_pixels` is negative or not smaller than
/// the image.
torch::Tensor random_translate(const torch::Tensor& images, int64_t max_pixels,
                               at::Generator& generator);

}  // namespace distillery::data
