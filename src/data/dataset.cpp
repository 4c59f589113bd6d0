#include "distillery/data/dataset.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "distillery/data/idx.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace distillery::data {

namespace {

std::string number_text(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

}  // namespace

void Normalization::check(int64_t channels) const {
  const auto sizes_fit = [&](std::size_t n) {
    return n == 1 || static_cast<int64_t>(n) == channels;
  };
  if (!sizes_fit(mean.size()) || !sizes_fit(std.size()) || mean.size() != std.size()) {
    throw std::invalid_argument("a normalization of " + std::to_string(mean.size()) +
                                " means and " + std::to_string(std.size()) +
                                " standard deviations for " + std::to_string(channels) +
                                " channel(s): give one value of each, or one per channel");
  }
  for (std::size_t c = 0; c < mean.size(); ++c) {
    const auto where = mean.size() == 1 ? std::string() : " (channel " + std::to_string(c) + ")";
    if (!std::isfinite(mean[c])) {
      throw std::invalid_argument("normalization mean must be finite, got " +
                                  number_text(mean[c]) + where);
    }
    if (!std::isfinite(std[c]) || !(std[c] > 0)) {
      throw std::invalid_argument("normalization std must be finite and > 0, got " +
                                  number_text(std[c]) + where);
    }
  }
}

std::vector<double> Normalization::means(int64_t channels) const {
  check(channels);
  return mean.size() == 1 ? std::vector<double>(channels, mean[0]) : mean;
}

std::vector<double> Normalization::stds(int64_t channels) const {
  check(channels);
  return std.size() == 1 ? std::vector<double>(channels, std[0]) : std;
}

torch::Tensor normalize_pixels(const torch::Tensor& pixels, const Normalization& normalization) {
  TORCH_CHECK(pixels.dim() == 4 && pixels.scalar_type() == torch::kUInt8,
              "normalize_pixels needs uint8 pixels [B, C, H, W], got ", pixels.scalar_type(),
              " ", pixels.sizes());
  const int64_t channels = pixels.size(1);
  normalization.check(channels);
  auto x = pixels.to(torch::kFloat32).div_(255.0);
  if (normalization.mean.size() == 1) return x.sub_(normalization.mean[0]).div_(normalization.std[0]);
  const auto per_channel = [&](const std::vector<double>& values) {
    return torch::tensor(values, torch::kFloat64).to(x.device(), torch::kFloat32)
        .view({1, channels, 1, 1});
  };
  return x.sub_(per_channel(normalization.mean)).div_(per_channel(normalization.std));
}

torch::Tensor Dataset::inputs(const torch::Tensor& rows) const {
  if (rows.is_floating_point()) return rows;
  TORCH_CHECK(rows.scalar_type() == torch::kUInt8, "data set images must be uint8 pixels or "
              "floating-point model inputs, got ", rows.scalar_type());
  if (normalization) return normalize_pixels(rows, *normalization);
  return normalize_pixels(rows, Normalization(0.0, 1.0));
}

torch::Tensor Dataset::inputs(int64_t start, int64_t count, torch::Device device) const {
  TORCH_CHECK(start >= 0 && count >= 0 && start + count <= size(), "examples [", start, ", ",
              start + count, ") are outside the data set of ", size());
  return inputs(images.narrow(0, start, count).to(device, /*non_blocking=*/true));
}

Dataset Dataset::head(int64_t count) const {
  if (count >= size()) return *this;
  Dataset out = *this;
  out.images = images.narrow(0, 0, count);
  if (labels.defined()) out.labels = labels.narrow(0, 0, count);
  return out;
}

Dataset Dataset::slice(int64_t start, int64_t count) const {
  start = std::clamp<int64_t>(start, 0, size());
  count = std::clamp<int64_t>(count, 0, size() - start);
  Dataset out = *this;
  out.images = images.narrow(0, start, count);
  if (labels.defined()) out.labels = labels.narrow(0, start, count);
  return out;
}

Dataset Dataset::without_classes(const std::vector<int64_t>& classes) const {
  TORCH_CHECK(labeled(), "without_classes needs a labeled data set");
  if (classes.empty()) return *this;
  auto keep = torch::ones_like(labels, torch::kBool);
  for (const auto k : classes) keep &= labels.ne(k);
  const auto indices = keep.nonzero().squeeze(1);
  Dataset out = *this;
  out.images = images.index_select(0, indices);
  out.labels = labels.index_select(0, indices);
  return out;
}

std::vector<std::string> mnist_format_class_names(const std::string& dataset) {
  if (dataset == "fashion-mnist") {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  }
  if (dataset == "mnist") return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  throw std::invalid_argument("unknown MNIST-format data set \"" + dataset +
                              "\" (known: fashion-mnist, mnist)");
}

torch::Tensor empty_huge_pages(at::IntArrayRef sizes, torch::Dtype dtype) {
  TORCH_CHECK(std::all_of(sizes.begin(), sizes.end(), [](int64_t n) { return n >= 0; }),
              "empty_huge_pages: negative size in ", sizes);
#if defined(__linux__)
  constexpr std::size_t kHugePage = std::size_t{1} << 21;
  const auto bytes = static_cast<std::size_t>(c10::multiply_integers(sizes)) *
                     c10::elementSize(dtype);
  if (bytes >= kHugePage) {
    const auto rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* memory = std::aligned_alloc(kHugePage, rounded);
    if (memory != nullptr) {
      madvise(memory, rounded, MADV_HUGEPAGE);  // advice only: ignore a refusal
      return torch::from_blob(memory, sizes, [](void* p) { std::free(p); },
                              torch::TensorOptions().dtype(dtype));
    }
  }
#endif
  return torch::empty(sizes, torch::TensorOptions().dtype(dtype));
}

Dataset load_mnist_format(const std::string& directory, Split split,
                          Normalization normalization, bool labels_optional, int64_t limit) {
  normalization.check(1);
  TORCH_CHECK(limit >= 0, "load_mnist_format: limit must be >= 0 (0 = all), got ", limit);
  const int64_t max_items = limit == 0 ? -1 : limit;
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const auto images_path = find_idx_file(directory, prefix + "-images-idx3-ubyte");
  const auto raw_images = read_idx(images_path, 3, max_items);  // [n, rows, cols] uint8
  constexpr int64_t kClasses = 10;
  Dataset out;
  const auto pixels = raw_images.unsqueeze(1);  // [n, 1, rows, cols]
  out.images = empty_huge_pages(pixels.sizes(), torch::kUInt8);
  out.images.copy_(pixels);
  out.normalization = normalization;
  out.num_classes = kClasses;
  const auto labels_base = (std::filesystem::path(directory) / (prefix + "-labels-idx1-ubyte")).string();
  // symlink_status: a dangling link is not a missing file but an error find_idx_file names.
  const auto absent = [](const std::string& path) {
    return !std::filesystem::exists(std::filesystem::symlink_status(path));
  };
  if (labels_optional && absent(labels_base) && absent(labels_base + ".gz")) {
    return out;  // an unlabeled set
  }
  const auto labels_path = find_idx_file(directory, prefix + "-labels-idx1-ubyte");
  const auto raw_labels = read_idx(labels_path, 1, max_items);  // [n] uint8
  // The files' own counts, so that a limit does not hide a mismatch.
  const int64_t image_count = limit == 0 ? raw_images.size(0) : read_idx_dimensions(images_path)[0];
  const int64_t label_count = limit == 0 ? raw_labels.size(0) : read_idx_dimensions(labels_path)[0];
  if (image_count != label_count) {
    throw std::runtime_error(images_path + " holds " + std::to_string(image_count) +
                             " images but " + labels_path + " holds " +
                             std::to_string(label_count) + " labels");
  }
  const auto max_label = raw_labels.max().item<int64_t>();
  if (max_label >= kClasses) {
    throw std::runtime_error(labels_path + ": label " + std::to_string(max_label) +
                             " is outside [0, 10)");
  }
  out.labels = raw_labels.to(torch::kInt64);  // [n]
  return out;
}

}  // namespace distillery::data
