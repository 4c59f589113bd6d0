#pragma once
/// @file state_dict.h
/// PyTorch state dicts as Python saves them, read without running any pickled code, and any
/// module's weights saved in the same form (`save_state_dict`). Read:
///
///     torch.save(model.state_dict(), "teacher.pt")                       # the usual recipe
///     torch.save({"state_dict": model.state_dict(), "epoch": 3, ...}, p)  # a training checkpoint
///     torch.save({"model": model.state_dict(), "optimizer": ...}, p)      # torchvision / timm style
///
/// Accepted: the zip format of `torch.save` (the default since PyTorch 1.6) and the legacy
/// format (`_use_new_zipfile_serialization=False`); an `OrderedDict` (what `state_dict()`
/// returns) or a plain dict; tensors of float32, float64, float16, bfloat16, the integer types
/// and bool, saved from any device (they are read onto the CPU). The file is read by a restricted
/// unpickler that knows only the few Python globals a state dict uses; anything else (a whole
/// model saved with `torch.save(model)`, NumPy arrays, custom classes) is refused where it is
/// needed, with a message naming the Python class, and is never executed.

#include <torch/nn/module.h>
#include <torch/types.h>

#include <map>
#include <stdexcept>
#include <string>

namespace distillery {

/// Thrown by `read_state_dict` and `load_state_dict` when `key` is empty and the file holds no
/// dict of tensors at its top level nor under "state_dict" or "model": the caller should name
/// the entry that holds the weights (`key`). The message names the path and the entries found.
class StateDictNotFoundError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reads the tensors of a state dict file, with their names and dtypes as saved (no `module.`
/// prefix removed, no dtype converted), each a CPU tensor of the saved sizes and strides.
///
/// Which dict holds the weights (`key`):
/// - `key` empty (auto-detect): the top level, if it is a dict whose values are all tensors;
///   otherwise the top-level entry "state_dict", else the entry "model" (checkpoints as
///   Lightning, timm and the torchvision scripts save them; their other entries such as
///   "epoch" or "optimizer" are ignored, whatever they hold);
/// - `key` not empty: the top-level entry of that name.
/// Example: `auto tensors = read_state_dict("checkpoint.pt", "state_dict");`
///
/// Throws std::runtime_error naming the path (and saying how to fix it) if the file cannot be
/// opened; is not a `torch.save` file or is damaged or truncated; holds a pickled Python
/// object instead of a state dict ("... holds a pickled torch.nn.modules.container.Sequential
/// object ..." for `torch.save(model)`); has no entry `key` (the message lists the top-level
/// keys) or, when auto-detecting, none of the entries above; or if the chosen dict has a
/// non-string key or a value that is not a tensor.
std::map<std::string, torch::Tensor> read_state_dict(const std::string& path,
                                                     const std::string& key = "");

/// Loads a state dict saved in Python (see `read_state_dict` for the files accepted and the
/// rule choosing the dict by `key`; "" auto-detects) into `model`, matching names like
/// "1.weight" (the Sequential's child index, then the parameter or buffer name). If every key
/// in the dict starts with "module." (a model saved from `nn.DataParallel` or another wrapper),
/// the prefix is removed first. Floating-point tensors are converted to the dtype of the
/// model's parameter or buffer (a float16, bfloat16 or float64 file loads into a float32
/// model); integer buffers such as BatchNorm's `num_batches_tracked` (int64) load as they are.
/// Example: `load_state_dict(*model, "resnet.pth", "model");`
///
/// Throws what `read_state_dict` throws; and std::runtime_error naming the path if keys are
/// missing or unexpected (the message lists both sets), if a tensor's shape differs from the
/// model's (naming the key and both shapes), or if a floating-point tensor would go into an
/// integer or bool parameter or buffer or the other way round (naming the key and both
/// dtypes). On error `model` is unchanged.
void load_state_dict(torch::nn::Module& model, const std::string& path,
                     const std::string& key = "");

/// Saves the parameters and buffers of any module by name, as Python's
/// `torch.save(model.state_dict(), path)` does: a dict from the dotted names of
/// `named_parameters()` and `named_buffers()` ("stem.weight", "first.norm.running_mean"; each
/// module's parameters, then its buffers, module after module in `named_modules()` order) to
/// CPU tensors with no autograd history. The file is in the zip format of `torch.save`, so
/// Python reads it with `torch.load(path)` (weights_only too) and `load_state_dict` reads it
/// back into a module of the same shape. Undefined buffers (BatchNorm without running
/// statistics) are left out, as PyTorch leaves out None buffers. The archive is serialised in
/// memory and written with `write_file_atomic`, so a failed write leaves `path` as it was.
/// Example: `save_state_dict("student.pt", *net); load_state_dict(*other, "student.pt");`
/// Throws std::runtime_error naming the path, as `write_file_atomic` does ("cannot write
/// <path>: <reason>", "cannot create directory <dir> for <path>: <reason>"), on I/O failure.
void save_state_dict(const std::string& path, const torch::nn::Module& module);

}  // namespace distillery
