#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <limits>
#if defined(__linux__)
#include <sched.h>
#endif
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "distillery/callbacks.h"
#include "distillery/metrics.h"
#include "distillery/models.h"
#include "distillery/runtime.h"
#include "distillery/trainer.h"

#include "trainer_fixture.h"

namespace dd = distillery::data;

namespace {

using distillery::test::ThreadCount;
using distillery::test::TrainerTest;

TEST_F(TrainerTest, SupervisedTrainingReachesNinetyFivePercent) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({16}), input, 4);
  const auto result = distillery::train_supervised(model, train, with_test(options));
  // The blobs overlap a little: the Bayes error is about 0.3 %, so >= 95 % is a clear pass.
  EXPECT_GE(result.evaluation("test").accuracy, 0.95);
  EXPECT_EQ(result.evaluation("test").examples, 400);
  ASSERT_EQ(result.history.size(), 15u);
  EXPECT_LT(result.history.back().train_loss, result.history.front().train_loss);
  EXPECT_NEAR(result.history.back().learning_rate, 0.0, 1e-12);  // cosine ends at 0
  EXPECT_FALSE(model->is_training());
  // The time spent obtaining batches is part of the training time, epoch by epoch.
  EXPECT_GT(result.data_seconds, 0.0);
  EXPECT_LT(result.data_seconds, result.train_seconds);
  double data_seconds = 0;
  for (const auto& epoch : result.history) {
    EXPECT_GT(epoch.data_seconds, 0.0);
    EXPECT_LT(epoch.data_seconds, epoch.seconds);
    data_seconds += epoch.data_seconds;
  }
  EXPECT_DOUBLE_EQ(data_seconds, result.data_seconds);
}

TEST_F(TrainerTest, SameSeedGivesIdenticalWeights) {
  auto run = [&] {
    torch::manual_seed(5);
    auto model = distillery::make_mlp(distillery::MLPOptions().hidden({8}).dropout(0.2), input, 4);
    distillery::train_supervised(model, train, with_test(options.epochs(2)));
    return model;
  };
  auto a = run(), b = run();
  for (std::size_t i = 0; i < a->parameters().size(); ++i) {
    EXPECT_TRUE(torch::equal(a->parameters()[i], b->parameters()[i]));
  }
}

TEST_F(TrainerTest, PrefetchGivesTheSameRunAtTheSameIntraOpThreadCount) {
  if (distillery::available_cpus() < 2) GTEST_SKIP() << "prefetch needs 2 CPUs";
  auto run = [&](bool prefetch, int64_t threads) {
    torch::manual_seed(5);
    auto model = distillery::make_mlp(distillery::MLPOptions().hidden({8}).dropout(0.2), input, 4);
    auto count = std::make_shared<ThreadCount>();
    torch::set_num_threads(3);
    const auto result = distillery::train_supervised(
        model, train,
        with_test(options.epochs(3).threads(threads).prefetch(prefetch)).callbacks({count}));
    EXPECT_EQ(count->during, 1);             // the prefetch thread took a core
    EXPECT_EQ(count->after, threads);        // but not from evaluation
    EXPECT_EQ(torch::get_num_threads(), 3);  // and the caller's count is back
    return std::make_pair(model, result);
  };
  // With prefetch, 2 threads means 1 intra-op thread plus the prefetch thread.
  const auto [with, with_result] = run(true, 2);
  const auto [without, without_result] = run(false, 1);
  for (std::size_t i = 0; i < with->parameters().size(); ++i) {
    EXPECT_TRUE(torch::equal(with->parameters()[i], without->parameters()[i])) << i;
  }
  for (std::size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(with_result.history[e].train_loss, without_result.history[e].train_loss);
  }
  EXPECT_GT(with_result.data_seconds, 0.0);
  torch::set_num_threads(1);
}

#if defined(__linux__)
TEST_F(TrainerTest, PrefetchIsIgnoredOnASingleCpu) {
  cpu_set_t all, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof(all), &all), 0);
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &all)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);  // as under `taskset -c 0`
  EXPECT_EQ(distillery::available_cpus(), 1);
  auto count = std::make_shared<ThreadCount>();
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({8}), input, 4);
  distillery::train_supervised(
      model, train, with_test(options.epochs(1).threads(2).prefetch(true)).callbacks({count}));
  sched_setaffinity(0, sizeof(all), &all);
  EXPECT_EQ(count->during, 2);  // no core was set aside: prefetch was ignored
  torch::set_num_threads(1);
}
#endif

