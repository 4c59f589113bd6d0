#include "distillery/data/npy.h"

#include <torch/torch.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "distillery/data/pixel_statistics.h"

namespace distillery::data {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicBytes = 6;
constexpr uint64_t kMaxDataBytes = uint64_t{1} << 40;

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  bool has_descr = false, has_fortran_order = false, has_shape = false;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "(";
  for (std::size_t d = 0; d < shape.size(); ++d) {
    text += (d ? ", " : "") + std::to_string(shape[d]);
  }
  return text + (shape.size() == 1 ? ",)" : ")");
}

// A parser of the header's Python dict literal: string keys; string, bool and int-tuple values.
class DictParser {
 public:
  DictParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

  Header parse() {
    Header header;
    expect('{');
    while (!consume('}')) {
      const auto key = quoted();
      expect(':');
      if (key == "descr") {
        header.descr = quoted();
        header.has_descr = true;
      } else if (key == "fortran_order") {
        header.fortran_order = boolean();
        header.has_fortran_order = true;
      } else if (key == "shape") {
        header.shape = tuple();
        header.has_shape = true;
      } else {
        throw std::runtime_error(path_ + ": the .npy header has an unknown key '" + key + "'");
      }
      if (!consume(',')) {
        expect('}');
        break;
      }
    }
    skip_space();
    if (position_ != text_.size()) fail("text after the dict");
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(path_ + ": the .npy header is not a valid dict literal (" + what +
                             " at character " + std::to_string(position_) + " of \"" + text_ +
                             "\")");
  }
  void skip_space() {
    while (position_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[position_]))) {
      ++position_;
    }
  }
  bool consume(char c) {
    skip_space();
    if (position_ < text_.size() && text_[position_] == c) {
      ++position_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!consume(c)) fail(std::string("expected '") + c + "'");
  }
  std::string quoted() {
    skip_space();
    if (position_ >= text_.size() || (text_[position_] != '\'' && text_[position_] != '"')) {
      fail("expected a quoted string");
    }
    const char quote = text_[position_++];
    const auto end = text_.find(quote, position_);
    if (end == std::string::npos) fail("unterminated string");
    auto value = text_.substr(position_, end - position_);
    position_ = end + 1;
    return value;
  }
  bool boolean() {
    skip_space();
    using Word = std::pair<const char*, bool>;
    for (const auto& [word, value] : std::initializer_list<Word>{{"True", true}, {"False", false}}) {
      if (text_.compare(position_, std::strlen(word), word) == 0) {
        position_ += std::strlen(word);
        return value;
      }
    }
    fail("expected True or False");
  }
  std::vector<int64_t> tuple() {
    expect('(');
    std::vector<int64_t> values;
    while (!consume(')')) {
      skip_space();
      std::size_t used = 0;
      int64_t value = -1;
      try {
        value = std::stoll(text_.substr(position_), &used);
      } catch (const std::exception&) {
        fail("expected a dimension");
      }
      if (value < 0) fail("negative dimension");
      values.push_back(value);
      position_ += used;
      if (!consume(',')) {
        expect(')');
        break;
      }
    }
    return values;
  }

  const std::string& text_;
  const std::string& path_;
  std::size_t position_ = 0;
};

// The dtype of a descr, or throws naming the file and what is readable.
std::pair<torch::Dtype, int64_t> dtype_of(const std::string& descr, const std::string& path) {
  static const std::vector<std::pair<std::string, std::pair<torch::Dtype, int64_t>>> known = {
      {"|u1", {torch::kUInt8, 1}},   {"<u1", {torch::kUInt8, 1}},   {"|i1", {torch::kInt8, 1}},
      {"<i1", {torch::kInt8, 1}},    {"<i4", {torch::kInt32, 4}},   {"<i8", {torch::kInt64, 8}},
      {"<f4", {torch::kFloat32, 4}}, {"<f8", {torch::kFloat64, 8}}};
  for (const auto& [name, dtype] : known) {
    if (descr == name) return dtype;
  }
  if (!descr.empty() && descr[0] == '>') {
    throw std::runtime_error(path + ": big-endian dtype '" + descr +
                             "' is not read; save the array as little-endian, e.g. "
                             "x.astype('<" + descr.substr(1) + "')");
  }
  throw std::runtime_error(path + ": dtype '" + descr +
                           "' is not read (readable: uint8, int8, int32, int64, float32, "
                           "float64, little-endian)");
}

void check_regular_file(const std::string& path) {
  std::error_code error;
  if (!fs::exists(fs::symlink_status(path, error))) {
    throw std::runtime_error(path + ": no such file");
  }
  const auto target = fs::status(path, error);
  if (!fs::exists(target)) {
    throw std::runtime_error(path + " is a dangling symbolic link (restore its target or point "
                                    "it at the .npy file)");
  }
  if (!fs::is_regular_file(target)) {
    throw std::runtime_error(path + " is not a regular file (replace it by the .npy file)");
  }
}

