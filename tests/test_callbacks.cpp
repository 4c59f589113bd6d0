#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "distillery/callbacks.h"
#include "test_util.h"

namespace {

TEST(MetricsJsonl, AppendsOneCompleteObjectPerEpoch) {
  distillery::test::TempDir dir;
  distillery::MetricsJsonl metrics(dir.file("sub/metrics.jsonl"));
  distillery::EpochMetrics m;
  m.phase = "teacher";
  m.epochs = 2;
  m.test.errors = 12;
  m.test.examples = 100;
  m.test.accuracy = 0.88;
  m.seconds = 2.0;
  m.data_seconds = 0.25;
  for (int epoch = 1; epoch <= 2; ++epoch) {
    m.epoch = epoch;
    m.train_loss = 1.0 / epoch;
    metrics.on_epoch_end(m);
  }
  std::istringstream lines(distillery::test::slurp(dir.file("sub/metrics.jsonl")));
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    ++count;
    EXPECT_EQ(j.at("phase"), "teacher");
    EXPECT_EQ(j.at("epoch"), count);
    EXPECT_DOUBLE_EQ(j.at("train_loss").get<double>(), 1.0 / count);
    EXPECT_EQ(j.at("test_errors"), 12);
    EXPECT_DOUBLE_EQ(j.at("seconds").get<double>(), 2.0);
    EXPECT_DOUBLE_EQ(j.at("data_seconds").get<double>(), 0.25);
  }
  EXPECT_EQ(count, 2);
}

TEST(MetricsJsonl, TimingsAreWrittenWithoutFloatNoise) {
  distillery::test::TempDir dir;
  distillery::MetricsJsonl metrics(dir.file("metrics.jsonl"));
  distillery::EpochMetrics m;
  m.seconds = 0.07219031599999998;
  m.data_seconds = 0.0025236820000000006;
  m.samples_per_second = 41550.270913456;
  metrics.on_epoch_end(m);
  const auto line = distillery::test::slurp(dir.file("metrics.jsonl"));
  EXPECT_NE(line.find("\"seconds\":0.07219,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"data_seconds\":0.002524,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"samples_per_second\":41550.3,"), std::string::npos) << line;
}

}  // namespace
