#pragma once
/// @file data/cifar.h
/// Readers for the binary versions of CIFAR-10 and CIFAR-100 (Krizhevsky 2009, "Learning
/// Multiple Layers of Features from Tiny Images"), as distributed in `cifar-10-binary.tar.gz`
/// and `cifar-100-binary.tar.gz` (`scripts/fetch_data.sh cifar10|cifar100` downloads them).
///
/// Layout: a file is a sequence of fixed-size records without a header. A CIFAR-10 record is
/// 1 label byte and 3072 pixel bytes; a CIFAR-100 record is a coarse label byte, a fine label
/// byte and 3072 pixel bytes. The pixels are 32 x 32 images in channel-major order: 1024 red,
/// then 1024 green, then 1024 blue bytes, each plane row by row (so a record's pixels are
/// already `[3, 32, 32]`).
///
/// Every file of a split is checked before any pixel is read: it must exist and be a regular
/// file (or a symbolic link to one) holding a whole, non-zero number of records. Labels are
/// checked as they are read.

#include <cstdint>
#include <string>
#include <vector>

#include "distillery/data/dataset.h"

namespace distillery::data {

/// Normalisation of CIFAR-10's 50,000 training images: per-channel (red, green, blue) mean and
/// standard deviation of the pixels scaled to [0, 1], over all pixels of the training set.
inline const Normalization kCifar10Normalization{{0.4914, 0.4822, 0.4465},
                                                 {0.2470, 0.2435, 0.2616}};
/// Normalisation of CIFAR-100's 50,000 training images (the constants of the CIFAR-100
/// distillation benchmarks, RepDistiller and mdistiller): per-channel mean and standard
/// deviation of the pixels scaled to [0, 1].
inline const Normalization kCifar100Normalization{{0.5071, 0.4867, 0.4408},
                                                  {0.2675, 0.2565, 0.2761}};

/// Which of CIFAR-100's two labels becomes `Dataset::labels`.
enum class CifarLabels {
  /// The 100 fine classes ("apple", "aquarium_fish", ...): the usual benchmark.
  kFine,
  /// The 20 coarse superclasses ("aquatic_mammals", "fish", ...).
  kCoarse,
};

/// CIFAR-10's ten class names in label order: "airplane", "automobile", "bird", "cat",
/// "deer", "dog", "frog", "horse", "ship", "truck" (as in `batches.meta.txt`).
std::vector<std::string> cifar10_class_names();

/// CIFAR-100's class names in label order, as in `fine_label_names.txt` (100 names,
/// alphabetical: "apple" .. "worm") or `coarse_label_names.txt` (20 names: "aquatic_mammals"
/// .. "vehicles_2").
std::vector<std::string> cifar100_class_names(CifarLabels labels = CifarLabels::kFine);

/// Loads a CIFAR-10 split from `directory`, which holds `data_batch_1.bin` .. `data_batch_5.bin`
/// (training, read in that order) and `test_batch.bin` (test), either directly or in its
/// subfolder `cifar-10-batches-bin/` (the folder the archive unpacks to). Only the files of
/// `split` need to be there.
/// @param normalization  recorded for `Dataset::inputs` (3 channels, or one value for all).
/// @param limit  0 for the whole split, else read only its first `limit` records (clipped to
///   the split's size), so that memory is proportional to `limit`. Every file of the split is
///   still checked for presence and size; labels are checked in the records read.
/// @returns images `[n, 3, 32, 32]` uint8 pixels (RGB, held in `empty_huge_pages` memory),
///   labels `[n]` int64 in [0, 10), `num_classes` 10, `name` "cifar10", `class_names` from
///   `batches.meta.txt` beside the files when present (one name a line, blank lines ignored),
///   else `cifar10_class_names()`.
/// Throws std::runtime_error naming the file when a file of the split is missing (the message
/// says where it was looked for and how to get the data: `scripts/fetch_data.sh cifar10`), not a
/// regular file, empty, not a whole number of 3073-byte records, unreadable, when a label is 10
/// or more, or when `batches.meta.txt` holds another number of names than 10; e.g.
/// `"<dir>/test_batch.bin: 3075 bytes is not a whole number of 3073-byte CIFAR-10 records (1
/// record and 2 bytes more; the file is truncated or not CIFAR-10 binary)"`. Throws
/// std::invalid_argument as `Normalization::check` (3 channels); c10::Error if `limit` < 0.
/// Example: `load_cifar10("data/cifar10", Split::kTest)`.
Dataset load_cifar10(const std::string& directory, Split split,
                     Normalization normalization = kCifar10Normalization, int64_t limit = 0);

/// Loads a CIFAR-100 split from `directory`, which holds `train.bin` and `test.bin`, either
/// directly or in its subfolder `cifar-100-binary/`; only the file of `split` needs to be there.
/// @param labels  the fine labels (100 classes, `name` "cifar100") or the coarse ones (20
///   classes, `name` "cifar100-coarse").
/// @param normalization, limit  as for `load_cifar10`.
/// @returns images `[n, 3, 32, 32]` uint8 pixels (RGB, `empty_huge_pages` memory), labels `[n]`
///   int64, `num_classes` 100 or 20, `class_names` from `fine_label_names.txt` or
///   `coarse_label_names.txt` beside the files when present, else `cifar100_class_names`.
/// Throws std::runtime_error as `load_cifar10` does (3074-byte records; both label bytes are
/// checked: coarse < 20, fine < 100; the hint is `scripts/fetch_data.sh cifar100`); throws
/// std::invalid_argument as `Normalization::check`; c10::Error if `limit` < 0.
/// Example: `load_cifar100("data/cifar100", Split::kTrain, CifarLabels::kFine)`.
Dataset load_cifar100(const std::string& directory, Split split,
                      CifarLabels labels = CifarLabels::kFine,
                      Normalization normalization = kCifar100Normalization, int64_t limit = 0);

}  // namespace distillery::data
