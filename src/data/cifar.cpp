#include "distillery/data/cifar.h"

#include <torch/torch.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace distillery::data {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kChannels = 3;
constexpr int64_t kSide = 32;
constexpr int64_t kPixelBytes = kChannels * kSide * kSide;  // 3072
constexpr int64_t kRecordsPerRead = 1024;

// One CIFAR variant: its files, record layout and label bytes.
struct Layout {
  std::string title;                     // "CIFAR-10", for messages
  std::string fetch_name;                // the argument of scripts/fetch_data.sh
  std::string folder;                    // the folder the archive unpacks to
  std::vector<std::string> label_words;  // one per label byte: "label", "coarse label", ...
  std::vector<int64_t> label_classes;    // the number of classes of each label byte
  std::size_t kept_label = 0;            // the label byte that becomes Dataset::labels
  int64_t record_bytes() const { return static_cast<int64_t>(label_words.size()) + kPixelBytes; }
};

std::string plural(int64_t count, const std::string& word) {
  return std::to_string(count) + " " + word + (count == 1 ? "" : "s");
}

// The size of `path`, a regular file (or a link to one) holding a whole, non-zero number of
// records; otherwise throws naming it, what it is and how to fix it.
int64_t record_count(const std::string& path, const Layout& layout, const std::string& hint) {
  std::error_code error;
  const auto link = fs::symlink_status(path, error);
  if (!fs::exists(link)) {
    throw std::runtime_error(path + ": " + layout.title + " file not found (" + hint + ")");
  }
  const auto target = fs::status(path, error);
  if (!fs::exists(target)) {
    throw std::runtime_error(path + " is a dangling symbolic link (restore its target or point "
                                    "it at the " + layout.title + " file)");
  }
  if (!fs::is_regular_file(target)) {
    throw std::runtime_error(path + " is not a regular file (replace it by the " +
                             layout.title + " binary file)");
  }
  const auto size = static_cast<int64_t>(fs::file_size(path, error));
  if (error) throw std::runtime_error(path + ": cannot read its size (" + error.message() + ")");
  if (size == 0) {
    throw std::runtime_error(path + ": empty file (no " + layout.title + " records)");
  }
  const int64_t record = layout.record_bytes();
  if (size % record != 0) {
    throw std::runtime_error(
        path + ": " + std::to_string(size) + " bytes is not a whole number of " +
        std::to_string(record) + "-byte " + layout.title + " records (" +
        plural(size / record, "record") + " and " + plural(size % record, "byte") +
        " more; the file is truncated or not " + layout.title + " binary)");
  }
  return size / record;
}

// Reads the first `count` records of `path` into `pixels` ([count, 3, 32, 32] bytes) and
// `labels` ([count]), checking every label byte.
void read_records(const std::string& path, const Layout& layout, int64_t count, uint8_t* pixels,
                  int64_t* labels) {
  std::ifstream input(path, std::ios::binary);
  if (!input) throw std::runtime_error(path + ": cannot open (" + std::strerror(errno) + ")");
  const int64_t record = layout.record_bytes();
  const auto label_bytes = static_cast<int64_t>(layout.label_words.size());
  std::vector<uint8_t> buffer(static_cast<std::size_t>(std::min(count, kRecordsPerRead) * record));
  for (int64_t done = 0; done < count;) {
    const int64_t chunk = std::min(count - done, kRecordsPerRead);
    input.read(reinterpret_cast<char*>(buffer.data()), chunk * record);
    if (input.gcount() != chunk * record) {
      throw std::runtime_error(path + ": read failed after " +
                               std::to_string(done * record + input.gcount()) +
                               " bytes (the file shrank or cannot be read)");
    }
    for (int64_t r = 0; r < chunk; ++r) {
      const uint8_t* bytes = buffer.data() + r * record;
      for (int64_t b = 0; b < label_bytes; ++b) {
        if (bytes[b] >= layout.label_classes[b]) {
          throw std::runtime_error(
              path + ": record " + std::to_string(done + r) + " has " + layout.label_words[b] +
              " " + std::to_string(bytes[b]) + ", outside [0, " +
              std::to_string(layout.label_classes[b]) + ") (the file is not " + layout.title +
              " binary, or is corrupt)");
        }
      }
      labels[done + r] = bytes[layout.kept_label];
      std::memcpy(pixels + (done + r) * kPixelBytes, bytes + label_bytes, kPixelBytes);
    }
    done += chunk;
  }
}

// `directory`, or its subfolder `layout.folder` when the first file is not in `directory` but
// that subfolder exists.
std::string data_directory(const std::string& directory, const Layout& layout,
                           const std::string& first_file) {
  if (fs::exists(directory) && !fs::is_directory(directory)) {
    throw std::runtime_error(directory + " is not a directory; point the data directory at the "
                                         "folder holding the " + layout.title + " files");
  }
  const auto nested = fs::path(directory) / layout.folder;
  if (!fs::exists(fs::symlink_status(fs::path(directory) / first_file)) &&
      fs::is_directory(nested)) {
    return nested.string();
  }
  return directory;
}

