#include "distillery/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace distillery {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
  throw std::runtime_error("cannot write " + path + ": " + reason);
}

void make_parent_dirs(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) {
    throw std::runtime_error("cannot create directory " + parent.string() + " for " + path +
                             ": " + ec.message());
  }
}

std::string temporary_path(const std::string& path) {
  return path + ".tmp." + std::to_string(::getpid());
}

// Writes all of `bytes` to `fd`, retrying short writes and interruptions; false with errno set
// on failure.
bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void rename_over(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) {
    const std::string reason = ec.message();
    fs::remove(from, ec);
    fail(to, "rename failed: " + reason);
  }
  const fs::path parent = fs::path(to).parent_path();
  sync_directory(parent.empty() ? "." : parent.string());
}

// fsyncs the file at `path`; false with errno set on failure.
bool sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

}  // namespace

void write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces) {
  make_parent_dirs(path);
  const std::string tmp = temporary_path(path);
  // A fresh file, never a leftover (or a symbolic link) of that name.
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, std::strerror(errno));
  bool ok = true;
  for (const auto piece : pieces) ok = ok && write_all(fd, piece);
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  // close() reports deferred write errors on some file systems (NFS).
  if (::close(fd) != 0 && ok) {
    ok = false;
  } else {
    errno = saved;
  }
  if (!ok) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    fail(path, reason);
  }
  rename_over(tmp, path);
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  write_file_atomic(path, std::vector<std::string_view>{contents});
}

void write_atomic_with(const std::string& path,
                       const std::function<void(const std::string&)>& writer) {
  make_parent_dirs(path);
  const std::string tmp = temporary_path(path);
  try {
    writer(tmp);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  if (!sync_file(tmp)) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    fail(path, reason);
  }
  rename_over(tmp, path);
}

void append_line(const std::string& path, const std::string& line) {
  make_parent_dirs(path);
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, std::strerror(errno));
  const std::string text = line + '\n';
  bool ok = write_all(fd, text);
  const int saved = errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
  } else {
    errno = saved;
  }
  if (!ok) fail(path, std::strerror(errno));
}

void sync_directory(const std::string& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (fs::is_directory(status)) {
    throw std::runtime_error("cannot open " + path + ": it is a directory, not a file");
  }
  // A FIFO would block and a device such as /dev/zero never ends: only regular files are read.
  if (fs::exists(status) && !fs::is_regular_file(status)) {
    throw std::runtime_error("cannot open " + path + ": not a regular file (a FIFO, socket or "
                             "device); give a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

double round_for_json(double value, int decimals) {
  if (!std::isfinite(value)) return value;
  const double scale = std::pow(10.0, decimals);
  const double scaled = value * scale;
  return std::isfinite(scaled) ? std::round(scaled) / scale : value;
}

}  // namespace distillery
