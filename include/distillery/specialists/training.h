#pragma once
/// @file specialists/training.h
/// Training one specialist (Hinton et al. 2015, §5): batches half from its subset S and half
/// from the other classes (labelled dustbin), hard labels plus the generalist's soft targets
/// reduced to S + dustbin, then the dustbin's bias correction.

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "distillery/data/dataset.h"
#include "distillery/losses.h"
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
  /// by up to alpha's share (on Fashion-MNIST: more test errors than without the correction).
  kNatural,
};

/// A trained specialist and its training history.
struct TrainedSpecialist {
  /// The model with the dustbin bias correction applied.
  Specialist specialist;
  /// Per-epoch training loss and test evaluation (on S + dustbin labels, before the
  /// correction).
  TrainResult history;
};

/// Trains a specialist for `subset`, starting from `generalist` (see `make_specialist`).
/// Each step takes a batch from a `data::HalfSubsetSampler` over `train_set` (B/2 examples of
/// S, B/2 of the other classes) and minimises `kd_loss` at `loss_options` between the
/// specialist's logits and the generalist's logits reduced to S + dustbin (`reduce_logits`,
/// then shifted to the batches' prior unless `prior` is kNatural), with the hard labels
/// mapped by `to_specialist_labels`. An epoch passes once over the
/// examples of S. The specialist starts at the batches' prior (its dustbin logit lowered by
/// `dustbin_bias_correction(f)`, f being the share of S in `train_set`), and afterwards the
/// correction is added back (Hinton et al. 2015, §5), so it predicts at the data's prior. Evaluation after each epoch is on `test_set` with its
/// labels mapped to S + dustbin.
/// @param generalist_logits `[N, C]` float logits of the generalist on `train_set`, in order
///   (e.g. from `compute_logits`).
/// Throws c10::Error if `options.jitter_pixels()` > 0 (the soft targets are for the unjittered
/// images), if `train_set` or `test_set` is unlabeled, the logits do not have one row
/// per training example and C columns, or as `make_specialist`, `HalfSubsetSampler` and
/// `train_with_objective`.
TrainedSpecialist train_specialist(torch::nn::Sequential& generalist, const nlohmann::json& spec,
                                   const std::vector<int64_t>& subset,
                                   const data::Dataset& train_set,
                                   const torch::Tensor& generalist_logits,
                                   const data::Dataset& test_set, const TrainerOptions& options,
                                   const KDLossOptions& loss_options,
                                   SoftTargetPrior prior = SoftTargetPrior::kSampled,
                                   const std::string& phase = "specialist",
                                   const std::vector<std::shared_ptr<Callback>>& callbacks = {});

}  // namespace distillery::specialists
