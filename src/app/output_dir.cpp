#include "distillery/app/output_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "distillery/io.h"

namespace distillery {
namespace fs = std::filesystem;
namespace {

constexpr const char* kLock = ".distillery.lock";
constexpr const char* kStaging = ".incomplete";
constexpr const char* kPrevious = ".distillery-previous";
constexpr const char* kJournal = ".distillery-commit.json";
constexpr const char* kManifest = ".distillery-manifest.json";
constexpr const char* kResults = "results.json";

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &parts);
  return text;
}

// Opens the lock file, never through a symbolic link (it is truncated and written below).
int open_lock_file(const std::string& out_dir, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  struct stat status {};
  if (fd >= 0 && ::fstat(fd, &status) == 0 && S_ISREG(status.st_mode)) return fd;
  const int error = errno;
  if (fd >= 0) ::close(fd);
  if (fd >= 0 || error == ELOOP) {
    throw std::runtime_error("cannot lock " + out_dir + ": " + path + " is " +
                             (fd >= 0 ? "not a regular file" : "a symbolic link") +
                             "; remove it and run again");
  }
  throw std::runtime_error("cannot lock " + out_dir + ": cannot open " + path + ": " +
                           std::strerror(error) + " (check that out_dir is writable)");
}

// Whether `fd` is still the file at `path` (a failed run that created out_dir removes its lock
// file: a lock taken on the removed file would not exclude anyone).
bool still_linked(int fd, const std::string& path) {
  struct stat open_file {}, named {};
  return ::fstat(fd, &open_file) == 0 && ::stat(path.c_str(), &named) == 0 &&
         open_file.st_dev == named.st_dev && open_file.st_ino == named.st_ino;
}

// Opens and flock()s the lock file; the kernel releases the lock when the process exits, so a
// lock file left by a dead process is simply taken over.
int take_lock(const std::string& out_dir) {
  const std::string path = (fs::path(out_dir) / kLock).string();
  constexpr int kAttempts = 10;
  for (int attempt = 1;; ++attempt) {
    std::error_code ec;
    fs::create_directories(out_dir, ec);  // a failing run that created it may remove it
    const int fd = open_lock_file(out_dir, path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      char holder[256] = {};
      const ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
      ::close(fd);
      std::string who(holder, n > 0 ? static_cast<std::size_t>(n) : 0);
      who.erase(std::find(who.begin(), who.end(), '\n'), who.end());
      if (error != EWOULDBLOCK) {
        throw std::runtime_error("cannot lock " + out_dir + ": " + std::strerror(error) +
                                 " (a file system without flock, such as some network file "
                                 "systems: choose an out_dir on a local disk)");
      }
      throw std::runtime_error(out_dir + " is in use by another distillery run (" +
                               (who.empty() ? std::string("pid unknown") : who) +
                               "); wait for it to finish or choose another out_dir");
    }
    if (!still_linked(fd, path) && attempt < kAttempts) {
      ::close(fd);
      continue;
    }
    const std::string me = "pid " + std::to_string(::getpid()) + " since " + utc_now() + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
      spdlog::warn("{}: cannot record the lock holder: {}", path, std::strerror(errno));
    }
    return fd;
  }
}

std::vector<std::string> read_names(const nlohmann::json& json, const char* key) {
  std::vector<std::string> names;
  if (!json.is_object() || !json.contains(key) || !json.at(key).is_array()) return names;
  for (const auto& item : json.at(key)) {
    // Plain names only: a damaged record must never point outside out_dir, nor at the
    // directory's own bookkeeping (the lock, the staging directory, the journal).
    if (!item.is_string()) continue;
    const auto name = item.get<std::string>();
    if (!name.empty() && name.find('/') == std::string::npos && name != "." && name != ".." &&
        (name.rfind(".distillery", 0) != 0 || name == kManifest) && name != kStaging) {
      names.push_back(name);
    }
  }
  return names;
}

nlohmann::json read_json_or_null(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return nullptr;
  try {
    return nlohmann::json::parse(read_file(path.string()));
  } catch (const std::exception& e) {
    spdlog::warn("{}: unreadable ({}); ignored", path.string(), e.what());
    return nullptr;
  }
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Removes temporaries of the journal left by a process killed while writing it.
void remove_journal_temporaries(const fs::path& out) {
  std::error_code ec;
  const std::string prefix = std::string(kJournal) + ".tmp.";
  for (const auto& entry : fs::directory_iterator(out, ec)) {
    const auto name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) fs::remove(entry.path(), ec);
  }
}

