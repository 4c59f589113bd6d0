#include "distillery/io.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace distillery {
namespace fs = std::filesystem;

namespace {

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

void rename_over(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) {
    const std::string reason = ec.message();
    fs::remove(from, ec);
    throw std::runtime_error("cannot write " + to + ": rename failed: " + reason);
  }
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& contents) {
  make_parent_dirs(path);
  const std::string tmp = temporary_path(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
    }
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw std::runtime_error("cannot write " + path + ": write failed (disk full?)");
    }
  }
  rename_over(tmp, path);
}

void write_atomic_with(const std::string& path,
                       const std::function<void(const std::string&)>& writer) {
  make_parent_dirs(path);
  const std::string tmp = temporary_path(path);
  try {
    writer(tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  rename_over(tmp, path);
}

void append_line(const std::string& path, const std::string& line) {
  make_parent_dirs(path);
  std::ofstream out(path, std::ios::app);
  if (!out) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  out << line << '\n';
  if (!out) throw std::runtime_error("cannot write " + path + ": write failed");
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw std::runtime_error("cannot open " + path + ": it is a directory, not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace distillery
