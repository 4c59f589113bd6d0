// Class subsets given in a config as JSON values (app/specialists/class_subsets.h).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <stdexcept>

#include "distillery/app/specialists/class_subsets.h"
#include "test_util.h"

namespace ds = distillery::specialists;

namespace {

std::string invalid_argument_of(const std::function<void()>& f) {
  return distillery::test::error_of_type<std::invalid_argument>(f);
}

TEST(ClassSubsetsFromJson, ReadsStrictlyAndNormalises) {
  const auto subsets = ds::class_subsets_from_json(nlohmann::json::parse("[[9, 5, 7], [6, 0]]"),
                                                   10, "cfg");
  EXPECT_EQ(subsets, (ds::ClassSubsets{{0, 6}, {5, 7, 9}}));
  EXPECT_EQ(invalid_argument_of([] {
              ds::class_subsets_from_json(nlohmann::json::parse("[[1, \"a\"]]"), 10, "cfg");
            }),
            "cfg: expected an array of arrays of class indices, e.g. [[0, 2, 4, 6], [5, 7, 9]]");
  EXPECT_EQ(invalid_argument_of([] {
              ds::class_subsets_from_json(nlohmann::json::parse(R"({"num_classes": 3,
                                                                   "subsets": [[0, 1]]})"),
                                          10, "f.json");
            }),
            "f.json: the subsets were made for 3 classes but this data set has 10");
  // A float is not a class index, even a whole one.
  EXPECT_EQ(invalid_argument_of([] {
              ds::class_subsets_from_json(nlohmann::json::parse("[[1.0, 2]]"), 10, "cfg");
            }),
            "cfg: expected an array of arrays of class indices, e.g. [[0, 2, 4, 6], [5, 7, 9]]");
  EXPECT_EQ(invalid_argument_of([] {
              ds::class_subsets_from_json(nlohmann::json::parse("[[1, 2], [2, 3]]"), 10, "cfg");
            }),
            "cfg: subset 1: class 2 appears twice; subsets must be disjoint");
}

}  // namespace
