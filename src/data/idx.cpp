#include "distillery/data/idx.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace distillery::data {
namespace {

constexpr uint8_t kUnsignedByteType = 0x08;
constexpr int kMaxRank = 4;
constexpr uint64_t kMaxDataBytes = uint64_t{1} << 40;
// Deflate spends at least 2 bits on 258 bytes (one length and one distance code), so one
// compressed byte inflates to at most 1032 bytes (zlib's technical notes).
constexpr uint64_t kMaxDeflateRatio = 1032;
constexpr unsigned kGzipBuffer = 1 << 17;
constexpr std::size_t kReadChunk = std::size_t{1} << 30;  // gzread counts in `unsigned`

std::string kind_of(mode_t mode) {
  if (S_ISFIFO(mode)) return "FIFO";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISDIR(mode)) return "directory";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  return "file of unknown type";
}

std::string link_target(const std::string& path) {
  std::error_code error;
  const auto target = std::filesystem::read_symlink(path, error);
  return error ? "an unreadable target" : target.string();
}

enum class Presence { kAbsent, kRegular, kUnusable };
struct Inspection {
  Presence presence;
  std::string problem;  // what the path is and how to fix it, when kUnusable
};

// What `path` is, without opening it (opening a FIFO could block).
Inspection inspect(const std::string& path) {
  struct stat link {};
  if (::lstat(path.c_str(), &link) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return {Presence::kAbsent, ""};
    return {Presence::kUnusable, path + " cannot be inspected (" + std::strerror(errno) + ")"};
  }
  const bool is_link = S_ISLNK(link.st_mode);
  struct stat target {};
  if (::stat(path.c_str(), &target) != 0) {
    if (is_link && errno == ENOENT) {
      return {Presence::kUnusable,
              path + " is a dangling symbolic link to " + link_target(path) +
                  " (nothing exists there: restore the target or point the link at the IDX "
                  "file)"};
    }
    return {Presence::kUnusable, path + " cannot be followed (" + std::strerror(errno) + ")"};
  }
  if (S_ISREG(target.st_mode)) return {Presence::kRegular, ""};
  return {Presence::kUnusable,
          path + (is_link ? " (a symbolic link to " + link_target(path) + ")" : "") + " is a " +
              kind_of(target.st_mode) +
              ", not a regular file (replace it by the IDX file, plain or gzip)"};
}

using GzipFile = std::unique_ptr<gzFile_s, int (*)(gzFile)>;

struct OpenFile {
  GzipFile file{nullptr, gzclose};
  off_t size = 0;      // on disk, compressed or not
  bool plain = false;  // not gzip: zlib passes the bytes through unchanged
};