// Undoes a commit that did not finish (this process's, or one that died): every file it
// installed is removed, every file it moved aside is put back, and every file of the user's it
// renamed to <name>.user gets its name back. A file counts as installed when every file was
// moved aside and it is no longer in the staging directory (renames are atomic), so a file put
// in out_dir after a crash is not taken for one. Without a journal only a leftover `.distillery-previous` (from a commit that
// finished) is removed. Returns "" on success, or what could not be undone: the journal and
// the files moved aside are then kept.
std::string restore_previous(const fs::path& out) {
  const fs::path previous = out / kPrevious, staging = out / kStaging;
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out / kJournal, ec))) {
    const auto journal = read_json_or_null(out / kJournal);
    if (!journal.is_object() || !journal.contains("backup") || !journal.contains("install")) {
      return "the journal " + (out / kJournal).string() + " is damaged";
    }
    const auto backup = read_names(journal, "backup");
    // Every file is moved aside before the first is installed.
    const bool installing = std::all_of(backup.begin(), backup.end(), [&](const std::string& n) {
      return fs::exists(fs::symlink_status(previous / n, ec));
    });
    std::string failed;
    for (const auto& name : read_names(journal, "install")) {
      if (!installing || fs::exists(fs::symlink_status(staging / name, ec))) continue;
      fs::remove(out / name, ec);
      if (ec) failed += (failed.empty() ? "" : ", ") + name + " (" + ec.message() + ")";
    }
    for (const auto& name : backup) {
      if (!fs::exists(fs::symlink_status(previous / name, ec))) continue;
      fs::rename(previous / name, out / name, ec);
      if (ec) failed += (failed.empty() ? "" : ", ") + name + " (" + ec.message() + ")";
    }
    for (const auto& item : journal.value("kept", nlohmann::json::array())) {
      const auto names = read_names(nlohmann::json{{"pair", item}}, "pair");
      if (names.size() != 2 || fs::exists(fs::symlink_status(out / names[0], ec))) continue;
      fs::rename(out / names[1], out / names[0], ec);
    }
    if (!failed.empty()) return "cannot restore " + failed;
    spdlog::warn("{}: an interrupted commit was undone; the previous outputs are back",
                 out.string());
  }
  fs::remove(out / kJournal, ec);
  fs::remove_all(previous, ec);
  return "";
}

// The name under which a file that no run wrote is kept when an output takes its name.
fs::path kept_name(const fs::path& out, const std::string& name) {
  std::error_code ec;
  fs::path kept = out / (name + ".user");
  for (int i = 1; fs::exists(fs::symlink_status(kept, ec)); ++i) {
    kept = out / (name + ".user." + std::to_string(i));
  }
  return kept;
}

}  // namespace

OutputDirectory::OutputDirectory(std::string out_dir)
    : out_dir_(std::move(out_dir)), staging_((fs::path(out_dir_) / kStaging).string()) {
  std::error_code ec;
  if (fs::exists(out_dir_, ec) && !fs::is_directory(out_dir_, ec)) {
    throw std::runtime_error("out_dir " + out_dir_ + " exists and is not a directory; give a "
                             "directory (it is created if missing)");
  }
  created_ = !fs::exists(out_dir_, ec);
  fs::create_directories(out_dir_, ec);
  if (ec) throw std::runtime_error("cannot create directory " + out_dir_ + ": " + ec.message());
  lock_fd_ = take_lock(out_dir_);
  remove_journal_temporaries(out_dir_);
  const auto failed = restore_previous(out_dir_);
  if (!failed.empty()) {
    ::close(lock_fd_);
    throw std::runtime_error(out_dir_ + ": an interrupted commit could not be undone (" +
                             failed + "); the previous outputs are in " +
                             final_path(kPrevious) + ": move them back by hand, then remove " +
                             final_path(kJournal));
  }
  fs::remove_all(staging_, ec);
  fs::create_directories(staging_, ec);
  if (ec) {
    ::close(lock_fd_);
    throw std::runtime_error("cannot create directory " + staging_ + ": " + ec.message());
  }
}

