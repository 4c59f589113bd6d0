#include "test_util.h"

#include <sys/resource.h>
#include <zlib.h>

#include <array>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace distillery::test {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "distillery-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(d >> shift));
  }
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<uint8_t> npy_bytes(const std::string& dict, const std::vector<uint8_t>& data,
                               int major) {
  const std::size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::vector<uint8_t> bytes = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  const auto length = header.size();
  for (std::size_t b = 0; b < (major == 1 ? 2u : 4u); ++b) {
    bytes.push_back(static_cast<uint8_t>((length >> (8 * b)) & 0xff));
  }
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

std::string npy_dict(const std::string& descr, const std::string& shape, const char* fortran) {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    if (f == nullptr) throw std::runtime_error("cannot write " + path);
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    return;
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

namespace {

// Deflates `input` (possibly empty) with `flush`, appending the output to `out`.
void deflate_into(z_stream& stream, const std::vector<uint8_t>& input, int flush,
                  std::vector<uint8_t>& out) {
  stream.next_in = const_cast<Bytef*>(input.data());
  stream.avail_in = static_cast<uInt>(input.size());
  std::array<uint8_t, 1 << 16> buffer{};
  do {
    stream.next_out = buffer.data();
    stream.avail_out = static_cast<uInt>(buffer.size());
    const int status = deflate(&stream, flush);
    if (status == Z_STREAM_ERROR) throw std::runtime_error("deflate failed");
    out.insert(out.end(), buffer.data(), stream.next_out);
  } while (stream.avail_out == 0 || stream.avail_in > 0);
}

void append_le32(std::vector<uint8_t>& out, uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

}  // namespace

void write_gzip_then_zeros(const std::string& path, const std::vector<uint8_t>& head,
                           uint64_t zero_count) {
  constexpr uint64_t kPiece = 1 << 20;
  const std::vector<uint8_t> zeros(kPiece, 0);
  z_stream stream{};
  // Raw deflate (negative window bits): the gzip header and trailer are written here, since
  // the repeated pieces never pass through zlib.
  if (deflateInit2(&stream, 9, Z_DEFLATED, -15, 8, Z_RLE) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::vector<uint8_t> start = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};  // gzip header
  deflate_into(stream, head, Z_FULL_FLUSH, start);
  std::vector<uint8_t> piece;
  deflate_into(stream, zeros, Z_FULL_FLUSH, piece);
  const uint64_t pieces = zero_count / kPiece;
  std::vector<uint8_t> end;
  deflate_into(stream, std::vector<uint8_t>(zero_count % kPiece, 0), Z_FINISH, end);
  deflateEnd(&stream);
  uLong crc = crc32(0, head.data(), static_cast<uInt>(head.size()));
  const uLong piece_crc = crc32(0, zeros.data(), static_cast<uInt>(kPiece));
  for (uint64_t i = 0; i < pieces; ++i) crc = crc32_combine(crc, piece_crc, kPiece);
  const std::vector<uint8_t> rest(zero_count % kPiece, 0);
  // crc32 with a null buffer (an empty vector's data()) returns the initial value, not `crc`.
  if (!rest.empty()) crc = crc32(crc, rest.data(), static_cast<uInt>(rest.size()));
  append_le32(end, static_cast<uint32_t>(crc));
  append_le32(end, static_cast<uint32_t>(head.size() + zero_count));  // length mod 2^32
  std::ofstream out(path, std::ios::binary);
  const auto put = [&](const std::vector<uint8_t>& bytes) {
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  };
  put(start);
  for (uint64_t i = 0; i < pieces; ++i) put(piece);
  put(end);
  if (!out) throw std::runtime_error("cannot write " + path);
}

void write_sparse(const std::string& path, const std::vector<uint8_t>& head, uint64_t total_size) {
  write_bytes(path, head);
  std::filesystem::resize_file(path, total_size);
}

int64_t peak_memory_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

void write_tiny_mnist(const std::string& dir, int train_count, int test_count, bool gzip,
                      uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(0, 60);
  auto make = [&](const std::string& prefix, int count) {
    std::vector<uint8_t> images(static_cast<std::size_t>(count) * 28 * 28);
    std::vector<uint8_t> labels(count);
    for (int n = 0; n < count; ++n) {
      const int label = n % 10;
      labels[n] = static_cast<uint8_t>(label);
      const int row0 = 2 + (label / 5) * 12, col0 = 2 + (label % 5) * 5;
      for (int r = 0; r < 28; ++r) {
        for (int c = 0; c < 28; ++c) {
          const bool on = r >= row0 && r < row0 + 6 && c >= col0 && c < col0 + 5;
          images[(static_cast<std::size_t>(n) * 28 + r) * 28 + c] =
              static_cast<uint8_t>(on ? 255 - noise(rng) : noise(rng));
        }
      }
    }
    const std::string ext = gzip ? ".gz" : "";
    write_bytes(dir + "/" + prefix + "-images-idx3-ubyte" + ext,
                idx_bytes({static_cast<uint32_t>(count), 28, 28}, images), gzip);
    write_bytes(dir + "/" + prefix + "-labels-idx1-ubyte" + ext,
                idx_bytes({static_cast<uint32_t>(count)}, labels), gzip);
  };
  make("train", train_count);
  make("t10k", test_count);
}

FileSizeLimit::FileSizeLimit(uint64_t bytes) {
  rlimit limit{};
  if (getrlimit(RLIMIT_FSIZE, &limit) != 0) throw std::runtime_error("getrlimit failed");
  previous_soft_ = limit.rlim_cur;
  limit.rlim_cur = bytes;
  previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
  if (setrlimit(RLIMIT_FSIZE, &limit) != 0) throw std::runtime_error("setrlimit failed");
}

FileSizeLimit::~FileSizeLimit() {
  rlimit limit{};
  getrlimit(RLIMIT_FSIZE, &limit);
  limit.rlim_cur = previous_soft_;
  setrlimit(RLIMIT_FSIZE, &limit);
  std::signal(SIGXFSZ, previous_handler_);
}

std::map<std::string, std::string> directory_snapshot(const std::string& dir) {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const auto name = fs::relative(entry.path(), dir).string();
    if (name == ".distillery.lock") continue;
    files[name] = entry.is_directory() ? "<dir>" : slurp(entry.path().string());
  }
  return files;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace distillery::test
