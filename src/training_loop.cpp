// The training loop shared by every entry point of trainer.h: epochs of optimisation steps
// over a sampler's batches, the learning-rate schedule, batch prefetching, progress callbacks
// and per-epoch evaluation.

#include "training_loop.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "distillery/data/augmentation.h"
#include "distillery/data/prefetcher.h"
#include "distillery/optim.h"
#include "distillery/runtime.h"

namespace distillery::detail {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& model,
                                                        const TrainerOptions& options) {
  if (options.optimizer() == Optimizer::kAdam) {
    // ATen's fused kernel: one pass per parameter instead of a dozen element-wise kernels.
    return std::make_unique<FusedAdam>(
        model.parameters(), torch::optim::AdamOptions(options.learning_rate())
                                .weight_decay(options.weight_decay()));
  }
  return std::make_unique<torch::optim::SGD>(
      model.parameters(), torch::optim::SGDOptions(options.learning_rate())
                              .momentum(options.momentum())
                              .nesterov(options.nesterov() && options.momentum() > 0)
                              .weight_decay(options.weight_decay()));
}

// Learning rate after `step` of `total_steps` optimiser steps (epoch = step / steps_per_epoch).
double scheduled_rate(const TrainerOptions& options, int64_t step, int64_t total_steps,
                      int64_t steps_per_epoch) {
  const double base = options.learning_rate();
  if (options.lr_schedule() == LrSchedule::kCosine) {
    return 0.5 * base * (1.0 + std::cos(M_PI * static_cast<double>(step) / total_steps));
  }
  if (options.lr_schedule() == LrSchedule::kStep) {
    const int64_t decays = step / steps_per_epoch / options.lr_step_epochs();
    return base * std::pow(options.lr_gamma(), static_cast<double>(decays));
  }
  if (options.lr_schedule() == LrSchedule::kMultiStep) {
    const int64_t epochs_done = step / steps_per_epoch;  // epochs before this step's epoch
    const auto& milestones = options.lr_milestones();
    const auto decays = std::upper_bound(milestones.begin(), milestones.end(), epochs_done) -
                        milestones.begin();
    return base * std::pow(options.lr_gamma(), static_cast<double>(decays));
  }
  return base;
}

void set_rate(torch::optim::Optimizer& optimizer, double rate) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(rate);
}

// Runs the intra-op pool with `threads` threads while it lives (the current count when
// `threads` is 0), and then puts the previous count back.
class ThreadCount {
 public:
  explicit ThreadCount(int threads) : previous_(torch::get_num_threads()) {
    if (threads > 0 && threads != previous_) torch::set_num_threads(threads);
  }
  ~ThreadCount() {
    if (torch::get_num_threads() != previous_) torch::set_num_threads(previous_);
  }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int previous_;
};

// One thread fewer (at least 1) while it lives, leaving a core to the batch prefetcher.
class OneThreadFewer : public ThreadCount {
 public:
  OneThreadFewer() : ThreadCount(std::max(1, torch::get_num_threads() - 1)) {}
};

bool use_prefetcher(const TrainerOptions& options, const torch::Tensor& images) {
  if (!options.prefetch() || !images.device().is_cpu()) return false;
  const auto cpus = available_cpus();
  if (cpus < 2) {
    spdlog::warn("prefetch: ignored, this process may run on {} CPU; the background gather "
                 "needs a second one",
                 cpus);
    return false;
  }
  spdlog::debug("prefetch: batches gathered on a background thread, {} intra-op thread(s) "
                "for the steps",
                std::max(1, torch::get_num_threads() - 1));
  return true;
}

// The error for a loss that became NaN or infinite, naming the likeliest cause: a weight decay
// above 1 shrinks (SGD: flips and grows) the weights by more than themselves each step.
std::runtime_error diverged(const std::string& phase, double loss, int64_t epoch,
                            const TrainerOptions& options) {
  std::ostringstream message;
  message << phase << ": training loss became " << loss << " in epoch " << epoch
          << " (learning rate " << options.learning_rate() << ", weight decay "
          << options.weight_decay() << "); ";
  if (options.weight_decay() > 1.0) {
    message << "a weight decay above 1 makes training diverge: lower the weight decay (typical "
               "values are 1e-5 to 1e-3)";
  } else {
    message << "lower the learning rate or check the inputs for NaN";
  }
  return std::runtime_error(message.str());
}

