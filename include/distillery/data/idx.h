#pragma once
/// @file data/idx.h
/// Reader for the IDX format of MNIST and Fashion-MNIST (LeCun et al.), plain or gzip.
///
/// Layout: a 4-byte big-endian magic `0x00 0x00 <type> <rank>` (type 0x08 = unsigned byte),
/// then `rank` big-endian uint32 dimensions, then the data in row-major order.
/// Image files have rank 3 (`[N, rows, cols]`, magic 2051), label files rank 1 (`[N]`,
/// magic 2049).
///
/// The header is read and checked before any data: a file is refused before anything is
/// allocated when its dimensions make more than 2^40 data bytes, when a plain file's size
/// (from stat) differs from what the header promises, or when a gzip file is too small to
/// inflate to the promised size (deflate inflates at most 1032 bytes per compressed byte).
/// A gzip file is then inflated straight into the result, only as far as the promised bytes
/// and one more (to detect trailing data), so a small file whose header understates its
/// content (a "gzip bomb") costs no more memory than the header promises.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace distillery::data {

/// Reads an IDX file of unsigned bytes, plain or gzip-compressed (detected from the content,
/// not the name), or only its first `max_items` records.
/// @param path  the file, e.g. `train-images-idx3-ubyte.gz`; it must be a regular file (or a
///   symbolic link to one). A FIFO, socket, device or directory is refused without blocking.
/// @param expected_rank  the rank the caller needs (3 for images, 1 for labels), or -1 for any.
/// @param max_items  -1 for the whole file, else the number of records (rows along
///   dimension 0: images or labels) to read; a count above the file's is clipped to it, as
///   `Dataset::head` does. With a limit below the file's count, the header is checked as for
///   a whole read and so is a plain file's exact size (from stat, without reading it); the
///   records read must be present, but a gzip file is not inflated beyond them, so damage or
///   trailing data after them goes unnoticed. A limit at or above the count is a whole read,
///   with all its checks. Memory is proportional to the records read.
/// @returns a uint8 tensor shaped by the file's dimensions with dimension 0 replaced by the
///   number of records read (e.g. `[60000, 28, 28]`, or `[300, 28, 28]` with `max_items` 300).
///   The first `n` records of any read equal the first `n` of a whole read.
/// Throws c10::Error if `max_items` < -1. Throws std::runtime_error naming the file when it
/// is missing or not a regular file (saying what it is instead), cannot be opened, is not
/// valid gzip, has a wrong magic number, another element type than unsigned byte, a rank
/// other than `expected_rank`, a zero dimension, dimensions whose product overflows or
/// exceeds 2^40 bytes, or a size that does not match its header (truncated or trailing
/// bytes). Example messages:
/// `"<path>: not an IDX file (magic number 0x12345678; expected 0x0000080N)"`,
/// `"<path>: truncated: header promises 47040000 data bytes but the file holds 1000"`,
/// `"<path>: more bytes after the 235200 data bytes the header promises"` (gzip),
/// `"<path> is a FIFO, not a regular file (replace it by the IDX file, plain or gzip)"`.
/// Example: `read_idx("t10k-labels-idx1-ubyte.gz", 1, 1000)` gives the first 1000 labels.
torch::Tensor read_idx(const std::string& path, int expected_rank = -1, int64_t max_items = -1);

/// The dimensions the header of an IDX file declares (e.g. `{60000, 28, 28}`), after the
/// checks `read_idx` makes before reading data (header, plain file size, gzip size bound);
/// no data is read. Throws std::runtime_error as `read_idx` does for those checks.
std::vector<int64_t> read_idx_dimensions(const std::string& path, int expected_rank = -1);

/// Finds `<directory>/<base_name>` or `<directory>/<base_name>.gz`, whichever is first a
/// regular file (or a symbolic link to one). Never opens either.
/// Throws std::runtime_error naming both paths when neither exists, and saying how to get the
/// data (Debian package `dataset-fashion-mnist`, or `scripts/fetch_data.sh`); when one exists
/// but is not usable, the message says what it is and how to fix it, e.g.
/// `"data file not usable: <dir>/x is a dangling symbolic link to /gone (nothing exists
/// there: restore the target or point the link at the IDX file); <dir>/x.gz does not exist"`.
/// Throws when `directory` exists but is not a directory.
std::string find_idx_file(const std::string& directory, const std::string& base_name);

}  // namespace distillery::data
