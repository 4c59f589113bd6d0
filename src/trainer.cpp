#include "distillery/trainer.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <variant>

#include "distillery/callbacks.h"
#include "distillery/optim.h"
#include "eval_mode.h"
#include "training_loop.h"

namespace distillery {
namespace {

void check_labeled(const data::Dataset& set, const char* what) {
  TORCH_CHECK(set.labeled(), what, " must be labeled");
  TORCH_CHECK(set.size() > 0, what, " is empty");
}

// Validates the options, T and alpha and the transfer set before any (possibly long) pass.
void check_distillation_inputs(const DistillOptions& options, const data::Dataset& transfer_set) {
  validate(options.trainer());
  functional::validate(options.loss());
  TORCH_CHECK(!std::holds_alternative<torch::enumtype::kNone>(options.loss().reduction()),
              "the loss's reduction must be mean or sum to train on it, got none");
  TORCH_CHECK(transfer_set.size() > 0, "the transfer set is empty");
}

// The model's logits for `probe`, on the probe's device, in eval mode and without autograd;
// each module's own mode is given back. Used to check shapes before training.
torch::Tensor probe_logits(const Model& model, const torch::Tensor& probe) {
  torch::NoGradGuard no_grad;
  detail::EvalModeGuard eval(model.ptr());
  model->to(probe.device());
  return model(probe);
}

// Refuses a teacher whose class count differs from the student's, before training.
void check_class_counts(int64_t teacher_classes, const Model& student,
                        const torch::Tensor& probe) {
  const auto student_logits = probe_logits(student, probe);
  TORCH_CHECK(student_logits.dim() == 2, "the student's logits must be [B, C], got shape ",
              student_logits.sizes());
  const auto student_classes = student_logits.size(1);
  TORCH_CHECK(teacher_classes == student_classes, "the teacher has ", teacher_classes,
              " classes but the student has ", student_classes,
              "; both must predict the same classes");
}

// Refuses a model whose logits do not have one column per class of `set`, before training.
void check_output_width(const Model& model, const data::Dataset& set, torch::Device device) {
  const auto logits = probe_logits(model, set.inputs(0, 1, device));
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) == set.num_classes, "the model's logits have "
              "shape ", logits.sizes(), " but the training set has ", set.num_classes,
              " classes; the model must output [B, ", set.num_classes, "]");
}

TrainOptions phase_options(const DistillOptions& o) {
  return TrainOptions().trainer(o.trainer()).phase(o.phase()).callbacks(o.callbacks())
      .evaluators(o.evaluators());
}

// kd_loss on a labeled transfer set; the soft term alone (alpha taken as 1) on an unlabeled one.
torch::Tensor distillation_loss(const torch::Tensor& logits, const torch::Tensor& teacher_logits,
                                const torch::Tensor& labels, const torch::Tensor& indices,
                                const KDLossOptions& o) {
  if (!labels.defined()) {
    return functional::soft_target_loss(
        logits, teacher_logits,
        SoftTargetLossOptions().temperature(o.temperature()).reduction(o.reduction()));
  }
  return functional::kd_loss(logits, teacher_logits, labels.index_select(0, indices), o);
}

// Every example once per epoch, shuffled from the run's seed.
TrainResult fit(const Model& model, const data::Dataset& train_set,
                const BatchObjective& batch_loss, const TrainOptions& options,
                detail::ViewReplay* replay = nullptr) {
  data::BatchSampler sampler(train_set.size(), options.trainer().batch_size(), /*shuffle=*/true,
                             options.trainer().seed());
  return detail::fit(model, train_set, sampler, batch_loss, options, replay);
}

// Stored soft targets fit the training's augmentation: none for one view; for stored views,
// the training's augmentation is the one they were drawn with (and no jitter on top).
void check_stored_augmentation(const SoftTargets& soft_targets, const DistillOptions& options) {
  const auto& trainer = options.trainer();
  const auto augmented = describe_augmentation(trainer);
  if (!soft_targets.view_parameters.defined()) {
    if (augmented.empty()) return;
    throw std::runtime_error(
        options.phase() + ": stored soft targets would be stale with " + augmented +
        " (the student sees augmented images the teacher never saw); store augmented views "
        "(compute_view_soft_targets) or distil with the teacher online instead");
  }
  const auto stored = describe_augmentation(TrainerOptions().augmentation(soft_targets.augmentation));
  if (augmented != stored) {
    throw std::runtime_error(
        options.phase() + ": the stored views were drawn with " + stored + " but the training "
        "asks for " + (augmented.empty() ? std::string("no augmentation") : augmented) +
        "; compute the views again with the training's augmentation, or train with theirs");
  }
}

}  // namespace