// Reads the magic, version and header of `input`; returns the header and its end offset.
std::pair<Header, uint64_t> read_header(std::ifstream& input, const std::string& path,
                                        uint64_t file_size) {
  unsigned char start[12] = {};
  input.read(reinterpret_cast<char*>(start), 10);
  if (input.gcount() < 10 || std::memcmp(start, kMagic, kMagicBytes) != 0) {
    throw std::runtime_error(path + ": not a .npy file (it does not start with \\x93NUMPY)");
  }
  const int major = start[6], minor = start[7];
  if (major < 1 || major > 3 || minor != 0) {
    throw std::runtime_error(path + ": .npy format version " + std::to_string(major) + "." +
                             std::to_string(minor) + " is not read (readable: 1.0, 2.0, 3.0)");
  }
  uint64_t length = start[8] | (uint64_t{start[9]} << 8);
  uint64_t prefix = 10;
  if (major >= 2) {
    input.read(reinterpret_cast<char*>(start + 10), 2);
    length |= (uint64_t{start[10]} << 16) | (uint64_t{start[11]} << 24);
    prefix = 12;
  }
  if (prefix + length > file_size) {
    throw std::runtime_error(path + ": truncated: the .npy header needs " +
                             std::to_string(prefix + length) + " bytes but the file holds " +
                             std::to_string(file_size));
  }
  std::string text(length, '\0');
  input.read(text.data(), static_cast<std::streamsize>(length));
  auto header = DictParser(text, path).parse();
  using Key = std::pair<bool, const char*>;
  for (const auto& [present, key] : std::initializer_list<Key>{{header.has_descr, "descr"},
                                                              {header.has_fortran_order, "fortran_order"},
                                                              {header.has_shape, "shape"}}) {
    if (!present) throw std::runtime_error(path + ": the .npy header has no '" + key + "'");
  }
  return {std::move(header), prefix + length};
}

// uint8 pixels of `array` (uint8, or float32 holding only whole numbers in [0, 255]).
torch::Tensor pixels_of(const torch::Tensor& array, const std::string& path) {
  if (array.scalar_type() == torch::kUInt8) return array;
  if (array.scalar_type() != torch::kFloat32) {
    throw std::runtime_error(path + ": images of dtype " +
                             std::string(c10::toString(array.scalar_type())) +
                             " are not read; give uint8 pixels (or float32 whole numbers in "
                             "[0, 255])");
  }
  const auto flat = array.reshape({-1});
  const auto bad = flat.ne(flat.round()).logical_or_(flat.lt(0)).logical_or_(flat.gt(255));
  if (bad.any().item<bool>()) {
    const auto index = bad.nonzero()[0][0].item<int64_t>();
    std::ostringstream value;
    value << flat[index].item<float>();
    throw std::runtime_error(path + ": float32 pixel " + value.str() + " at flat index " +
                             std::to_string(index) + " is not a whole number in [0, 255]; give "
                             "uint8 pixels (for images in [0, 1]: "
                             "np.round(x * 255).astype(np.uint8))");
  }
  return array.to(torch::kUInt8);
}

bool channel_like(int64_t size) { return size == 1 || size == 3 || size == 4; }

NpyLayout detect_layout(const torch::Tensor& array, const std::string& path) {
  if (array.dim() == 3) return NpyLayout::kNHW;
  if (channel_like(array.size(3)) && !channel_like(array.size(1))) return NpyLayout::kNHWC;
  if (channel_like(array.size(1)) && !channel_like(array.size(3))) return NpyLayout::kNCHW;
  throw std::runtime_error(path + ": cannot tell where the channels are in images of shape " +
                           shape_text(array.sizes().vec()) + "; give the layout (NHWC or NCHW)");
}

// `array` as [N, C, H, W] under `layout`.
torch::Tensor as_nchw(const torch::Tensor& array, NpyLayout layout, const std::string& path) {
  const auto shape = shape_text(array.sizes().vec());
  if (array.dim() != 3 && array.dim() != 4) {
    throw std::runtime_error(path + ": images array of shape " + shape +
                             "; expected [N, H, W], [N, H, W, C] or [N, C, H, W]");
  }
  if (layout == NpyLayout::kAuto) layout = detect_layout(array, path);
  const int64_t wanted = layout == NpyLayout::kNHW ? 3 : 4;
  if (array.dim() != wanted) {
    const std::string name = layout == NpyLayout::kNHW    ? "NHW"
                             : layout == NpyLayout::kNHWC ? "NHWC"
                                                          : "NCHW";
    throw std::runtime_error(path + ": layout " + name + " needs a " + std::to_string(wanted) +
                             "-D images array, got shape " + shape);
  }
  if (array.size(0) == 0) throw std::runtime_error(path + ": the images array holds no image");
  if (layout == NpyLayout::kNHW) return array.unsqueeze(1);
  if (layout == NpyLayout::kNHWC) return array.permute({0, 3, 1, 2});
  return array;
}

