#include "distillery/data/dataset.h"

#include <torch/torch.h>

#include <stdexcept>

#include "distillery/data/idx.h"

namespace distillery::data {

Dataset Dataset::head(int64_t count) const {
  if (count >= size()) return *this;
  Dataset out = *this;
  out.images = images.narrow(0, 0, count);
  if (labels.defined()) out.labels = labels.narrow(0, 0, count);
  return out;
}

Dataset load_mnist_format(const std::string& directory, Split split,
                          Normalization normalization) {
  if (!(normalization.std > 0)) {
    throw std::runtime_error("normalization std must be > 0, got " +
                             std::to_string(normalization.std));
  }
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const auto images_path = find_idx_file(directory, prefix + "-images-idx3-ubyte");
  const auto labels_path = find_idx_file(directory, prefix + "-labels-idx1-ubyte");
  const auto raw_images = read_idx(images_path, 3);  // [N, rows, cols] uint8
  const auto raw_labels = read_idx(labels_path, 1);  // [N] uint8
  if (raw_images.size(0) != raw_labels.size(0)) {
    throw std::runtime_error(images_path + " holds " + std::to_string(raw_images.size(0)) +
                             " images but " + labels_path + " holds " +
                             std::to_string(raw_labels.size(0)) + " labels");
  }
  constexpr int64_t kClasses = 10;
  const auto max_label = raw_labels.max().item<int64_t>();
  if (max_label >= kClasses) {
    throw std::runtime_error(labels_path + ": label " + std::to_string(max_label) +
                             " is outside [0, 10)");
  }
  Dataset out;
  out.images = raw_images.unsqueeze(1)
                   .to(torch::kFloat32)
                   .div_(255.0)
                   .sub_(normalization.mean)
                   .div_(normalization.std);  // [N, 1, rows, cols]
  out.labels = raw_labels.to(torch::kInt64);  // [N]
  out.num_classes = kClasses;
  return out;
}

BatchSampler::BatchSampler(int64_t size, int64_t batch_size, bool shuffle, uint64_t seed)
    : size_(size), batch_size_(batch_size), shuffle_(shuffle), seed_(seed) {
  TORCH_CHECK(size > 0, "BatchSampler needs a non-empty data set, got size ", size);
  TORCH_CHECK(batch_size > 0, "batch_size must be > 0, got ", batch_size);
  reset(0);
}

void BatchSampler::reset(int64_t epoch) {
  position_ = 0;
  if (shuffle_) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed_ * 1000003ULL + epoch);
    order_ = torch::randperm(size_, generator, torch::kInt64);
  } else {
    order_ = torch::arange(size_, torch::kInt64);
  }
}

std::optional<torch::Tensor> BatchSampler::next() {
  if (position_ >= size_) return std::nullopt;
  const int64_t count = std::min(batch_size_, size_ - position_);
  auto indices = order_.narrow(0, position_, count);
  position_ += count;
  return indices;
}

}  // namespace distillery::data
