#pragma once
// Internal: the training loop behind train_supervised, train_with_objective and distill
// (src/training_loop.cpp). Not installed; not part of the public API.

#include <memory>
#include <string>
#include <vector>

#include "distillery/data/sampler.h"
#include "distillery/trainer.h"

namespace distillery::detail {

// Trains `model` for options.trainer().epochs() epochs over `sampler`'s batches of `train_set`,
// with `batch_loss` as the objective; after each epoch the callbacks evaluate and report.
// Restores the intra-op thread count it changes. Throws std::runtime_error naming the phase,
// epoch and the likeliest cause when the mean loss of an epoch is NaN or infinite.
TrainResult fit(const Model& model, const data::Dataset& train_set, data::Sampler& sampler,
                const BatchObjective& batch_loss, const TrainOptions& options);

}  // namespace distillery::detail