// Opens a regular file for reading through zlib, which inflates gzip and passes anything
// else through. O_NONBLOCK keeps a FIFO from blocking the open; it is refused just after.
OpenFile open_regular(const std::string& path) {
  const int descriptor = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (descriptor < 0) {
    const int error = errno;
    const auto inspection = inspect(path);
    if (inspection.presence == Presence::kUnusable) throw std::runtime_error(inspection.problem);
    if (error == ENOENT) throw std::runtime_error(path + ": no such file");
    throw std::runtime_error(path + ": cannot open (" + std::strerror(error) + ")");
  }
  struct stat info {};
  if (::fstat(descriptor, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(descriptor);
    const auto inspection = inspect(path);
    throw std::runtime_error(inspection.presence == Presence::kUnusable
                                 ? inspection.problem
                                 : path + " is not a regular file");
  }
  ::fcntl(descriptor, F_SETFL, ::fcntl(descriptor, F_GETFL) & ~O_NONBLOCK);
  OpenFile out;
  out.file.reset(gzdopen(descriptor, "rb"));
  if (!out.file) {
    ::close(descriptor);
    throw std::runtime_error(path + ": cannot open (out of memory)");
  }
  gzbuffer(out.file.get(), kGzipBuffer);
  out.plain = gzdirect(out.file.get()) == 1;
  out.size = info.st_size;
  return out;
}

// Reads up to `count` bytes into `out`; fewer only at the end of the data.
std::size_t read_up_to(gzFile file, const std::string& path, uint8_t* out, std::size_t count) {
  std::size_t got = 0;
  while (got < count) {
    const auto chunk = static_cast<unsigned>(std::min(count - got, kReadChunk));
    const int n = gzread(file, out + got, chunk);
    if (n < 0) {
      int code = 0;
      std::string reason = gzerror(file, &code);
      // zlib names a file opened by descriptor "<fd:N>"; the path is said once, in front.
      const auto colon = reason.find(": ");
      if (reason.rfind("<fd:", 0) == 0 && colon != std::string::npos) reason.erase(0, colon + 2);
      throw std::runtime_error(path + ": corrupt gzip data (" + reason + ")");
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

// zlib reports a gzip stream that ends early as Z_BUF_ERROR, after delivering what it had.
bool stream_cut(gzFile file) {
  int code = Z_OK;
  gzerror(file, &code);
  return code == Z_BUF_ERROR;
}

std::string cut_note(gzFile file) {
  return stream_cut(file) ? " (truncated gzip stream)" : "";
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

struct Header {
  std::vector<int64_t> sizes;    // as the header declares them
  std::size_t header_bytes = 0;  // magic and dimensions
  uint64_t data_bytes = 0;       // product of the sizes
};

// The product of the dimensions, refused when it overflows or exceeds kMaxDataBytes.
uint64_t data_bytes_of(const std::string& path, const std::vector<int64_t>& sizes) {
  std::string shown;
  for (const auto size : sizes) shown += (shown.empty() ? "" : " x ") + std::to_string(size);
  uint64_t product = 1;
  for (const auto size : sizes) {
    const auto factor = static_cast<uint64_t>(size);
    if (product > std::numeric_limits<uint64_t>::max() / factor) {
      throw std::runtime_error(path + ": IDX dimensions " + shown +
                               " overflow a 64-bit size; the header is corrupt or this is not "
                               "an IDX file");
    }
    product *= factor;
  }
  if (product > kMaxDataBytes) {
    throw std::runtime_error(path + ": IDX dimensions " + shown + " make " +
                             std::to_string(product) +
                             " data bytes, more than the 2^40 (1 TiB) this reader accepts; the "
                             "header is corrupt or this is not an IDX file");
  }
  return product;
}

Header read_header(const OpenFile& input, const std::string& path, int expected_rank) {
  gzFile file = input.file.get();
  std::array<uint8_t, 4 + 4 * kMaxRank> bytes{};
  const std::size_t got = read_up_to(file, path, bytes.data(), 4);
  if (got < 4) {
    throw std::runtime_error(path + ": truncated: " + std::to_string(got) +
                             " bytes, too short for an IDX header" + cut_note(file));
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
  Header header;
  header.header_bytes = 4 + 4 * static_cast<std::size_t>(rank);
  const std::size_t dims_got = read_up_to(file, path, bytes.data() + 4, 4 * rank);
  if (4 + dims_got < header.header_bytes) {
    throw std::runtime_error(path + ": truncated: header needs " +
                             std::to_string(header.header_bytes) + " bytes but the file holds " +
                             std::to_string(4 + dims_got) + cut_note(file));
  }
  for (int d = 0; d < rank; ++d) {
    const uint32_t size = big_endian_u32(bytes.data() + 4 + 4 * d);
    if (size == 0) {
      throw std::runtime_error(path + ": dimension " + std::to_string(d) + " is 0");
    }
    header.sizes.push_back(size);
  }
  header.data_bytes = data_bytes_of(path, header.sizes);
  return header;
}

// Refuses, before reading data, a plain file whose size differs from the header's promise
// and a gzip file too small to inflate to it.
void check_file_size(const std::string& path, const OpenFile& input, const Header& header) {
  const auto on_disk = static_cast<uint64_t>(input.size);
  if (input.plain) {
    const uint64_t held = on_disk - std::min<uint64_t>(on_disk, header.header_bytes);
    if (held < header.data_bytes) {
      throw std::runtime_error(path + ": truncated: header promises " +
                               std::to_string(header.data_bytes) +
                               " data bytes but the file holds " + std::to_string(held));
    }
    if (held > header.data_bytes) {
      throw std::runtime_error(path + ": " + std::to_string(held - header.data_bytes) +
                               " unexpected bytes after the " + std::to_string(header.data_bytes) +
                               " data bytes the header promises");
    }
    return;
  }
  if (on_disk < (header.data_bytes + kMaxDeflateRatio - 1) / kMaxDeflateRatio) {
    throw std::runtime_error(path + ": header promises " + std::to_string(header.data_bytes) +
                             " data bytes but a gzip file of " + std::to_string(on_disk) +
                             " bytes inflates to at most " +
                             std::to_string(kMaxDeflateRatio * on_disk) +
                             " (deflate's limit is 1032:1); the file is truncated or its header "
                             "is corrupt");
  }
}

// Reads `records` rows of `header` into a new tensor; with all rows, also checks that
// nothing follows them (one more byte is asked for, so a bomb is never inflated).
torch::Tensor read_records(const std::string& path, const OpenFile& input, const Header& header,
                           int64_t records) {
  gzFile file = input.file.get();
  auto sizes = header.sizes;
  const bool whole = records == sizes[0];
  sizes[0] = records;
  auto tensor = torch::empty(sizes, torch::kUInt8);
  const auto wanted = static_cast<std::size_t>(tensor.numel());
  const std::size_t got = read_up_to(file, path, tensor.data_ptr<uint8_t>(), wanted);
  if (got < wanted) {
    throw std::runtime_error(path + ": truncated: header promises " +
                             std::to_string(header.data_bytes) +
                             " data bytes but the file holds " + std::to_string(got) +
                             cut_note(file));
  }
  if (!whole) return tensor;
  uint8_t extra = 0;
  if (read_up_to(file, path, &extra, 1) != 0) {
    throw std::runtime_error(path + ": more bytes after the " +
                             std::to_string(header.data_bytes) +
                             " data bytes the header promises");
  }
  if (stream_cut(file)) {
    throw std::runtime_error(path + ": truncated gzip stream: it ends after the " +
                             std::to_string(header.data_bytes) +
                             " data bytes without the gzip trailer (checksum and length)");
  }
  return tensor;
}

}  // namespace

torch::Tensor read_idx(const std::string& path, int expected_rank, int64_t max_items) {
  TORCH_CHECK(max_items >= -1, "read_idx: max_items must be -1 (all) or >= 0, got ", max_items);
  const auto input = open_regular(path);
  const auto header = read_header(input, path, expected_rank);
  check_file_size(path, input, header);
  const int64_t records = max_items < 0 ? header.sizes[0] : std::min(max_items, header.sizes[0]);
  return read_records(path, input, header, records);
}

std::vector<int64_t> read_idx_dimensions(const std::string& path, int expected_rank) {
  const auto input = open_regular(path);
  const auto header = read_header(input, path, expected_rank);
  check_file_size(path, input, header);
  return header.sizes;
}

std::string find_idx_file(const std::string& directory, const std::string& base_name) {
  if (std::filesystem::exists(directory) && !std::filesystem::is_directory(directory)) {
    throw std::runtime_error(directory + " is not a directory; point the data directory at the "
                                         "folder holding the IDX files");
  }
  const auto plain = (std::filesystem::path(directory) / base_name).string();
  const auto gz = plain + ".gz";
  const auto plain_inspection = inspect(plain);
  if (plain_inspection.presence == Presence::kRegular) return plain;
  const auto gz_inspection = inspect(gz);
  if (gz_inspection.presence == Presence::kRegular) return gz;
  if (plain_inspection.presence == Presence::kAbsent &&
      gz_inspection.presence == Presence::kAbsent) {
    throw std::runtime_error(
        "data file not found: neither " + plain + " nor " + gz +
        " exists. Point the data directory at the IDX files (on Debian: apt-get install "
        "dataset-fashion-mnist, which puts them in /usr/share/datasets/fashion-mnist; "
        "elsewhere: scripts/fetch_data.sh)");
  }
  auto describe = [](const Inspection& inspection, const std::string& path) {
    return inspection.presence == Presence::kAbsent ? path + " does not exist"
                                                    : inspection.problem;
  };
  throw std::runtime_error("data file not usable: " + describe(plain_inspection, plain) + "; " +
                           describe(gz_inspection, gz));
}

}  // namespace distillery::data
