#include "distillery/state_dict.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "distillery/io.h"
#include "pickle_reader.h"

namespace distillery {
namespace {

using detail::Pickle;
using detail::PickleKind;
using detail::PickleValue;

constexpr const char* kRecipe = "save the weights in Python with torch.save(model.state_dict(), path)";

// The first bytes of the legacy format: a pickle of the magic number 0x1950a86a20f9469cfc6c.
const std::string kLegacyMagic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
const std::string kZipMagic("PK\x03\x04", 4);
constexpr const char* kBigEndian =
    "saved on a big-endian machine; load it there with torch.load and save it again on a "
    "little-endian one (x86, ARM)";

// A damaged or foreign file; read_state_dict adds the path and what to do.
struct Damaged : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A parsed torch.save file: its pickle, and a reader of the flat storage behind a kStorage value.
struct SavedFile {
  Pickle pickle;
  std::function<torch::Tensor(const PickleValue& storage)> read_storage;
};

Pickle parse(std::string_view bytes, size_t& position, const std::string& where) {
  try {
    return detail::read_pickle(bytes, position);
  } catch (const std::runtime_error& e) {
    throw Damaged(where + ", " + e.what());
  }
}

size_t storage_bytes(const PickleValue& storage) {
  size_t bytes = 0;
  if (__builtin_mul_overflow(size_t(storage.number), c10::elementSize(storage.dtype), &bytes)) {
    throw Damaged("a storage of " + std::to_string(storage.number) + " elements is too large");
  }
  return bytes;
}

// The value of the last entry `key` of a dict, if any.
std::optional<size_t> lookup(const Pickle& pickle, size_t dict, const std::string& key) {
  const auto& items = pickle[dict].items;
  for (size_t i = items.size(); i >= 2; i -= 2) {
    const PickleValue& k = pickle[items[i - 2]];
    if (k.kind == PickleKind::kString && k.text == key) return items[i - 1];
  }
  return std::nullopt;
}

std::string zip_record(caffe2::serialize::PyTorchStreamReader& reader, const std::string& name,
                       uint64_t file_size) {
  if (!reader.hasRecord(name)) throw Damaged("the archive has no record " + name);
  const size_t size = reader.getRecordSize(name);
  if (size > file_size) throw Damaged("the record " + name + " claims more bytes than the file has");
  std::string bytes(size, '\0');
  if (size > 0) reader.getRecord(name, bytes.data(), size);
  return bytes;
}

// The zip format (torch.save since PyTorch 1.6): <archive>/data.pkl, and one record
// <archive>/data/<key> per storage, stored uncompressed, so no record exceeds the file.
SavedFile open_zip(const std::string& path, uint64_t file_size) {
  auto reader = std::make_shared<caffe2::serialize::PyTorchStreamReader>(path);
  if (reader->hasRecord("constants.pkl")) {
    throw std::runtime_error(
        path + ": this is a TorchScript archive (torch.jit.save, or a distillery model file), "
               "not a state dict; load it as a TorchScript teacher or a distillery checkpoint, "
               "or " + kRecipe);
  }
  if (reader->hasRecord("byteorder") && zip_record(*reader, "byteorder", file_size) != "little") {
    throw std::runtime_error(path + ": " + kBigEndian);
  }
  const std::string data = zip_record(*reader, "data.pkl", file_size);
  SavedFile out;
  size_t position = 0;
  out.pickle = parse(data, position, "data.pkl");
  out.read_storage = [reader, file_size](const PickleValue& storage) {
    const std::string name = "data/" + storage.text;
    if (!reader->hasRecord(name)) throw Damaged("the record " + name + " of a tensor is missing");
    const size_t bytes = storage_bytes(storage), size = reader->getRecordSize(name);
    if (size != bytes || size > file_size) {
      throw Damaged("the record " + name + " holds " + std::to_string(size) +
                    " bytes but its tensor needs " + std::to_string(bytes));
    }
    auto flat = torch::empty({storage.number}, torch::dtype(storage.dtype));
    if (bytes > 0) reader->getRecord(name, flat.data_ptr(), bytes);
    return flat;
  };
  return out;
}

// The legacy format (_use_new_zipfile_serialization=False): pickles of the magic number, the
// protocol version and the system info, the object, the list of storage keys; then per key in
// that order the storage's element count (int64, little-endian) and its raw bytes.
SavedFile open_legacy(const std::string& path) {
  auto bytes = std::make_shared<const std::string>(read_file(path));
  size_t position = 0;
  parse(*bytes, position, "the magic number");
  const Pickle version = parse(*bytes, position, "the protocol version");
  const Pickle system = parse(*bytes, position, "the system info");
  if (version[version.root].kind != PickleKind::kInt || version[version.root].number != 1001) {
    throw Damaged("the legacy format's protocol version is not 1001");
  }
  if (system[system.root].kind == PickleKind::kDict) {
    const auto little = lookup(system, system.root, "little_endian");
    if (little && system[*little].kind == PickleKind::kBool && !system[*little].number) {
      throw std::runtime_error(path + ": " + kBigEndian);
    }
  }
  SavedFile out;
  out.pickle = parse(*bytes, position, "the pickled object");
  const Pickle keys = parse(*bytes, position, "the list of storages");
  if (keys[keys.root].kind != PickleKind::kList) throw Damaged("no list of storages");
  std::map<std::string, const PickleValue*> storages;
  for (const auto& value : out.pickle.values) {
    if (value.kind == PickleKind::kStorage) storages[value.text] = &value;
  }
  // Per storage key: where its bytes start and how many there are.
  auto offsets = std::make_shared<std::map<std::string, std::pair<size_t, size_t>>>();
  for (const size_t id : keys[keys.root].items) {
    const auto found = storages.find(keys[id].text);
    if (keys[id].kind != PickleKind::kString || found == storages.end()) {
      throw Damaged("the list of storages names one the object does not use");
    }
    int64_t count = -1;
    if (bytes->size() - position >= 8) std::memcpy(&count, bytes->data() + position, 8);
    const size_t size = storage_bytes(*found->second);
    if (count != found->second->number || bytes->size() - position - 8 < size) {
      throw Damaged("the storage " + found->first + " is truncated or of the wrong size");
    }
    (*offsets)[found->first] = {position + 8, size};
    position += 8 + size;
  }
  out.read_storage = [bytes, offsets](const PickleValue& storage) {
    const auto found = offsets->find(storage.text);
    if (found == offsets->end() || found->second.second != storage_bytes(storage)) {
      throw Damaged("the storage " + storage.text + " is missing or of the wrong size");
    }
    auto flat = torch::empty({storage.number}, torch::dtype(storage.dtype));
    std::memcpy(flat.data_ptr(), bytes->data() + found->second.first, found->second.second);
    return flat;
  };
  return out;
}

SavedFile open_saved(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw std::runtime_error("cannot open " + path + ": " + std::strerror(ENOENT));
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw std::runtime_error("cannot open " + path + ": not a regular file");
  }
  const uint64_t size = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (!in || ec) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  std::string head(kLegacyMagic.size(), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  if (head.rfind(kZipMagic, 0) == 0) return open_zip(path, size);
  if (head == kLegacyMagic) return open_legacy(path);
  throw Damaged(size == 0 ? "the file is empty" : "it is neither a zip archive nor the legacy format");
}

std::string key_text(const Pickle& pickle, size_t id) {
  const PickleValue& key = pickle[id];
  if (key.kind == PickleKind::kString) return key.text;
  if (key.kind == PickleKind::kInt) return std::to_string(key.number);
  return "<" + detail::describe(pickle, id) + ">";
}

std::string keys_of(const Pickle& pickle, size_t dict) {
  std::string out;
  const auto& items = pickle[dict].items;
  for (size_t i = 0; i < items.size(); i += 2) {
    if (i / 2 == 20) return out + ", ...";
    out += (out.empty() ? "" : ", ") + key_text(pickle, items[i]);
  }
  return out;
}

// `what` holds a dict, or the error says what it holds instead.
size_t checked_dict(const Pickle& pickle, size_t id, const std::string& what) {
  const PickleValue& value = pickle[id];
  if (value.kind == PickleKind::kObject) {
    throw std::runtime_error(what + " holds a pickled " + value.text + " object, not a state dict "
                             "(a whole model saved with torch.save(model)?); distillery never "
                             "runs pickled code: " + kRecipe);
  }
  if (value.kind != PickleKind::kDict) {
    throw std::runtime_error(what + " holds " + detail::describe(pickle, id) +
                             ", not a state dict (a dict of tensors); " + kRecipe);
  }
  return id;
}

bool all_tensors(const Pickle& pickle, size_t dict) {
  const auto& items = pickle[dict].items;
  for (size_t i = 1; i < items.size(); i += 2) {
    if (pickle[items[i]].kind != PickleKind::kTensor) return false;
  }
  return true;
}

size_t find_state_dict(const Pickle& pickle, const std::string& key, const std::string& path) {
  const size_t root = checked_dict(pickle, pickle.root, path + ": the file");
  if (!key.empty()) {
    const auto entry = lookup(pickle, root, key);
    if (!entry) {
      throw std::runtime_error(path + ": no entry \"" + key + "\" at the top level of the file; "
                               "its entries are [" + keys_of(pickle, root) + "]");
    }
    return checked_dict(pickle, *entry, path + ": the entry \"" + key + "\"");
  }
  if (all_tensors(pickle, root)) return root;
  for (const char* name : {"state_dict", "model"}) {
    if (const auto entry = lookup(pickle, root, name)) {
      return checked_dict(pickle, *entry, path + ": the entry \"" + name + "\"");
    }
  }
  throw StateDictNotFoundError(path + ": no state dict found: the top-level dict has entries [" +
                               keys_of(pickle, root) + "], not all tensors, and no entry "
                               "\"state_dict\" or \"model\"; give the key of the entry that "
                               "holds the weights");
}

// The flat storage of a tensor, read once however many tensors share it.
torch::Tensor storage_of(const SavedFile& file, const PickleValue& storage,
                         std::map<std::string, torch::Tensor>& cache) {
  auto& flat = cache[storage.text];
  if (!flat.defined()) flat = file.read_storage(storage);
  if (flat.scalar_type() != storage.dtype || flat.numel() != storage.number) {
    throw Damaged("the storage " + storage.text + " is declared twice, with different types");
  }
  return flat;
}

std::map<std::string, torch::Tensor> tensors_of(const SavedFile& file, size_t dict,
                                                const std::string& path) {
  const Pickle& pickle = file.pickle;
  std::map<std::string, torch::Tensor> out, storages;
  const auto& items = pickle[dict].items;
  for (size_t i = 0; i < items.size(); i += 2) {
    if (pickle[items[i]].kind != PickleKind::kString) {
      throw std::runtime_error(path + ": the state dict has a key that is " +
                               detail::describe(pickle, items[i]) + ", not a string; " + kRecipe);
    }
    const std::string& name = pickle[items[i]].text;
    const PickleValue& value = pickle[items[i + 1]];
    if (value.kind != PickleKind::kTensor) {
      throw std::runtime_error(
          path + ": the state dict entry \"" + name + "\" holds " +
          detail::describe(pickle, items[i + 1]) + ", not a tensor; " +
          (value.kind == PickleKind::kObject ? "distillery never runs pickled code: "
                                             : "a state dict maps names to tensors: ") +
          kRecipe);
    }
    const auto flat = storage_of(file, pickle[value.items.at(0)], storages);
    out[name] = flat.as_strided(value.sizes, value.strides, value.number);
  }
  return out;
}

// Floating point, integer and bool tensors do not convert into one another.
int category(c10::ScalarType type) {
  return c10::isFloatingType(type) ? 0 : type == c10::kBool ? 2 : 1;
}

void check_fits(const std::map<std::string, torch::Tensor>& loaded,
                const std::map<std::string, torch::Tensor>& expected, const std::string& path) {
  std::string missing, unexpected;
  for (const auto& item : expected) {
    if (!loaded.count(item.first)) missing += (missing.empty() ? "" : ", ") + item.first;
  }
  for (const auto& item : loaded) {
    if (!expected.count(item.first)) unexpected += (unexpected.empty() ? "" : ", ") + item.first;
  }
  if (!missing.empty() || !unexpected.empty()) {
    throw std::runtime_error(path + ": state dict does not match the model: missing keys [" +
                             missing + "], unexpected keys [" + unexpected + "]");
  }
  for (const auto& item : expected) {
    const auto& source = loaded.at(item.first);
    std::ostringstream message;
    if (source.sizes() != item.second.sizes()) {
      message << path << ": " << item.first << " has shape " << source.sizes()
              << " in the file but " << item.second.sizes() << " in the model";
    } else if (category(source.scalar_type()) != category(item.second.scalar_type())) {
      message << path << ": " << item.first << " is " << source.scalar_type()
              << " in the file but " << item.second.scalar_type() << " in the model";
    }
    if (!message.str().empty()) throw std::runtime_error(message.str());
  }
}

}  // namespace

std::map<std::string, torch::Tensor> read_state_dict(const std::string& path,
                                                     const std::string& key) {
  try {
    const SavedFile file = open_saved(path);
    return tensors_of(file, find_state_dict(file.pickle, key, path), path);
  } catch (const Damaged& e) {
    throw std::runtime_error(path + ": damaged, truncated or not a torch.save file (" + e.what() +
                             "); " + kRecipe);
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": damaged, truncated or not a torch.save file (" + e.msg() +
                             "); " + kRecipe);
  }
}

void load_state_dict(torch::nn::Module& model, const std::string& path, const std::string& key) {
  auto loaded = read_state_dict(path, key);
  const std::string prefix = "module.";
  const bool all_prefixed =
      !loaded.empty() && std::all_of(loaded.begin(), loaded.end(), [&](const auto& item) {
        return item.first.rfind(prefix, 0) == 0;
      });
  if (all_prefixed) {
    std::map<std::string, torch::Tensor> stripped;
    for (auto& item : loaded) stripped[item.first.substr(prefix.size())] = item.second;
    loaded.swap(stripped);
  }
  std::map<std::string, torch::Tensor> expected;
  for (const auto& item : model.named_parameters()) expected[item.key()] = item.value();
  for (const auto& item : model.named_buffers()) expected[item.key()] = item.value();
  check_fits(loaded, expected, path);
  torch::NoGradGuard no_grad;
  for (auto& item : expected) item.second.copy_(loaded.at(item.first));
}

}  // namespace distillery
