#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <limits>

#include "distillery/bias_correction.h"
#include "distillery/fingerprint.h"
#include "distillery/models.h"
#include "distillery/soft_targets.h"
#include "distillery/trainer.h"
#include "test_util.h"

namespace dd = distillery::data;
using distillery::test::TempDir;

namespace {

dd::Dataset tiny_set(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  dd::Dataset set;
  set.images = torch::randn({n, 1, 4, 4}, gen, torch::kFloat32);
  set.labels = torch::randint(0, 3, {n}, gen, torch::kInt64);
  set.num_classes = 3;
  return set;
}

std::string error_of(const std::function<void()>& f) {
  return distillery::test::runtime_error_of(f);
}

// The message of a StaleSoftTargetsError: the soft targets must be computed again.
std::string stale_error_of(const std::function<void()>& f) {
  return distillery::test::error_of_type<distillery::StaleSoftTargetsError>(f);
}

class SoftTargetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    net = distillery::make_mlp(distillery::MLPOptions().hidden({5}), {1, 4, 4}, 3);
    teacher = distillery::Teacher(net);
  }
  torch::nn::Sequential net{nullptr};
  distillery::Teacher teacher{nullptr};
  dd::Dataset transfer = tiny_set(37, 1);
  TempDir dir;
};

TEST_F(SoftTargetsTest, RoundTripKeepsLogitsAndFingerprints) {
  const auto computed = distillery::compute_soft_targets(teacher, transfer, /*batch_size=*/8);
  EXPECT_EQ(computed.member_logits.sizes(), (std::vector<int64_t>{1, 37, 3}));
  torch::NoGradGuard guard;
  EXPECT_TRUE(torch::allclose(computed.member_logits[0], net->forward(transfer.images)));
  distillery::save_soft_targets(dir.file("st.bin"), computed);
  const auto loaded = distillery::load_soft_targets(dir.file("st.bin"));
  EXPECT_TRUE(torch::equal(loaded.member_logits, computed.member_logits));
  EXPECT_EQ(loaded.teacher_fingerprint, teacher->fingerprint());
  EXPECT_EQ(loaded.transfer_fingerprint, distillery::fingerprint_transfer_set(transfer));
  EXPECT_NO_THROW(distillery::check_soft_targets(loaded, "st.bin", teacher->fingerprint(),
                                                 distillery::fingerprint_transfer_set(transfer)));
  // 72-byte header + 37 * 3 float32.
  EXPECT_EQ(std::filesystem::file_size(dir.file("st.bin")), 72u + 37u * 3u * 4u);
}

TEST_F(SoftTargetsTest, LogitsAreReadBySampleIndex) {
  const auto computed = distillery::compute_soft_targets(teacher, transfer);
  const auto indices = torch::tensor({30, 2, 17}, torch::kInt64);
  torch::NoGradGuard guard;
  EXPECT_TRUE(torch::allclose(computed.logits(indices, 4.0),
                              net->forward(transfer.images.index_select(0, indices))));
}

TEST_F(SoftTargetsTest, AnotherTeacherOrOtherDataIsRefused) {
  const auto computed = distillery::compute_soft_targets(teacher, transfer);
  auto other_net = distillery::make_mlp(distillery::MLPOptions().hidden({5}), {1, 4, 4}, 3);
  distillery::Teacher other(other_net);
  const auto fp = distillery::fingerprint_transfer_set(transfer);
  const auto message = stale_error_of(
      [&] { distillery::check_soft_targets(computed, "st.bin", other->fingerprint(), fp); });
  // The core says what is wrong with the file, never which program to run.
  EXPECT_EQ(message, "st.bin: made with another teacher (fingerprint " +
                         distillery::fingerprint_hex(teacher->fingerprint()) + ", expected " +
                         distillery::fingerprint_hex(other->fingerprint()) + ")");
  const auto other_data = distillery::fingerprint_transfer_set(tiny_set(37, 2));
  EXPECT_NE(stale_error_of([&] {
              distillery::check_soft_targets(computed, "st.bin", teacher->fingerprint(), other_data);
            }).find("st.bin: made for other data (transfer-set fingerprint "),
            std::string::npos);
}

TEST_F(SoftTargetsTest, DamagedFilesAreRefusedSayingHow) {
  distillery::save_soft_targets(dir.file("st.bin"), distillery::compute_soft_targets(teacher, transfer));
  auto bytes = distillery::test::slurp(dir.file("st.bin"));
  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream(dir.file(name), std::ios::binary) << content;
    return dir.file(name);
  };
  auto payload = bytes;
  payload[100] ^= 0x40;
  EXPECT_EQ(stale_error_of([&] { distillery::load_soft_targets(write("p.bin", payload)); }),
            dir.file("p.bin") + ": damaged (payload checksum mismatch)");
  auto header = bytes;
  header[30] ^= 0x01;
  EXPECT_EQ(stale_error_of([&] { distillery::load_soft_targets(write("h.bin", header)); }),
            dir.file("h.bin") + ": damaged (header checksum mismatch)");
  EXPECT_EQ(error_of([&] { distillery::load_soft_targets(write("t.bin", bytes.substr(0, 200))); }),
            dir.file("t.bin") + ": truncated: header promises 444 payload bytes but the file "
                                "holds 128");
  EXPECT_EQ(error_of([&] { distillery::load_soft_targets(write("x.bin", "hello")); }),
            dir.file("x.bin") + ": not a distillery soft-targets file (bad magic or shorter "
                                "than the 72-byte header)");
}

