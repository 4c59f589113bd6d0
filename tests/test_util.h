#pragma once
// Helpers shared by the tests: temporary directories and tiny IDX data sets written on the fly.

#include <c10/util/Exception.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

namespace distillery::test {

/// A fresh empty directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// Big-endian IDX bytes: magic 0x00 0x00 0x08 <rank>, the dimensions, then `data`.
std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data);

/// A .npy file (NumPy format `major`.0): magic, version, header length, `dict` padded with
/// spaces and a newline to a multiple of 64 bytes, then `data`.
std::vector<uint8_t> npy_bytes(const std::string& dict, const std::vector<uint8_t>& data,
                               int major = 1);

/// A .npy header dict: `{'descr': '<descr>', 'fortran_order': <fortran>, 'shape': <shape>, }`.
std::string npy_dict(const std::string& descr, const std::string& shape,
                     const char* fortran = "False");

/// Writes bytes to a file, gzip-compressed when `gzip` is true.
void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes, bool gzip = false);

/// Writes a gzip file holding `head` followed by `zero_count` zero bytes, streaming: the
/// compressed form of 1 MiB of zeros is made once and repeated (each piece ends with a full
/// flush, so it stands alone), so even 1 GiB of zeros takes little time and memory and
/// compresses to about 1 MB: a "gzip bomb" when `head` is an IDX header promising less.
void write_gzip_then_zeros(const std::string& path, const std::vector<uint8_t>& head,
                           uint64_t zero_count);

/// Writes `head`, then extends the file with a hole to `total_size` bytes (reads as zeros,
/// takes no disk space where the file system supports sparse files).
void write_sparse(const std::string& path, const std::vector<uint8_t>& head, uint64_t total_size);

/// The peak resident memory of this process so far, in bytes (getrusage's ru_maxrss). Each
/// ctest test runs in its own process, so a test can bound what it adds to the peak.
int64_t peak_memory_bytes();

/// Writes a tiny, easily learnable MNIST-format data set (28x28, 10 classes: class k is a
/// bright 6x6 square at a position that depends on k, plus noise) into `dir`:
/// `train_count` training and `test_count` test images, gzip-compressed or plain.
void write_tiny_mnist(const std::string& dir, int train_count, int test_count, bool gzip,
                      uint32_t seed = 1);

/// The message of the exception of type E that `f` throws (for c10::Error, without the
/// backtrace), or "<no error>"; exceptions of other types propagate.
template <typename E>
std::string error_of_type(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    if constexpr (std::is_base_of_v<c10::Error, E>) {
      return e.msg();
    } else {
      return e.what();
    }
  }
  return "<no error>";
}

/// The message of the std::runtime_error that `f` throws, or "<no error>".
inline std::string runtime_error_of(const std::function<void()>& f) {
  return error_of_type<std::runtime_error>(f);
}

/// Limits the size of files this process (and its children) can write to `bytes`
/// (setrlimit RLIMIT_FSIZE), with SIGXFSZ ignored, so that a write beyond it fails with EFBIG
/// as a write to a full disk fails with ENOSPC. The previous limit and signal disposition are
/// restored on destruction.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(uint64_t bytes);
  ~FileSizeLimit();
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  uint64_t previous_soft_ = 0;
  void (*previous_handler_)(int) = nullptr;
};

/// Every entry below `dir` (relative path -> contents; "<dir>" for directories), without the
/// lock file `.distillery.lock` that every run rewrites: for before/after equality.
std::map<std::string, std::string> directory_snapshot(const std::string& dir);

/// Reads a whole text file.
std::string slurp(const std::string& path);

}  // namespace distillery::test
