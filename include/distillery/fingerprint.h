#pragma once
/// @file fingerprint.h
/// Content fingerprints of tensors: the same values, shapes and dtypes give the same 64-bit
/// number on every machine, so a stored file can say which teacher and which data made it.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace distillery {

/// Fingerprint of a list of tensors (order matters): zlib's CRC-32 and Adler-32 of each
/// tensor's shape, dtype and bytes (moved to the CPU, made contiguous), as one 64-bit value.
/// Cost: one pass over the bytes. Not a cryptographic hash.
uint64_t fingerprint_tensors(const std::vector<torch::Tensor>& tensors);

/// The fingerprint as 16 lower-case hexadecimal digits, for messages and JSON.
std::string fingerprint_hex(uint64_t fingerprint);

}  // namespace distillery
