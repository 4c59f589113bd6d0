#pragma once
#ifdef DISTILLERY_CORE_ONLY
#error "an application-layer header (distillery::app): the core must not include it"
#endif
/// @file output_dir.h
/// An experiment's output directory, shared safely between runs:
/// - an exclusive lock (`<out_dir>/.distillery.lock`, holding the owner's pid), so two runs
///   never write into one directory; a lock left by a process that died is stale and taken over
///   (it is an flock(2) lock, released by the kernel when its holder exits);
/// - staging: outputs are written into `<out_dir>/.incomplete/` while the run works, so a run
///   that fails (or is killed) never changes the outputs already in `out_dir`; the staging
///   directory is removed when the run fails;
/// - a commit that installs every staged file or none: the outputs it replaces are first moved
///   aside into `<out_dir>/.distillery-previous/` under a journal (`.distillery-commit.json`),
///   then the staged files are renamed into place (results.json last), then the journal is removed; if a
///   rename fails, the previous outputs are put back. Each rename is atomic; if the process dies
///   during the commit itself, the next run that opens the directory finds the journal and
///   restores the previous outputs before it starts;
/// - a manifest (`.distillery-manifest.json`) of the files distillery wrote, so that a later run
///   removes only outputs of an earlier run that it does not write again (e.g. `specialist_3.pt`
///   of a run with more subsets), never a file it did not write, and never an input of the
///   current run (see `protect`). A file that has the name of one of the run's outputs but
///   that no earlier run wrote (it is not in the manifest) is kept as `<name>.user`
///   (`<name>.user.1`, ...), with a warning, before the output takes its name.

#include <string>
#include <utility>
#include <vector>

namespace distillery {

/// The output directory of one run (see the file comment). Not copyable; holds the lock until
/// destroyed.
/// Example:
///     OutputDirectory out("runs/x");                  // locks runs/x, empties the staging dir
///     out.protect(config.teacher.checkpoint);          // an input: never replaced or removed
///     write_file_atomic(out.path("results.json"), text);  // staged
///     out.commit();                                    // installed all at once
class OutputDirectory {
 public:
  /// Creates `out_dir` if missing, takes its lock, restores the previous outputs if an earlier
  /// commit was interrupted, and creates an empty staging directory.
  /// Throws std::runtime_error if `out_dir` exists and is not a directory, cannot be created or
  /// locked, or is locked by another running process ("<out_dir> is in use by another distillery
  /// run (pid N, since <time>); wait for it to finish or choose another out_dir").
  explicit OutputDirectory(std::string out_dir);
  /// Removes the staging directory if `commit` did not run (a failed run), and then `out_dir`
  /// itself when this run created it and nothing else is in it; releases the lock.
  ~OutputDirectory();
  OutputDirectory(const OutputDirectory&) = delete;
  OutputDirectory& operator=(const OutputDirectory&) = delete;

  /// Where to write `file` (a plain file name) now: inside the staging directory.
  std::string path(const std::string& file) const;
  /// Where `file` ends up after `commit`.
  std::string final_path(const std::string& file) const;
  /// The directory itself, as given.
  const std::string& directory() const { return out_dir_; }

  /// Declares `path` (a file or a directory; empty is ignored) an input of this run: `commit`
  /// neither replaces nor removes it, nor anything inside it. A staged output whose final path
  /// is protected is dropped with a warning (e.g. a teacher loaded from `<out_dir>/teacher.pt`
  /// stays exactly as it was). An input that an earlier run wrote stays in the manifest.
  void protect(const std::string& path);

  /// Whether `path` is, or lies inside, an input declared with `protect`.
  bool is_input(const std::string& path) const;

  /// Throws std::runtime_error "<out_dir>/<name> is a directory, but this run writes a file of
  /// that name; ..." if one of `names` (the outputs a run will write) is taken by a directory:
  /// called before a run trains, so that the commit cannot fail on it afterwards.
  void check_outputs(const std::vector<std::string>& names) const;

  /// Installs every staged file into `out_dir` (results.json last) and removes the staging
  /// directory. With `remove_stale`, files an earlier run wrote (per the manifest) that this run
  /// did not write again are removed; without it (a command that adds one file, such as
  /// `soft-targets`), they stay. Throws std::runtime_error naming the file if a rename fails;
  /// `out_dir` then holds the previous outputs, as before the commit (or, if putting them back
  /// failed too, the message says where they are).
  void commit(bool remove_stale = true);

 private:
  bool is_protected(const std::string& name) const;
  std::vector<std::string> previous_manifest() const;
  std::vector<std::string> staged_outputs() const;
  // Files of `install`'s names that no earlier run wrote, with the name each is kept as.
  std::vector<std::pair<std::string, std::string>> unknown_files(
      const std::vector<std::string>& install) const;
  std::vector<std::string> stage_manifest(const std::vector<std::string>& install,
                                          bool remove_stale) const;

  std::string out_dir_;
  std::string staging_;
  std::vector<std::string> protected_;  // canonical paths
  int lock_fd_ = -1;
  bool created_ = false;  // out_dir did not exist before this run
  bool committed_ = false;
};

}  // namespace distillery
