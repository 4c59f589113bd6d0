#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>

#include "distillery/data/npy.h"
#include "distillery/data/pixel_statistics.h"
#include "test_util.h"

namespace dd = distillery::data;
using distillery::test::TempDir;
using distillery::test::write_bytes;

using distillery::test::npy_bytes;

namespace {

std::string dict(const std::string& descr, const std::string& shape, const char* fortran = "False") {
  return distillery::test::npy_dict(descr, shape, fortran);
}

std::string error_of(const std::function<void()>& f) {
  return distillery::test::runtime_error_of(f);
}

template <typename T>
std::vector<uint8_t> raw(const std::vector<T>& values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

TEST(NpyReader, ReadsEachDtypeAndShape) {
  TempDir dir;
  write_bytes(dir.file("u1.npy"), npy_bytes(dict("|u1", "(2, 3)"), {0, 1, 2, 253, 254, 255}));
  const auto u1 = dd::read_npy(dir.file("u1.npy"));
  EXPECT_EQ(u1.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(u1, torch::tensor({0, 1, 2, 253, 254, 255}, torch::kUInt8).view({2, 3})));
  write_bytes(dir.file("i4.npy"), npy_bytes(dict("<i4", "(3,)"), raw<int32_t>({-7, 0, 1 << 30})));
  EXPECT_TRUE(torch::equal(dd::read_npy(dir.file("i4.npy")),
                           torch::tensor({-7, 0, 1 << 30}, torch::kInt32)));
  write_bytes(dir.file("i8.npy"), npy_bytes(dict("<i8", "(2,)"), raw<int64_t>({int64_t{1} << 40, 3}), 2));
  EXPECT_TRUE(torch::equal(dd::read_npy(dir.file("i8.npy")),
                           torch::tensor({int64_t{1} << 40, int64_t{3}}, torch::kInt64)));
  write_bytes(dir.file("f4.npy"), npy_bytes(dict("<f4", "(1, 2, 1)"), raw<float>({0.25f, -3.5f}), 3));
  const auto f4 = dd::read_npy(dir.file("f4.npy"));
  EXPECT_EQ(f4.sizes(), (std::vector<int64_t>{1, 2, 1}));
  EXPECT_EQ(f4[0][1][0].item<float>(), -3.5f);
}

TEST(NpyReader, ReadsFilesWrittenByNumpy) {
  // tests/fixtures/npy/ was written by tests/fixtures/make_npy_fixtures.py with np.save.
  const std::string fixtures = std::string(DISTILLERY_FIXTURE_DIR) + "/npy/";
  const auto images = dd::read_npy(fixtures + "images_nhwc_uint8.npy");
  ASSERT_EQ(images.sizes(), (std::vector<int64_t>{2, 6, 5, 3}));
  const auto flat = images.reshape({-1});
  for (int64_t i = 0; i < flat.numel(); ++i) ASSERT_EQ(flat[i].item<int>(), i * 7 % 256) << i;
  EXPECT_TRUE(torch::equal(dd::read_npy(fixtures + "labels_int64.npy"),
                           torch::tensor({1, 0}, torch::kInt64)));
  const auto set = dd::load_npy(fixtures + "images_nhwc_uint8.npy", fixtures + "labels_int64.npy");
  ASSERT_EQ(set.images.sizes(), (std::vector<int64_t>{2, 3, 6, 5}));  // NHWC detected
  // images[n][c][y][x] = the file's [n][y][x][c] = ((n * 6 + y) * 5 + x) * 3 + c, times 7.
  EXPECT_EQ(set.images[1][2][3][4].item<int>(), (((1 * 6 + 3) * 5 + 4) * 3 + 2) * 7 % 256);
  EXPECT_EQ(set.images[0][1][0][2].item<int>(), ((0 * 5 + 2) * 3 + 1) * 7 % 256);
  EXPECT_EQ(set.num_classes, 2);
  const auto gray = dd::load_npy(fixtures + "images_nhw_float32.npy", fixtures + "labels_int32.npy",
                                 dd::NpyOptions().num_classes(10).name("tiny"));
  ASSERT_EQ(gray.images.sizes(), (std::vector<int64_t>{3, 1, 2, 2}));
  EXPECT_TRUE(torch::equal(gray.images.reshape({-1}),
                           torch::arange(12, torch::kInt64).mul(20).to(torch::kUInt8)));
  EXPECT_TRUE(torch::equal(gray.labels, torch::tensor({9, 0, 4}, torch::kInt64)));
  EXPECT_EQ(gray.num_classes, 10);
  EXPECT_EQ(gray.name, "tiny");
}

TEST(NpyReader, DatasetLayoutsLabelsAndMeasuredNormalization) {
  TempDir dir;
  // Two 1 x 2 gray images {0, 255} and {255, 255}: mean 0.75, std sqrt(0.75 - 0.75^2).
  write_bytes(dir.file("x.npy"), npy_bytes(dict("|u1", "(2, 1, 2)"), {0, 255, 255, 255}));
  write_bytes(dir.file("y.npy"), npy_bytes(dict("|u1", "(2,)"), {2, 0}));
  const auto set = dd::load_npy(dir.file("x.npy"), dir.file("y.npy"));
  EXPECT_EQ(set.images.sizes(), (std::vector<int64_t>{2, 1, 1, 2}));
  EXPECT_TRUE(torch::equal(set.labels, torch::tensor({2, 0}, torch::kInt64)));
  EXPECT_EQ(set.num_classes, 3);
  ASSERT_TRUE(set.normalization.has_value());
  EXPECT_DOUBLE_EQ(set.normalization->mean.at(0), 0.75);
  EXPECT_NEAR(set.normalization->std.at(0), std::sqrt(0.1875), 1e-15);
  const auto unlabeled = dd::load_npy(dir.file("x.npy"), "",
                                      dd::NpyOptions().normalization(dd::Normalization(0.5, 0.25)));
  EXPECT_FALSE(unlabeled.labeled());
  EXPECT_EQ(unlabeled.normalization->std, std::vector<double>{0.25});
  // NCHW given explicitly keeps the order; NHWC moves the last dimension to the channels.
  std::vector<uint8_t> pixels(2 * 3 * 3 * 3);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i);
  write_bytes(dir.file("cube.npy"), npy_bytes(dict("|u1", "(2, 3, 3, 3)"), pixels));
  EXPECT_EQ(error_of([&] { dd::load_npy(dir.file("cube.npy"), ""); }),
            dir.file("cube.npy") + ": cannot tell where the channels are in images of shape "
                                   "(2, 3, 3, 3); give the layout (NHWC or NCHW)");
  const auto nchw = dd::load_npy(dir.file("cube.npy"), "", dd::NpyOptions().layout(dd::NpyLayout::kNCHW));
  EXPECT_EQ(nchw.images[1][2][0][1].item<int>(), 27 + 18 + 1);
  const auto nhwc = dd::load_npy(dir.file("cube.npy"), "", dd::NpyOptions().layout(dd::NpyLayout::kNHWC));
  EXPECT_EQ(nhwc.images[1][2][0][1].item<int>(), 27 + 3 + 2);
  EXPECT_EQ(nhwc.normalization->mean.size(), 3u);
  EXPECT_EQ(error_of([&] { dd::load_npy(dir.file("x.npy"), "", dd::NpyOptions().layout(dd::NpyLayout::kNHWC)); }),
            dir.file("x.npy") + ": layout NHWC needs a 4-D images array, got shape (2, 1, 2)");
}

TEST(NpyReader, RejectsBadLabelsAndFractionalPixels) {
  TempDir dir;
  write_bytes(dir.file("x.npy"), npy_bytes(dict("<f4", "(2, 1, 2)"), raw<float>({0, 255, 3, 0.5f})));
  write_bytes(dir.file("y.npy"), npy_bytes(dict("<i8", "(2,)"), raw<int64_t>({0, 1})));
  EXPECT_EQ(error_of([&] { dd::load_npy(dir.file("x.npy"), dir.file("y.npy")); }),
            dir.file("x.npy") + ": float32 pixel 0.5 at flat index 3 is not a whole number in "
                                "[0, 255]; give uint8 pixels (for images in [0, 1]: "
                                "np.round(x * 255).astype(np.uint8))");
  write_bytes(dir.file("x.npy"), npy_bytes(dict("|u1", "(2, 1, 2)"), {1, 2, 3, 4}));
  write_bytes(dir.file("y3.npy"), npy_bytes(dict("<i8", "(3,)"), raw<int64_t>({0, 1, 2})));
  EXPECT_EQ(error_of([&] { dd::load_npy(dir.file("x.npy"), dir.file("y3.npy")); }),
            dir.file("y3.npy") + ": labels array of shape (3,) for 2 images; expected (2,)");
  write_bytes(dir.file("y.npy"), npy_bytes(dict("<i4", "(2,)"), raw<int32_t>({0, 10})));
  EXPECT_EQ(error_of([&] { dd::load_npy(dir.file("x.npy"), dir.file("y.npy"), dd::NpyOptions().num_classes(10)); }),
            dir.file("y.npy") + ": label 10 at index 1 is outside [0, 10)");
  write_bytes(dir.file("y.npy"), npy_bytes(dict("<i4", "(2,)"), raw<int32_t>({-1, 0})));
  EXPECT_EQ(error_of([&] { dd::load_npy(dir.file("x.npy"), dir.file("y.npy")); }),
            dir.file("y.npy") + ": label -1 at index 0 is outside [0, inf)");
  write_bytes(dir.file("y.npy"), npy_bytes(dict("<f4", "(2,)"), raw<float>({0, 1})));
  EXPECT_EQ(error_of([&] { dd::load_npy(dir.file("x.npy"), dir.file("y.npy")); }),
            dir.file("y.npy") + ": labels of dtype Float are not read; give uint8, int32 or int64 "
                                "class indices");
}

TEST(NpyReader, RejectsMalformedHeaders) {
  TempDir dir;
  const auto path = dir.file("a.npy");
  auto bytes = npy_bytes(dict("|u1", "(2,)"), {1, 2});
  bytes[1] = 'X';
  write_bytes(path, bytes);
  EXPECT_EQ(error_of([&] { dd::read_npy(path); }),
            path + ": not a .npy file (it does not start with \\x93NUMPY)");
  bytes = npy_bytes(dict("|u1", "(2,)"), {1, 2});
  bytes[6] = 4;
  write_bytes(path, bytes);
  EXPECT_EQ(error_of([&] { dd::read_npy(path); }),
            path + ": .npy format version 4.0 is not read (readable: 1.0, 2.0, 3.0)");
  write_bytes(path, npy_bytes(dict("|u1", "(2, 3)", "True"), std::vector<uint8_t>(6)));
  EXPECT_EQ(error_of([&] { dd::read_npy(path); }),
            path + ": fortran_order True is not read; save a C-order array "
                   "(np.save(path, np.ascontiguousarray(x)))");
  write_bytes(path, npy_bytes(dict(">f4", "(1,)"), std::vector<uint8_t>(4)));
  EXPECT_EQ(error_of([&] { dd::read_npy(path); }),
            path + ": big-endian dtype '>f4' is not read; save the array as little-endian, e.g. "
                   "x.astype('<f4')");
  write_bytes(path, npy_bytes(dict("<c8", "(1,)"), std::vector<uint8_t>(8)));
  EXPECT_EQ(error_of([&] { dd::read_npy(path); }),
            path + ": dtype '<c8' is not read (readable: uint8, int8, int32, int64, float32, "
                   "float64, little-endian)");
  write_bytes(path, npy_bytes(dict("<f4", "(2, 3)"), std::vector<uint8_t>(20)));
  EXPECT_EQ(error_of([&] { dd::read_npy(path); }),
            path + ": the header's shape (2, 3) of <f4 promises 24 data bytes but the file holds 20");
  write_bytes(path, npy_bytes("{'descr': '|u1', 'shape': (1,), }", {1}));
  EXPECT_EQ(error_of([&] { dd::read_npy(path); }), path + ": the .npy header has no 'fortran_order'");
  write_bytes(path, npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), 'x': 1}", {1}));
  EXPECT_EQ(error_of([&] { dd::read_npy(path); }), path + ": the .npy header has an unknown key 'x'");
  write_bytes(path, npy_bytes("{'descr': '|u1', 'fortran_order': Maybe}", {1}));
  const auto message = error_of([&] { dd::read_npy(path); });
  EXPECT_EQ(message.rfind(path + ": the .npy header is not a valid dict literal (expected True or "
                                 "False at character 34 of \"", 0), 0u) << message;
  write_bytes(path, {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 100, 0, '{'});
  EXPECT_EQ(error_of([&] { dd::read_npy(path); }),
            path + ": truncated: the .npy header needs 110 bytes but the file holds 11");
  EXPECT_EQ(error_of([&] { dd::read_npy(dir.file("none.npy")); }), dir.file("none.npy") + ": no such file");
}

TEST(PixelStatistics, MeasuresPerChannelMeanAndStd) {
  // Channel 0: {0, 51, 102, 153} / 255 = {0, 0.2, 0.4, 0.6}: mean 0.3, std sqrt(0.05).
  // Channel 1: constant 7: std 0 becomes 1.
  auto pixels = torch::tensor({0, 51, 102, 153, 7, 7, 7, 7}, torch::kUInt8).view({1, 2, 2, 2});
  pixels = torch::cat({pixels.narrow(2, 0, 1), pixels.narrow(2, 1, 1)}, 0);  // [2, 2, 1, 2]
  const auto normalization = dd::measure_normalization(pixels);
  EXPECT_NEAR(normalization.mean[0], 0.3, 1e-15);
  EXPECT_NEAR(normalization.std[0], std::sqrt(0.05), 1e-15);
  EXPECT_NEAR(normalization.mean[1], 7.0 / 255.0, 1e-15);
  EXPECT_EQ(normalization.std[1], 1.0);
}

}  // namespace
