#pragma once
// Internal to pickle_reader.cpp and pickle_torch.cpp: the parser behind read_pickle. The pickle
// machine (stack, marks, memo, scalars, containers) is in pickle_reader.cpp; the few torch.save
// globals it knows (calls, storages, tensors) in pickle_torch.cpp.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pickle_reader.h"

namespace distillery::detail::unpickling {

// About 15 values per tensor: room for 100,000 tensors, at most a few hundred MB of values.
constexpr size_t kMaxValues = size_t{1} << 21;
constexpr size_t kMaxDimensions = 64;

// The opcodes of pickle protocols 2 to 5 (Python's Lib/pickletools.py documents each one).
namespace op {
constexpr uint8_t kMark = '(', kStop = '.', kPop = '0', kPopMark = '1', kDup = '2';
constexpr uint8_t kBinFloat = 'G', kBinInt = 'J', kBinInt1 = 'K', kBinInt2 = 'M', kNone = 'N';
constexpr uint8_t kBinPersistentId = 'Q', kReduce = 'R', kBinString = 'T', kShortBinString = 'U';
constexpr uint8_t kBinUnicode = 'X', kAppend = 'a', kBuild = 'b', kGlobal = 'c', kDict = 'd';
constexpr uint8_t kEmptyDict = '}', kAppends = 'e', kBinGet = 'h', kLongBinGet = 'j';
constexpr uint8_t kList = 'l', kEmptyList = ']', kBinPut = 'q', kLongBinPut = 'r';
constexpr uint8_t kSetItem = 's', kTuple = 't', kEmptyTuple = ')', kSetItems = 'u';
constexpr uint8_t kBinBytes = 'B', kShortBinBytes = 'C', kProto = 0x80, kNewObject = 0x81;
constexpr uint8_t kTuple1 = 0x85, kTuple2 = 0x86, kTuple3 = 0x87, kNewTrue = 0x88;
constexpr uint8_t kNewFalse = 0x89, kLong1 = 0x8a, kLong4 = 0x8b, kShortBinUnicode = 0x8c;
constexpr uint8_t kBinUnicode8 = 0x8d, kBinBytes8 = 0x8e, kEmptySet = 0x8f, kAddItems = 0x90;
constexpr uint8_t kFrozenSet = 0x91, kNewObjectEx = 0x92, kStackGlobal = 0x93;
constexpr uint8_t kMemoize = 0x94, kFrame = 0x95;
}  // namespace op

inline PickleValue make(PickleKind kind, std::string text = {}) {
  PickleValue value;
  value.kind = kind;
  value.text = std::move(text);
  return value;
}

class Parser {
 public:
  Parser(std::string_view bytes, size_t position) : bytes_(bytes), position_(position) {}

  Pickle run();
  size_t position() const { return position_; }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("byte " + std::to_string(opcode_start_) + ": " + what);
  }
  std::string_view take(uint64_t count);
  template <typename T>
  T little();  // an unsigned little-endian integer of sizeof(T) bytes
  std::string line();
  size_t add(PickleValue value);
  void push(PickleValue value) { stack_.push_back(add(std::move(value))); }
  size_t pop();
  size_t top() const;
  std::vector<size_t> pop_mark();
  int64_t integer(size_t id, const char* what) const;
  std::vector<int64_t> dimensions(size_t id, const char* what) const;

  bool scalar(uint8_t code);
  bool container(uint8_t code);
  bool memo(uint8_t code);
  bool object(uint8_t code);
  void push_integer(int64_t number);
  void push_long(std::string_view bytes);  // LONG1 / LONG4: little-endian two's complement
  void push_text(PickleKind kind, uint64_t length);
  void insert(size_t target, const std::vector<size_t>& items, PickleKind kind, const char* what);
  void call(size_t callable, size_t arguments);
  void rebuild_tensor(const std::vector<size_t>& arguments);
  void persistent_id(size_t id);

  std::string_view bytes_;
  size_t position_;
  size_t opcode_start_ = 0;
  Pickle out_;
  std::vector<size_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, size_t> memo_;
};

}  // namespace distillery::detail::unpickling
