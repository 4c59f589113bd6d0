#include "distillery/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace distillery {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& model,
                                                        const TrainerOptions& options) {
  if (options.optimizer() == "adam") {
    return std::make_unique<torch::optim::Adam>(
        model.parameters(), torch::optim::AdamOptions(options.learning_rate())
                                .weight_decay(options.weight_decay()));
  }
  return std::make_unique<torch::optim::SGD>(
      model.parameters(), torch::optim::SGDOptions(options.learning_rate())
                              .momentum(options.momentum())
                              .nesterov(options.momentum() > 0)
                              .weight_decay(options.weight_decay()));
}

// Learning rate after `step` of `total_steps` optimiser steps (epoch = step / steps_per_epoch).
double scheduled_rate(const TrainerOptions& options, int64_t step, int64_t total_steps,
                      int64_t steps_per_epoch) {
  const double base = options.learning_rate();
  if (options.lr_schedule() == "cosine") {
    return 0.5 * base * (1.0 + std::cos(M_PI * static_cast<double>(step) / total_steps));
  }
  if (options.lr_schedule() == "step") {
    const int64_t decays = step / steps_per_epoch / options.lr_step_epochs();
    return base * std::pow(options.lr_gamma(), static_cast<double>(decays));
  }
  return base;
}

void set_rate(torch::optim::Optimizer& optimizer, double rate) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(rate);
}

// Computes the training objective for a batch: logits [B, C] and the batch's row indices [B].
using BatchLoss = std::function<torch::Tensor(const torch::Tensor& logits,
                                              const torch::Tensor& indices)>;

TrainResult fit(torch::nn::Sequential& model, const data::Dataset& train_set,
                const data::Dataset& test_set, const TrainerOptions& options,
                const std::string& phase, const BatchLoss& batch_loss,
                const std::vector<std::shared_ptr<Callback>>& callbacks) {
  const torch::Device device(options.device());
  if (options.threads() > 0) torch::set_num_threads(static_cast<int>(options.threads()));
  torch::manual_seed(options.seed());
  model->to(device);
  auto optimizer = make_optimizer(*model, options);
  data::BatchSampler sampler(train_set.size(), options.batch_size(), /*shuffle=*/true,
                             options.seed());
  const int64_t steps_per_epoch = sampler.batches_per_epoch();
  const int64_t total_steps = steps_per_epoch * options.epochs();
  // Moving the whole set once avoids one host-to-device copy per batch.
  const auto images = train_set.images.to(device);

  for (const auto& cb : callbacks) cb->on_train_begin(phase, options.epochs());
  TrainResult result;
  int64_t step = 0;
  for (int64_t epoch = 1; epoch <= options.epochs(); ++epoch) {
    model->train();
    sampler.reset(epoch - 1);
    const auto epoch_start = Clock::now();
    auto loss_sum = torch::zeros({}, torch::TensorOptions().device(device));
    int64_t batch = 0, seen = 0;
    while (auto indices = sampler.next()) {
      set_rate(*optimizer, scheduled_rate(options, step, total_steps, steps_per_epoch));
      const auto device_indices = indices->to(device);
      const auto logits = model->forward(images.index_select(0, device_indices));  // [B, C]
      const auto loss = batch_loss(logits, *indices);
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();
      loss_sum += loss.detach();
      ++batch;
      ++step;
      seen += indices->size(0);
      const double elapsed = seconds_since(epoch_start);
      BatchProgress progress{phase, epoch, options.epochs(), batch, steps_per_epoch,
                             seen / std::max(elapsed, 1e-9), 0.0};
      progress.eta_seconds = (total_steps - step) * elapsed / batch;
      for (const auto& cb : callbacks) cb->on_batch_end(progress);
    }
    const double epoch_seconds = seconds_since(epoch_start);
    result.train_seconds += epoch_seconds;
    const double mean_loss = loss_sum.item<double>() / batch;
    if (!std::isfinite(mean_loss)) {
      std::ostringstream message;
      message << phase << ": training loss became " << mean_loss << " in epoch " << epoch
              << " (learning rate " << options.learning_rate()
              << "); lower the learning rate or check the inputs for NaN";
      throw std::runtime_error(message.str());
    }
    model->eval();
    EpochMetrics metrics;
    metrics.phase = phase;
    metrics.epoch = epoch;
    metrics.epochs = options.epochs();
    metrics.train_loss = mean_loss;
    metrics.learning_rate = scheduled_rate(options, step, total_steps, steps_per_epoch);
    metrics.seconds = epoch_seconds;
    metrics.samples_per_second = seen / std::max(epoch_seconds, 1e-9);
    metrics.test = evaluate([&](const torch::Tensor& x) { return model->forward(x); }, test_set,
                            options.eval_batch_size(), device);
    result.history.push_back(metrics);
    for (const auto& cb : callbacks) cb->on_epoch_end(metrics);
  }
  result.test = result.history.back().test;
  for (const auto& cb : callbacks) cb->on_train_end(phase);
  return result;
}