TEST_F(TrainerTest, DistilledStudentMatchesItsTeacher) {
  auto teacher_net = distillery::make_mlp(distillery::MLPOptions().hidden({32}), input, 4);
  distillery::train_supervised(teacher_net, train, with_test(options));
  distillery::Teacher teacher(teacher_net);
  auto student = distillery::make_mlp(distillery::MLPOptions().hidden({8}), input, 4);
  // Unlabeled transfer set: only the soft term can teach the student.
  auto transfer = train;
  transfer.labels = torch::Tensor();
  const auto result = distillery::distill(
      student, teacher, transfer,
      distillery::DistillOptions().trainer(options).loss(distillery::KDLossOptions().temperature(2.0))
          .evaluate_on("test", test));
  EXPECT_GE(result.evaluation("test").accuracy, 0.95);
  // Agreement with the teacher's predictions on the test set.
  torch::NoGradGuard guard;
  const auto agree =
      student->forward(test.images).argmax(1).eq(teacher(test.images).argmax(1)).to(torch::kFloat64);
  EXPECT_GE(agree.mean().item<double>(), 0.97);
}

TEST_F(TrainerTest, ClassCountMismatchIsRefusedBeforeTraining) {
  auto teacher_net = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
  distillery::Teacher teacher(teacher_net);
  auto student = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 5);
  try {
    distillery::distill(student, teacher, train, distillery::DistillOptions().trainer(options));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "the teacher has 4 classes but the student has 5; both must predict the "
                       "same classes");
  }
}

TEST_F(TrainerTest, NanLossStopsTrainingWithAdvice) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
  auto poisoned = train;
  poisoned.images = train.images.clone();
  poisoned.images[3][0][0][0] = std::numeric_limits<float>::quiet_NaN();
  try {
    distillery::train_supervised(model, poisoned, with_test(options.epochs(1), "teacher"));
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "teacher: training loss became nan in epoch 1 (learning rate 0.01, "
                           "weight decay 0); lower the learning rate or check the inputs for NaN");
  }
}

TEST_F(TrainerTest, AHugeWeightDecayIsNamedAsTheCause) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
  try {
    distillery::train_supervised(
        model, train,
        with_test(options.epochs(1).optimizer(distillery::Optimizer::kSgd).learning_rate(0.1)
                      .weight_decay(1e30),
                  "teacher"));
    FAIL();
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("teacher: training loss became ", 0), 0u) << message;  // nan or inf
    EXPECT_NE(message.find(" in epoch 1 (learning rate 0.1, weight decay 1e+30); a weight decay "
                           "above 1 makes training diverge: lower the weight decay (typical "
                           "values are 1e-5 to 1e-3)"),
              std::string::npos)
        << message;
  }
}

TEST_F(TrainerTest, InvalidOptionsNameTheField) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
  try {
    distillery::train_supervised(model, train, with_test(options.momentum(1.5)));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "momentum must be in [0, 1), got 1.5");
  }
  for (const double rate : {0.0, -1.0, std::numeric_limits<double>::infinity()}) {
    try {
      distillery::validate(distillery::TrainerOptions().learning_rate(rate));
      FAIL() << rate;
    } catch (const c10::Error& e) {
      EXPECT_EQ(e.msg(), "learning_rate must be > 0, got " + c10::str(rate));
    }
  }
  try {
    distillery::validate(distillery::TrainerOptions().epochs(0));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "epochs must be in [1, 1000000], got 0");  // whole numbers in full
  }
}

}  // namespace

TEST(Runtime, RetainFreedMemoryAppliesOnceOnGlibcUnlessTheUserChoseSettings) {
  const bool user_chose = std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr ||
                          std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr ||
                          std::getenv("GLIBC_TUNABLES") != nullptr;
#if defined(__GLIBC__)
  const bool expected = !user_chose;
#else
  const bool expected = false;
#endif
  EXPECT_EQ(distillery::retain_freed_memory(), expected);
  EXPECT_EQ(distillery::retain_freed_memory(), expected);  // a second call reports the same
}
