#pragma once
// Internal: the training loop behind train_supervised, train_with_objective and distill
// (src/training_loop.cpp). Not installed; not part of the public API.

#include <memory>
#include <string>
#include <vector>

#include "distillery/data/sampler.h"
#include "distillery/trainer.h"

namespace distillery::detail {

// Stored augmented views to show the student instead of drawing new augmentations (soft
// targets of K views, soft_targets.h): each batch picks one view per example at random (from
// the epoch's augmentation generator) and replays its parameters.
struct ViewReplay {
  torch::Tensor parameters;  // [K, N, 5] int64 on the training device
  data::AugmentationOptions augmentation;  // what the views were drawn with
  torch::Tensor rows;  // set for each batch: [B] int64 rows k * N + i of the stored logits
};

// Trains `model` for options.trainer().epochs() epochs over `sampler`'s batches of `train_set`,
// with `batch_loss` as the objective; after each epoch the callbacks evaluate and report.
// Restores the intra-op thread count it changes. Throws std::runtime_error naming the phase,
// epoch and the likeliest cause when the mean loss of an epoch is NaN or infinite.
// With `replay`, the augmentation of the options is not drawn: the stored views are replayed.
TrainResult fit(const Model& model, const data::Dataset& train_set, data::Sampler& sampler,
                const BatchObjective& batch_loss, const TrainOptions& options,
                ViewReplay* replay = nullptr);

}  // namespace distillery::detail