TEST_F(SoftTargetsTest, StoredAndOnlineDistillationTrainTheSameStudent) {
  const auto options = distillery::DistillOptions()
                           .trainer(distillery::TrainerOptions().epochs(2).batch_size(8).threads(1))
                           .loss(distillery::KDLossOptions().temperature(3.0).alpha(0.7));
  auto run = [&](bool stored) {
    torch::manual_seed(9);
    auto student = distillery::make_mlp(distillery::MLPOptions().hidden({4}), {1, 4, 4}, 3);
    if (stored) {
      const auto st = distillery::compute_soft_targets(teacher, transfer);
      distillery::distill(student, st, transfer, options);
    } else {
      distillery::distill(student, teacher, transfer, options);
    }
    return student;
  };
  auto a = run(true), b = run(false);
  for (std::size_t i = 0; i < a->parameters().size(); ++i) {
    EXPECT_TRUE(torch::allclose(a->parameters()[i], b->parameters()[i], 1e-5, 1e-6));
  }
}

TEST_F(SoftTargetsTest, StoredTargetsWithJitterAreRefusedAsStale) {
  dd::Dataset images = transfer;
  const auto st = distillery::compute_soft_targets(teacher, images);
  auto student = distillery::make_mlp(distillery::MLPOptions().hidden({4}), {1, 4, 4}, 3);
  EXPECT_EQ(error_of([&] {
              distillery::distill(
                  student, st, images,
                  distillery::DistillOptions()
                      .trainer(distillery::TrainerOptions().epochs(1).jitter_pixels(1))
                      .phase("student"));
            }),
            "student: stored soft targets would be stale with jitter_pixels = 1 (the student sees "
            "augmented images the teacher never saw); store augmented views "
            "(compute_view_soft_targets) or distil with the teacher online instead");
}

TEST(Fingerprint, DependsOnValuesShapesAndDtypes) {
  const auto a = torch::arange(6, torch::kFloat32);
  EXPECT_EQ(distillery::fingerprint_tensors({a}), distillery::fingerprint_tensors({a.clone()}));
  EXPECT_NE(distillery::fingerprint_tensors({a}), distillery::fingerprint_tensors({a.view({2, 3})}));
  EXPECT_NE(distillery::fingerprint_tensors({a}),
            distillery::fingerprint_tensors({a.to(torch::kFloat64)}));
  EXPECT_EQ(distillery::fingerprint_hex(0x1234), "0000000000001234");
}

TEST(RandomTranslate, ShiftsEachImageByAtMostK) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  // One bright pixel in the middle of each 9x9 image.
  auto images = torch::zeros({50, 1, 9, 9});
  images.index_put_({torch::indexing::Slice(), 0, 4, 4}, 1.0);
  const auto moved = dd::random_translate(images, 2, gen);
  ASSERT_EQ(moved.sizes(), images.sizes());
  const auto flat = moved.view({50, 81}).argmax(1);
  const auto rows = flat.div(9, "floor"), cols = flat.remainder(9);
  EXPECT_TRUE(((rows - 4).abs() <= 2).all().item<bool>());
  EXPECT_TRUE(((cols - 4).abs() <= 2).all().item<bool>());
  EXPECT_TRUE(torch::allclose(moved.sum({1, 2, 3}), torch::ones({50})));  // nothing lost
  EXPECT_GT(std::get<0>(torch::unique_dim(torch::stack({rows, cols}, 1), 0)).size(0), 10);  // varied
}

TEST(BiasCorrection, ChoosesTheShiftThatMinimisesHeldOutErrors) {
  // Class 2 is under-predicted by 1.5 logits on every example of it.
  const auto labels = torch::tensor({0, 1, 2, 2, 2, 0}, torch::kInt64);
  auto logits = torch::one_hot(labels, 3).to(torch::kFloat32) * 2.0;  // margin 2
  logits.select(1, 2).sub_(3.5);  // class-2 examples now lose by 1.5
  const auto shift = distillery::choose_bias_shift(logits, labels, 2, {0, 1, 2, 3, 5});
  EXPECT_EQ(shift.errors_before, 3);
  EXPECT_EQ(shift.errors, 0);
  EXPECT_DOUBLE_EQ(shift.delta, 2.0);  // 2, 3 and 5 all fix them: ties go to the smallest
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({}), {1, 1, 2}, 3);
  const auto before = model->forward(torch::zeros({1, 1, 1, 2}));
  distillery::shift_class_bias(model, 2, 2.5);
  const auto after = model->forward(torch::zeros({1, 1, 1, 2}));
  EXPECT_NEAR((after - before)[0][2].item<double>(), 2.5, 1e-6);
  EXPECT_NEAR((after - before)[0][0].item<double>(), 0.0, 1e-6);
}

}  // namespace

namespace {

TEST(SoftTargetsNan, ATeacherWithNonFiniteLogitsIsNamedAsTheCause) {
  torch::manual_seed(0);
  auto net = distillery::make_mlp(distillery::MLPOptions().hidden({5}), {1, 4, 4}, 3);
  distillery::Teacher teacher(net);
  auto transfer = tiny_set(37, 1);
  transfer.images = transfer.images.clone();
  // Images 4 and 20 give NaN logits; the other 35 are fine.
  transfer.images[4][0][0][0] = std::numeric_limits<float>::quiet_NaN();
  transfer.images[20][0][1][1] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(error_of([&] { distillery::compute_soft_targets(teacher, transfer, 8); }),
            "the teacher's logits are not finite (NaN or infinite) for 2 of the 37 transfer-set "
            "images (the first is image 4); the teacher itself is broken (check its weights or "
            "how it was trained), not the student's settings");
}

}  // namespace
