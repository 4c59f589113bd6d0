#include "distillery/soft_targets.h"

#include <zlib.h>

#include <torch/torch.h>

#include <cstring>
#include <functional>
#include <utility>
#include <vector>
#include <stdexcept>

#include "distillery/fingerprint.h"
#include "distillery/io.h"
#include "distillery/option_fields.h"

namespace distillery {
namespace {

constexpr char kMagic[8] = {'D', 'S', 'T', 'L', 'S', 'O', 'F', 'T'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kFloat32 = 0;
constexpr std::size_t kHeaderSize = 72;
constexpr std::size_t kHeaderChecked = 68;

template <typename T>
void put(std::string& out, std::size_t offset, T value) {
  std::memcpy(out.data() + offset, &value, sizeof value);  // little-endian hosts only
}

template <typename T>
T get(const std::string& in, std::size_t offset) {
  T value;
  std::memcpy(&value, in.data() + offset, sizeof value);
  return value;
}

uint32_t crc_of(const void* data, std::size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* bytes = static_cast<const Bytef*>(data);
  constexpr std::size_t kPiece = std::size_t{1} << 30;
  for (std::size_t offset = 0; offset < size; offset += kPiece) {
    crc = crc32(crc, bytes + offset, static_cast<uInt>(std::min(kPiece, size - offset)));
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

torch::Tensor SoftTargets::logits(const torch::Tensor& indices, double temperature) const {
  const auto selected = member_logits.index_select(1, indices);  // [M, B, C]
  return combine_member_logits(selected, mode, temperature);     // [B, C]
}

uint64_t fingerprint_transfer_set(const data::Dataset& transfer_set) {
  if (!transfer_set.holds_pixels() || !transfer_set.normalization) {
    return fingerprint_tensors({transfer_set.images});
  }
  // The teacher sees normalised pixels: another normalisation makes other soft targets.
  const auto channels = transfer_set.images.size(1);
  const auto& norm = *transfer_set.normalization;
  return fingerprint_tensors({transfer_set.images,
                              torch::tensor(norm.means(channels), torch::kFloat64),
                              torch::tensor(norm.stds(channels), torch::kFloat64)});
}

namespace {

// The teacher's member logits [M, K * N, C] (float32, CPU) for K views of N examples, view k
// of examples [start, start + count) given by `inputs_of(k, start, count)` on the device.
torch::Tensor member_logits_of_views(
    Teacher& teacher, int64_t views, int64_t examples, int64_t batch_size,
    const std::function<torch::Tensor(int64_t, int64_t, int64_t)>& inputs_of) {
  // One output tensor, filled in place: keeping a small tensor per batch alive between the
  // batches' large transient ones fragments the heap (it grew by 700 MB over 60,000 images).
  torch::Tensor all;
  for (int64_t view = 0; view < views; ++view) {
    for (int64_t start = 0; start < examples; start += batch_size) {
      const auto count = std::min(batch_size, examples - start);
      const auto logits = teacher->member_logits(inputs_of(view, start, count));  // [M, b, C]
      if (!all.defined()) {
        all = torch::empty({logits.size(0), views * examples, logits.size(2)}, torch::kFloat32);
      }
      all.narrow(1, view * examples + start, count).copy_(logits);
    }
  }
  // An image is named when any member's logits on any of its views are not finite.
  const auto finite = torch::isfinite(all).all(2).all(0).view({views, examples}).all(0);  // [N]
  if (!finite.all().item<bool>()) {
    const auto bad = (~finite).nonzero().flatten();
    throw std::runtime_error(
        "the teacher's logits are not finite (NaN or infinite) for " +
        std::to_string(bad.numel()) + " of the " + std::to_string(examples) +
        " transfer-set images (the first is image " + std::to_string(bad[0].item<int64_t>()) +
        "); the teacher itself is broken (check its weights or how it was trained), not the "
        "student's settings");
  }
  return all;
}

SoftTargets soft_targets_of(Teacher& teacher, const data::Dataset& transfer_set,
                            torch::Tensor member_logits) {
  SoftTargets out;
  out.member_logits = std::move(member_logits);
  out.mode = teacher->mode();
  out.teacher_fingerprint = teacher->fingerprint();
  out.transfer_fingerprint = fingerprint_transfer_set(transfer_set);
  return out;
}

}  // namespace

SoftTargets compute_soft_targets(Teacher& teacher, const data::Dataset& transfer_set,
                                 int64_t batch_size, torch::Device device) {
  TORCH_CHECK(transfer_set.size() > 0, "the transfer set is empty");
  TORCH_CHECK(batch_size > 0, "batch_size must be > 0, got ", batch_size);
  teacher->to(device);
  auto all = member_logits_of_views(teacher, 1, transfer_set.size(), batch_size,
                                    [&](int64_t, int64_t start, int64_t count) {
                                      return transfer_set.inputs(start, count, device);
                                    });
  return soft_targets_of(teacher, transfer_set, std::move(all));
}

SoftTargets compute_view_soft_targets(Teacher& teacher, const data::Dataset& transfer_set,
                                      int64_t views, const data::AugmentationOptions& augmentation,
                                      uint64_t seed, int64_t batch_size, torch::Device device) {
  TORCH_CHECK(transfer_set.size() > 0, "the transfer set is empty");
  TORCH_CHECK(batch_size > 0, "batch_size must be > 0, got ", batch_size);
  TORCH_CHECK(views >= 1, "views must be >= 1, got ", views);
  TORCH_CHECK(augmentation.any(), "soft targets of augmented views need an augmentation (crop, "
              "flip or erasing); without one, compute_soft_targets stores the one view");
  check_fields(augmentation);
  const auto n = transfer_set.size();
  std::vector<torch::Tensor> parameters;  // K of [N, 5]
  for (int64_t view = 0; view < views; ++view) {
    auto generator = view_generator(seed, view);
    parameters.push_back(data::sample_augmentation(n, transfer_set.images.size(2),
                                                   transfer_set.images.size(3), augmentation,
                                                   generator));
  }
  teacher->to(device);
  auto all = member_logits_of_views(
      teacher, views, n, batch_size, [&](int64_t view, int64_t start, int64_t count) {
        const auto rows = transfer_set.images.narrow(0, start, count).to(device);
        const auto p = parameters[view].narrow(0, start, count).to(device);
        return data::augmented_inputs(transfer_set, rows, p, augmentation);
      });
  auto out = soft_targets_of(teacher, transfer_set, std::move(all));
  out.view_parameters = torch::stack(parameters);  // [K, N, 5]
  out.augmentation = augmentation;
  return out;
}

at::Generator view_generator(uint64_t seed, int64_t view) {
  return data::epoch_generator(seed, -1 - view);  // streams apart from the epochs' (>= 0)
}

namespace {

constexpr uint32_t kViewsVersion = 2;
constexpr std::size_t kAugmentationBytes = 32;

// Version 2's augmentation record and view parameters, after the logits.
std::string views_record(const SoftTargets& targets) {
  const auto& a = targets.augmentation;
  std::string record(kAugmentationBytes, '\0');
  put<int64_t>(record, 0, a.crop_padding());
  put<int64_t>(record, 8, a.horizontal_flip() ? 1 : 0);
  put<int64_t>(record, 16, a.erasing_size());
  put<double>(record, 24, a.erasing_probability());
  const auto parameters = targets.view_parameters.to(torch::kCPU, torch::kInt64).contiguous();
  record.append(static_cast<const char*>(parameters.data_ptr()), parameters.nbytes());
  return record;
}

// Version 2's augmentation record and view parameters at `offset` of `bytes` (sizes checked).
void read_views_record(const std::string& bytes, std::size_t offset, uint64_t views,
                       SoftTargets& out) {
  out.augmentation = data::AugmentationOptions()
                         .crop_padding(get<int64_t>(bytes, offset))
                         .horizontal_flip(get<int64_t>(bytes, offset + 8) != 0)
                         .erasing_size(get<int64_t>(bytes, offset + 16))
                         .erasing_probability(get<double>(bytes, offset + 24));
  const auto examples = static_cast<int64_t>(out.member_logits.size(1) / views);
  out.view_parameters = torch::empty({static_cast<int64_t>(views), examples, 5}, torch::kInt64);
  std::memcpy(out.view_parameters.data_ptr(), bytes.data() + offset + kAugmentationBytes,
              out.view_parameters.nbytes());
}

}  // namespace

void save_soft_targets(const std::string& path, const SoftTargets& targets) {
  const auto logits = targets.member_logits.to(torch::kCPU, torch::kFloat32).contiguous();
  TORCH_CHECK(logits.dim() == 3, "member_logits must be [M, N, C], got ", logits.sizes());
  const bool views = targets.view_parameters.defined();
  TORCH_CHECK(!views || (targets.view_parameters.dim() == 3 &&
                         targets.view_parameters.size(1) * targets.views() == logits.size(1) &&
                         targets.view_parameters.size(2) == data::kAugmentationColumns),
              "view_parameters must be [K, N, 5] with K * N = ", logits.size(1), " rows, got ",
              targets.view_parameters.sizes());
  std::string header(kHeaderSize, '\0');
  std::memcpy(header.data(), kMagic, sizeof kMagic);
  put<uint32_t>(header, 8, views ? kViewsVersion : kVersion);
  put<uint32_t>(header, 12, kFloat32);
  put<uint64_t>(header, 16, static_cast<uint64_t>(logits.size(0)));
  put<uint64_t>(header, 24, static_cast<uint64_t>(targets.size()));
  put<uint64_t>(header, 32, static_cast<uint64_t>(logits.size(2)));
  put<uint32_t>(header, 40, targets.mode == EnsembleMode::kArithmetic ? 0u : 1u);
  put<uint32_t>(header, 44, views ? static_cast<uint32_t>(targets.views()) : 0u);
  put<uint64_t>(header, 48, targets.teacher_fingerprint);
  put<uint64_t>(header, 56, targets.transfer_fingerprint);
  const std::string_view logit_bytes(static_cast<const char*>(logits.data_ptr()), logits.nbytes());
  const std::string record = views ? views_record(targets) : std::string();
  uLong crc = crc_of(logits.data_ptr(), logits.nbytes());
  if (views) crc = crc32_combine(crc, crc_of(record.data(), record.size()), record.size());
  put<uint32_t>(header, 64, static_cast<uint32_t>(crc));
  put<uint32_t>(header, 68, crc_of(header.data(), kHeaderChecked));
  write_file_atomic(path, {header, logit_bytes, record});
}

SoftTargets load_soft_targets(const std::string& path) {
  const std::string bytes = read_file(path);
  if (bytes.size() < kHeaderSize || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    throw std::runtime_error(path + ": not a distillery soft-targets file (bad magic or shorter "
                                    "than the 72-byte header)");
  }
  if (get<uint32_t>(bytes, 68) != crc_of(bytes.data(), kHeaderChecked)) {
    throw StaleSoftTargetsError(path + ": damaged (header checksum mismatch)");
  }
  const auto version = get<uint32_t>(bytes, 8);
  if ((version != kVersion && version != kViewsVersion) || get<uint32_t>(bytes, 12) != kFloat32) {
    throw std::runtime_error(path + ": unsupported soft-targets version " +
                             std::to_string(version) + " (this build reads versions 1 and 2, "
                             "float32)");
  }
  const uint64_t views = version == kViewsVersion ? get<uint32_t>(bytes, 44) : 1;
  const auto members = get<uint64_t>(bytes, 16), examples = get<uint64_t>(bytes, 24),
             classes = get<uint64_t>(bytes, 32);
  const uint64_t rows = views * examples;
  const uint64_t logit_bytes = members * rows * classes * sizeof(float);
  if (views == 0 || members == 0 || examples == 0 || classes == 0 || rows / views != examples ||
      logit_bytes / sizeof(float) / members / rows != classes || rows > (uint64_t{1} << 40)) {
    throw std::runtime_error(path + ": damaged (impossible shape)");
  }
  const uint64_t expected = logit_bytes + (version == kViewsVersion
                                               ? kAugmentationBytes + rows * 5 * sizeof(int64_t)
                                               : 0);
  if (bytes.size() - kHeaderSize != expected) {
    throw std::runtime_error(path + ": truncated: header promises " + std::to_string(expected) +
                             " payload bytes but the file holds " +
                             std::to_string(bytes.size() - kHeaderSize));
  }
  if (get<uint32_t>(bytes, 64) != crc_of(bytes.data() + kHeaderSize, expected)) {
    throw StaleSoftTargetsError(path + ": damaged (payload checksum mismatch)");
  }
  SoftTargets out;
  out.member_logits = torch::empty({static_cast<int64_t>(members), static_cast<int64_t>(rows),
                                    static_cast<int64_t>(classes)},
                                   torch::kFloat32);
  std::memcpy(out.member_logits.data_ptr(), bytes.data() + kHeaderSize, logit_bytes);
  out.mode = get<uint32_t>(bytes, 40) == 0 ? EnsembleMode::kArithmetic : EnsembleMode::kGeometric;
  out.teacher_fingerprint = get<uint64_t>(bytes, 48);
  out.transfer_fingerprint = get<uint64_t>(bytes, 56);
  if (version == kViewsVersion) read_views_record(bytes, kHeaderSize + logit_bytes, views, out);
  return out;
}

void check_soft_targets(const SoftTargets& targets, const std::string& path,
                        uint64_t teacher_fingerprint, uint64_t transfer_fingerprint) {
  if (targets.teacher_fingerprint != teacher_fingerprint) {
    throw StaleSoftTargetsError(path + ": made with another teacher (fingerprint " +
                                fingerprint_hex(targets.teacher_fingerprint) + ", expected " +
                                fingerprint_hex(teacher_fingerprint) + ")");
  }
  if (targets.transfer_fingerprint != transfer_fingerprint) {
    throw StaleSoftTargetsError(path + ": made for other data (transfer-set fingerprint " +
                                fingerprint_hex(targets.transfer_fingerprint) + ", expected " +
                                fingerprint_hex(transfer_fingerprint) + ")");
  }
}

}  // namespace distillery
