#pragma once
/// @file model.h
/// The one door through which a network enters the library: any LibTorch module whose forward
/// maps a batch of inputs `[B, ...]` to logits `[B, C]`. The trainer, the teacher, metrics, soft
/// targets, bias correction, the specialists and model files all take a `Model`; a
/// `torch::nn::Sequential`, a `TORCH_MODULE` holder of one's own or a `std::shared_ptr` to a
/// module converts to one implicitly.
///
/// Why a module pointer plus a forward function, and not `torch::nn::AnyModule`: AnyModule
/// erases the forward signature, so every call is boxed in an `AnyValue` and its return type
/// checked at run time, and a module whose forward returns more than logits (a tuple of logits
/// and features) needs a wrapper module of its own. Here the call stays typed, one lambda picks
/// the logits out of a richer output (`logits_from`), and copying a Model shares the module, as
/// copying a module holder does.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace distillery {

/// A classifier: the module that owns its parameters, buffers, train/eval mode and device, and
/// the function from inputs `[B, ...]` (float) to logits `[B, C]` that runs it.
/// Example:
///     struct NetImpl : torch::nn::Module { torch::Tensor forward(torch::Tensor x); ... };
///     TORCH_MODULE(Net);
///     Net net;
///     Model model = net;                 // any holder with Tensor forward(Tensor)
///     auto logits = model(images);       // [B, C]
///     model->parameters();               // the module's
class Model {
 public:
  /// Inputs `[B, ...]` to logits `[B, C]`.
  using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

  /// An empty model; `forward` throws. Test with `is_empty()`.
  Model() = default;

  /// Any module holder (`torch::nn::Sequential`, a `TORCH_MODULE(Net)` of one's own) whose
  /// `forward(torch::Tensor)` returns a `torch::Tensor` of logits. For a forward that returns
  /// more, use `logits_from`.
  template <typename Holder,
            std::enable_if_t<torch::detail::is_module_holder<Holder>::value, int> = 0>
  Model(Holder holder)  // NOLINT(google-explicit-constructor): any holder goes through the door
      : module_(holder.ptr()) {
    using Output = decltype(holder->forward(std::declval<torch::Tensor>()));
    static_assert(std::is_convertible_v<Output, torch::Tensor>,
                  "the module's forward does not return a torch::Tensor; wrap it with "
                  "distillery::logits_from(holder, select) to pick the logits");
    forward_ = [holder](const torch::Tensor& inputs) mutable -> torch::Tensor {
      return holder->forward(inputs);
    };
  }

  /// A module held by `std::shared_ptr` (e.g. `std::make_shared<NetImpl>()`) whose
  /// `forward(torch::Tensor)` returns logits.
  template <typename Module,
            std::enable_if_t<std::is_base_of_v<torch::nn::Module, Module>, int> = 0>
  Model(std::shared_ptr<Module> module)  // NOLINT(google-explicit-constructor)
      : module_(module) {
    static_assert(!std::is_same_v<Module, torch::nn::Module>,
                  "a std::shared_ptr<torch::nn::Module> has no typed forward: give the module "
                  "with its forward function, Model(module, forward)");
    if constexpr (!std::is_same_v<Module, torch::nn::Module>) {
      forward_ = [module](const torch::Tensor& inputs) -> torch::Tensor {
        return module->forward(inputs);
      };
    }
  }

  /// A module and a forward function of one's own (the adapter: `forward` may call the module
  /// in any way and return its logits). Throws c10::Error if either is empty.
  Model(std::shared_ptr<torch::nn::Module> module, Forward forward)
      : module_(std::move(module)), forward_(std::move(forward)) {
    TORCH_CHECK(module_ != nullptr && forward_, "a Model needs a module and a forward function");
  }

  /// Logits `[B, C]` for inputs `[B, ...]`, with the module in whatever mode it is in.
  /// Throws c10::Error on an empty model, and whatever the module's forward throws.
  torch::Tensor forward(const torch::Tensor& inputs) const {
    TORCH_CHECK(!is_empty(), "the model is empty (default-constructed)");
    return forward_(inputs);
  }
  /// Same as `forward`.
  torch::Tensor operator()(const torch::Tensor& inputs) const { return forward(inputs); }

  /// The module: parameters, buffers, `train()` / `eval()`, `to(device)`, `named_modules()`.
  /// Throws c10::Error on an empty model.
  torch::nn::Module& module() const {
    TORCH_CHECK(!is_empty(), "the model is empty (default-constructed)");
    return *module_;
  }
  /// Same as `&module()`, so that `model->parameters()` reads as with a module holder.
  torch::nn::Module* operator->() const { return &module(); }
  /// The shared module (null for an empty model).
  const std::shared_ptr<torch::nn::Module>& ptr() const { return module_; }
  /// The forward function (empty for an empty model).
  const Forward& forward_function() const { return forward_; }
  /// Whether the model holds no module.
  bool is_empty() const { return module_ == nullptr; }

 private:
  std::shared_ptr<torch::nn::Module> module_;
  Forward forward_;
};

/// The adapter for a model whose forward returns more than logits (features for later methods,
/// auxiliary heads): `select` takes what `holder->forward(x)` returns and gives the logits.
/// Example:
///     // NetImpl::forward returns std::tuple<torch::Tensor, torch::Tensor> (logits, features)
///     Model model = logits_from(net, [](const auto& out) { return std::get<0>(out); });
template <typename Holder, typename Select>
Model logits_from(Holder holder, Select select) {
  static_assert(torch::detail::is_module_holder<Holder>::value,
                "logits_from takes a module holder (a TORCH_MODULE type or torch::nn::Sequential)");
  std::shared_ptr<torch::nn::Module> module = holder.ptr();
  return Model(std::move(module),
               [holder, select](const torch::Tensor& inputs) mutable -> torch::Tensor {
                 return select(holder->forward(inputs));
               });
}

}  // namespace distillery