// Class names, one a line (blank lines and surrounding whitespace ignored), from `path` when it
// exists, else `built_in`.
std::vector<std::string> class_names_from(const std::string& path, std::vector<std::string> built_in,
                                          const std::string& title) {
  if (!fs::exists(path)) return built_in;
  std::ifstream input(path);
  if (!input) throw std::runtime_error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<std::string> names;
  for (std::string line; std::getline(input, line);) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    names.push_back(line.substr(first, line.find_last_not_of(" \t\r") - first + 1));
  }
  if (names.size() != built_in.size()) {
    throw std::runtime_error(path + ": " + plural(static_cast<int64_t>(names.size()), "class name") +
                             ", expected " + std::to_string(built_in.size()) + " for " + title +
                             " (one a line; delete the file to use the built-in names)");
  }
  return names;
}

struct Request {
  Layout layout;
  std::vector<std::string> files;  // of the split, in reading order
  std::string names_file;          // class names beside the data files
  std::vector<std::string> built_in_names;
  std::string name;                // Dataset::name
};

Dataset load(const std::string& directory, const Request& request, const Normalization& normalization,
             int64_t limit) {
  normalization.check(kChannels);
  TORCH_CHECK(limit >= 0, "load_", request.layout.fetch_name, ": limit must be >= 0 (0 = all), got ",
              limit);
  const auto& layout = request.layout;
  const auto folder = data_directory(directory, layout, request.files.front());
  const std::string hint = "expected in " + directory + " or " +
                           (fs::path(directory) / layout.folder).string() +
                           "; download the data with scripts/fetch_data.sh " + layout.fetch_name +
                           " " + directory;
  std::vector<std::string> paths;
  std::vector<int64_t> counts;
  int64_t total = 0;
  for (const auto& file : request.files) {
    paths.push_back((fs::path(folder) / file).string());
    counts.push_back(record_count(paths.back(), layout, hint));
    total += counts.back();
  }
  const int64_t n = limit == 0 ? total : std::min(limit, total);
  Dataset out;
  out.images = empty_huge_pages({n, kChannels, kSide, kSide}, torch::kUInt8);
  out.labels = torch::empty({n}, torch::kInt64);
  int64_t done = 0;
  for (std::size_t f = 0; f < paths.size() && done < n; ++f) {
    const int64_t count = std::min(counts[f], n - done);
    read_records(paths[f], layout, count, out.images.data_ptr<uint8_t>() + done * kPixelBytes,
                 out.labels.data_ptr<int64_t>() + done);
    done += count;
  }
  out.class_names = class_names_from((fs::path(folder) / request.names_file).string(),
                                     request.built_in_names, layout.title);
  out.num_classes = static_cast<int64_t>(out.class_names.size());
  out.name = request.name;
  out.normalization = normalization;
  return out;
}

}  // namespace

std::vector<std::string> cifar10_class_names() {
  return {"airplane", "automobile", "bird", "cat", "deer",
          "dog",      "frog",       "horse", "ship", "truck"};
}

std::vector<std::string> cifar100_class_names(CifarLabels labels) {
  if (labels == CifarLabels::kCoarse) {
    return {"aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
            "household_electrical_devices", "household_furniture", "insects",
            "large_carnivores", "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
            "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates",
            "people", "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2"};
  }
  return {"apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
          "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
          "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
          "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest",
          "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower",
          "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
          "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear",
          "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine", "possum",
          "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew",
          "skunk", "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar",
          "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger",
          "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree",
          "wolf", "woman", "worm"};
}

Dataset load_cifar10(const std::string& directory, Split split, Normalization normalization,
                     int64_t limit) {
  Request request;
  request.layout = {"CIFAR-10", "cifar10", "cifar-10-batches-bin", {"label"}, {10}, 0};
  if (split == Split::kTrain) {
    for (int b = 1; b <= 5; ++b) request.files.push_back("data_batch_" + std::to_string(b) + ".bin");
  } else {
    request.files = {"test_batch.bin"};
  }
  request.names_file = "batches.meta.txt";
  request.built_in_names = cifar10_class_names();
  request.name = "cifar10";
  return load(directory, request, normalization, limit);
}

Dataset load_cifar100(const std::string& directory, Split split, CifarLabels labels,
                      Normalization normalization, int64_t limit) {
  const bool fine = labels == CifarLabels::kFine;
  Request request;
  request.layout = {"CIFAR-100", "cifar100", "cifar-100-binary",
                    {"coarse label", "fine label"}, {20, 100}, fine ? 1u : 0u};
  request.files = {split == Split::kTrain ? "train.bin" : "test.bin"};
  request.names_file = fine ? "fine_label_names.txt" : "coarse_label_names.txt";
  request.built_in_names = cifar100_class_names(labels);
  request.name = fine ? "cifar100" : "cifar100-coarse";
  return load(directory, request, normalization, limit);
}

}  // namespace distillery::data
