#include <c10/core/ScalarType.h>

#include <stdexcept>
#include <unordered_map>

#include "pickle_parser.h"

namespace distillery::detail::unpickling {
namespace {

c10::ScalarType storage_dtype(const std::string& name) {
  static const std::unordered_map<std::string, c10::ScalarType> types = {
      {"torch.FloatStorage", c10::kFloat},   {"torch.DoubleStorage", c10::kDouble},
      {"torch.HalfStorage", c10::kHalf},     {"torch.BFloat16Storage", c10::kBFloat16},
      {"torch.LongStorage", c10::kLong},     {"torch.IntStorage", c10::kInt},
      {"torch.ShortStorage", c10::kShort},   {"torch.CharStorage", c10::kChar},
      {"torch.ByteStorage", c10::kByte},     {"torch.BoolStorage", c10::kBool}};
  const auto found = types.find(name);
  return found == types.end() ? c10::ScalarType::Undefined : found->second;
}

}  // namespace

std::vector<int64_t> Parser::dimensions(size_t id, const char* what) const {
  if (out_[id].kind != PickleKind::kTuple || out_[id].items.size() > kMaxDimensions) {
    fail(std::string("the tensor's ") + what + " is " + describe(out_, id) +
         ", not a tuple of at most 64 ints");
  }
  std::vector<int64_t> out;
  for (const size_t item : out_[id].items) {
    out.push_back(integer(item, what));
    if (out.back() < 0) fail(std::string("the tensor has a negative ") + what);
  }
  return out;
}

void Parser::call(size_t callable, size_t arguments) {
  const PickleKind kind = out_[callable].kind;
  const std::string name = out_[callable].text;
  if (kind == PickleKind::kObject) return push(make(PickleKind::kObject, name));
  if (kind != PickleKind::kGlobal) fail("calls " + describe(out_, callable) + ", not a class");
  if (out_[arguments].kind != PickleKind::kTuple) {
    fail("the arguments of " + name + " are " + describe(out_, arguments) + ", not a tuple");
  }
  // Read, never copied, before anything is pushed: a crafted file may pass one huge tuple to
  // many calls, and copying it each time would cost time in proportion to its length.
  const size_t count = out_[arguments].items.size();
  if (name == "collections.OrderedDict") {
    if (count != 0) fail("collections.OrderedDict is called with arguments");
    push(make(PickleKind::kDict));
  } else if (name == "torch._utils._rebuild_tensor_v2") {
    constexpr size_t kMaxTensorArguments = 16;
    if (count > kMaxTensorArguments) fail(name + " is called with " + std::to_string(count) +
                                          " arguments");
    rebuild_tensor(std::vector<size_t>(out_[arguments].items));
  } else if (name == "torch._utils._rebuild_parameter" ||
             name == "torch._utils._rebuild_parameter_with_state") {
    // An nn.Parameter (a state dict saved with keep_vars=True): its data is the tensor.
    if (count == 0) fail(name + " is called without arguments");
    const size_t first = out_[arguments].items[0];
    const PickleKind data = out_[first].kind;
    if (data != PickleKind::kTensor && data != PickleKind::kObject) {
      fail("the data of " + name + " is " + describe(out_, first));
    }
    stack_.push_back(first);
  } else {
    push(make(PickleKind::kObject, name));  // never called: opaque, refused where it is needed
  }
}

void Parser::rebuild_tensor(const std::vector<size_t>& arguments) {
  if (arguments.size() < 4) fail("torch._utils._rebuild_tensor_v2 needs at least 4 arguments");
  const PickleValue& storage = out_[arguments[0]];
  if (storage.kind == PickleKind::kObject) return push(make(PickleKind::kObject, storage.text));
  if (storage.kind != PickleKind::kStorage) {
    fail("the storage of a tensor is " + describe(out_, arguments[0]));
  }
  PickleValue tensor = make(PickleKind::kTensor);
  tensor.dtype = storage.dtype;
  tensor.items = {arguments[0]};
  tensor.number = integer(arguments[1], "the tensor's storage offset");
  tensor.sizes = dimensions(arguments[2], "size");
  tensor.strides = dimensions(arguments[3], "stride");
  if (tensor.sizes.size() != tensor.strides.size() || tensor.number < 0) {
    fail("the tensor's size, stride and storage offset do not fit together");
  }
  int64_t last = tensor.number;  // the highest element index the tensor reads
  bool empty = false, overflow = false;
  for (size_t d = 0; d < tensor.sizes.size(); ++d) {
    int64_t reach = 0;
    empty = empty || tensor.sizes[d] == 0;
    overflow = overflow || __builtin_mul_overflow(tensor.sizes[d] - 1, tensor.strides[d], &reach) ||
               __builtin_add_overflow(last, reach, &last);
  }
  if (!empty && (overflow || last >= storage.number)) {
    fail("a tensor of size and stride (" + std::to_string(tensor.sizes.size()) +
         " dimensions) reaches past the end of its storage of " + std::to_string(storage.number) +
         " elements");
  }
  push(std::move(tensor));
}

void Parser::persistent_id(size_t id) {
  const PickleValue& tuple = out_[id];
  if (tuple.kind != PickleKind::kTuple || tuple.items.size() < 5 ||
      out_[tuple.items[0]].kind != PickleKind::kString || out_[tuple.items[0]].text != "storage") {
    fail("a persistent id is " + describe(out_, id) + ", not a tensor storage");
  }
  const std::vector<size_t> items = tuple.items;
  const PickleValue& type = out_[items[1]];
  if (type.kind != PickleKind::kGlobal || out_[items[2]].kind != PickleKind::kString) {
    fail("a storage has no type or no key");
  }
  const c10::ScalarType dtype = storage_dtype(type.text);
  if (dtype == c10::ScalarType::Undefined) return push(make(PickleKind::kObject, type.text));
  if (items.size() > 5 && out_[items[5]].kind != PickleKind::kNone) {
    fail("a storage is a view into another (PyTorch before 1.0); load the file in Python with "
         "torch.load and save it again");
  }
  // items[3] is the device it was saved from; tensors are read onto the CPU whatever it was.
  PickleValue storage = make(PickleKind::kStorage, out_[items[2]].text);
  storage.dtype = dtype;
  storage.number = integer(items[4], "a storage's element count");
  if (storage.number < 0) fail("a storage has a negative element count");
  push(std::move(storage));
}

}  // namespace distillery::detail::unpickling
