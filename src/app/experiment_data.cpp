#include "distillery/app/experiment_data.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>
#include <stdexcept>

#include "distillery/data/cifar.h"
#include "distillery/data/image_folder.h"
#include "distillery/data/npy.h"
#include "distillery/data/pixel_statistics.h"
#include "distillery/runtime.h"
#include "run_support.h"

namespace distillery {
namespace {
namespace fs = std::filesystem;
using detail::shape_of;
using detail::shape_text;

const char* split_name(data::Split split) { return split == data::Split::kTrain ? "train" : "test"; }

// The rows of `set` in a fixed shuffled order: a folder is read class by class, and the
// limit and the held-out images (the last rows) must not be whole class folders.
data::Dataset shuffled(data::Dataset set) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(/*seed_in=*/0);
  const auto order = torch::randperm(set.size(), generator, torch::kLong);
  set.images = set.images.index_select(0, order);
  if (set.labeled()) set.labels = set.labels.index_select(0, order);
  return set;
}

// The first `limit` rows of `set` (0 = all), their normalisation measured unless one is given.
data::Dataset first_rows(data::Dataset set, int64_t limit,
                         const std::optional<data::Normalization>& normalization) {
  if (limit == 0 || limit >= set.size()) return set;
  set = set.head(limit);
  if (!normalization) set.normalization = data::measure_normalization(set.images);
  return set;
}

data::Dataset read_image_folder(const DataConfig& c, data::Split split, int64_t limit,
                                const std::optional<data::Normalization>& normalization) {
  auto options = data::ImageFolderOptions().resize(c.resize).grayscale(c.grayscale)
                     .normalization(normalization).name(c.dataset);
  if (!c.image_size.empty()) options.height(c.image_size[0]).width(c.image_size[1]);
  const auto root = (fs::path(c.dir) / split_name(split)).string();
  return first_rows(shuffled(data::load_image_folder(root, options)), limit, normalization);
}

data::NpyLayout npy_layout(const std::string& layout) {
  if (layout == "nhwc") return data::NpyLayout::kNHWC;
  if (layout == "nchw") return data::NpyLayout::kNCHW;
  if (layout == "nhw") return data::NpyLayout::kNHW;
  return data::NpyLayout::kAuto;
}

data::Dataset read_npy_split(const DataConfig& c, data::Split split, int64_t limit,
                             const std::optional<data::Normalization>& normalization,
                             int64_t min_classes) {
  const auto stem = (fs::path(c.dir) / split_name(split)).string();
  auto labels = stem + "_labels.npy";
  if (split == data::Split::kTrain && !fs::exists(labels)) labels.clear();  // unlabeled
  auto set = data::load_npy(stem + "_images.npy", labels,
                            data::NpyOptions().layout(npy_layout(c.layout))
                                .num_classes(min_classes).normalization(normalization)
                                .name(c.dataset));
  return first_rows(std::move(set), limit, normalization);
}

// The test classes of an image folder must be the training classes, in the same order.
void check_test_classes(const DataConfig& c, const data::Dataset& train, const data::Dataset& test) {
  if (c.dataset != "image-folder" || test.class_names == train.class_names) return;
  const auto list = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  throw std::runtime_error((fs::path(c.dir) / "test").string() + ": the class folders (" +
                           list(test.class_names) + ") are not those of " +
                           (fs::path(c.dir) / "train").string() + " (" +
                           list(train.class_names) + "); give both splits the same classes");
}

// What load_experiment_data refuses once both splits are read.
void check_data(const DataConfig& config, const data::Dataset& train, const data::Dataset& test) {
  if (train.images.sizes().slice(1) != test.images.sizes().slice(1)) {
    throw std::runtime_error(config.dir + ": training images are " +
                             shape_text(shape_of(train)) + " but test images are " +
                             shape_text(shape_of(test)) + "; both splits must have one size");
  }
  check_test_classes(config, train, test);
  if (config.heldout >= train.size()) {
    throw std::runtime_error("data.heldout: " + std::to_string(config.heldout) +
                             " held-out images would leave no training images (there are " +
                             std::to_string(train.size()) + ")");
  }
  if (!train.labeled() && (!config.omit_classes.empty() || config.heldout > 0)) {
    throw std::runtime_error(config.dir + ": the training images have no labels file, so "
                             "data.omit_classes and data.heldout cannot be used");
  }
  for (const auto k : config.omit_classes) {
    if (k >= train.num_classes) {  // config.cpp checked the ones it knew the classes of
      throw ConfigError("data.omit_classes: class " + std::to_string(k) + " is outside [0, " +
                        std::to_string(train.num_classes) + ")");
    }
  }
  if (train.num_classes < 2) {
    throw std::runtime_error(config.dir + ": " + std::to_string(train.num_classes) +
                             " class; classifying, and distilling, need at least 2");
  }
  if (train.labeled()) {  // a stray label (1000 among 0..2) makes classes no image has
    const auto empty = (torch::bincount(train.labels, {}, train.num_classes) == 0).sum().item<int64_t>();
    if (empty > 0) {
      spdlog::warn("data: {} of the {} classes have no training image (the largest label is {}); "
                   "check the labels", empty, train.num_classes, train.num_classes - 1);
    }
  }
}

}  // namespace

