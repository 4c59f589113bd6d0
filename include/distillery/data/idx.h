#pragma once
/// @file data/idx.h
/// Reader for the IDX format of MNIST and Fashion-MNIST (LeCun et al.), plain or gzip.
///
/// Layout: a 4-byte big-endian magic `0x00 0x00 <type> <rank>` (type 0x08 = unsigned byte),
/// then `rank` big-endian uint32 dimensions, then the data in row-major order.
/// Image files have rank 3 (`[N, rows, cols]`, magic 2051), label files rank 1 (`[N]`,
/// magic 2049).

#include <torch/types.h>

#include <string>

namespace distillery::data {

/// Reads an IDX file of unsigned bytes, plain or gzip-compressed (detected from the content,
/// not the name).
/// @param path  the file, e.g. `train-images-idx3-ubyte.gz`.
/// @param expected_rank  the rank the caller needs (3 for images, 1 for labels), or -1 for any.
/// @returns a uint8 tensor shaped by the file's dimensions (e.g. `[60000, 28, 28]`).
/// Throws std::runtime_error naming the file when it cannot be opened, is not valid gzip,
/// has a wrong magic number, another element type than unsigned byte, a rank other than
/// `expected_rank`, a zero dimension, or a size that does not match its header (truncated or
/// trailing bytes). Example messages:
/// `"<path>: not an IDX file (magic number 0x12345678; expected 0x0000080N)"`,
/// `"<path>: truncated: header promises 47040000 data bytes but the file holds 1000"`.
torch::Tensor read_idx(const std::string& path, int expected_rank = -1);

/// Finds `<directory>/<base_name>` or `<directory>/<base_name>.gz`, whichever exists first.
/// Throws std::runtime_error naming both paths when neither exists, and saying how to get the
/// data (Debian package `dataset-fashion-mnist`, or `scripts/fetch_data.sh`).
std::string find_idx_file(const std::string& directory, const std::string& base_name);

}  // namespace distillery::data
