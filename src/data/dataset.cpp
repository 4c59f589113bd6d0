#include "distillery/data/dataset.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "distillery/data/idx.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace distillery::data {

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
  if (!(normalization.std > 0)) {
    throw std::runtime_error("normalization std must be > 0, got " +
                             std::to_string(normalization.std));
  }
  TORCH_CHECK(limit >= 0, "load_mnist_format: limit must be >= 0 (0 = all), got ", limit);
  const int64_t max_items = limit == 0 ? -1 : limit;
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const auto images_path = find_idx_file(directory, prefix + "-images-idx3-ubyte");
  const auto raw_images = read_idx(images_path, 3, max_items);  // [n, rows, cols] uint8
  constexpr int64_t kClasses = 10;
  Dataset out;
  const auto pixels = raw_images.unsqueeze(1);  // [n, 1, rows, cols]
  out.images = empty_huge_pages(pixels.sizes());
  out.images.copy_(pixels).div_(255.0).sub_(normalization.mean).div_(normalization.std);
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

torch::Tensor random_translate(const torch::Tensor& images, int64_t max_pixels,
                               at::Generator& generator) {
  TORCH_CHECK(images.dim() == 4, "random_translate needs [B, C, H, W] images, got ",
              images.sizes());
  const int64_t k = max_pixels;
  TORCH_CHECK(k >= 0 && k < images.size(2) && k < images.size(3),
              "jitter must be in [0, image size), got ", k);
  if (k == 0) return images;
  const int64_t batch = images.size(0), height = images.size(2), width = images.size(3);
  const auto device = images.device();
  namespace F = torch::nn::functional;
  const auto padded = F::pad(images, F::PadFuncOptions({k, k, k, k}));  // [B, C, H+2k, W+2k]
  // Per-image offsets in [0, 2k]: offset k is the untranslated image.
  const auto dy = torch::randint(0, 2 * k + 1, {batch, 1, 1}, generator, torch::kInt64).to(device);
  const auto dx = torch::randint(0, 2 * k + 1, {batch, 1, 1}, generator, torch::kInt64).to(device);
  const auto rows = dy + torch::arange(height, torch::TensorOptions(torch::kInt64).device(device))
                             .view({1, height, 1});  // [B, H, 1]
  const auto cols = dx + torch::arange(width, torch::TensorOptions(torch::kInt64).device(device))
                             .view({1, 1, width});   // [B, 1, W]
  const auto b = torch::arange(batch, torch::TensorOptions(torch::kInt64).device(device))
                     .view({batch, 1, 1});           // [B, 1, 1]
  using torch::indexing::Slice;
  // Advanced indices around a slice put the broadcast dims first: [B, H, W, C].
  return padded.index({b, Slice(), rows, cols}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace distillery::data
