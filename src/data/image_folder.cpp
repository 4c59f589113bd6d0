#include "distillery/data/image_folder.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "distillery/data/pixel_statistics.h"

namespace distillery::data {
namespace {

namespace fs = std::filesystem;

bool is_image_name(const fs::path& path) {
  auto extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".png" || extension == ".jpg" || extension == ".jpeg" || extension == ".bmp";
}

std::vector<fs::path> sorted_entries(const fs::path& folder, bool directories) {
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const auto name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (directories ? entry.is_directory() : (entry.is_regular_file() && is_image_name(entry.path()))) {
      entries.push_back(entry.path());
    }
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

struct Listing {
  std::vector<std::string> class_names;
  std::vector<std::pair<std::string, int64_t>> images;  // path and class index, in reading order
};

Listing list_images(const std::string& root) {
  std::error_code error;
  if (!fs::exists(root, error)) {
    throw std::runtime_error(root + ": no such directory (expected root/<class>/<image>.png|jpg)");
  }
  if (!fs::is_directory(root, error)) {
    throw std::runtime_error(root + " is not a directory (expected root/<class>/<image>.png|jpg)");
  }
  Listing listing;
  for (const auto& folder : sorted_entries(root, /*directories=*/true)) {
    const auto files = sorted_entries(folder, /*directories=*/false);
    if (files.empty()) {
      throw std::runtime_error(folder.string() + ": class folder without images (.png, .jpg, "
                                                 ".jpeg or .bmp); add images or remove the folder");
    }
    const auto label = static_cast<int64_t>(listing.class_names.size());
    listing.class_names.push_back(folder.filename().string());
    for (const auto& file : files) listing.images.emplace_back(file.string(), label);
  }
  if (listing.class_names.empty()) {
    throw std::runtime_error(root + ": no class folders (expected root/<class>/<image>.png|jpg, "
                                    "one subfolder per class)");
  }
  return listing;
}

// The image at `path` as a continuous HWC uint8 Mat of `height` x `width` (resized or checked).
cv::Mat decode(const std::string& path, const ImageFolderOptions& options, int64_t height,
               int64_t width) {
  cv::Mat image = cv::imread(path, options.grayscale() ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
  if (image.empty()) {
    throw std::runtime_error(path + ": cannot decode the image (corrupt, or not a PNG, JPEG or "
                                    "BMP file); replace or remove it");
  }
  if (!options.grayscale()) cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  if (image.rows != height || image.cols != width) {
    if (!options.resize()) {
      throw std::runtime_error(path + ": " + std::to_string(image.rows) + " x " +
                               std::to_string(image.cols) + " image (height x width), expected " +
                               std::to_string(height) + " x " + std::to_string(width) +
                               " (resize the images, or set resize)");
    }
    const bool shrinking = image.rows * image.cols > height * width;
    cv::Mat resized;
    cv::resize(image, resized, cv::Size(static_cast<int>(width), static_cast<int>(height)), 0, 0,
               shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
    image = resized;
  }
  return image.isContinuous() ? image : image.clone();
}

}  // namespace

Dataset load_image_folder(const std::string& root, const ImageFolderOptions& options) {
  TORCH_CHECK(options.height() >= 0 && options.width() >= 0 && options.limit() >= 0,
              "load_image_folder: height, width and limit must be >= 0, got ", options.height(),
              ", ", options.width(), ", ", options.limit());
  TORCH_CHECK((options.height() == 0) == (options.width() == 0),
              "load_image_folder: give both height and width, or neither; got ", options.height(),
              " x ", options.width());
  TORCH_CHECK(!options.resize() || options.height() > 0,
              "load_image_folder: resize needs a height and width");
  const auto listing = list_images(root);
  const auto total = static_cast<int64_t>(listing.images.size());
  const int64_t n = options.limit() == 0 ? total : std::min(options.limit(), total);
  const int64_t channels = options.grayscale() ? 1 : 3;
  if (options.normalization()) options.normalization()->check(channels);
  int64_t height = options.height(), width = options.width();
  if (height == 0) {
    const auto first = cv::imread(listing.images[0].first, cv::IMREAD_UNCHANGED);
    height = first.empty() ? 0 : first.rows;  // an undecodable first image fails below
    width = first.empty() ? 0 : first.cols;
  }
  Dataset out;
  out.images = empty_huge_pages({n, channels, height, width}, torch::kUInt8);
  out.labels = torch::empty({n}, torch::kInt64);
  auto* labels = out.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const auto& [path, label] = listing.images[i];
    const auto image = decode(path, options, height, width);
    const auto hwc = torch::from_blob(image.data, {height, width, channels}, torch::kUInt8);
    out.images[i].copy_(hwc.permute({2, 0, 1}));
    labels[i] = label;
  }
  out.num_classes = static_cast<int64_t>(listing.class_names.size());
  out.class_names = listing.class_names;
  out.name = options.name();
  out.normalization =
      options.normalization() ? *options.normalization() : measure_normalization(out.images);
  return out;
}

}  // namespace distillery::data
