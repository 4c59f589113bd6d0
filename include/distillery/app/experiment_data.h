#pragma once
#ifdef DISTILLERY_CORE_ONLY
#error "an application-layer header (distillery::app): the core must not include it"
#endif
/// @file experiment_data.h
/// The data of an experiment as a config names it (data.dataset, data.dir and the reader
/// settings of DataConfig): one split read by the core's readers, and the train / transfer /
/// held-out / test sets an experiment runs on.

#include <optional>

#include "distillery/app/config.h"
#include "distillery/data/dataset.h"

namespace distillery {

/// The data of one experiment, split as the config says.
struct ExperimentData {
  /// Training images minus the held-out ones: what the teacher is trained on.
  data::Dataset train;
  /// What the students learn from: `train` without `omit_classes` (unlabeled for
  /// distillation when `data.unlabeled`).
  data::Dataset transfer;
  /// The last `data.heldout` training images (empty when 0).
  data::Dataset heldout;
  /// The test split.
  data::Dataset test;
};

/// One split of the data set of `config` (its `dataset`, `dir` and reader settings), its first
/// `limit` examples (0 = all), as uint8 pixels with the set's name (`config.dataset`), class
/// names where known, and a normalisation:
/// - fashion-mnist, mnist: the IDX files in `dir` (a missing training labels file gives an
///   unlabeled set), the standard normalisation;
/// - cifar10, cifar100 (fine labels), cifar100-coarse: the CIFAR binary files, the standard
///   normalisation;
/// - image-folder: `<dir>/train/<class>/*` or `<dir>/test/<class>/*` (data/image_folder.h) at
///   `config.image_size` (or the first image's size), resized with `config.resize`, gray with
///   `config.grayscale`; the training folder's images are put in one fixed shuffled order (the
///   same every run and machine) before `limit` is applied, so that a limit and the held-out
///   images (the last ones) cover every class rather than the last class folders;
/// - npy: `<dir>/train_images.npy` with `<dir>/train_labels.npy` (absent: an unlabeled set) or
///   `<dir>/test_images.npy` with `<dir>/test_labels.npy` (required), read with
///   `config.layout`; the whole array is read, then its first `limit` rows kept.
/// For image-folder and npy the normalisation is `normalization` when given (the training
/// split's, for the test split), else measured from the images read; `num_classes` is at least
/// `min_classes` (the training split's, so that a test split without the last classes still
/// scores against them).
/// Throws std::invalid_argument for an unknown data set name, std::runtime_error naming the
/// file as the readers do (data/idx.h, data/cifar.h, data/image_folder.h, data/npy.h).
data::Dataset load_dataset_split(const DataConfig& config, data::Split split, int64_t limit = 0,
                                 const std::optional<data::Normalization>& normalization = {},
                                 int64_t min_classes = 0);

/// Loads and splits the data named by `config`: the training split (its first `train_limit`),
/// the last `heldout` of it held out, the test split (its first `test_limit`) normalised as the
/// training split. Throws std::runtime_error naming the file on missing or malformed data, when
/// the train and test images differ in shape, when an image-folder's test classes are not its
/// training classes, when the held-out part would leave no training images, or when an
/// omitted class is not a class of the data (`"data.omit_classes: class 12 is outside [0, 10)"`).
/// Once the data is in memory it calls `retain_freed_memory()` (runtime.h), as the program's
/// setting.
ExperimentData load_experiment_data(const DataConfig& config);

}  // namespace distillery
