#pragma once
/// @file io.h
/// Small file-system helpers shared by every component that writes outputs. Writes are atomic
/// and durable: the bytes go to a temporary file in the same directory, are flushed to the disk
/// (fsync), and the temporary file is renamed over the target; any failure (a full disk, a file
/// size limit, a missing directory) throws a std::runtime_error naming the path and the reason,
/// removes the temporary file and leaves the target as it was.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace distillery {

/// Writes `contents` to `path` atomically: the bytes go to `<path>.tmp.<pid>` in the same
/// directory, are written in full and fsync'ed, and the temporary file is renamed over `path`
/// (the directory is fsync'ed after the rename). Parent directories are created when missing.
/// Throws std::runtime_error "cannot write <path>: <reason>" (e.g. "No space left on device")
/// if the directory cannot be created or the file cannot be written, synced or renamed; the
/// temporary file is then removed and `path` is left as it was.
/// Example: `write_file_atomic("runs/x/results.json", json.dump(2));`
void write_file_atomic(const std::string& path, const std::string& contents);

/// As above, for a file made of several pieces written one after the other (e.g. a header and
/// a tensor's bytes), without joining them in memory first.
void write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces);

/// Calls `writer(tmp_path)` to produce a file, fsyncs it, then renames `tmp_path` onto `path`,
/// so a writer that only knows how to write to a path becomes atomic.
/// If `writer` throws, the temporary file is removed and the exception is rethrown.
/// Throws std::runtime_error naming the path if the file cannot be synced or renamed.
void write_atomic_with(const std::string& path, const std::function<void(const std::string&)>& writer);

/// Appends one line (a '\n' is added) to `path` with a single write, creating the file and its
/// parent directories if needed. Used for `metrics.jsonl`, where each line is a complete JSON
/// object.
/// Throws std::runtime_error "cannot write <path>: <reason>" if it cannot be opened or the
/// whole line cannot be written (a full disk is an error, never silently ignored).
void append_line(const std::string& path, const std::string& line);

/// `value` rounded to `decimals` decimal places, for JSON outputs: a sum of timings such as
/// 0.0025236820000000006 s is written as 0.002524 (the shortest text of the rounded double).
/// Non-finite values are returned unchanged.
double round_for_json(double value, int decimals = 6);

/// Flushes `directory`'s entries (e.g. the renames of a commit) to the disk with fsync; a file
/// system that cannot sync a directory is ignored (the call never throws).
void sync_directory(const std::string& directory);

/// Reads a whole regular file into a string.
/// Throws std::runtime_error "cannot open <path>: <reason>" if it cannot be read, is a
/// directory, or is not a regular file (a FIFO or device is refused without being opened).
std::string read_file(const std::string& path);

}  // namespace distillery
