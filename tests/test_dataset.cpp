#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>

#include "distillery/data/dataset.h"
#include "distillery/data/sampler.h"
#include "test_util.h"

namespace dd = distillery::data;
using distillery::test::TempDir;

namespace {

constexpr const char* kFashionMnist = "/usr/share/datasets/fashion-mnist";

TEST(Dataset, LoadsTinyMnistFormatSet) {
  TempDir dir;
  distillery::test::write_tiny_mnist(dir.path(), 50, 20, /*gzip=*/true);
  const auto train = dd::load_mnist_format(dir.path(), dd::Split::kTrain, {0.5, 0.25});
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{50, 1, 28, 28}));
  // Pixels stay uint8 in memory; the normalisation travels with the set.
  EXPECT_EQ(train.images.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(train.holds_pixels());
  ASSERT_TRUE(train.normalization.has_value());
  EXPECT_EQ(train.normalization->mean, std::vector<double>{0.5});
  EXPECT_EQ(train.normalization->std, std::vector<double>{0.25});
  EXPECT_EQ(train.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(train.num_classes, 10);
  EXPECT_EQ(train.labels[13].item<int64_t>(), 3);
  // Pixel 0 is background noise in [0, 60]; as a model input (x / 255 - 0.5) / 0.25.
  const auto pixel = train.images[0][0][0][0].item<int64_t>();
  EXPECT_LE(pixel, 60);
  const auto inputs = train.inputs(0, 2);
  EXPECT_EQ(inputs.scalar_type(), torch::kFloat32);
  EXPECT_EQ(inputs.sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
  EXPECT_FLOAT_EQ(inputs[0][0][0][0].item<float>(),
                  (static_cast<float>(pixel) / 255.0f - 0.5f) / 0.25f);
  EXPECT_EQ(dd::load_mnist_format(dir.path(), dd::Split::kTest).size(), 20);
}

TEST(Dataset, MismatchedImageAndLabelCountsAreAnError) {
  TempDir dir;
  distillery::test::write_tiny_mnist(dir.path(), 10, 10, false);
  distillery::test::write_bytes(dir.file("train-labels-idx1-ubyte"),
                                distillery::test::idx_bytes({9}, std::vector<uint8_t>(9, 1)));
  try {
    dd::load_mnist_format(dir.path(), dd::Split::kTrain);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("train-images-idx3-ubyte") + " holds 10 images but " +
                                         dir.file("train-labels-idx1-ubyte") + " holds 9 labels");
  }
}

TEST(Dataset, LabelOutOfRangeIsAnError) {
  TempDir dir;
  distillery::test::write_tiny_mnist(dir.path(), 10, 10, false);
  distillery::test::write_bytes(dir.file("t10k-labels-idx1-ubyte"),
                                distillery::test::idx_bytes({10}, std::vector<uint8_t>(10, 12)));
  try {
    dd::load_mnist_format(dir.path(), dd::Split::kTest);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              dir.file("t10k-labels-idx1-ubyte") + ": label 12 is outside [0, 10)");
  }
}

// Issue 13, item 10: a limit reads only the first images and labels.
TEST(Dataset, LimitLoadsTheFirstExamplesOfAWholeLoad) {
  TempDir dir;
  distillery::test::write_tiny_mnist(dir.path(), 50, 20, /*gzip=*/true);
  const auto whole = dd::load_mnist_format(dir.path(), dd::Split::kTrain, {0.5, 0.25});
  const auto first = dd::load_mnist_format(dir.path(), dd::Split::kTrain, {0.5, 0.25}, false, 7);
  EXPECT_EQ(first.images.sizes(), (std::vector<int64_t>{7, 1, 28, 28}));
  EXPECT_TRUE(torch::equal(first.images, whole.head(7).images));
  EXPECT_TRUE(torch::equal(first.labels, whole.head(7).labels));
  EXPECT_EQ(first.num_classes, 10);
  // A limit above the count is clipped to it, as Dataset::head does.
  EXPECT_EQ(dd::load_mnist_format(dir.path(), dd::Split::kTest, {0.5, 0.25}, false, 1000).size(), 20);
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>([&] {
              dd::load_mnist_format(dir.path(), dd::Split::kTest, {0.5, 0.25}, false, -1);
            }),
            "load_mnist_format: limit must be >= 0 (0 = all), got -1");
}

