#include "distillery/fingerprint.h"

#include <zlib.h>

#include <torch/torch.h>

#include <cstdio>

namespace distillery {
namespace {

void feed(uLong& crc, uLong& adler, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const Bytef*>(data);
  // zlib takes uInt lengths: feed large buffers in 1 GiB pieces.
  constexpr std::size_t kPiece = std::size_t{1} << 30;
  for (std::size_t offset = 0; offset < size; offset += kPiece) {
    const auto n = static_cast<uInt>(std::min(kPiece, size - offset));
    crc = crc32(crc, bytes + offset, n);
    adler = adler32(adler, bytes + offset, n);
  }
}

}  // namespace

uint64_t fingerprint_tensors(const std::vector<torch::Tensor>& tensors) {
  uLong crc = crc32(0L, Z_NULL, 0);
  uLong adler = adler32(0L, Z_NULL, 0);
  for (const auto& t : tensors) {
    const auto cpu = t.detach().to(torch::kCPU).contiguous();
    const int64_t dtype = static_cast<int64_t>(cpu.scalar_type());
    feed(crc, adler, &dtype, sizeof dtype);
    for (const auto size : cpu.sizes()) feed(crc, adler, &size, sizeof size);
    feed(crc, adler, cpu.data_ptr(), cpu.nbytes());
  }
  return (static_cast<uint64_t>(crc) << 32) | static_cast<uint64_t>(adler & 0xffffffffu);
}

std::string fingerprint_hex(uint64_t fingerprint) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(fingerprint));
  return buffer;
}

}  // namespace distillery