const EnumNames<Optimizer>& optimizer_names() {
  static const EnumNames<Optimizer> names{{{Optimizer::kAdam, "adam"}, {Optimizer::kSgd, "sgd"}}};
  return names;
}

const EnumNames<LrSchedule>& lr_schedule_names() {
  static const EnumNames<LrSchedule> names{{{LrSchedule::kConstant, "constant"},
                                            {LrSchedule::kCosine, "cosine"},
                                            {LrSchedule::kStep, "step"},
                                            {LrSchedule::kMultiStep, "multistep"}}};
  return names;
}

torch::Device parse_device(const std::string& text) {
  const bool cuda_index = text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() <= 7 &&
                          text.find_first_not_of("0123456789", 5) == std::string::npos &&
                          (text.size() == 6 || text[5] != '0');  // no leading zero
  TORCH_CHECK(text == "cpu" || text == "cuda" || cuda_index,
              "device must be \"cpu\", \"cuda\" or \"cuda:N\", got \"", text, "\"");
  return torch::Device(text);
}

void validate(const TrainerOptions& o) {
  check_fields(o);
  const auto& milestones = o.lr_milestones();
  TORCH_CHECK(std::adjacent_find(milestones.begin(), milestones.end(),
                                 std::greater_equal<int64_t>()) == milestones.end(),
              "lr_milestones must be strictly increasing, got ", c10::ArrayRef<int64_t>(milestones));
  TORCH_CHECK(o.lr_schedule() != LrSchedule::kMultiStep || !milestones.empty(),
              "lr_schedule \"multistep\" needs lr_milestones (e.g. [150, 180, 210])");
  TORCH_CHECK(o.threads() >= 0 && o.threads() <= 512, "threads must be in [0, 512], got ",
              o.threads());
  const auto device = o.device();
  TORCH_CHECK(device.is_cpu() || device.is_cuda(), "device must be the CPU or a CUDA device, got ",
              device);
  if (device.is_cuda()) {
    TORCH_CHECK(torch::cuda::is_available(), "device \"", device.str(),
                "\" requested but CUDA is not available; use \"cpu\"");
    TORCH_CHECK(!device.has_index() ||
                    device.index() < static_cast<int64_t>(torch::cuda::device_count()),
                "device \"", device.str(), "\" requested but only ", torch::cuda::device_count(),
                " CUDA device(s) exist");
  }
}

std::string describe_augmentation(const TrainerOptions& o) {
  std::vector<std::string> parts;
  if (o.jitter_pixels() > 0) parts.push_back("jitter_pixels = " + std::to_string(o.jitter_pixels()));
  const auto& a = o.augmentation();
  if (a.crop_padding() > 0) parts.push_back("crop_padding = " + std::to_string(a.crop_padding()));
  if (a.horizontal_flip()) parts.push_back("horizontal_flip");
  if (a.erasing_size() > 0 && a.erasing_probability() > 0) {
    std::ostringstream erasing;
    erasing << "erasing_size = " << a.erasing_size();
    if (a.erasing_probability() < 1) erasing << " (probability " << a.erasing_probability() << ")";
    parts.push_back(erasing.str());
  }
  std::string text;
  for (const auto& part : parts) text += (text.empty() ? "" : ", ") + part;
  return text;
}

const EvalResult& TrainResult::evaluation(const std::string& name) const {
  TORCH_CHECK(!history.empty() && history.back().evaluations.count(name) > 0,
              "no evaluation named \"", name, "\" after the last epoch; add one with "
              "evaluate_on(\"", name, "\", dataset) or an Evaluate callback");
  return history.back().evaluations.at(name);
}

TrainOptions& TrainOptions::evaluate_on(const std::string& name, const data::Dataset& dataset) {
  evaluators_.push_back(std::make_shared<Evaluate>(name, dataset));
  return *this;
}

DistillOptions& DistillOptions::evaluate_on(const std::string& name,
                                            const data::Dataset& dataset) {
  evaluators_.push_back(std::make_shared<Evaluate>(name, dataset));
  return *this;
}