TEST(Dataset, LimitKeepsMemoryProportionalToIt) {
  TempDir dir;
  const auto before = distillery::test::peak_memory_bytes();
  // 60,000 images: 47 MB as uint8 and 188 MB as float32 if all were loaded.
  distillery::test::write_gzip_then_zeros(dir.file("train-images-idx3-ubyte.gz"),
                                          distillery::test::idx_bytes({60000, 28, 28}, {}),
                                          uint64_t{60000} * 28 * 28);
  distillery::test::write_gzip_then_zeros(dir.file("train-labels-idx1-ubyte.gz"),
                                          distillery::test::idx_bytes({60000}, {}), 60000);
  const auto first = dd::load_mnist_format(dir.path(), dd::Split::kTrain, {0.0, 1.0}, false, 300);
  EXPECT_EQ(first.images.sizes(), (std::vector<int64_t>{300, 1, 28, 28}));
  EXPECT_EQ(first.images.abs().sum().item<double>(), 0.0);
  EXPECT_EQ(first.labels.sum().item<int64_t>(), 0);
  EXPECT_LT(distillery::test::peak_memory_bytes() - before, 24 << 20);
}

TEST(Dataset, LimitStillComparesTheFilesCounts) {
  TempDir dir;
  distillery::test::write_tiny_mnist(dir.path(), 10, 10, false);
  distillery::test::write_bytes(dir.file("train-labels-idx1-ubyte"),
                                distillery::test::idx_bytes({9}, std::vector<uint8_t>(9, 1)));
  EXPECT_EQ(distillery::test::runtime_error_of([&] {
              dd::load_mnist_format(dir.path(), dd::Split::kTrain, {0.5, 0.25}, false, 5);
            }),
            dir.file("train-images-idx3-ubyte") + " holds 10 images but " +
                dir.file("train-labels-idx1-ubyte") + " holds 9 labels");
}

// Optional labels: a dangling link is an error, not a missing file (an unlabeled set).
TEST(Dataset, DanglingLabelsLinkIsAnErrorEvenWhenLabelsAreOptional) {
  TempDir dir;
  distillery::test::write_tiny_mnist(dir.path(), 10, 10, false);
  const auto labels = dir.file("train-labels-idx1-ubyte");
  std::filesystem::remove(labels);
  std::filesystem::create_symlink(dir.file("gone"), labels);
  EXPECT_EQ(distillery::test::runtime_error_of([&] {
              dd::load_mnist_format(dir.path(), dd::Split::kTrain, {0.5, 0.25}, true);
            }),
            "data file not usable: " + labels + " is a dangling symbolic link to " +
                dir.file("gone") +
                " (nothing exists there: restore the target or point the link at the IDX file); " +
                labels + ".gz does not exist");
}

TEST(Dataset, RealFashionMnistHasTheKnownShapeAndBalance) {
  if (!std::filesystem::exists(kFashionMnist)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto test = dd::load_mnist_format(kFashionMnist, dd::Split::kTest);
  EXPECT_EQ(test.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  // Every Fashion-MNIST class has exactly 1,000 test images.
  EXPECT_TRUE(torch::equal(torch::bincount(test.labels), torch::full({10}, 1000, torch::kInt64)));
  // Normalised with the training set's own statistics: mean ~0, std ~1 on the test set too.
  const auto inputs = test.inputs(0, test.size());
  EXPECT_NEAR(inputs.mean().item<double>(), 0.0, 0.02);
  EXPECT_NEAR(inputs.std().item<double>(), 1.0, 0.02);
}

TEST(BatchSampler, CoversEveryIndexOncePerEpochAndIsSeeded) {
  dd::BatchSampler a(103, 10, true, 7), b(103, 10, true, 7);
  EXPECT_EQ(a.batches_per_epoch(), 11);
  std::vector<torch::Tensor> parts;
  while (auto idx = a.next()) {
    auto other = b.next();
    ASSERT_TRUE(other.has_value());
    EXPECT_TRUE(torch::equal(*idx, *other));
    parts.push_back(*idx);
  }
  EXPECT_EQ(parts.back().size(0), 3);
  EXPECT_TRUE(torch::equal(std::get<0>(torch::cat(parts).sort()), torch::arange(103)));
  a.reset(1);
  EXPECT_FALSE(torch::equal(*a.next(), parts.front()));  // a new order each epoch
}

}  // namespace

TEST(Dataset, EmptyHugePagesIsAWritableTwoMiBAlignedTensorOfTheGivenShape) {
  auto big = distillery::data::empty_huge_pages({1000, 1, 28, 28});
  EXPECT_EQ(big.sizes(), (std::vector<int64_t>{1000, 1, 28, 28}));
  EXPECT_EQ(big.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(big.is_contiguous());
#if defined(__linux__)
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(big.data_ptr()) % (1 << 21), 0u);
#endif
  big.fill_(2.5);
  EXPECT_EQ(big.sum().item<double>(), 2.5 * 784000);
  const auto small = distillery::data::empty_huge_pages({3}, torch::kInt64);  // below 2 MiB
  EXPECT_EQ(small.scalar_type(), torch::kInt64);
  EXPECT_EQ(small.numel(), 3);
  try {
    distillery::data::empty_huge_pages({2, -1});
    FAIL() << "negative size accepted";
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "empty_huge_pages: negative size in [2, -1]");
  }
}