// What one fit() call shares between its epochs and steps.
struct FitState {
  const Model& model;
  data::Sampler& sampler;
  const TrainerOptions& options;
  const std::string& phase;
  const BatchObjective& batch_loss;
  const std::vector<std::shared_ptr<Callback>>& callbacks;
  const data::Dataset& train_set;  // its normalisation makes model inputs of the rows
  torch::Device device;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  torch::Tensor images;  // the whole training set (uint8 pixels or inputs), on the device
  at::Generator jitter_generator;
  at::Generator augmentation_generator;  // reseeded at each epoch's start (epoch_generator)
  std::unique_ptr<data::RowPrefetcher> prefetcher;
  ViewReplay* replay = nullptr;  // stored views to replay, or none
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
  int64_t step = 0;  // steps taken so far, over all epochs
};

// What one epoch's steps add up to.
struct EpochTotals {
  torch::Tensor loss_sum;  // [] on the device, summed without a sync per step
  int64_t batches = 0;
  int64_t seen = 0;
  double data_seconds = 0;
};

// The rows of `device_indices` (from the prefetcher when there is one), and the next batch's
// indices, which the prefetcher starts gathering at once.
torch::Tensor gather(FitState& f, const torch::Tensor& device_indices,
                     std::optional<torch::Tensor>& next_indices) {
  if (!f.prefetcher) {
    auto rows = f.images.index_select(0, device_indices);
    next_indices = f.sampler.next();
    return rows;
  }
  auto rows = f.prefetcher->take();
  next_indices = f.sampler.next();
  if (next_indices) f.prefetcher->request(*next_indices);
  return rows;
}

// The model inputs of one batch of training rows: crop and flip of the pixels, normalisation,
// erasing, then jitter (data/augmentation.h).
torch::Tensor batch_inputs(FitState& f, const torch::Tensor& rows, const torch::Tensor& indices) {
  const auto& augmentation = f.options.augmentation();
  torch::Tensor inputs;
  if (f.replay) {
    auto& r = *f.replay;
    const auto views = r.parameters.size(0), examples = r.parameters.size(1);
    const auto view = torch::randint(0, views, {rows.size(0)}, f.augmentation_generator,
                                     torch::kInt64).to(indices.device());
    r.rows = view * examples + indices;
    inputs = data::augmented_inputs(f.train_set, rows, r.parameters.index({view, indices}),
                                    r.augmentation);
  } else if (augmentation.any()) {
    const auto parameters = data::sample_augmentation(rows.size(0), rows.size(2), rows.size(3),
                                                      augmentation, f.augmentation_generator);
    inputs = data::augmented_inputs(f.train_set, rows, parameters, augmentation);
  } else {
    inputs = f.train_set.inputs(rows);
  }
  return data::random_translate(inputs, f.options.jitter_pixels(), f.jitter_generator);
}

// One epoch's optimisation steps.
EpochTotals train_epoch(FitState& f, int64_t epoch, Clock::time_point epoch_start) {
  EpochTotals t;
  t.loss_sum = torch::zeros({}, torch::TensorOptions().device(f.device));
  const auto& o = f.options;
  auto indices = f.sampler.next();
  if (f.prefetcher && indices) f.prefetcher->request(*indices);
  while (indices) {
    const auto data_start = Clock::now();
    const auto device_indices = indices->to(f.device);
    std::optional<torch::Tensor> next_indices;
    const auto rows = gather(f, device_indices, next_indices);
    const auto inputs = batch_inputs(f, rows, device_indices);
    t.data_seconds += seconds_since(data_start);
    set_rate(*f.optimizer, scheduled_rate(o, f.step, f.total_steps, f.steps_per_epoch));
    const auto logits = f.model(inputs);  // [B, C]
    const auto loss = f.batch_loss(logits, inputs, device_indices);
    f.optimizer->zero_grad();
    loss.backward();
    f.optimizer->step();
    t.loss_sum += loss.detach();
    ++t.batches;
    ++f.step;
    t.seen += indices->size(0);
    indices = std::move(next_indices);
    const double elapsed = seconds_since(epoch_start);
    BatchProgress progress{f.phase, epoch, o.epochs(), t.batches, f.steps_per_epoch,
                           t.seen / std::max(elapsed, 1e-9), 0.0, loss.detach()};
    progress.eta_seconds = (f.total_steps - f.step) * elapsed / t.batches;
    for (const auto& cb : f.callbacks) cb->on_batch_end(progress);
  }
  return t;
}

