#include <cstring>
#include <stdexcept>

#include "pickle_parser.h"

namespace distillery::detail {
namespace unpickling {

std::string_view Parser::take(uint64_t count) {
  const size_t left = bytes_.size() - position_;
  if (count > left) {
    fail("truncated: " + std::to_string(count) + " bytes needed, " + std::to_string(left) +
         " left");
  }
  const auto out = bytes_.substr(position_, count);
  position_ += count;
  return out;
}

template <typename T>
T Parser::little() {
  const auto raw = take(sizeof(T));
  uint64_t value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) value |= uint64_t(uint8_t(raw[i])) << (8 * i);
  return static_cast<T>(value);
}

std::string Parser::line() {
  const size_t end = bytes_.find('\n', position_);
  if (end == std::string_view::npos) fail("truncated: a GLOBAL name has no end of line");
  std::string out(bytes_.substr(position_, end - position_));
  position_ = end + 1;
  return out;
}

size_t Parser::add(PickleValue value) {
  if (out_.values.size() >= kMaxValues) {
    fail("more than " + std::to_string(kMaxValues) + " values, far more than a state dict holds");
  }
  out_.values.push_back(std::move(value));
  return out_.values.size() - 1;
}

size_t Parser::pop() {
  if (stack_.empty() || (!marks_.empty() && marks_.back() == stack_.size())) {
    fail("an opcode needs a value but the stack is empty");
  }
  const size_t id = stack_.back();
  stack_.pop_back();
  return id;
}

size_t Parser::top() const {
  if (stack_.empty() || (!marks_.empty() && marks_.back() == stack_.size())) fail("an opcode needs a value but the stack is empty");
  return stack_.back();
}

std::vector<size_t> Parser::pop_mark() {
  if (marks_.empty()) fail("an opcode needs a MARK but none is set");
  std::vector<size_t> items(stack_.begin() + marks_.back(), stack_.end());
  stack_.resize(marks_.back());
  marks_.pop_back();
  return items;
}

int64_t Parser::integer(size_t id, const char* what) const {
  if (out_[id].kind != PickleKind::kInt) fail(std::string(what) + " is " + describe(out_, id));
  return out_[id].number;
}


Pickle Parser::run() {
  for (;;) {
    opcode_start_ = position_;
    const auto code = static_cast<uint8_t>(take(1)[0]);
    if (code == op::kStop) break;
    if (stack_.size() + marks_.size() + memo_.size() > 3 * kMaxValues) {
      fail("the stack or the memo holds millions of entries, far more than a state dict needs");
    }
    if (!(scalar(code) || container(code) || memo(code) || object(code))) {
      static const char* digits = "0123456789abcdef";
      fail(std::string("opcode 0x") + digits[code >> 4] + digits[code & 15] +
           " is not one that torch.save writes (pickle protocols 2 to 5)");
    }
  }
  if (stack_.size() != 1 || !marks_.empty()) {
    fail("the pickle ends with " + std::to_string(stack_.size()) + " values instead of one");
  }
  out_.root = stack_.back();
  return std::move(out_);
}

void Parser::push_integer(int64_t number) {
  PickleValue out = make(PickleKind::kInt);
  out.number = number;
  push(std::move(out));
}

void Parser::push_long(std::string_view raw) {
  if (raw.size() > 8) {  // beyond int64: no state dict needs it, keep it opaque
    push(make(PickleKind::kObject, "builtins.int"));
    return;
  }
  uint64_t value = 0;
  for (size_t i = 0; i < raw.size(); ++i) value |= uint64_t(uint8_t(raw[i])) << (8 * i);
  if (!raw.empty() && raw.size() < 8 && (uint8_t(raw.back()) & 0x80)) {
    value |= ~uint64_t{0} << (8 * raw.size());  // two's complement sign extension
  }
  push_integer(static_cast<int64_t>(value));
}

void Parser::push_text(PickleKind kind, uint64_t length) {
  push(make(kind, std::string(take(length))));
}

bool Parser::scalar(uint8_t code) {
  PickleValue value;
  switch (code) {
    case op::kProto: {
      const auto version = little<uint8_t>();
      if (version > 5) fail("pickle protocol " + std::to_string(version) + " is newer than 5");
      return true;
    }
    case op::kFrame: little<uint64_t>(); return true;  // frames only group opcodes
    case op::kNone: push(make(PickleKind::kNone)); return true;
    case op::kNewTrue:
    case op::kNewFalse:
      value.kind = PickleKind::kBool;
      value.number = code == op::kNewTrue;
      push(std::move(value));
      return true;
    case op::kBinInt: push_integer(static_cast<int32_t>(little<uint32_t>())); return true;
    case op::kBinInt1: push_integer(little<uint8_t>()); return true;
    case op::kBinInt2: push_integer(little<uint16_t>()); return true;
    case op::kLong1: push_long(take(little<uint8_t>())); return true;
    case op::kLong4: push_long(take(little<uint32_t>())); return true;
    case op::kBinFloat: {
      const auto raw = take(8);
      uint64_t bits = 0;
      for (size_t i = 0; i < 8; ++i) bits = (bits << 8) | uint8_t(raw[i]);  // big-endian
      value.kind = PickleKind::kFloat;
      std::memcpy(&value.real, &bits, sizeof bits);
      push(std::move(value));
      return true;
    }
    case op::kShortBinUnicode:
    case op::kShortBinString: push_text(PickleKind::kString, little<uint8_t>()); return true;
    case op::kBinUnicode:
    case op::kBinString: push_text(PickleKind::kString, little<uint32_t>()); return true;
    case op::kBinUnicode8: push_text(PickleKind::kString, little<uint64_t>()); return true;
    case op::kShortBinBytes: push_text(PickleKind::kBytes, little<uint8_t>()); return true;
    case op::kBinBytes: push_text(PickleKind::kBytes, little<uint32_t>()); return true;
    case op::kBinBytes8: push_text(PickleKind::kBytes, little<uint64_t>()); return true;
    default: return false;
  }
}

void Parser::insert(size_t target, const std::vector<size_t>& items, PickleKind kind,
                    const char* what) {
  auto& value = out_.values[target];
  if (value.kind == PickleKind::kObject) return;  // e.g. a set or a dict subclass: ignored
  if (value.kind != kind) fail(std::string(what) + " on " + describe(out_, target));
  value.items.insert(value.items.end(), items.begin(), items.end());
}

bool Parser::container(uint8_t code) {
  switch (code) {
    case op::kMark: marks_.push_back(stack_.size()); return true;
    case op::kPop: pop(); return true;
    case op::kPopMark: pop_mark(); return true;
    case op::kDup: stack_.push_back(top()); return true;
    case op::kEmptyTuple: push(make(PickleKind::kTuple)); return true;
    case op::kEmptyList: push(make(PickleKind::kList)); return true;
    case op::kEmptyDict: push(make(PickleKind::kDict)); return true;
    case op::kEmptySet: push(make(PickleKind::kObject, "builtins.set")); return true;
    case op::kTuple1:
    case op::kTuple2:
    case op::kTuple3: {
      std::vector<size_t> items(code - op::kTuple1 + 1);
      for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
      push(make(PickleKind::kTuple));
      out_.values.back().items = std::move(items);
      return true;
    }
    case op::kTuple:
    case op::kList:
    case op::kDict: {
      auto items = pop_mark();
      if (code == op::kDict && items.size() % 2) fail("DICT with an odd number of values");
      push(make(code == op::kTuple  ? PickleKind::kTuple
                : code == op::kList ? PickleKind::kList
                                    : PickleKind::kDict));
      out_.values.back().items = std::move(items);
      return true;
    }
    case op::kFrozenSet: pop_mark(); push(make(PickleKind::kObject, "builtins.frozenset")); return true;
    case op::kAddItems: pop_mark(); insert(top(), {}, PickleKind::kObject, "ADDITEMS"); return true;
    case op::kAppend: { const size_t item = pop(); insert(top(), {item}, PickleKind::kList, "APPEND"); return true; }
    case op::kAppends: { const auto items = pop_mark(); insert(top(), items, PickleKind::kList, "APPENDS"); return true; }
    case op::kSetItem: {
      const size_t value = pop(), key = pop();
      insert(top(), {key, value}, PickleKind::kDict, "SETITEM");
      return true;
    }
    case op::kSetItems: {
      const auto items = pop_mark();
      if (items.size() % 2) fail("SETITEMS with an odd number of values");
      insert(top(), items, PickleKind::kDict, "SETITEMS");
      return true;
    }
    default: return false;
  }
}

bool Parser::memo(uint8_t code) {
  uint64_t index = 0;
  switch (code) {
    case op::kBinPut: memo_[little<uint8_t>()] = top(); return true;
    case op::kLongBinPut: memo_[little<uint32_t>()] = top(); return true;
    case op::kMemoize: memo_[memo_.size()] = top(); return true;
    case op::kBinGet: index = little<uint8_t>(); break;
    case op::kLongBinGet: index = little<uint32_t>(); break;
    default: return false;
  }
  const auto found = memo_.find(index);
  if (found == memo_.end()) fail("memo entry " + std::to_string(index) + " was never stored");
  stack_.push_back(found->second);
  return true;
}

bool Parser::object(uint8_t code) {
  switch (code) {
    case op::kGlobal:
    case op::kStackGlobal: {
      std::string module, name;
      if (code == op::kGlobal) {
        module = line();
        name = line();
      } else {
        const size_t name_id = pop(), module_id = pop();
        if (out_[name_id].kind != PickleKind::kString || out_[module_id].kind != PickleKind::kString) {
          fail("STACK_GLOBAL needs two strings");
        }
        module = out_[module_id].text;
        name = out_[name_id].text;
      }
      if (module == "__builtin__") module = "builtins";  // Python 2 spelling
      push(make(PickleKind::kGlobal, module + "." + name));
      return true;
    }
    case op::kReduce:
    case op::kNewObject: { const size_t arguments = pop(); call(pop(), arguments); return true; }
    case op::kNewObjectEx: { pop(); const size_t arguments = pop(); call(pop(), arguments); return true; }
    // BUILD sets attributes (an OrderedDict's _metadata, an object's __dict__); none matter here.
    case op::kBuild: pop(); top(); return true;
    case op::kBinPersistentId: persistent_id(pop()); return true;
    default: return false;
  }
}

}  // namespace unpickling

Pickle read_pickle(std::string_view bytes, size_t& position) {
  unpickling::Parser parser(bytes, position);
  Pickle out = parser.run();
  position = parser.position();
  return out;
}

std::string describe(const Pickle& pickle, size_t id) {
  const PickleValue& value = pickle[id];
  switch (value.kind) {
    case PickleKind::kNone: return "None";
    case PickleKind::kBool: return "a bool";
    case PickleKind::kInt: return "an int";
    case PickleKind::kFloat: return "a float";
    case PickleKind::kString: return "a string";
    case PickleKind::kBytes: return "bytes";
    case PickleKind::kTuple: return "a tuple";
    case PickleKind::kList: return "a list";
    case PickleKind::kDict: return "a dict";
    case PickleKind::kGlobal: return "the class or function " + value.text;
    case PickleKind::kObject: return "a pickled " + value.text + " object";
    case PickleKind::kStorage: return "a storage";
    case PickleKind::kTensor: return "a tensor";
  }
  return "a value";
}

}  // namespace distillery::detail
