#pragma once
/// @file soft_targets.h
/// Teacher logits computed once per transfer set, stored in a file, and read back by sample
/// index, so distillation costs what training the student alone costs (the teacher's forward
/// pass is paid once, not once per epoch).
///
/// File format (all integers little-endian):
///
///     offset  size  field
///          0     8  magic "DSTLSOFT"
///          8     4  version (uint32): 1, or 2 for soft targets of augmented views
///         12     4  dtype (uint32): 0 = float32
///         16     8  members M (uint64): 1 for one teacher, M for an ensemble
///         24     8  examples N (uint64)
///         32     8  classes C (uint64)
///         40     4  ensemble mode (uint32): 0 = arithmetic, 1 = geometric
///         44     4  views K (uint32): 0 in version 1 (one view, the images as they are)
///         48     8  teacher fingerprint (uint64, TeacherImpl::fingerprint)
///         56     8  transfer-set fingerprint (uint64, fingerprint_transfer_set)
///         64     4  CRC-32 of the payload (uint32)
///         68     4  CRC-32 of bytes 0..67 (uint32)
///         72     -  payload: member logits, float32, row-major [M, N, C] ([M, K * N, C] in
///                   version 2: view k of example i in row k * N + i); in version 2 then the
///                   augmentation the views were drawn with, four 8-byte fields (int64
///                   crop_padding, int64 horizontal_flip 0/1, int64 erasing_size, float64
///                   erasing_probability), and each view's parameters, int64 [K, N, 5]
///                   (data/augmentation.h). The payload checksum covers all of it.
///
/// Soft targets of augmented views answer the staleness of stored soft targets under
/// augmentation: the teacher's logits are stored for K augmented views of each example with
/// the parameters of each view, and the student is shown exactly a stored view (its parameters
/// replayed), so the stored logits are the teacher's on what the student sees (the replay of
/// Shen & Xing 2022, "A Fast Knowledge Distillation Framework for Visual Recognition", for
/// crops; here crop, flip and erasing).
///
/// Member logits (not the combined distribution) are stored, so that the temperature of an
/// arithmetic ensemble can change without recomputing them.

#include <torch/types.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "distillery/data/augmentation.h"
#include "distillery/data/dataset.h"
#include "distillery/teacher.h"

namespace distillery {

/// Thrown for stored soft targets that cannot be used and must be computed again (with
/// `compute_soft_targets`): a damaged file (a checksum mismatch), or soft targets made with
/// another teacher or for other data. `what()` names the path and says which.
class StaleSoftTargetsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Teacher logits for every example of a transfer set.
struct SoftTargets {
  /// `[M, N, C]` float32 on the CPU (or the training device once moved): the logits of each
  /// ensemble member for each transfer-set example; for K augmented views `[M, K * N, C]`,
  /// view k of example i in row k * N + i.
  torch::Tensor member_logits;
  /// How the members are combined (irrelevant for M = 1).
  EnsembleMode mode = EnsembleMode::kGeometric;
  /// Fingerprint of the teacher that produced them.
  uint64_t teacher_fingerprint = 0;
  /// Fingerprint of the transfer set they were computed on.
  uint64_t transfer_fingerprint = 0;

  /// For soft targets of augmented views (`compute_view_soft_targets`): each view's
  /// augmentation parameters, `[K, N, 5]` int64 (data::sample_augmentation's columns);
  /// undefined for soft targets of the images as they are.
  torch::Tensor view_parameters;
  /// The augmentation the views were drawn with (all off without views).
  data::AugmentationOptions augmentation;