// The epoch's metrics, with the callbacks' evaluations (model in eval mode). Throws
// (diverged) when the mean training loss is NaN or infinite.
EpochMetrics epoch_metrics(FitState& f, int64_t epoch, const EpochTotals& t, double seconds) {
  if (t.batches == 0) {
    throw std::runtime_error(f.phase + ": the sampler gave no batch in epoch " +
                             std::to_string(epoch) + " (an empty training set or sampler)");
  }
  const double mean_loss = t.loss_sum.item<double>() / t.batches;
  if (!std::isfinite(mean_loss)) throw diverged(f.phase, mean_loss, epoch, f.options);
  f.model->eval();
  EpochMetrics metrics;
  metrics.phase = f.phase;
  metrics.epoch = epoch;
  metrics.epochs = f.options.epochs();
  metrics.train_loss = mean_loss;
  metrics.learning_rate =
      scheduled_rate(f.options, f.step, f.total_steps, f.steps_per_epoch);
  metrics.seconds = seconds;
  metrics.data_seconds = t.data_seconds;
  metrics.samples_per_second = t.seen / std::max(seconds, 1e-9);
  for (const auto& cb : f.callbacks) cb->on_evaluate(metrics);
  return metrics;
}

}  // namespace

TrainResult fit(const Model& model, const data::Dataset& train_set, data::Sampler& sampler,
                const BatchObjective& batch_loss, const TrainOptions& train_options,
                ViewReplay* replay) {
  const auto& options = train_options.trainer();
  const auto& phase = train_options.phase();
  // Every hook: the evaluators first, then the callbacks, each in their order.
  auto callbacks = train_options.evaluators();
  callbacks.insert(callbacks.end(), train_options.callbacks().begin(),
                   train_options.callbacks().end());
  const torch::Device device = options.device();
  torch::AutoGradMode enable_grad(true);  // even when the caller holds a NoGradGuard
  ThreadCount threads(static_cast<int>(options.threads()));
  if (options.reseed()) torch::manual_seed(options.seed());
  model->to(device);
  FitState f{model, sampler, options, phase, batch_loss, callbacks, train_set, device,
             make_optimizer(model.module(), options),
             // Moving the whole set once avoids one host-to-device copy per batch.
             train_set.images.to(device),
             at::make_generator<at::CPUGeneratorImpl>(options.seed() + 7919),
             data::epoch_generator(options.seed(), 0), nullptr};
  f.replay = replay;
  f.steps_per_epoch = sampler.batches_per_epoch();
  f.total_steps = f.steps_per_epoch * options.epochs();
  if (use_prefetcher(options, f.images)) {
    f.prefetcher = std::make_unique<data::RowPrefetcher>(f.images.contiguous());
  }
  const TrainContext context{phase, options.epochs(), model, device, options.eval_batch_size()};
  for (const auto& cb : callbacks) cb->on_train_begin(context);
  TrainResult result;
  for (int64_t epoch = 1; epoch <= options.epochs(); ++epoch) {
    model->train();
    sampler.reset(epoch - 1);
    f.augmentation_generator = data::epoch_generator(options.seed(), epoch);
    const auto epoch_start = Clock::now();
    EpochTotals totals;
    {
      std::optional<OneThreadFewer> make_room;  // the steps leave a core to the prefetcher
      if (f.prefetcher) make_room.emplace();
      totals = train_epoch(f, epoch, epoch_start);
    }  // evaluation gets every intra-op thread
    const double epoch_seconds = seconds_since(epoch_start);
    result.train_seconds += epoch_seconds;
    result.data_seconds += totals.data_seconds;
    result.history.push_back(epoch_metrics(f, epoch, totals, epoch_seconds));
    for (const auto& cb : callbacks) cb->on_epoch_end(result.history.back());
  }
  model->eval();
  for (const auto& cb : callbacks) cb->on_train_end(phase);
  return result;
}

}  // namespace distillery::detail
