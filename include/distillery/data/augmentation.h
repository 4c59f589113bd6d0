#pragma once
/// @file data/augmentation.h
/// Per-batch data augmentation on the training device: random crop with zero padding,
/// horizontal flip and random erasing (Cutout), the augmentations the CIFAR distillation
/// literature trains with. Each example's draw is a row of parameters, so that a view can be
/// stored and replayed exactly (the same parameters give the same view); the draws come from a
/// generator seeded per epoch, so that a run is reproducible bit for bit, epoch by epoch.
///
/// The order, per batch: crop and flip on the pixels (before normalisation, so padding is
/// black, as torchvision's RandomCrop pads), then normalisation (Dataset::inputs), then
/// erasing on the model inputs (the erased square is 0, the mean pixel, as torchvision's
/// RandomErasing after Normalize).

#include <ATen/core/Generator.h>
#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <type_traits>

#include "distillery/data/dataset.h"
#include "distillery/option_fields.h"

namespace distillery::data {

/// Which augmentations a training batch gets. All off by default.
struct AugmentationOptions {
  /// Whether any augmentation is on (crop, flip, or erasing of size > 0 with probability > 0).
  bool any() const {
    return crop_padding() > 0 || horizontal_flip() ||
           (erasing_size() > 0 && erasing_probability() > 0);
  }

  /// Random crop of the original size from the image padded by this many zero pixels on each
  /// side (CIFAR: 4); 0 = none. Must be smaller than the image's height and width.
  TORCH_ARG(int64_t, crop_padding) = 0;
  /// Mirror each image left-right with probability 1/2.
  TORCH_ARG(bool, horizontal_flip) = false;
  /// Side, in pixels, of the square set to 0 in the model inputs (Cutout, DeVries & Taylor
  /// 2017: 16 on CIFAR-10, 8 on CIFAR-100), centred on a uniformly drawn pixel and clipped at
  /// the borders; 0 = none.
  TORCH_ARG(int64_t, erasing_size) = 0;
  /// Probability that an image gets the erased square, in [0, 1].
  TORCH_ARG(double, erasing_probability) = 1.0;
};

/// The field table of AugmentationOptions (option_fields.h); its keys sit in a config's
/// "training" section beside the trainer's.
template <typename Options, typename Visitor,
          std::enable_if_t<std::is_same_v<std::decay_t<Options>, AugmentationOptions>, int> = 0>
void visit_fields(Options& o, Visitor& v) {
  v.number("crop_padding", o.crop_padding(), Bounds::closed_open(0, 64),
           "random crop from the image zero-padded by this many pixels (0 = none)");
  v.flag("horizontal_flip", o.horizontal_flip(), "mirror each image left-right with probability 1/2");
  v.number("erasing_size", o.erasing_size(), Bounds::closed_open(0, 1024),
           "side of the square erased from the inputs, in pixels (Cutout; 0 = none)");
  v.number("erasing_probability", o.erasing_probability(), Bounds::closed(0, 1),
           "probability that an image gets the erased square");
}

/// Columns of an augmentation parameter row (`sample_augmentation`).
enum AugmentationColumn : int64_t {
  kCropTop = 0,    ///< crop offset in the padded image, rows, in [0, 2 * crop_padding]
  kCropLeft = 1,   ///< crop offset in the padded image, columns, in [0, 2 * crop_padding]
  kFlip = 2,       ///< 1 when mirrored, else 0
  kEraseRow = 3,   ///< row of the erased square's centre, or -1 for no erasing
  kEraseColumn = 4,  ///< column of the erased square's centre, or -1 for no erasing
  kAugmentationColumns = 5,  ///< the number of columns
};

/// Draws the augmentation of `batch` images of `height` x `width`: `[batch, 5]` int64 on the
/// CPU, columns as AugmentationColumn. Offsets equal to `crop_padding` (the identity) and
/// zeros/-1 where an augmentation is off. The draws use `generator` in a fixed order, so the
/// same generator state gives the same rows.
/// Throws c10::Error if `batch` < 0, or `crop_padding` or `erasing_size` is negative or
/// `crop_padding` is not smaller than the image.
torch::Tensor sample_augmentation(int64_t batch, int64_t height, int64_t width,
                                  const AugmentationOptions& options, at::Generator& generator);

/// Crop and flip of `images` (`[B, C, H, W]`, any dtype and device; uint8 pixels before
/// normalisation) by the rows of `parameters` (`[B, 5]` int64, any device), with the padding
/// `options.crop_padding()` the rows were drawn with. Returns a new tensor like `images` (or
/// `images` itself when neither is on).
/// Throws c10::Error if the shapes do not match or an offset is outside [0, 2 * padding].
torch::Tensor crop_and_flip(const torch::Tensor& images, const torch::Tensor& parameters,
                            const AugmentationOptions& options);

/// Random erasing of model inputs (`[B, C, H, W]` floating point, normalised) by the rows of
/// `parameters`: each row with a centre gets an `erasing_size` square set to 0 in every
/// channel. Returns a new tensor (or `inputs` itself when erasing is off).
/// Throws c10::Error if the shapes do not match.
torch::Tensor erase(const torch::Tensor& inputs, const torch::Tensor& parameters,
                    const AugmentationOptions& options);

/// The model inputs of `rows` (a batch of `set.images`, any device) augmented by `parameters`
/// (`[B, 5]`): `erase(set.inputs(crop_and_flip(rows, parameters)), parameters)`, the order
/// above. The trainer makes each augmented batch with it, and so does a store of augmented
/// views, so a stored view replays exactly. Throws as the three steps.
torch::Tensor augmented_inputs(const Dataset& set, const torch::Tensor& rows,
                               const torch::Tensor& parameters, const AugmentationOptions& options);

/// A CPU generator for epoch `epoch` of a run seeded with `seed`: the same (seed, epoch) gives
/// the same generator, whatever ran before, so that an epoch's draws do not depend on the
/// earlier epochs (a resumed run draws the same).
at::Generator epoch_generator(uint64_t seed, int64_t epoch);

}  // namespace distillery::data
