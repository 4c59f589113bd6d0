// save_state_dict (state_dict.h): any module's weights in the zip format of torch.save.

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/torch.h>

#include <string>

#include "distillery/io.h"
#include "distillery/state_dict.h"

namespace distillery {

void save_state_dict(const std::string& path, const torch::nn::Module& module) {
  c10::impl::GenericDict state(c10::StringType::get(), c10::TensorType::get());
  const auto add = [&state](const std::string& prefix, const auto& tensors) {
    for (const auto& item : tensors) {
      if (!item.value().defined()) continue;
      // A compact CPU copy: the file holds exactly this tensor's elements, readable anywhere.
      state.insert(prefix.empty() ? item.key() : prefix + "." + item.key(),
                   item.value().detach().to(torch::kCPU).clone(torch::MemoryFormat::Contiguous));
    }
  };
  // The module itself first, without shared_from_this (it may live on the stack).
  add("", module.named_parameters(/*recurse=*/false));
  add("", module.named_buffers(/*recurse=*/false));
  for (const auto& item : module.named_modules("", /*include_self=*/false)) {
    add(item.key(), item.value()->named_parameters(/*recurse=*/false));
    add(item.key(), item.value()->named_buffers(/*recurse=*/false));
  }
  // torch::pickle_save would tag the dict with its TorchScript type (a call of
  // torch.jit._pickle.restore_type_tag); Python's torch.save writes a plain dict, and so do we.
  std::string pickle;
  torch::jit::Pickler pickler(
      [&pickle](const char* bytes, size_t size) { pickle.append(bytes, size); }, nullptr, nullptr,
      nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(state);
  pickler.stop();
  std::string archive;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&archive](const void* bytes, size_t size) {
      archive.append(static_cast<const char*>(bytes), size);
      return size;
    });
    torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(),
                                       writer);
    writer.writeEndOfFile();
  }
  write_file_atomic(path, archive);
}

}  // namespace distillery