OutputDirectory::~OutputDirectory() {
  std::error_code ec;
  if (!committed_) fs::remove_all(staging_, ec);
  if (!committed_ && created_) {
    // A failed run leaves no trace of a directory it created: its lock file goes, and the
    // directory too if nothing else was put there meanwhile.
    fs::remove(fs::path(out_dir_) / kLock, ec);
    fs::remove(out_dir_, ec);
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string OutputDirectory::path(const std::string& file) const {
  return (fs::path(staging_) / file).string();
}

std::string OutputDirectory::final_path(const std::string& file) const {
  return (fs::path(out_dir_) / file).string();
}

void OutputDirectory::protect(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  const auto canonical = fs::weakly_canonical(path, ec);
  protected_.push_back(ec ? fs::absolute(path).lexically_normal().string() : canonical.string());
}

bool OutputDirectory::is_protected(const std::string& name) const {
  return is_input((fs::path(out_dir_) / name).string());
}

std::vector<std::string> OutputDirectory::previous_manifest() const {
  return read_names(read_json_or_null(fs::path(out_dir_) / kManifest), "files");
}

std::vector<std::string> OutputDirectory::staged_outputs() const {
  const fs::path out(out_dir_);
  std::vector<std::string> install;
  for (const auto& entry : fs::directory_iterator(staging_)) {
    const auto name = entry.path().filename().string();
    if (is_protected(name)) {
      spdlog::warn("{}: not replaced, it is an input of this run", final_path(name));
      continue;
    }
    install.push_back(name);
  }
  std::sort(install.begin(), install.end());
  auto checked = install;
  checked.push_back(kManifest);
  check_outputs(checked);
  return install;
}

std::vector<std::pair<std::string, std::string>> OutputDirectory::unknown_files(
    const std::vector<std::string>& install) const {
  const auto known = previous_manifest();
  const fs::path out(out_dir_);
  std::vector<std::pair<std::string, std::string>> kept;
  std::error_code ec;
  for (const auto& name : install) {
    if (!fs::exists(fs::symlink_status(out / name, ec)) || contains(known, name)) continue;
    // No earlier run wrote it: the user's own file, kept under another name.
    kept.emplace_back(name, kept_name(out, name).filename().string());
    spdlog::warn("{}: a file no distillery run wrote has the name of an output; kept as {}",
                 final_path(name), final_path(kept.back().second));
  }
  return kept;
}

void OutputDirectory::check_outputs(const std::vector<std::string>& names) const {
  std::error_code ec;
  for (const auto& name : names) {
    if (fs::is_directory(fs::symlink_status(fs::path(out_dir_) / name, ec))) {
      throw std::runtime_error(final_path(name) + " is a directory, but this run writes a file "
                               "of that name; move the directory away and run again");
    }
  }
}

bool OutputDirectory::is_input(const std::string& path) const {
  std::error_code ec;
  const auto target = fs::weakly_canonical(path, ec).string();
  return std::any_of(protected_.begin(), protected_.end(), [&](const std::string& p) {
    return target == p || (target.size() > p.size() && target.compare(0, p.size(), p) == 0 &&
                           target[p.size()] == '/');
  });
}

std::vector<std::string> OutputDirectory::stage_manifest(const std::vector<std::string>& install,
                                                         bool remove_stale) const {
  std::set<std::string> manifest(install.begin(), install.end());
  std::vector<std::string> stale;
  for (const auto& name : previous_manifest()) {
    if (manifest.count(name) != 0 || name == kManifest) continue;
    if (!remove_stale || is_protected(name)) {
      manifest.insert(name);
    } else {
      stale.push_back(name);
    }
  }
  const std::vector<std::string> files(manifest.begin(), manifest.end());
  write_file_atomic(path(kManifest), nlohmann::json{{"files", files}}.dump(1) + "\n");
  return stale;
}

void OutputDirectory::commit(bool remove_stale) {
  const fs::path out(out_dir_), staging(staging_);
  auto install = staged_outputs();
  const auto kept = unknown_files(install);
  const auto stale = stage_manifest(install, remove_stale);
  install.push_back(kManifest);
  // results.json last: its presence says that the outputs beside it are complete.
  std::stable_partition(install.begin(), install.end(),
                        [](const std::string& n) { return n != kResults; });
  std::vector<std::string> backup;
  std::error_code ec;
  for (const auto& name : install) {
    const bool theirs = std::any_of(kept.begin(), kept.end(),
                                    [&](const auto& k) { return k.first == name; });
    if (!theirs && fs::exists(fs::symlink_status(out / name, ec))) backup.push_back(name);
  }
  for (const auto& name : stale) {
    if (fs::is_regular_file(fs::symlink_status(out / name, ec))) backup.push_back(name);
  }
  write_file_atomic((out / kJournal).string(),
                    nlohmann::json{{"backup", backup}, {"install", install}, {"kept", kept}}
                            .dump(1) + "\n");
  try {
    // Recovery reads "moved aside" from the presence of .previous/<name>: it must start empty.
    fs::remove_all(out / kPrevious);
    fs::create_directory(out / kPrevious);
    for (const auto& [name, as] : kept) fs::rename(out / name, out / as);
    for (const auto& name : backup) fs::rename(out / name, out / kPrevious / name);
    for (const auto& name : install) fs::rename(staging / name, out / name);
  } catch (const fs::filesystem_error& e) {
    const auto failed = restore_previous(out);
    const std::string what = "cannot install the outputs into " + out_dir_ + " (" +
                             e.path1().string() + ": " + e.code().message() + "); ";
    if (!failed.empty()) {
      throw std::runtime_error(what + "putting the previous outputs back failed too (" + failed +
                               "): they are in " + final_path(kPrevious) + "; move them back by "
                               "hand, then remove " + final_path(kJournal));
    }
    throw std::runtime_error(what + "the previous outputs are unchanged");
  }
  sync_directory(out_dir_);
  // The commit point: once the journal is gone, nothing will be undone.
  fs::remove(out / kJournal, ec);
  sync_directory(out_dir_);
  fs::remove_all(out / kPrevious, ec);
  fs::remove_all(staging, ec);
  committed_ = true;
  for (const auto& name : stale) spdlog::debug("removed {} (an output of an earlier run)", name);
}

}  // namespace distillery
