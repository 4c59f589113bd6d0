#include "distillery/specialists/training.h"

#include <torch/torch.h>

#include <cmath>

#include "distillery/data/sampler.h"

namespace distillery::specialists {
namespace {

void check_specialist_inputs(const data::Dataset& train_set, const torch::Tensor& generalist_logits,
                             const data::Dataset& test_set, const TrainerOptions& options,
                             const KDLossOptions& loss_options, const std::string& phase) {
  validate(options);
  functional::validate(loss_options);
  TORCH_CHECK(describe_augmentation(options).empty(), phase, ": no augmentation for a "
              "specialist, got ", describe_augmentation(options), " (its soft targets are the "
              "generalist's logits on the training images as they are)");
  TORCH_CHECK(train_set.labeled() && test_set.labeled(),
              "specialists are trained and evaluated on labeled sets");
  const int64_t classes = train_set.num_classes;
  TORCH_CHECK(generalist_logits.dim() == 2 && generalist_logits.size(0) == train_set.size() &&
                  generalist_logits.size(1) == classes,
              "the generalist's logits must be [", train_set.size(), ", ", classes, "], got ",
              generalist_logits.sizes());
}

}  // namespace

const EnumNames<SoftTargetPrior>& soft_target_prior_names() {
  static const EnumNames<SoftTargetPrior> names{
      {{SoftTargetPrior::kSampled, "sampled"}, {SoftTargetPrior::kNatural, "natural"}}};
  return names;
}

TrainedSpecialist train_specialist(const Model& generalist,
                                   const std::function<Model()>& make_network,
                                   const std::vector<int64_t>& subset,
                                   const SpecialistData& specialist_data,
                                   const SpecialistTrainingOptions& specialist_options) {
  const auto& [train_set, generalist_logits, test_set] = specialist_data;
  const auto& options = specialist_options.trainer();
  const auto& loss_options = specialist_options.loss();
  const auto prior = specialist_options.prior();
  const auto& phase = specialist_options.phase();
  const auto& callbacks = specialist_options.callbacks();
  check_specialist_inputs(train_set, generalist_logits, test_set, options, loss_options, phase);
  const int64_t classes = train_set.num_classes;
  TrainedSpecialist out{make_specialist(generalist, make_network, classes, subset), {}, {}};
  Specialist& s = out.specialist;

  data::HalfSubsetSampler sampler(train_set.labels, subset, options.batch_size(), options.seed());
  s.subset_share = sampler.subset_share();
  const double correction = dustbin_bias_correction(s.subset_share);
  // Start at the batches' prior: the generalist's reduced prediction with the dustbin lowered
  // by log(a / b). Learning that shift through the weights would take thousands of small
  // steps; without it the correction afterwards over-corrects.
  shift_dustbin_bias(s, -correction);
  const torch::Device device(options.device());
  const auto labels = to_specialist_labels(train_set.labels, subset, classes).to(device);
  // Soft targets: the generalist's distribution at T reduced to S + dustbin, computed once,
  // and moved to the batches' prior (S over-sampled by a, the dustbin under-sampled by b).
  auto reduced = reduce_logits(generalist_logits.to(device, torch::kFloat32), subset,
                               loss_options.temperature());
  if (prior == SoftTargetPrior::kSampled) reduced = to_sampled_prior(reduced, s.subset_share);
  data::Dataset test = test_set;
  test.labels = to_specialist_labels(test_set.labels, subset, classes);
  test.num_classes = static_cast<int64_t>(subset.size()) + 1;

  auto objective = [&](const torch::Tensor& logits, const torch::Tensor&,
                       const torch::Tensor& indices) {
    return functional::kd_loss(logits, reduced.index_select(0, indices),
                               labels.index_select(0, indices), loss_options);
  };
  s.model->eval();
  out.start = evaluate(s.model, test, options.eval_batch_size(), device);
  out.history = train_with_objective(
      s.model, train_set, sampler, objective,
      TrainOptions().trainer(options).phase(phase).callbacks(callbacks).evaluate_on("test", test));
  shift_dustbin_bias(s, correction);
  s.dustbin_correction = correction;
  return out;
}

}  // namespace distillery::specialists
