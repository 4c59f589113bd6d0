#pragma once
/// @file data/image_folder.h
/// Reader for a folder of images in the layout users export everywhere (and torchvision's
/// `ImageFolder` reads): `root/<class>/<image>.png|jpg|jpeg|bmp`, one subfolder per class.
/// Images are decoded with OpenCV's imgcodecs (and resized with its imgproc) into uint8 pixels.

#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "distillery/data/dataset.h"

namespace distillery::data {

/// Options of `load_image_folder`.
struct ImageFolderOptions {
  /// Height every image has (or is resized to, with `resize`); 0 with `width` 0: the size of
  /// the first image.
  TORCH_ARG(int64_t, height) = 0;
  /// Width every image has (or is resized to, with `resize`); 0 with `height` 0 as above.
  TORCH_ARG(int64_t, width) = 0;
  /// Resize every image to `height` x `width` (OpenCV's INTER_AREA when shrinking, bilinear
  /// when enlarging; the aspect ratio is not kept). false: an image of another size is an error.
  TORCH_ARG(bool, resize) = false;
  /// One gray channel (OpenCV's IMREAD_GRAYSCALE) instead of three RGB channels.
  TORCH_ARG(bool, grayscale) = false;
  /// 0 for every image, else only the first `limit` in reading order (class folders sorted,
  /// files sorted within each), so that memory is proportional to `limit`; the classes are
  /// still all the folders.
  TORCH_ARG(int64_t, limit) = 0;
  /// The normalisation recorded for `Dataset::inputs`; nullopt to measure it from the images
  /// read (`measure_normalization`).
  TORCH_ARG(std::optional<Normalization>, normalization) = std::nullopt;
  /// `Dataset::name` of the result (e.g. "my-pets"); may be empty.
  TORCH_ARG(std::string, name) = "";
};

/// Loads the images below `root`. The class folders are the subdirectories of `root` whose
/// names do not start with '.', sorted by name (byte order); folder k is class k and its name
/// is `class_names[k]`. In each, the files ending in .png, .jpg, .jpeg or .bmp (any letter case)
/// are read in sorted order; other files are ignored. Color images become RGB (OpenCV decodes
/// BGR; alpha is dropped; a gray file gets three equal channels).
/// @returns images `[N, C, H, W]` uint8 (C = 3, or 1 with `grayscale`; in `empty_huge_pages`
///   memory), labels `[N]` int64 class indices, `num_classes` = the number of class folders,
///   `class_names`, `name`, and the normalisation of `options` or the one measured.
/// Throws std::runtime_error naming the path when `root` is missing or not a directory, has no
/// class folder, a class folder holds no image, an image cannot be decoded (corrupt, or not
/// what its name says), or (without `resize`) an image's size differs from the expected one,
/// e.g. `"<root>/dog/b.png: 5 x 4 image (height x width), expected 4 x 4 (resize the images, or
/// set resize)"`. Throws c10::Error for a negative size or limit, only one of `height` and
/// `width` given, or `resize` without a size; std::invalid_argument for a normalisation that
/// does not fit the channels.
/// Example: `load_image_folder("pets", ImageFolderOptions().height(32).width(32).resize(true))`.
Dataset load_image_folder(const std::string& root, const ImageFolderOptions& options = {});

}  // namespace distillery::data
