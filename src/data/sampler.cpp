#include "distillery/data/sampler.h"

#include <torch/torch.h>

#include <algorithm>
#include <string>

namespace distillery::data {
namespace {

std::string list_text(const std::vector<int64_t>& values) {
  std::string text = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    text += (i ? ", " : "") + std::to_string(values[i]);
  }
  return text + "]";
}

torch::Tensor permutation(int64_t size, uint64_t seed, int64_t epoch) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed * 1000003ULL + epoch);
  return torch::randperm(size, generator, torch::kInt64);
}

}  // namespace

BatchSampler::BatchSampler(int64_t size, int64_t batch_size, bool shuffle, uint64_t seed)
    : size_(size), batch_size_(batch_size), shuffle_(shuffle), seed_(seed) {
  TORCH_CHECK(size > 0, "BatchSampler needs a non-empty data set, got size ", size);
  TORCH_CHECK(batch_size > 0, "batch_size must be > 0, got ", batch_size);
  reset(0);
}

void BatchSampler::reset(int64_t epoch) {
  position_ = 0;
  order_ = shuffle_ ? permutation(size_, seed_, epoch) : torch::arange(size_, torch::kInt64);
}

std::optional<torch::Tensor> BatchSampler::next() {
  if (position_ >= size_) return std::nullopt;
  const int64_t count = std::min(batch_size_, size_ - position_);
  auto indices = order_.narrow(0, position_, count);
  position_ += count;
  return indices;
}

HalfSubsetSampler::HalfSubsetSampler(const torch::Tensor& labels,
                                     const std::vector<int64_t>& subset, int64_t batch_size,
                                     uint64_t seed)
    : half_(batch_size / 2), seed_(seed) {
  TORCH_CHECK(batch_size >= 2, "a half-subset batch needs batch_size >= 2, got ", batch_size);
  TORCH_CHECK(labels.dim() == 1 && labels.scalar_type() == torch::kInt64,
              "labels must be a 1-D int64 tensor, got ", labels.sizes(), " ", labels.scalar_type());
  const auto classes = torch::tensor(subset, torch::kInt64);
  const auto in_subset = torch::isin(labels.cpu(), classes);
  inside_ = torch::nonzero(in_subset).flatten();
  outside_ = torch::nonzero(in_subset.logical_not()).flatten();
  TORCH_CHECK(inside_.size(0) > 0, "no training example has a label in the class subset ",
              list_text(subset));
  TORCH_CHECK(outside_.size(0) > 0, "every training example has a label in the class subset ",
              list_text(subset), "; a specialist needs examples of other classes for its dustbin");
  outside_order_ = outside_.index_select(0, permutation(outside_.size(0), seed_ + 1, 0));
  reset(0);
}

void HalfSubsetSampler::reset(int64_t epoch) {
  inside_position_ = 0;
  inside_order_ = inside_.index_select(0, permutation(inside_.size(0), seed_, epoch));
}

torch::Tensor HalfSubsetSampler::take_rest(int64_t count) {
  std::vector<torch::Tensor> parts;
  while (count > 0) {
    if (outside_position_ >= outside_.size(0)) {
      ++outside_round_;
      outside_position_ = 0;
      outside_order_ =
          outside_.index_select(0, permutation(outside_.size(0), seed_ + 1, outside_round_));
    }
    const int64_t n = std::min(count, outside_.size(0) - outside_position_);
    parts.push_back(outside_order_.narrow(0, outside_position_, n));
    outside_position_ += n;
    count -= n;
  }
  return parts.size() == 1 ? parts.front() : torch::cat(parts);
}

std::optional<torch::Tensor> HalfSubsetSampler::next() {
  if (inside_position_ >= inside_.size(0)) return std::nullopt;
  const int64_t count = std::min(half_, inside_.size(0) - inside_position_);
  auto inside = inside_order_.narrow(0, inside_position_, count);
  inside_position_ += count;
  return torch::cat({inside, take_rest(count)});
}

int64_t HalfSubsetSampler::batches_per_epoch() const {
  return (inside_.size(0) + half_ - 1) / half_;
}

double HalfSubsetSampler::subset_share() const {
  return static_cast<double>(inside_.size(0)) /
         static_cast<double>(inside_.size(0) + outside_.size(0));
}

}  // namespace distillery::data