TrainResult train_supervised(const Model& model, const data::Dataset& train_set,
                             const TrainOptions& options) {
  validate(options.trainer());
  check_labeled(train_set, "the training set");
  check_output_width(model, train_set, options.trainer().device());
  const auto labels = train_set.labels.to(options.trainer().device());
  auto loss = [&](const torch::Tensor& logits, const torch::Tensor&, const torch::Tensor& indices) {
    return torch::cross_entropy_loss(logits, labels.index_select(0, indices));
  };
  return fit(model, train_set, loss, options);
}

TrainResult train_with_objective(const Model& model, const data::Dataset& train_set,
                                 data::Sampler& sampler, const BatchObjective& objective,
                                 const TrainOptions& options) {
  validate(options.trainer());
  TORCH_CHECK(train_set.size() > 0, "the training set is empty");
  return detail::fit(model, train_set, sampler, objective, options);
}

TrainResult distill(const Model& student, const Teacher& teacher,
                    const data::Dataset& transfer_set, const DistillOptions& options) {
  check_distillation_inputs(options, transfer_set);
  const auto& loss_options = options.loss();
  const torch::Device device = options.trainer().device();
  auto& t = *teacher.ptr();
  t.to(device);
  const auto probe = transfer_set.inputs(0, 1, device);
  check_class_counts(t.forward(probe).size(1), student, probe);
  const auto labels = transfer_set.labeled() ? transfer_set.labels.to(device) : torch::Tensor();
  // Batches on which the teacher gave NaN or infinite logits, counted on the device (no sync
  // per step) and read only when training fails, to blame the right model.
  auto teacher_faults = torch::zeros({}, torch::TensorOptions(torch::kInt64).device(device));
  auto loss = [&](const torch::Tensor& logits, const torch::Tensor& inputs,
                  const torch::Tensor& indices) {
    // [B, C], on the same jittered batch, combined at the loss's temperature
    const auto v = t.logits(inputs, loss_options.temperature());
    teacher_faults.add_(torch::isfinite(v).all().logical_not());
    return distillation_loss(logits, v, labels, indices, loss_options);
  };
  try {
    return fit(student, transfer_set, loss, phase_options(options));
  } catch (const std::runtime_error&) {
    const auto faults = teacher_faults.item<int64_t>();
    if (faults == 0) throw;
    throw std::runtime_error(options.phase() + ": the teacher's logits were not finite (NaN or "
                             "infinite) on " + std::to_string(faults) + " batches; the teacher "
                             "itself is broken (check its weights or how it was trained), not "
                             "the student's settings");
  }
}

TrainResult distill(const Model& student, const SoftTargets& soft_targets,
                    const data::Dataset& transfer_set, const DistillOptions& options) {
  check_distillation_inputs(options, transfer_set);
  const auto& trainer = options.trainer();
  check_stored_augmentation(soft_targets, options);
  TORCH_CHECK(soft_targets.member_logits.dim() == 3 &&
                  soft_targets.size() == transfer_set.size(),
              "the stored soft targets hold ",
              soft_targets.member_logits.dim() == 3 ? soft_targets.size() : -1,
              " examples but the transfer set has ", transfer_set.size());
  const torch::Device device = trainer.device();
  const auto probe = transfer_set.inputs(0, 1, device);
  check_class_counts(soft_targets.num_classes(), student, probe);
  SoftTargets on_device = soft_targets;
  on_device.member_logits = soft_targets.member_logits.to(device);
  const auto labels = transfer_set.labeled() ? transfer_set.labels.to(device) : torch::Tensor();
  const auto temperature = options.loss().temperature();
  std::optional<detail::ViewReplay> replay;
  if (soft_targets.view_parameters.defined()) {
    replay = detail::ViewReplay{soft_targets.view_parameters.to(device), soft_targets.augmentation,
                                torch::Tensor()};
  }
  auto loss = [&](const torch::Tensor& logits, const torch::Tensor&, const torch::Tensor& indices) {
    // [B, C]: with stored views, the rows of the views the student was shown
    const auto v = on_device.logits(replay ? replay->rows : indices, temperature);
    return distillation_loss(logits, v, labels, indices, options.loss());
  };
  return fit(student, transfer_set, loss, phase_options(options), replay ? &*replay : nullptr);
}

}  // namespace distillery
