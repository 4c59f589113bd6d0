#pragma once
// Internal: eval mode for a whole module tree while a guard lives, each module's own mode given
// back afterwards (used by evaluate, compute_logits and count_multiply_adds).

#include <torch/nn/module.h>

#include <memory>
#include <utility>
#include <vector>

namespace distillery::detail {

// Puts every module of a tree in eval mode and gives each back its own mode (a tree may mix
// modes, e.g. a frozen BatchNorm inside a model that trains).
class EvalModeGuard {
 public:
  explicit EvalModeGuard(const std::shared_ptr<torch::nn::Module>& root) {
    for (const auto& module : root->modules(/*include_self=*/true)) {
      modes_.emplace_back(module, module->is_training());
    }
    root->eval();
  }
  ~EvalModeGuard() {
    // modules() lists parents before children, and train() sets a whole subtree: restoring in
    // that order leaves every module in its own mode.
    for (const auto& [module, training] : modes_) module->train(training);
  }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  std::vector<std::pair<std::shared_ptr<torch::nn::Module>, bool>> modes_;
};

}  // namespace distillery::detail