data::Dataset load_dataset_split(const DataConfig& c, data::Split split, int64_t limit,
                                 const std::optional<data::Normalization>& normalization,
                                 int64_t min_classes) {
  const auto& dataset = c.dataset;
  dataset_classes(dataset);  // a known name
  if (dataset == "cifar10") {
    return data::load_cifar10(c.dir, split, data::kCifar10Normalization, limit);
  }
  if (dataset == "cifar100" || dataset == "cifar100-coarse") {
    const auto labels = dataset == "cifar100" ? data::CifarLabels::kFine : data::CifarLabels::kCoarse;
    return data::load_cifar100(c.dir, split, labels, data::kCifar100Normalization, limit);
  }
  if (dataset == "image-folder") return read_image_folder(c, split, limit, normalization);
  if (dataset == "npy") return read_npy_split(c, split, limit, normalization, min_classes);
  const auto norm = dataset == "mnist" ? data::kMnistNormalization
                                       : data::kFashionMnistNormalization;
  auto set = data::load_mnist_format(c.dir, split, norm,
                                     /*labels_optional=*/split == data::Split::kTrain, limit);
  set.name = dataset;  // what the models trained on it record (ModelInfo)
  set.class_names = data::mnist_format_class_names(dataset);
  return set;
}

ExperimentData load_experiment_data(const DataConfig& config) {
  // Only the first train_limit / test_limit images are kept: memory follows the limits for
  // the IDX and CIFAR files.
  data::Dataset train, test;
  try {
    train = load_dataset_split(config, data::Split::kTrain, config.train_limit);
    test = load_dataset_split(config, data::Split::kTest, config.test_limit, train.normalization,
                              train.num_classes);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("data.dir: " + std::string(e.what()));
  }
  check_data(config, train, test);
  ExperimentData d;
  d.heldout = train.slice(train.size() - config.heldout, config.heldout);
  d.train = train.head(train.size() - config.heldout);
  d.transfer = train.labeled() ? d.train.without_classes(config.omit_classes) : d.train;
  d.test = test;
  if (d.transfer.size() == 0) {
    throw std::runtime_error("data.omit_classes leaves an empty transfer set");
  }
  spdlog::info("data: {} training ({} in the transfer set), {} held-out and {} test images of {} "
               "from {}",
               d.train.size(), d.transfer.size(), d.heldout.size(), d.test.size(),
               shape_text(shape_of(d.train)), config.dir);
  retain_freed_memory();  // the program's malloc settings, once the data is in memory
  return d;
}

}  // namespace distillery