// int64 labels [n] from `labels_path`, each in [0, num_classes) when num_classes > 0.
torch::Tensor labels_of(const std::string& labels_path, int64_t n, int64_t num_classes) {
  const auto array = read_npy(labels_path);
  const auto dtype = array.scalar_type();
  if (dtype != torch::kUInt8 && dtype != torch::kInt32 && dtype != torch::kInt64) {
    throw std::runtime_error(labels_path + ": labels of dtype " +
                             std::string(c10::toString(dtype)) +
                             " are not read; give uint8, int32 or int64 class indices");
  }
  if (array.dim() != 1 || array.size(0) != n) {
    throw std::runtime_error(labels_path + ": labels array of shape " +
                             shape_text(array.sizes().vec()) + " for " + std::to_string(n) +
                             " images; expected (" + std::to_string(n) + ",)");
  }
  const auto labels = array.to(torch::kInt64);
  const auto bad =
      num_classes > 0 ? labels.lt(0).logical_or_(labels.ge(num_classes)) : labels.lt(0);
  if (bad.any().item<bool>()) {
    const auto index = bad.nonzero()[0][0].item<int64_t>();
    const auto range = num_classes > 0 ? "[0, " + std::to_string(num_classes) + ")" : "[0, inf)";
    throw std::runtime_error(labels_path + ": label " +
                             std::to_string(labels[index].item<int64_t>()) + " at index " +
                             std::to_string(index) + " is outside " + range);
  }
  return labels;
}

}  // namespace

torch::Tensor read_npy(const std::string& path) {
  check_regular_file(path);
  std::ifstream input(path, std::ios::binary);
  if (!input) throw std::runtime_error(path + ": cannot open (" + std::strerror(errno) + ")");
  const auto file_size = static_cast<uint64_t>(fs::file_size(path));
  const auto [header, offset] = read_header(input, path, file_size);
  const auto [dtype, item_bytes] = dtype_of(header.descr, path);
  if (header.fortran_order) {
    throw std::runtime_error(path + ": fortran_order True is not read; save a C-order array "
                                    "(np.save(path, np.ascontiguousarray(x)))");
  }
  uint64_t data_bytes = static_cast<uint64_t>(item_bytes);
  for (const auto size : header.shape) {
    if (size != 0 && data_bytes > kMaxDataBytes / static_cast<uint64_t>(size)) {
      throw std::runtime_error(path + ": the header's shape " + shape_text(header.shape) +
                               " makes more than 2^40 data bytes");
    }
    data_bytes *= static_cast<uint64_t>(size);
  }
  if (file_size - offset != data_bytes) {
    throw std::runtime_error(path + ": the header's shape " + shape_text(header.shape) + " of " +
                             header.descr + " promises " + std::to_string(data_bytes) +
                             " data bytes but the file holds " + std::to_string(file_size - offset));
  }
  auto tensor = torch::empty(header.shape, torch::TensorOptions().dtype(dtype));
  input.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(data_bytes));
  if (static_cast<uint64_t>(input.gcount()) != data_bytes) {
    throw std::runtime_error(path + ": read failed after " + std::to_string(input.gcount()) +
                             " data bytes (the file shrank or cannot be read)");
  }
  return tensor;
}


Dataset load_npy(const std::string& images_path, const std::string& labels_path,
                 const NpyOptions& options) {
  TORCH_CHECK(options.num_classes() >= 0, "load_npy: num_classes must be >= 0 (0 = from the "
              "labels), got ", options.num_classes());
  const auto pixels = as_nchw(pixels_of(read_npy(images_path), images_path), options.layout(),
                              images_path);  // [N, C, H, W] uint8, maybe a permuted view
  Dataset out;
  out.images = empty_huge_pages(pixels.sizes(), torch::kUInt8);
  out.images.copy_(pixels);
  out.name = options.name();
  out.num_classes = options.num_classes();
  if (!labels_path.empty()) {
    out.labels = labels_of(labels_path, out.size(), options.num_classes());
    if (out.num_classes == 0) out.num_classes = out.labels.max().item<int64_t>() + 1;
  }
  if (options.normalization()) {
    options.normalization()->check(out.images.size(1));
    out.normalization = options.normalization();
  } else {
    out.normalization = measure_normalization(out.images);
  }
  return out;
}

}  // namespace distillery::data
