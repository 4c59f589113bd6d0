#pragma once
// Internal: a plain C++ picture of an ONNX model, between the translation of a traced forward
// (which needs LibTorch's headers) and its serialisation (onnx_serialize.cpp, which needs the
// ONNX library's protobuf headers). The two never meet in one translation unit: LibTorch's
// include directory ships protobuf headers of another version than the ONNX library's. Not
// installed.

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace distillery::detail {

struct OnnxAttribute {
  enum class Kind { kInt, kFloat, kInts };
  std::string name;
  Kind kind = Kind::kInt;
  int64_t i = 0;
  float f = 0.0f;
  std::vector<int64_t> ints;
};

struct OnnxNode {
  std::string op;
  std::string name;
  std::vector<std::string> inputs;  // "" for an omitted optional input
  std::vector<std::string> outputs;
  std::vector<OnnxAttribute> attributes;
};

/// A tensor of the graph: float32 (`floats`) or int64 (`ints`) values in row-major order.
struct OnnxInitializer {
  std::string name;
  std::vector<int64_t> dims;
  bool is_float = true;
  std::vector<float> floats;
  std::vector<int64_t> ints;
};

/// A float32 graph input or output `[N, dims...]`, N dynamic (named "N").
struct OnnxValueInfo {
  std::string name;
  std::vector<int64_t> dims;
};

struct OnnxModel {
  int64_t opset = 17;
  std::string producer_version;
  std::string graph_name;
  std::deque<OnnxNode> nodes;  // a deque: a node's reference survives adding the next
  std::vector<OnnxInitializer> initializers;
  OnnxValueInfo input;
  OnnxValueInfo output;
  std::vector<std::pair<std::string, std::string>> metadata;
};

/// `model` as a serialised onnx.ModelProto (IR version 8), once the ONNX checker has accepted
/// it. Throws std::runtime_error "the ONNX checker refused the graph: ..." or when it cannot
/// be serialised.
std::string serialize_onnx(const OnnxModel& model);

/// The newest version of the default ONNX operator set that the ONNX library knows.
int64_t newest_onnx_opset();

}  // namespace distillery::detail
