#include "distillery/data/idx.h"

#include <zlib.h>

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace distillery::data {
namespace {

constexpr uint8_t kUnsignedByteType = 0x08;
constexpr int kMaxRank = 4;
constexpr std::size_t kReadChunk = 1 << 20;

// Reads the whole file; gzip content is inflated, anything else is passed through unchanged
// (zlib's gzread does both, so `.gz` and plain files share one path).
std::vector<uint8_t> read_all(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw std::runtime_error(path + ": no such file");
  }
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw std::runtime_error(path + ": cannot open");
  gzbuffer(file, 1 << 17);
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> chunk(kReadChunk);
  while (true) {
    const int n = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      const std::string reason = gzerror(file, &code);
      gzclose(file);
      throw std::runtime_error(path + ": corrupt gzip data (" + reason + ")");
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
  }
  // A gzip stream cut short reads as a clean end of file; gzclose_r reports it.
  const int status = gzclose(file);
  if (status != Z_OK && status != Z_BUF_ERROR) {
    throw std::runtime_error(path + ": corrupt gzip data (status " + std::to_string(status) + ")");
  }
  if (status == Z_BUF_ERROR) {
    throw std::runtime_error(path + ": truncated gzip stream");
  }
  return bytes;
}

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string hex(uint32_t value) {
  std::ostringstream out;
  out << "0x" << std::hex;
  out.width(8);
  out.fill('0');
  out << value;
  return out.str();
}

}  // namespace

torch::Tensor read_idx(const std::string& path, int expected_rank) {
  const std::vector<uint8_t> bytes = read_all(path);
  if (bytes.size() < 4) {
    throw std::runtime_error(path + ": truncated: " + std::to_string(bytes.size()) +
                             " bytes, too short for an IDX header");
  }
  const uint32_t magic = big_endian_u32(bytes.data());
  const int rank = bytes[3];
  if (bytes[0] != 0 || bytes[1] != 0 || rank < 1 || rank > kMaxRank) {
    throw std::runtime_error(path + ": not an IDX file (magic number " + hex(magic) +
                             "; expected 0x0000080N)");
  }
  if (bytes[2] != kUnsignedByteType) {
    throw std::runtime_error(path + ": unsupported IDX element type " + hex(bytes[2]) +
                             " (only unsigned byte, 0x08, is supported)");
  }
  if (expected_rank >= 0 && rank != expected_rank) {
    throw std::runtime_error(path + ": IDX rank " + std::to_string(rank) + ", expected " +
                             std::to_string(expected_rank) + " (magic number " + hex(magic) +
                             "; images are 0x00000803, labels 0x00000801)");
  }
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(rank);
  if (bytes.size() < header) {
    throw std::runtime_error(path + ": truncated: header needs " + std::to_string(header) +
                             " bytes but the file holds " + std::to_string(bytes.size()));
  }
  std::vector<int64_t> sizes;
  std::size_t count = 1;
  for (int d = 0; d < rank; ++d) {
    const uint32_t size = big_endian_u32(bytes.data() + 4 + 4 * d);
    if (size == 0) {
      throw std::runtime_error(path + ": dimension " + std::to_string(d) + " is 0");
    }
    sizes.push_back(size);
    count *= size;
  }
  const std::size_t data_bytes = bytes.size() - header;
  if (data_bytes < count) {
    throw std::runtime_error(path + ": truncated: header promises " + std::to_string(count) +
                             " data bytes but the file holds " + std::to_string(data_bytes));
  }
  if (data_bytes > count) {
    throw std::runtime_error(path + ": " + std::to_string(data_bytes - count) +
                             " unexpected bytes after the " + std::to_string(count) +
                             " data bytes the header promises");
  }
  auto tensor = torch::empty(sizes, torch::kUInt8);
  std::memcpy(tensor.data_ptr<uint8_t>(), bytes.data() + header, count);
  return tensor;
}

std::string find_idx_file(const std::string& directory, const std::string& base_name) {
  if (std::filesystem::exists(directory) && !std::filesystem::is_directory(directory)) {
    throw std::runtime_error(directory + " is not a directory; point the data directory at the "
                                         "folder holding the IDX files");
  }
  const auto plain = (std::filesystem::path(directory) / base_name).string();
  if (std::filesystem::is_regular_file(plain)) return plain;
  const auto gz = plain + ".gz";
  if (std::filesystem::is_regular_file(gz)) return gz;
  throw std::runtime_error(
      "data file not found: neither " + plain + " nor " + gz +
      " exists. Point the data directory at the IDX files (on Debian: apt-get install "
      "dataset-fashion-mnist, which puts them in /usr/share/datasets/fashion-mnist; "
      "elsewhere: scripts/fetch_data.sh)");
}

}  // namespace distillery::data
