#pragma once
/// @file specialists/training.h
/// Training one specialist (Hinton et al. 2015, §5): batches half from its subset S and half
/// from the other classes (labelled dustbin), hard labels plus the generalist's soft targets
/// reduced to S + dustbin, then the dustbin's bias correction.

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "distillery/data/dataset.h"
#include "distillery/losses.h"
#include "distillery/model.h"
#include "distillery/specialists/specialist.h"
#include "distillery/trainer.h"

namespace distillery::specialists {

/// Which class prior the generalist's reduced soft targets carry during specialist training.
enum class SoftTargetPrior {
  /// The prior of the half-subset batches: the reduced soft targets are multiplied by
  /// a = 0.5 / f (classes of S) and b = 0.5 / (1 - f) (dustbin) and renormalised, i.e. their
  /// logits are shifted by log a and log b. Hard and soft terms then agree on the batches'
  /// prior, so the dustbin correction log(a / b) afterwards restores the data's prior exactly.
  /// The default.
  kSampled,
  /// The generalist's own prior (the data's): the soft targets pull towards the data's prior
  /// while the hard labels pull towards the batches', so log(a / b) afterwards over-corrects
  /// by up to alpha's share (README, "Specialists").
  kNatural,
};
/// The name table of SoftTargetPrior: "sampled", "natural".
const EnumNames<SoftTargetPrior>& soft_target_prior_names();

/// The data a specialist learns from.
struct SpecialistData {
  /// Labeled training images of all C classes (the batches are drawn from it).
  data::Dataset train_set;
  /// `[N, C]` float logits of the generalist on `train_set`, in order (e.g. from
  /// `compute_logits`): its soft targets, reduced to S + dustbin.
  torch::Tensor generalist_logits;
  /// Labeled images the specialist is evaluated on, before training and after each epoch (their
  /// labels mapped to S + dustbin).
  data::Dataset test_set;
};

/// How a specialist is trained (Hinton et al. 2015, §5).
/// Example: `SpecialistTrainingOptions().trainer(TrainerOptions().epochs(5)).loss(
///     KDLossOptions().temperature(2).alpha(0.5))`
struct SpecialistTrainingOptions {
  /// The loop: optimiser, epochs, batch size (half of each batch from S), device; its
  /// `jitter_pixels` must be 0.
  TORCH_ARG(TrainerOptions, trainer);
  /// Temperature and alpha of `kd_loss` against the reduced soft targets.
  TORCH_ARG(KDLossOptions, loss);
  /// The class prior of the reduced soft targets (see SoftTargetPrior).
  TORCH_ARG(SoftTargetPrior, prior) = SoftTargetPrior::kSampled;
  /// Name of the training phase in callbacks and messages (e.g. "specialist_0").
  TORCH_ARG(std::string, phase) = "specialist";
  /// Called during training (see Callback).
  TORCH_ARG(std::vector<std::shared_ptr<Callback>>, callbacks);
};

/// A trained specialist and its training history.
struct TrainedSpecialist {
  /// The model with the dustbin bias correction applied.
  Specialist specialist;
  /// Test evaluation before training, at the batches' prior (on S + dustbin labels): where
  /// training started from.
  EvalResult start;
  /// Per-epoch training loss and test evaluation (on S + dustbin labels, before the
  /// correction).
  TrainResult history;
};

/// Trains a specialist for `subset`, starting from `generalist` (see `make_specialist`, which
/// `make_network` serves as there). Each step takes a batch from a `data::HalfSubsetSampler`
/// over `data.train_set` (B/2 examples of S, B/2 of the other classes) and minimises `kd_loss`
/// at `options.loss()` between the specialist's logits and the generalist's logits reduced to
/// S + dustbin (`reduce_logits`, then shifted to the batches' prior unless `options.prior()`
/// is kNatural), with the hard labels mapped by `to_specialist_labels`. An epoch passes once
/// over the examples of S. The specialist starts at the batches' prior (its dustbin logit
/// lowered by `dustbin_bias_correction(f)`, f being the share of S in the training set), and
/// afterwards the correction is added back (Hinton et al. 2015, §5), so it predicts at the
/// data's prior. Evaluation before training and after each epoch is on `data.test_set` with
/// its labels mapped to S + dustbin. Logs nothing (the result and the callbacks say it all).
/// Throws c10::Error if `options.trainer().jitter_pixels()` > 0 (the soft targets are for the
/// unjittered images), if the training or test set is unlabeled, the logits do not have one
/// row per training example and C columns, or as `make_specialist`, `HalfSubsetSampler` and
/// `train_with_objective`.
TrainedSpecialist train_specialist(const Model& generalist,
                                   const std::function<Model()>& make_network,
                                   const std::vector<int64_t>& subset, const SpecialistData& data,
                                   const SpecialistTrainingOptions& options);

}  // namespace distillery::specialists
