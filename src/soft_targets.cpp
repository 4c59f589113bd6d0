#include "distillery/soft_targets.h"

#include <zlib.h>

#include <torch/torch.h>

#include <cstring>
#include <stdexcept>

#include "distillery/fingerprint.h"
#include "distillery/io.h"

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
  return fingerprint_tensors({transfer_set.images});
}

SoftTargets compute_soft_targets(Teacher& teacher, const data::Dataset& transfer_set,
                                 int64_t batch_size, torch::Device device) {
  TORCH_CHECK(transfer_set.size() > 0, "the transfer set is empty");
  TORCH_CHECK(batch_size > 0, "batch_size must be > 0, got ", batch_size);
  teacher->to(device);
  // One output tensor, filled in place: keeping a small tensor per batch alive between the
  // batches' large transient ones fragments the heap (it grew by 700 MB over 60,000 images).
  torch::Tensor all;  // [M, N, C] float32 on the CPU
  for (int64_t start = 0; start < transfer_set.size(); start += batch_size) {
    const auto count = std::min(batch_size, transfer_set.size() - start);
    const auto x = transfer_set.images.narrow(0, start, count).to(device);
    const auto logits = teacher->member_logits(x);  // [M, b, C]
    if (!all.defined()) {
      all = torch::empty({logits.size(0), transfer_set.size(), logits.size(2)}, torch::kFloat32);
    }
    all.narrow(1, start, count).copy_(logits);
  }
  const auto finite = torch::isfinite(all).all(2).all(0);  // [N]
  if (!finite.all().item<bool>()) {
    const auto bad = (~finite).nonzero().flatten();
    throw std::runtime_error(
        "the teacher's logits are not finite (NaN or infinite) for " +
        std::to_string(bad.numel()) + " of the " + std::to_string(transfer_set.size()) +
        " transfer-set images (the first is image " + std::to_string(bad[0].item<int64_t>()) +
        "); the teacher itself is broken (check its weights or how it was trained), not the "
        "student's settings");
  }
  SoftTargets out;
  out.member_logits = all;
  out.mode = teacher->mode();
  out.teacher_fingerprint = teacher->fingerprint();
  out.transfer_fingerprint = fingerprint_transfer_set(transfer_set);
  return out;
}

void save_soft_targets(const std::string& path, const SoftTargets& targets) {
  const auto logits = targets.member_logits.to(torch::kCPU, torch::kFloat32).contiguous();
  TORCH_CHECK(logits.dim() == 3, "member_logits must be [M, N, C], got ", logits.sizes());
  std::string header(kHeaderSize, '\0');
  std::memcpy(header.data(), kMagic, sizeof kMagic);
  put<uint32_t>(header, 8, kVersion);
  put<uint32_t>(header, 12, kFloat32);
  put<uint64_t>(header, 16, static_cast<uint64_t>(logits.size(0)));
  put<uint64_t>(header, 24, static_cast<uint64_t>(logits.size(1)));
  put<uint64_t>(header, 32, static_cast<uint64_t>(logits.size(2)));
  put<uint32_t>(header, 40, targets.mode == EnsembleMode::kArithmetic ? 0u : 1u);
  put<uint64_t>(header, 48, targets.teacher_fingerprint);
  put<uint64_t>(header, 56, targets.transfer_fingerprint);
  put<uint32_t>(header, 64, crc_of(logits.data_ptr(), logits.nbytes()));
  put<uint32_t>(header, 68, crc_of(header.data(), kHeaderChecked));
  write_file_atomic(path, {header, std::string_view(static_cast<const char*>(logits.data_ptr()),
                                                    logits.nbytes())});
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
  if (version != kVersion || get<uint32_t>(bytes, 12) != kFloat32) {
    throw std::runtime_error(path + ": unsupported soft-targets version " +
                             std::to_string(version) + " (this build reads version 1, float32)");
  }
  const auto members = get<uint64_t>(bytes, 16), examples = get<uint64_t>(bytes, 24),
             classes = get<uint64_t>(bytes, 32);
  const uint64_t expected = members * examples * classes * sizeof(float);
  if (members == 0 || examples == 0 || classes == 0 ||
      expected / sizeof(float) / members / examples != classes) {
    throw std::runtime_error(path + ": damaged (impossible shape)");
  }
  if (bytes.size() - kHeaderSize != expected) {
    throw std::runtime_error(path + ": truncated: header promises " + std::to_string(expected) +
                             " payload bytes but the file holds " +
                             std::to_string(bytes.size() - kHeaderSize));
  }
  if (get<uint32_t>(bytes, 64) != crc_of(bytes.data() + kHeaderSize, expected)) {
    throw StaleSoftTargetsError(path + ": damaged (payload checksum mismatch)");
  }
  SoftTargets out;
  out.member_logits = torch::empty({static_cast<int64_t>(members), static_cast<int64_t>(examples),
                                    static_cast<int64_t>(classes)},
                                   torch::kFloat32);
  std::memcpy(out.member_logits.data_ptr(), bytes.data() + kHeaderSize, expected);
  out.mode = get<uint32_t>(bytes, 40) == 0 ? EnsembleMode::kArithmetic : EnsembleMode::kGeometric;
  out.teacher_fingerprint = get<uint64_t>(bytes, 48);
  out.transfer_fingerprint = get<uint64_t>(bytes, 56);
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
