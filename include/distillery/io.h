#pragma once
/// @file io.h
/// Small file-system helpers shared by every component that writes outputs: writes are atomic
/// (temporary file in the same directory, then rename), so an interrupted run never leaves a
/// half-written results file, config or checkpoint behind.

#include <functional>
#include <string>

namespace distillery {

/// Writes `contents` to `path` atomically: the bytes go to `<path>.tmp.<pid>` in the same
/// directory, are flushed, and the temporary file is renamed over `path`.
/// Parent directories are created when missing.
/// Throws std::runtime_error naming the path if the directory cannot be created or the file
/// cannot be written or renamed; `path` is then left as it was.
/// Example: `write_file_atomic("runs/x/results.json", json.dump(2));`
void write_file_atomic(const std::string& path, const std::string& contents);

/// Calls `writer(tmp_path)` to produce a file, then renames `tmp_path` onto `path`, so a
/// writer that only knows how to write to a path (e.g. `torch::save`) becomes atomic.
/// If `writer` throws, the temporary file is removed and the exception is rethrown.
/// Throws std::runtime_error naming the path if the rename fails.
void write_atomic_with(const std::string& path, const std::function<void(const std::string&)>& writer);

/// Appends one line (a '\n' is added) to `path`, creating the file and its parent directories
/// if needed. Used for `metrics.jsonl`, where each line is a complete JSON object.
/// Throws std::runtime_error naming the path if it cannot be opened or written.
void append_line(const std::string& path, const std::string& line);

/// Reads a whole file into a string.
/// Throws std::runtime_error "cannot open <path>: <reason>" if it cannot be read.
std::string read_file(const std::string& path);

}  // namespace distillery
