// MaxPool2x2 (models.h): the zoo's fast 2x2 pooling against ATen's and against loops over the
// windows.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <vector>

#include "distillery/models.h"

TEST(Models, MaxPool2x2WithoutGradGivesTheValuesOfMaxPool2d) {
  torch::manual_seed(5);
  distillery::MaxPool2x2 pool;
  for (const auto& shape : {std::vector<int64_t>{3, 4, 28, 28}, std::vector<int64_t>{2, 3, 7, 9},
                            std::vector<int64_t>{1, 1, 2, 3}}) {
    auto x = torch::randn(shape);
    x.view(-1)[1] = std::numeric_limits<float>::quiet_NaN();  // NaN propagates, as in max_pool2d
    x.view(-1)[x.numel() - 1] = -std::numeric_limits<float>::infinity();
    torch::NoGradGuard no_grad;
    const auto fast = pool->forward(x), reference = torch::max_pool2d(x, 2);
    ASSERT_EQ(fast.sizes(), reference.sizes());
    EXPECT_TRUE(torch::equal(fast.isnan(), reference.isnan()));
    EXPECT_TRUE(torch::equal(fast.nan_to_num(0), reference.nan_to_num(0)));
    EXPECT_TRUE(std::isnan(fast[0][0][0][0].item<float>()));
  }
}

TEST(Models, MaxPool2x2WithGradRoutesTheGradientLikeMaxPool2d) {
  torch::manual_seed(6);
  distillery::MaxPool2x2 pool;
  const auto x = torch::randn({2, 3, 6, 5}).requires_grad_(true);
  const auto weights = torch::randn({2, 3, 3, 2});  // d loss / d output
  const auto out = pool->forward(x);
  (out * weights).sum().backward();
  // The reference, by hand: each 2x2 window (stride 2; the fifth column is dropped) passes its
  // output's gradient to the position of its maximum (the first one in row-major order) and
  // nothing to the other three; the windows do not overlap, so nothing adds up.
  const auto input = x.detach();
  auto expected_out = torch::zeros({2, 3, 3, 2});
  auto expected_grad = torch::zeros({2, 3, 6, 5});
  const auto xa = input.accessor<float, 4>();
  const auto wa = weights.accessor<float, 4>();
  auto oa = expected_out.accessor<float, 4>();
  auto ga = expected_grad.accessor<float, 4>();
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t i = 0; i < 3; ++i) {
        for (int64_t j = 0; j < 2; ++j) {
          int64_t row = 2 * i, col = 2 * j;
          for (int64_t r = 2 * i; r < 2 * i + 2; ++r) {
            for (int64_t s = 2 * j; s < 2 * j + 2; ++s) {
              if (xa[b][c][r][s] > xa[b][c][row][col]) row = r, col = s;
            }
          }
          oa[b][c][i][j] = xa[b][c][row][col];
          ga[b][c][row][col] = wa[b][c][i][j];
        }
      }
    }
  }
  EXPECT_TRUE(torch::equal(out.detach(), expected_out));
  EXPECT_TRUE(torch::equal(x.grad(), expected_grad));
  EXPECT_EQ(x.grad().ne(0).sum().item<int64_t>(), 2 * 3 * 3 * 2);  // one position per window
  try {
    pool->forward(torch::zeros({1, 1, 1, 4}));
    FAIL() << "1 x 4 input accepted";
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "MaxPool2x2 needs [B, C, H, W] input with H, W >= 2, got shape [1, 1, 1, 4]");
  }
}
