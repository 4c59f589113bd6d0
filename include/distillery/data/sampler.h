#pragma once
/// @file data/sampler.h
/// Batch samplers: which rows of an in-memory data set make up each training step. A batch is
/// a `[B]` int64 tensor of row indices, sliced from the set with `index_select`. Every order
/// is a function of (seed, epoch) only, so the same seed gives the same run everywhere.

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace distillery::data {

/// What the training loop asks of a sampler.
class Sampler {
 public:
  virtual ~Sampler() = default;
  /// Starts epoch `epoch` (0-based).
  virtual void reset(int64_t epoch) = 0;
  /// The next batch's row indices, `[B]` int64 on the CPU, or nullopt at the end of the epoch.
  virtual std::optional<torch::Tensor> next() = 0;
  /// Number of batches per epoch (> 0).
  virtual int64_t batches_per_epoch() const = 0;
};

/// Every example once per epoch, in batches of `batch_size`, shuffled each epoch (or in order).
/// Example:
///     BatchSampler sampler(train.size(), 128, /*shuffle=*/true, /*seed=*/0);
///     for (int epoch = 0; epoch < 10; ++epoch) {
///       sampler.reset(epoch);
///       while (auto idx = sampler.next()) { auto x = train.images.index_select(0, *idx); }
///     }
class BatchSampler : public Sampler {
 public:
  /// @param size number of examples N (> 0); @param batch_size B (> 0); the last batch of an
  /// epoch may be smaller. Throws c10::Error if either is not positive.
  BatchSampler(int64_t size, int64_t batch_size, bool shuffle, uint64_t seed);
  void reset(int64_t epoch) override;
  std::optional<torch::Tensor> next() override;
  /// ceil(N / B).
  int64_t batches_per_epoch() const override { return (size_ + batch_size_ - 1) / batch_size_; }

 private:
  int64_t size_;
  int64_t batch_size_;
  bool shuffle_;
  uint64_t seed_;
  int64_t position_ = 0;
  torch::Tensor order_;
};

/// Batches that are half examples of a class subset S and half random examples of the other
/// classes (Hinton et al. 2015, §5: a specialist's training batches). An epoch passes once
/// over the examples of S, in a new random order each epoch; the other half is drawn without
/// replacement from a shuffled order of the rest that carries on across batches and epochs
/// (reshuffled when used up). Each batch holds the same number of each kind: B/2 (B rounded
/// down to even), and the epoch's last batch as many of the rest as it has of S.
class HalfSubsetSampler : public Sampler {
 public:
  /// @param labels `[N]` int64 class indices; @param subset the classes S (distinct).
  /// Throws c10::Error if `batch_size` < 2, `labels` is not 1-D int64, or no example (or
  /// every example) has a label in `subset`.
  HalfSubsetSampler(const torch::Tensor& labels, const std::vector<int64_t>& subset,
                    int64_t batch_size, uint64_t seed);
  void reset(int64_t epoch) override;
  std::optional<torch::Tensor> next() override;
  /// ceil(|examples of S| / (B / 2)).
  int64_t batches_per_epoch() const override;
  /// Share f of the examples whose label is in S, in (0, 1): the bias correction's input.
  double subset_share() const;

 private:
  torch::Tensor take_rest(int64_t count);

  torch::Tensor inside_;   // [n_S] rows with a label in S
  torch::Tensor outside_;  // [N - n_S] the other rows
  int64_t half_;
  uint64_t seed_;
  torch::Tensor inside_order_, outside_order_;
  int64_t inside_position_ = 0, outside_position_ = 0, outside_round_ = 0;
};

}  // namespace distillery::data
