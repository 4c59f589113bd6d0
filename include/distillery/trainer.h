#pragma once
/// @file trainer.h
/// The training loop: a model on hard labels, and a student distilled from a teacher over a
/// transfer set (Hinton et al. 2015, §2). Progress, logging and metrics files are callbacks.

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "distillery/data/augmentation.h"
#include "distillery/data/dataset.h"
#include "distillery/data/sampler.h"
#include "distillery/losses.h"
#include "distillery/metrics.h"
#include "distillery/model.h"
#include "distillery/option_fields.h"
#include "distillery/soft_targets.h"
#include "distillery/teacher.h"

namespace distillery {

/// The optimiser of a training phase.
enum class Optimizer {
  kAdam,  ///< Adam (FusedAdam, optim.h), "adam"
  kSgd,   ///< SGD with momentum (Nesterov's unless `nesterov` is false), "sgd"
};
/// The name table of Optimizer: "adam", "sgd".
const EnumNames<Optimizer>& optimizer_names();

/// How the learning rate changes over a phase.
enum class LrSchedule {
  kConstant,  ///< "constant"
  kCosine,    ///< "cosine": per step, from the initial rate to 0 at the end
  kStep,      ///< "step": times `lr_gamma` every `lr_step_epochs` epochs
  kMultiStep,  ///< "multistep": times `lr_gamma` after each epoch count in `lr_milestones`
};
/// The name table of LrSchedule: "constant", "cosine", "step", "multistep".
const EnumNames<LrSchedule>& lr_schedule_names();

/// Optimiser, schedule and loop settings shared by teacher training and distillation. The
/// fields a config's "training" section holds are listed once, with their bounds, in
/// `visit_fields(TrainerOptions)` below.
struct TrainerOptions {
  /// Passes over the training / transfer set, >= 1.
  TORCH_ARG(int64_t, epochs) = 10;
  /// Examples per step, >= 1.
  TORCH_ARG(int64_t, batch_size) = 128;
  /// The optimiser.
  TORCH_ARG(Optimizer, optimizer) = Optimizer::kAdam;
  /// Initial learning rate, > 0.
  TORCH_ARG(double, learning_rate) = 1e-3;
  /// SGD momentum in [0, 1); ignored by Adam.
  TORCH_ARG(double, momentum) = 0.9;
  /// SGD with Nesterov's momentum (when momentum > 0); false: classical momentum, as
  /// torch.optim.SGD's default and the CIFAR recipe of the distillation literature. Ignored by
  /// Adam.
  TORCH_ARG(bool, nesterov) = true;
  /// L2 weight decay (coupled, as in torch.optim), >= 0.
  TORCH_ARG(double, weight_decay) = 0.0;
  /// The learning-rate schedule.
  TORCH_ARG(LrSchedule, lr_schedule) = LrSchedule::kCosine;
  /// Epochs between decays of the "step" schedule, >= 1.
  TORCH_ARG(int64_t, lr_step_epochs) = 5;
  /// Decay factor of the "step" and "multistep" schedules, in (0, 1].
  TORCH_ARG(double, lr_gamma) = 0.1;
  /// Epoch counts after which the "multistep" schedule multiplies the rate by `lr_gamma`,
  /// strictly increasing, each >= 1 (the CIFAR recipe of the distillation literature: 150, 180,
  /// 210 of 240 epochs). The rate of epoch e (1-based) has decayed once per milestone < e.
  TORCH_ARG(std::vector<int64_t>, lr_milestones) = {};
  /// Seed of the batch order and the jitter (and, with `reseed`, of dropout); the same seed
  /// gives the same run.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Intra-op CPU threads while the phase runs (the previous count is put back afterwards);
  /// 0 keeps the current count.
  TORCH_ARG(int64_t, threads) = 0;
  /// Device to train on: the CPU or a CUDA device (`torch::Device("cuda:1")`).
  TORCH_ARG(torch::Device, device) = torch::kCPU;
  /// Batch size used for evaluation and for computing teacher logits. On a CPU, chunks of a
  /// few hundred keep a ConvNet's activations in cache (see bench/RESULTS.md); on a GPU larger is
  /// faster.
  TORCH_ARG(int64_t, eval_batch_size) = 256;
  /// Random translation of each training image by up to this many pixels (0 = none);
  /// Hinton et al. 2015, §3 jitter the teacher's inputs by up to 2 pixels. With jitter the
  /// teacher must see the same jittered batch, so distillation runs it online. Jitter moves
  /// the model inputs (after normalisation, zero fill = the mean pixel), after `augmentation`.
  TORCH_ARG(int64_t, jitter_pixels) = 0;
  /// Random crop, flip and erasing of each training batch (data/augmentation.h), drawn from a
  /// generator seeded per epoch with `seed` and the epoch (data::epoch_generator). The teacher
  /// online sees the same augmented batch; stored soft targets are refused with it.
  TORCH_ARG(data::AugmentationOptions, augmentation) = {};
  /// Gather the next batch's rows on a background thread while the current step trains
  /// (data::RowPrefetcher). The batches are the same either way, and so are the trained
  /// weights when the intra-op thread counts match (prefetch with `threads` N against no
  /// prefetch with N - 1). The thread takes a core of its own: during each epoch's steps the
  /// intra-op pool runs one thread fewer (`threads`, or LibTorch's default, minus 1), and the
  /// count is put back for evaluation and afterwards. With 1 intra-op thread the background
  /// thread comes on top. Worth it for a small student, whose step is too short to hide the
  /// memory latency of the scattered rows, and not for a large one (bench/RESULTS.md).
  /// Ignored on CUDA, where the whole set lives on the device; ignored with a logged warning
  /// when the process may run on fewer than 2 CPUs (available_cpus(), runtime.h).
  TORCH_ARG(bool, prefetch) = false;
  /// Reseed LibTorch's process-wide generator with `seed` when the phase starts
  /// (`torch::manual_seed(seed)`), so that dropout and other random layers repeat exactly.
  /// Off by default: the trainer changes no process-wide state unless asked to.
  TORCH_ARG(bool, reseed) = false;
};

/// The field table of the options a config's "training" section holds (see option_fields.h):
/// `seed`, `threads`, `device` and `reseed` are set by the caller (the config's top level).
template <typename Options, typename Visitor,
          std::enable_if_t<std::is_same_v<std::decay_t<Options>, TrainerOptions>, int> = 0>
void visit_fields(Options& o, Visitor& v) {
  v.number("epochs", o.epochs(), Bounds::closed(1, 1000000), "passes over the training set");
  v.number("batch_size", o.batch_size(), Bounds::at_least(1), "examples per step");
  v.choice("optimizer", o.optimizer(), optimizer_names(),
           "the optimiser (SGD with momentum, Nesterov's unless nesterov is false)");
  v.number("learning_rate", o.learning_rate(), Bounds::above(0), "initial learning rate");
  v.number("momentum", o.momentum(), Bounds::closed_open(0, 1), "SGD momentum; Adam ignores it");
  v.flag("nesterov", o.nesterov(), "SGD with Nesterov's momentum (false: classical momentum)");
  v.number("weight_decay", o.weight_decay(), Bounds::at_least(0), "L2, coupled as in torch.optim");
  v.choice("lr_schedule", o.lr_schedule(), lr_schedule_names(), "learning-rate schedule");
  v.number("lr_step_epochs", o.lr_step_epochs(), Bounds::at_least(1),
           "epochs between decays of the step schedule");
  v.number("lr_gamma", o.lr_gamma(), Bounds::open_closed(0, 1),
           "decay factor of the step and multistep schedules");
  v.numbers("lr_milestones", o.lr_milestones(), Bounds::at_least(1),
            "epochs after which the multistep schedule decays, increasing");
  v.number("eval_batch_size", o.eval_batch_size(), Bounds::at_least(1),
           "batch of evaluation and of teacher passes");
  v.number("jitter_pixels", o.jitter_pixels(), Bounds::closed_open(0, 8),
           "random translation of each training image, in pixels (0 = none)");
  visit_fields(o.augmentation(), v);  // crop_padding, horizontal_flip, erasing_*
  v.flag("prefetch", o.prefetch(), "gather the next batch on a background thread");
}

/// How `options` varies the training images, as a config spells it: "jitter_pixels = 2",
/// "crop_padding = 4, horizontal_flip", "erasing_size = 8 (probability 0.5)", joined by ", ";
/// empty when the images are used as they are (then the teacher's logits on the transfer set
/// can be stored once).
std::string describe_augmentation(const TrainerOptions& options);

/// The device named by `text`: "cpu", "cuda" or "cuda:N" (N a device index, 0 to 99).
/// Throws c10::Error "device must be "cpu", "cuda" or "cuda:N", got "<text>"" otherwise.
torch::Device parse_device(const std::string& text);

/// Checks every field of `options`: the table above, `lr_milestones` strictly increasing (and
/// not empty for "multistep"), `threads` in [0, 512], and `device` the CPU or an existing CUDA
/// device. Throws c10::Error naming the field and its value.
void validate(const TrainerOptions& options);

/// Progress of one step, passed to `Callback::on_batch_end`.
struct BatchProgress {
  /// What is being trained, e.g. "teacher", "student_scratch", "student_distilled".
  std::string phase;
  int64_t epoch = 0;    ///< 1-based epoch
  int64_t epochs = 0;   ///< total epochs
  int64_t batch = 0;    ///< 1-based batch within the epoch
  int64_t batches = 0;  ///< batches per epoch
  double samples_per_second = 0.0;  ///< over the epoch so far
  double eta_seconds = 0.0;         ///< estimated time left for this phase
  /// The step's training objective: a detached scalar on the training device (reading it,
  /// e.g. with `.item<double>()`, waits for the step to finish).
  torch::Tensor loss;
};

/// Results of one epoch, passed to `Callback::on_epoch_end`.
struct EpochMetrics {
  std::string phase;       ///< as in BatchProgress
  int64_t epoch = 0;       ///< 1-based
  int64_t epochs = 0;      ///< total epochs
  double train_loss = 0;   ///< mean training objective over the epoch's batches
  double learning_rate = 0;  ///< learning rate at the end of the epoch
  double seconds = 0;      ///< wall time of the epoch's training steps (excludes evaluation)
  /// Part of `seconds` the steps spent obtaining their batch (see TrainResult::data_seconds).
  double data_seconds = 0;
  double samples_per_second = 0;  ///< training throughput over the epoch
  /// Evaluations made after the epoch by callbacks (`Evaluate`, callbacks.h), by name, e.g.
  /// "test"; empty when no callback evaluates.
  std::map<std::string, EvalResult> evaluations;
};

/// What a training phase is, given to every callback before its first epoch.
struct TrainContext {
  /// As in BatchProgress.
  std::string phase;
  /// Total epochs.
  int64_t epochs = 0;
  /// The model being trained (shared, not copied): an evaluating callback runs it.
  Model model;
  /// The device it trains on.
  torch::Device device = torch::kCPU;
  /// TrainerOptions::eval_batch_size of the phase.
  int64_t eval_batch_size = 256;
};

/// Hooks called by the training loop; override what you need. After each epoch the loop puts
/// the model in eval mode and calls `on_evaluate` of every callback (which may add to
/// `metrics.evaluations`), then `on_epoch_end` of every callback, so a logger sees what every
/// evaluator added, whatever their order.
class Callback {
 public:
  virtual ~Callback() = default;
  /// Before the first epoch of a phase.
  virtual void on_train_begin(const TrainContext& /*context*/) {}
  /// After every optimiser step.
  virtual void on_batch_end(const BatchProgress& /*progress*/) {}
  /// After every epoch's steps, with the model in eval mode: add evaluations here.
  virtual void on_evaluate(EpochMetrics& /*metrics*/) {}
  /// After every epoch, once every callback has evaluated.
  virtual void on_epoch_end(const EpochMetrics& /*metrics*/) {}
  /// After the last epoch.
  virtual void on_train_end(const std::string& /*phase*/) {}
};

/// The outcome of a training phase.
struct TrainResult {
  /// Wall time of all training steps, in seconds (excludes evaluation).
  double train_seconds = 0;
  /// Part of `train_seconds` the steps spent obtaining their batch, in seconds: the sampler,
  /// gathering the rows with index_select (with `prefetch`: waiting for and finishing the
  /// background gather, and requesting the next one), and jitter.
  double data_seconds = 0;
  /// One entry per epoch.
  std::vector<EpochMetrics> history;
  /// The evaluation named `name` after the last epoch (e.g. "test" from
  /// `TrainOptions().evaluate_on("test", test_set)`).
  /// Throws c10::Error if no callback made one of that name.
  const EvalResult& evaluation(const std::string& name) const;
};

/// How `train_supervised` and `train_with_objective` run a phase.
/// Example: `TrainOptions().trainer(TrainerOptions().epochs(5)).phase("teacher")
///               .evaluate_on("test", test_set)`
struct TrainOptions {
  /// Adds an `Evaluate(name, dataset)` callback (callbacks.h) to `evaluators`: `dataset` is
  /// evaluated after every epoch and appears as `evaluations[name]`. Setting `callbacks`
  /// afterwards keeps it. Throws c10::Error if the set is unlabeled or empty.
  TrainOptions& evaluate_on(const std::string& name, const data::Dataset& dataset);
  /// Optimiser, schedule and loop settings.
  TORCH_ARG(TrainerOptions, trainer);
  /// Name of the phase in progress reports, metrics and error messages.
  TORCH_ARG(std::string, phase) = "train";
  /// Called in order at each hook (see Callback), after the evaluators.
  TORCH_ARG(std::vector<std::shared_ptr<Callback>>, callbacks);
  /// The evaluating callbacks `evaluate_on` adds, called before `callbacks` at each hook.
  TORCH_ARG(std::vector<std::shared_ptr<Callback>>, evaluators);
};

/// How `distill` runs a phase: TrainOptions plus the objective (Hinton et al. 2015, §2).
/// Example: `DistillOptions().trainer(TrainerOptions().epochs(5))
///               .loss(KDLossOptions().temperature(4)).evaluate_on("test", test_set)`
struct DistillOptions {
  /// As TrainOptions::evaluate_on.
  DistillOptions& evaluate_on(const std::string& name, const data::Dataset& dataset);
  /// Optimiser, schedule and loop settings.
  TORCH_ARG(TrainerOptions, trainer);
  /// Temperature and alpha of `functional::kd_loss`.
  TORCH_ARG(KDLossOptions, loss);
  /// Name of the phase in progress reports, metrics and error messages.
  TORCH_ARG(std::string, phase) = "distill";
  /// Called in order at each hook (see Callback), after the evaluators.
  TORCH_ARG(std::vector<std::shared_ptr<Callback>>, callbacks);
  /// As TrainOptions::evaluators.
  TORCH_ARG(std::vector<std::shared_ptr<Callback>>, evaluators);
};

/// Trains `model` on the hard labels of `train_set` with cross-entropy. The model is left in
/// eval mode on the options' device. It optimises with FusedAdam (optim.h) or SGD.
/// Throws c10::Error on invalid options, an unlabeled or empty set, or a class count the model
/// does not produce; std::runtime_error when the loss becomes NaN or infinite (with the epoch,
/// and advice to lower the learning rate).
/// Example: `auto r = train_supervised(net, train, TrainOptions().evaluate_on("test", test));`
TrainResult train_supervised(const Model& model, const data::Dataset& train_set,
                             const TrainOptions& options = TrainOptions());

/// Distils `student` from `teacher` over `transfer_set` (Hinton et al. 2015, §2), running the
/// teacher online on every batch (on the same augmented and jittered images the student sees). The objective is `functional::kd_loss` on a labeled transfer set
/// and the soft term alone (`soft_target_loss`, still T^2-scaled) on an unlabeled one. An
/// arithmetic ensemble is formed at the loss's temperature (passed to `TeacherImpl::logits`;
/// the teacher is not changed). Without augmentation it is faster to run the teacher once
/// (`compute_soft_targets`) and use the overload below: the same objective, since the teacher
/// is frozen and deterministic.
/// Throws as `train_supervised`, and c10::Error when the teacher's class count differs from
/// the student's (both counts in the message).
/// Example:
///     Teacher teacher(trained_net);
///     distill(student, teacher, train, DistillOptions().loss(KDLossOptions().temperature(4)));
TrainResult distill(const Model& student, const Teacher& teacher,
                    const data::Dataset& transfer_set, const DistillOptions& options);

/// Distils `student` from stored soft targets (see soft_targets.h), read by sample index.
/// `soft_targets` must have been computed on exactly `transfer_set` (the caller checks the
/// fingerprints with `check_soft_targets`). Soft targets of augmented views
/// (`compute_view_soft_targets`) are replayed: each step shows the student, for each example,
/// one of its stored views picked at random (from the epoch's generator, data::epoch_generator)
/// with that view's augmentation parameters, and distils towards the teacher's stored logits
/// on exactly that view.
/// Throws std::runtime_error when the training augments the images (`describe_augmentation`
/// not empty) and the soft targets are of one view (they would be stale: use the online
/// overload or stored views), or when stored views were drawn with another augmentation than
/// the training's (jitter included); c10::Error when the stored class count or example count
/// does not match, and as `train_supervised` otherwise.
TrainResult distill(const Model& student, const SoftTargets& soft_targets,
                    const data::Dataset& transfer_set, const DistillOptions& options);

/// The training objective of one step: from the model's logits `[B, C]`, the (possibly
/// jittered) inputs `[B, ...]` they came from, and the batch's row indices `[B]` int64 (on
/// the training device), a scalar loss to minimise.
using BatchObjective = std::function<torch::Tensor(
    const torch::Tensor& logits, const torch::Tensor& inputs, const torch::Tensor& indices)>;

/// The loop under `train_supervised` and `distill`, for objectives and batch compositions of
/// one's own (the specialists of Hinton et al. 2015, §5 use it with a `HalfSubsetSampler`).
/// Each epoch takes batches from `sampler` (indices into `train_set`), applies `objective`
/// and steps the optimiser. Throws c10::Error on invalid options or an empty training set;
/// std::runtime_error on a NaN or infinite loss.
TrainResult train_with_objective(const Model& model, const data::Dataset& train_set,
                                 data::Sampler& sampler, const BatchObjective& objective,
                                 const TrainOptions& options);

}  // namespace distillery
