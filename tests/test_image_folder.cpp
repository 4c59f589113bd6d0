#include <gtest/gtest.h>
#include <torch/torch.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>

#include "distillery/data/image_folder.h"
#include "test_util.h"

namespace dd = distillery::data;
using distillery::test::TempDir;

namespace {

std::string error_of(const std::function<void()>& f) {
  return distillery::test::runtime_error_of(f);
}

// A height x width color image whose pixel (y, x) is red = 10 * y + x + base, green = 100 + base,
// blue = 200 - x, written in OpenCV's BGR order (PNG and BMP are lossless).
void write_color(const std::string& path, int height, int width, int base) {
  cv::Mat image(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      image.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>(200 - x),
                                            static_cast<uint8_t>(100 + base),
                                            static_cast<uint8_t>(10 * y + x + base));
    }
  }
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  ASSERT_TRUE(cv::imwrite(path, image)) << path;
}

void expect_color(const dd::Dataset& set, int64_t i, int base) {
  for (int64_t y = 0; y < set.images.size(2); ++y) {
    for (int64_t x = 0; x < set.images.size(3); ++x) {
      ASSERT_EQ(set.images[i][0][y][x].item<int>(), 10 * y + x + base) << i << " " << y << " " << x;
      ASSERT_EQ(set.images[i][1][y][x].item<int>(), 100 + base);
      ASSERT_EQ(set.images[i][2][y][x].item<int>(), 200 - x);
    }
  }
}

TEST(ImageFolder, ReadsSortedClassFoldersAsRgb) {
  TempDir dir;
  write_color(dir.file("dog/b.png"), 3, 4, 5);
  write_color(dir.file("dog/a.bmp"), 3, 4, 1);
  write_color(dir.file("cat/z.PNG"), 3, 4, 9);
  std::ofstream(dir.file("cat/notes.txt")) << "not an image";
  std::filesystem::create_directories(dir.file(".hidden"));
  const auto set = dd::load_image_folder(dir.path(), dd::ImageFolderOptions().name("pets"));
  EXPECT_EQ(set.images.sizes(), (std::vector<int64_t>{3, 3, 3, 4}));
  EXPECT_EQ(set.images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(set.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(set.num_classes, 2);
  EXPECT_EQ(set.name, "pets");
  EXPECT_TRUE(torch::equal(set.labels, torch::tensor({0, 1, 1}, torch::kInt64)));
  expect_color(set, 0, 9);  // cat/z.PNG
  expect_color(set, 1, 1);  // dog/a.bmp
  expect_color(set, 2, 5);  // dog/b.png
  // Measured normalisation: green is 100 + base over the images {9, 1, 5}: mean 105 / 255.
  ASSERT_TRUE(set.normalization.has_value());
  EXPECT_NEAR(set.normalization->mean[1], 105.0 / 255.0, 1e-15);
  EXPECT_NEAR(set.normalization->std[1], std::sqrt((16.0 + 16.0 + 0.0) / 3.0) / 255.0, 1e-15);
  const auto first = dd::load_image_folder(dir.path(), dd::ImageFolderOptions().limit(2));
  EXPECT_EQ(first.size(), 2);
  EXPECT_TRUE(torch::equal(first.images, set.images.narrow(0, 0, 2)));
  EXPECT_EQ(first.num_classes, 2);
}

TEST(ImageFolder, GrayscaleResizeAndGivenNormalization) {
  TempDir dir;
  cv::Mat gray(2, 2, CV_8UC1, cv::Scalar(77));
  std::filesystem::create_directories(dir.file("a"));
  ASSERT_TRUE(cv::imwrite(dir.file("a/one.png"), gray));
  cv::Mat big(6, 8, CV_8UC1, cv::Scalar(40));
  ASSERT_TRUE(cv::imwrite(dir.file("a/two.png"), big));
  const auto set = dd::load_image_folder(dir.path(), dd::ImageFolderOptions().grayscale(true)
      .height(4).width(4).resize(true).normalization(dd::Normalization(0.5, 0.2)));
  ASSERT_EQ(set.images.sizes(), (std::vector<int64_t>{2, 1, 4, 4}));
  // A constant image stays constant when enlarged or shrunk.
  EXPECT_TRUE(torch::equal(set.images[0], torch::full({1, 4, 4}, 77, torch::kUInt8)));
  EXPECT_TRUE(torch::equal(set.images[1], torch::full({1, 4, 4}, 40, torch::kUInt8)));
  EXPECT_EQ(set.normalization->mean, std::vector<double>{0.5});
  EXPECT_EQ(error_of([&] { dd::load_image_folder(dir.path(), dd::ImageFolderOptions().grayscale(true)); }),
            dir.file("a/two.png") + ": 6 x 8 image (height x width), expected 2 x 2 (resize the "
                                    "images, or set resize)");
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [&] { dd::load_image_folder(dir.path(), dd::ImageFolderOptions().resize(true)); }),
            "load_image_folder: resize needs a height and width");
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [&] { dd::load_image_folder(dir.path(), dd::ImageFolderOptions().height(3)); }),
            "load_image_folder: give both height and width, or neither; got 3 x 0");
}

TEST(ImageFolder, NamesTheCorruptImageAndTheEmptyFolder) {
  TempDir dir;
  write_color(dir.file("cat/a.png"), 2, 2, 0);
  std::ofstream(dir.file("cat/b.jpg")) << "this is not a JPEG";
  EXPECT_EQ(error_of([&] { dd::load_image_folder(dir.path()); }),
            dir.file("cat/b.jpg") + ": cannot decode the image (corrupt, or not a PNG, JPEG or BMP "
                                    "file); replace or remove it");
  std::filesystem::remove(dir.file("cat/b.jpg"));
  std::filesystem::create_directories(dir.file("dog"));
  EXPECT_EQ(error_of([&] { dd::load_image_folder(dir.path()); }),
            dir.file("dog") + ": class folder without images (.png, .jpg, .jpeg or .bmp); add "
                              "images or remove the folder");
  TempDir flat;
  write_color(flat.file("a.png"), 2, 2, 0);
  EXPECT_EQ(error_of([&] { dd::load_image_folder(flat.path()); }),
            flat.path() + ": no class folders (expected root/<class>/<image>.png|jpg, one "
                          "subfolder per class)");
  EXPECT_EQ(error_of([&] { dd::load_image_folder(flat.file("none")); }),
            flat.file("none") + ": no such directory (expected root/<class>/<image>.png|jpg)");
  EXPECT_EQ(error_of([&] { dd::load_image_folder(flat.file("a.png")); }),
            flat.file("a.png") + " is not a directory (expected root/<class>/<image>.png|jpg)");
}

}  // namespace
