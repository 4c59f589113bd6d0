#include "distillery/trainer.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "distillery/data/prefetcher.h"
#include "distillery/optim.h"
#include "distillery/runtime.h"

namespace distillery {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& model,
                                                        const TrainerOptions& options) {
  if (options.optimizer() == "adam") {
    // ATen's fused kernel: one pass per parameter instead of a dozen element-wise kernels.
    return std::make_unique<FusedAdam>(
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

// Runs the intra-op pool with one thread fewer (at least 1) while it lives, leaving a core to
// the batch prefetcher, and then puts the count back.
class OneThreadFewer {
 public:
  OneThreadFewer() : previous_(torch::get_num_threads()) {
    torch::set_num_threads(std::max(1, previous_ - 1));
  }
  ~OneThreadFewer() { torch::set_num_threads(previous_); }
  OneThreadFewer(const OneThreadFewer&) = delete;
  OneThreadFewer& operator=(const OneThreadFewer&) = delete;

 private:
  int previous_;
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

TrainResult fit(torch::nn::Sequential& model, const data::Dataset& train_set,
                data::Sampler& sampler, const data::Dataset& test_set,
                const TrainerOptions& options, const std::string& phase,
                const BatchObjective& batch_loss,
                const std::vector<std::shared_ptr<Callback>>& callbacks) {
  const torch::Device device(options.device());
  torch::AutoGradMode enable_grad(true);  // even when the caller holds a NoGradGuard
  retain_freed_memory();                  // a step's tensors are reused, not re-faulted
  if (options.threads() > 0) torch::set_num_threads(static_cast<int>(options.threads()));
  torch::manual_seed(options.seed());
  model->to(device);
  auto optimizer = make_optimizer(*model, options);
  const int64_t steps_per_epoch = sampler.batches_per_epoch();
  const int64_t total_steps = steps_per_epoch * options.epochs();
  // Moving the whole set once avoids one host-to-device copy per batch.
  const auto images = train_set.images.to(device);
  auto jitter_generator = at::make_generator<at::CPUGeneratorImpl>(options.seed() + 7919);
  std::unique_ptr<data::RowPrefetcher> prefetcher;
  if (use_prefetcher(options, images)) {
    prefetcher = std::make_unique<data::RowPrefetcher>(images.contiguous());
  }

  for (const auto& cb : callbacks) cb->on_train_begin(phase, options.epochs());
  TrainResult result;
  int64_t step = 0;
  for (int64_t epoch = 1; epoch <= options.epochs(); ++epoch) {
    model->train();
    sampler.reset(epoch - 1);
    const auto epoch_start = Clock::now();
    auto loss_sum = torch::zeros({}, torch::TensorOptions().device(device));
    int64_t batch = 0, seen = 0;
    double epoch_data_seconds = 0;
    std::optional<OneThreadFewer> make_room;  // the steps leave a core to the prefetcher
    if (prefetcher) make_room.emplace();
    auto indices = sampler.next();
    if (prefetcher && indices) prefetcher->request(*indices);
    while (indices) {
      const auto data_start = Clock::now();
      const auto device_indices = indices->to(device);
      torch::Tensor rows;
      std::optional<torch::Tensor> next_indices;
      if (prefetcher) {
        rows = prefetcher->take();
        next_indices = sampler.next();
        if (next_indices) prefetcher->request(*next_indices);
      } else {
        rows = images.index_select(0, device_indices);
        next_indices = sampler.next();
      }
      const auto inputs =
          data::random_translate(rows, options.jitter_pixels(), jitter_generator);
      epoch_data_seconds += seconds_since(data_start);
      set_rate(*optimizer, scheduled_rate(options, step, total_steps, steps_per_epoch));
      const auto logits = model->forward(inputs);  // [B, C]
      const auto loss = batch_loss(logits, inputs, device_indices);
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();
      loss_sum += loss.detach();
      ++batch;
      ++step;
      seen += indices->size(0);
      indices = std::move(next_indices);
      const double elapsed = seconds_since(epoch_start);
      BatchProgress progress{phase, epoch, options.epochs(), batch, steps_per_epoch,
                             seen / std::max(elapsed, 1e-9), 0.0, loss.detach()};
      progress.eta_seconds = (total_steps - step) * elapsed / batch;
      for (const auto& cb : callbacks) cb->on_batch_end(progress);
    }
    make_room.reset();  // evaluation gets every intra-op thread
    const double epoch_seconds = seconds_since(epoch_start);
    result.train_seconds += epoch_seconds;
    result.data_seconds += epoch_data_seconds;
    const double mean_loss = loss_sum.item<double>() / batch;
    if (!std::isfinite(mean_loss)) throw diverged(phase, mean_loss, epoch, options);
    model->eval();
    EpochMetrics metrics;
    metrics.phase = phase;
    metrics.epoch = epoch;
    metrics.epochs = options.epochs();
    metrics.train_loss = mean_loss;
    metrics.learning_rate = scheduled_rate(options, step, total_steps, steps_per_epoch);
    metrics.seconds = epoch_seconds;
    metrics.data_seconds = epoch_data_seconds;
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

// Validates the options, T and alpha and the data sets before any (possibly long) teacher pass.
void check_distillation_inputs(const TrainerOptions& options, const KDLossOptions& loss_options,
                               const data::Dataset& transfer_set, const data::Dataset& test_set) {
  validate(options);
  functional::validate(loss_options);
  TORCH_CHECK(transfer_set.size() > 0, "the transfer set is empty");
  check_labeled(test_set, "the test set");
}

// Refuses a teacher whose class count differs from the student's, before training.
void check_class_counts(int64_t teacher_classes, torch::nn::Sequential& student,
                        const torch::Tensor& probe) {
  torch::NoGradGuard no_grad;
  const bool was_training = student->is_training();
  student->eval();
  student->to(probe.device());
  const auto student_classes = student->forward(probe).size(1);
  student->train(was_training);
  TORCH_CHECK(teacher_classes == student_classes, "the teacher has ", teacher_classes,
              " classes but the student has ", student_classes,
              "; both must predict the same classes");
}

// kd_loss on a labeled transfer set; the soft term alone (alpha taken as 1) on an unlabeled one.
torch::Tensor distillation_loss(const torch::Tensor& logits, const torch::Tensor& teacher_logits,
                                const torch::Tensor& labels, const torch::Tensor& indices,
                                const KDLossOptions& o) {
  if (!labels.defined()) {
    return functional::soft_target_loss(logits, teacher_logits,
                                        SoftTargetLossOptions().temperature(o.temperature()));
  }
  return functional::kd_loss(logits, teacher_logits, labels.index_select(0, indices), o);
}

// Every example once per epoch, shuffled from the run's seed.
TrainResult fit(torch::nn::Sequential& model, const data::Dataset& train_set,
                const data::Dataset& test_set, const TrainerOptions& options,
                const std::string& phase, const BatchObjective& batch_loss,
                const std::vector<std::shared_ptr<Callback>>& callbacks) {
  data::BatchSampler sampler(train_set.size(), options.batch_size(), /*shuffle=*/true,
                             options.seed());
  return fit(model, train_set, sampler, test_set, options, phase, batch_loss, callbacks);
}

}  // namespace

void validate(const TrainerOptions& o) {
  TORCH_CHECK(o.epochs() >= 1 && o.epochs() <= 1000000, "epochs must be in [1, 1000000], got ",
              o.epochs());
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
  TORCH_CHECK(o.threads() >= 0 && o.threads() <= 512, "threads must be in [0, 512], got ",
              o.threads());
  TORCH_CHECK(o.jitter_pixels() >= 0 && o.jitter_pixels() < 8,
              "jitter_pixels must be in [0, 8), got ", o.jitter_pixels());
  const bool cpu = o.device() == "cpu";
  const bool cuda = o.device() == "cuda" ||
                    (o.device().rfind("cuda:", 0) == 0 && o.device().size() > 5 &&
                     o.device().size() <= 8 &&
                     o.device().find_first_not_of("0123456789", 5) == std::string::npos);
  TORCH_CHECK(cpu || cuda, "device must be \"cpu\", \"cuda\" or \"cuda:N\", got \"", o.device(),
              "\"");
  TORCH_CHECK(cpu || torch::cuda::is_available(), "device \"", o.device(),
              "\" requested but CUDA is not available; use \"cpu\"");
  if (cuda && o.device().size() > 5) {
    const auto index = std::stoll(o.device().substr(5));
    TORCH_CHECK(index < static_cast<int64_t>(torch::cuda::device_count()), "device \"", o.device(),
                "\" requested but only ", torch::cuda::device_count(), " CUDA device(s) exist");
  }
}

TrainResult train_supervised(torch::nn::Sequential& model, const data::Dataset& train_set,
                             const data::Dataset& test_set, const TrainerOptions& options,
                             const std::string& phase,
                             const std::vector<std::shared_ptr<Callback>>& callbacks) {
  validate(options);
  check_labeled(train_set, "the training set");
  check_labeled(test_set, "the test set");
  const auto labels = train_set.labels.to(torch::Device(options.device()));
  auto loss = [&](const torch::Tensor& logits, const torch::Tensor&, const torch::Tensor& indices) {
    return torch::cross_entropy_loss(logits, labels.index_select(0, indices));
  };
  return fit(model, train_set, test_set, options, phase, loss, callbacks);
}

TrainResult train_with_objective(torch::nn::Sequential& model, const data::Dataset& train_set,
                                 data::Sampler& sampler, const data::Dataset& test_set,
                                 const TrainerOptions& options, const std::string& phase,
                                 const BatchObjective& objective,
                                 const std::vector<std::shared_ptr<Callback>>& callbacks) {
  validate(options);
  TORCH_CHECK(train_set.size() > 0, "the training set is empty");
  check_labeled(test_set, "the test set");
  return fit(model, train_set, sampler, test_set, options, phase, objective, callbacks);
}

TrainResult distill(torch::nn::Sequential& student, Teacher& teacher,
                    const data::Dataset& transfer_set, const data::Dataset& test_set,
                    const TrainerOptions& options, const KDLossOptions& loss_options,
                    const std::string& phase,
                    const std::vector<std::shared_ptr<Callback>>& callbacks) {
  check_distillation_inputs(options, loss_options, transfer_set, test_set);
  teacher->set_temperature(loss_options.temperature());
  const torch::Device device(options.device());
  teacher->to(device);
  const auto probe = transfer_set.images.narrow(0, 0, 1).to(device);
  check_class_counts(teacher->forward(probe).size(1), student, probe);
  const auto labels = transfer_set.labeled() ? transfer_set.labels.to(device) : torch::Tensor();
  // Batches on which the teacher gave NaN or infinite logits, counted on the device (no sync
  // per step) and read only when training fails, to blame the right model.
  auto teacher_faults = torch::zeros({}, torch::TensorOptions(torch::kInt64).device(device));
  auto loss = [&](const torch::Tensor& logits, const torch::Tensor& inputs,
                  const torch::Tensor& indices) {
    const auto v = teacher->forward(inputs);  // [B, C], on the same jittered batch
    teacher_faults.add_(torch::isfinite(v).all().logical_not());
    return distillation_loss(logits, v, labels, indices, loss_options);
  };
  try {
    return fit(student, transfer_set, test_set, options, phase, loss, callbacks);
  } catch (const std::runtime_error&) {
    const auto faults = teacher_faults.item<int64_t>();
    if (faults == 0) throw;
    throw std::runtime_error(phase + ": the teacher's logits were not finite (NaN or infinite) "
                             "on " + std::to_string(faults) + " batches; the teacher itself is "
                             "broken (check its weights or how it was trained), not the "
                             "student's settings");
  }
}

TrainResult distill(torch::nn::Sequential& student, const SoftTargets& soft_targets,
                    const data::Dataset& transfer_set, const data::Dataset& test_set,
                    const TrainerOptions& options, const KDLossOptions& loss_options,
                    const std::string& phase,
                    const std::vector<std::shared_ptr<Callback>>& callbacks) {
  check_distillation_inputs(options, loss_options, transfer_set, test_set);
  if (options.jitter_pixels() > 0) {
    throw std::runtime_error(
        phase + ": stored soft targets would be stale with jitter_pixels = " +
        std::to_string(options.jitter_pixels()) +
        " (the student sees translated images the teacher never saw); distil with the teacher "
        "online instead");
  }
  TORCH_CHECK(soft_targets.member_logits.dim() == 3 &&
                  soft_targets.size() == transfer_set.size(),
              "the stored soft targets hold ", soft_targets.member_logits.dim() == 3 ? soft_targets.size() : -1,
              " examples but the transfer set has ", transfer_set.size());
  const torch::Device device(options.device());
  const auto probe = transfer_set.images.narrow(0, 0, 1).to(device);
  check_class_counts(soft_targets.num_classes(), student, probe);
  SoftTargets on_device = soft_targets;
  on_device.member_logits = soft_targets.member_logits.to(device);
  const auto labels = transfer_set.labeled() ? transfer_set.labels.to(device) : torch::Tensor();
  auto loss = [&](const torch::Tensor& logits, const torch::Tensor&, const torch::Tensor& indices) {
    const auto v = on_device.logits(indices, loss_options.temperature());  // [B, C]
    return distillation_loss(logits, v, labels, indices, loss_options);
  };
  return fit(student, transfer_set, test_set, options, phase, loss, callbacks);
}

}  // namespace distillery
