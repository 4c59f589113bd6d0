#pragma once
// Internal: the training loop behind train_supervised, train_with_objective and distill
// (src/training_loop.cpp). Not installed; not part of the public API.

#include <torch/nn/modules/container/sequential.h>

#include <memory>
#include <string>
#include <vector>

#include "distillery/data/sampler.h"
#include "distillery/trainer.h"

namespace distillery::detail {

// Trains `model` for options.epochs() epochs over `sampler`'s batches of `train_set`, with
// `batch_loss` as the objective, evaluating on `test_set` after each epoch. Throws
// std::runtime_error naming the phase, epoch and the likeliest cause when the mean loss of an
// epoch is NaN or infinite.
TrainResult fit(torch::nn::Sequential& model, const data::Dataset& train_set,
                data::Sampler& sampler, const data::Dataset& test_set,
                const TrainerOptions& options, const std::string& phase,
                const BatchObjective& batch_loss,
                const std::vector<std::shared_ptr<Callback>>& callbacks);

}  // namespace distillery::detail
