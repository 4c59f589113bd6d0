#pragma once
// Internal to the library (not installed): a restricted reader for the pickles `torch.save`
// writes (protocol 2 by default; 3 to 5 read as well). It never runs pickled code: it knows the
// few globals a state dict needs (collections.OrderedDict, torch._utils._rebuild_tensor_v2 and
// _rebuild_parameter, the typed torch.*Storage classes). Any other global becomes an opaque
// object that remembers its name, so an optimizer's or a trainer's extra entries can sit beside
// the weights; the caller refuses an opaque object only where it needs a value. Every length,
// index and tensor extent is checked against the bytes, so damaged input gives an error, never
// a crash or an allocation larger than the input.

#include <c10/core/ScalarType.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace distillery::detail {

enum class PickleKind {
  kNone, kBool, kInt, kFloat, kString, kBytes, kTuple, kList, kDict,
  kGlobal,   // a class or function named by a GLOBAL opcode, not called yet
  kObject,   // the result of calling a global this reader does not know (opaque)
  kStorage,  // a tensor storage: a persistent id ("storage", type, key, location, numel)
  kTensor    // torch._utils._rebuild_tensor_v2 of a storage
};

/// One value of a parsed pickle. Containers refer to other values by index into
/// `Pickle::values`, so shared and even cyclic references need no ownership graph.
struct PickleValue {
  PickleKind kind = PickleKind::kNone;
  /// kBool and kInt: the value; kStorage: element count; kTensor: storage offset (elements).
  int64_t number = 0;
  /// kFloat: the value.
  double real = 0.0;
  /// kString, kBytes: the contents; kGlobal, kObject: "module.name"; kStorage: its record key.
  std::string text;
  /// kStorage and kTensor: the element type.
  c10::ScalarType dtype = c10::ScalarType::Undefined;
  /// kTuple, kList: the elements; kDict: key, value, key, value, ... in insertion order (a key
  /// set twice appears twice, the later one wins); kTensor: {storage}.
  std::vector<size_t> items;
  /// kTensor: sizes and strides in elements; the extent was checked against the storage.
  std::vector<int64_t> sizes, strides;
};

/// A parsed pickle: all its values, and the one the pickle evaluates to.
struct Pickle {
  std::vector<PickleValue> values;
  size_t root = 0;
  const PickleValue& operator[](size_t id) const { return values.at(id); }
};

/// Parses one pickle starting at `bytes[position]`, through its STOP opcode, and moves
/// `position` just past it. Throws std::runtime_error "byte <offset>: <what is wrong>" on a
/// truncated or malformed pickle, an opcode outside protocols 2 to 5, or more than about
/// two million values (a state dict has about 15 per tensor).
Pickle read_pickle(std::string_view bytes, size_t& position);

/// The value in words for messages: "an int", "a dict", "a pickled torch.nn.Linear object".
std::string describe(const Pickle& pickle, size_t id);

}  // namespace distillery::detail