  /// Number of views K of each example: 1 without `view_parameters`.
  int64_t views() const { return view_parameters.defined() ? view_parameters.size(0) : 1; }
  /// Number of examples N.
  int64_t size() const { return member_logits.size(1) / views(); }
  /// Number of classes C.
  int64_t num_classes() const { return member_logits.size(2); }
  /// Combined teacher logits `[B, C]` for the rows at `indices` (`[B]` int64, on the same
  /// device as `member_logits`: example indices, or k * N + i for view k of example i), at
  /// `temperature` (used by an arithmetic ensemble).
  torch::Tensor logits(const torch::Tensor& indices, double temperature) const;
};

/// Fingerprint of a transfer set's images (shape, dtype, values) and, for uint8 pixels, of
/// the normalisation that makes them model inputs: two sets with the same fingerprint give the
/// same teacher logits. Throws std::invalid_argument as `Normalization::check`.
uint64_t fingerprint_transfer_set(const data::Dataset& transfer_set);

/// Runs `teacher` (each member separately) over `transfer_set` in batches of `batch_size`
/// on `device`, without autograd. Returns logits on the CPU. On a CPU, batches of a few
/// hundred keep a ConvNet teacher's activations in cache (bench/RESULTS.md).
/// Throws c10::Error if the transfer set is empty, and std::runtime_error "the teacher's logits
/// are not finite (NaN or infinite) for K of the N transfer-set images (the first is image i);
/// ..." if the teacher returns NaN or infinite logits for any image.
SoftTargets compute_soft_targets(Teacher& teacher, const data::Dataset& transfer_set,
                                 int64_t batch_size = 1000, torch::Device device = torch::kCPU);

/// Runs `teacher` over `views` augmented views of every example of `transfer_set`: view k's
/// parameters are drawn by `data::sample_augmentation` with `augmentation` from
/// `view_generator(seed, k)`, and its inputs are `data::augmented_inputs`, exactly as the
/// trainer makes an augmented batch, so that replaying a view's parameters reproduces the
/// teacher's input. Batches of `batch_size` on `device`, without autograd.
/// @returns member logits `[M, K * N, C]` on the CPU, `view_parameters` `[K, N, 5]`,
/// `augmentation`, and the fingerprints (those of the plain soft targets).
/// Throws c10::Error if the set is empty, `views` < 1, `batch_size` <= 0, `augmentation` has
/// nothing on or a field out of range, or `crop_padding` does not fit the images; the teacher's
/// non-finite logits as `compute_soft_targets` (an image is named if any view is not finite).
SoftTargets compute_view_soft_targets(Teacher& teacher, const data::Dataset& transfer_set,
                                      int64_t views, const data::AugmentationOptions& augmentation,
                                      uint64_t seed, int64_t batch_size = 1000,
                                      torch::Device device = torch::kCPU);

/// The generator view `view` of `compute_view_soft_targets` draws from for `seed`: apart from
/// every epoch's (data::epoch_generator(seed, epoch) for epoch >= 0).
at::Generator view_generator(uint64_t seed, int64_t view);

/// Writes `targets` to `path` in the format above, atomically: version 1 without views,
/// version 2 with them.
/// Throws std::runtime_error naming the path on I/O errors.
void save_soft_targets(const std::string& path, const SoftTargets& targets);

/// Reads a file written by `save_soft_targets`, checking its magic, version, sizes and both
/// checksums. Throws std::runtime_error naming the path and saying what is wrong:
/// "not a distillery soft-targets file", "unsupported soft-targets version ...", "truncated:
/// ..."; StaleSoftTargetsError "<path>: damaged (header checksum mismatch)" or "<path>:
/// damaged (payload checksum mismatch)".
SoftTargets load_soft_targets(const std::string& path);

/// Checks that stored soft targets belong to the teacher and the transfer set of the given
/// fingerprints (`Teacher::fingerprint`, `fingerprint_transfer_set`). Throws
/// StaleSoftTargetsError "<path>: made with another teacher (fingerprint X, expected Y)" or
/// "<path>: made for other data (transfer-set fingerprint X, expected Y)".
void check_soft_targets(const SoftTargets& targets, const std::string& path,
                        uint64_t teacher_fingerprint, uint64_t transfer_fingerprint);

}  // namespace distillery