void check_labeled(const data::Dataset& set, const char* what) {
  TORCH_CHECK(set.labeled(), what, " must be labeled");
  TORCH_CHECK(set.size() > 0, what, " is empty");
}

}  // namespace

void validate(const TrainerOptions& o) {
  TORCH_CHECK(o.epochs() >= 1, "epochs must be >= 1, got ", o.epochs());
  TORCH_CHECK(o.batch_size() >= 1, "batch_size must be >= 1, got ", o.batch_size());
  TORCH_CHECK(o.eval_batch_size() >= 1, "eval_batch_size must be >= 1, got ", o.eval_batch_size());
  TORCH_CHECK(o.optimizer() == "adam" || o.optimizer() == "sgd",
              "optimizer must be \"adam\" or \"sgd\", got \"", o.optimizer(), "\"");
  TORCH_CHECK(std::isfinite(o.learning_rate()) && o.learning_rate() > 0,
              "learning_rate must be > 0, got ", o.learning_rate());
  TORCH_CHECK(o.momentum() >= 0 && o.momentum() < 1, "momentum must be in [0, 1), got ",
              o.momentum());
  TORCH_CHECK(o.weight_decay() >= 0, "weight_decay must be >= 0, got ", o.weight_decay());
  TORCH_CHECK(o.lr_schedule() == "constant" || o.lr_schedule() == "cosine" ||
                  o.lr_schedule() == "step",
              "lr_schedule must be \"constant\", \"cosine\" or \"step\", got \"",
              o.lr_schedule(), "\"");
  TORCH_CHECK(o.lr_step_epochs() >= 1, "lr_step_epochs must be >= 1, got ", o.lr_step_epochs());
  TORCH_CHECK(o.lr_gamma() > 0 && o.lr_gamma() <= 1, "lr_gamma must be in (0, 1], got ",
              o.lr_gamma());
  TORCH_CHECK(o.threads() >= 0, "threads must be >= 0, got ", o.threads());
  const torch::Device device(o.device());  // throws on a malformed device string
  TORCH_CHECK(!device.is_cuda() || torch::cuda::is_available(), "device \"", o.device(),
              "\" requested but CUDA is not available; use \"cpu\"");
}

TrainResult train_supervised(torch::nn::Sequential& model, const data::Dataset& train_set,
                             const data::Dataset& test_set, const TrainerOptions& options,
                             const std::string& phase,
                             const std::vector<std::shared_ptr<Callback>>& callbacks) {
  validate(options);
  check_labeled(train_set, "the training set");
  check_labeled(test_set, "the test set");
  const auto labels = train_set.labels.to(torch::Device(options.device()));
  auto loss = [&](const torch::Tensor& logits, const torch::Tensor& indices) {
    return torch::cross_entropy_loss(logits, labels.index_select(0, indices.to(labels.device())));
  };
  return fit(model, train_set, test_set, options, phase, loss, callbacks);
}

TrainResult distill(torch::nn::Sequential& student, Teacher& teacher,
                    const data::Dataset& transfer_set, const data::Dataset& test_set,
                    const TrainerOptions& options, const KDLossOptions& loss_options,
                    const std::string& phase,
                    const std::vector<std::shared_ptr<Callback>>& callbacks) {
  validate(options);
  TORCH_CHECK(transfer_set.size() > 0, "the transfer set is empty");
  check_labeled(test_set, "the test set");
  const torch::Device device(options.device());
  KDLossOptions loss_opts = loss_options;
  if (!transfer_set.labeled()) loss_opts.alpha(1.0);  // only the soft term exists
  // Validates T and alpha before the (possibly long) teacher pass.
  functional::kd_loss(torch::zeros({1, 2}), torch::zeros({1, 2}),
                      torch::zeros({1}, torch::kInt64), loss_opts);

  teacher->to(device);
  const auto teacher_logits =
      compute_logits([&](const torch::Tensor& x) { return teacher->forward(x); },
                     transfer_set.images, options.eval_batch_size(), device)
          .to(device);  // [N, C]
  int64_t student_classes = 0;
  {
    torch::NoGradGuard no_grad;
    const bool was_training = student->is_training();
    student->eval();
    student->to(device);
    student_classes = student->forward(transfer_set.images.narrow(0, 0, 1).to(device)).size(1);
    student->train(was_training);
  }
  TORCH_CHECK(teacher_logits.size(1) == student_classes, "the teacher has ",
              teacher_logits.size(1), " classes but the student has ", student_classes,
              "; both must predict the same classes");
  const auto labels = transfer_set.labeled() ? transfer_set.labels.to(device) : torch::Tensor();
  auto loss = [&](const torch::Tensor& logits, const torch::Tensor& indices) {
    const auto idx = indices.to(device);
    const auto v = teacher_logits.index_select(0, idx);  // [B, C]
    if (!labels.defined()) return functional::soft_target_loss(logits, v, loss_opts.temperature());
    return functional::kd_loss(logits, v, labels.index_select(0, idx), loss_opts);
  };
  return fit(student, transfer_set, test_set, options, phase, loss, callbacks);
}

}  // namespace distillery
