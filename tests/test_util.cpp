#include "test_util.h"

#include <sys/resource.h>
#include <zlib.h>

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

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace distillery::test
