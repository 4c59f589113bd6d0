#include "distillery/data/augmentation.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/functional/padding.h>
#include <torch/torch.h>

#include "distillery/data/dataset.h"

namespace distillery::data {

namespace {

torch::TensorOptions int64_on(const torch::Device& device) {
  return torch::TensorOptions(torch::kInt64).device(device);
}

// Each image of `images` ([B, C, H, W]) cut at offset (top[b], left[b]) ([B] int64, in
// [0, 2 * padding]) out of itself zero-padded by `padding` on every side.
torch::Tensor crop_padded(const torch::Tensor& images, int64_t padding, const torch::Tensor& top,
                          const torch::Tensor& left) {
  const int64_t batch = images.size(0), height = images.size(2), width = images.size(3);
  const auto device = images.device();
  namespace F = torch::nn::functional;
  const auto padded = F::pad(images, F::PadFuncOptions({padding, padding, padding, padding}));
  const auto rows = top.to(device).view({batch, 1, 1}) +
                    torch::arange(height, int64_on(device)).view({1, height, 1});  // [B, H, 1]
  const auto cols = left.to(device).view({batch, 1, 1}) +
                    torch::arange(width, int64_on(device)).view({1, 1, width});    // [B, 1, W]
  const auto b = torch::arange(batch, int64_on(device)).view({batch, 1, 1});       // [B, 1, 1]
  using torch::indexing::Slice;
  // Advanced indices around a slice put the broadcast dims first: [B, H, W, C].
  return padded.index({b, Slice(), rows, cols}).permute({0, 3, 1, 2}).contiguous();
}

void check_parameters(const torch::Tensor& images, const torch::Tensor& parameters,
                      const char* who) {
  TORCH_CHECK(images.dim() == 4, who, " needs [B, C, H, W] images, got ", images.sizes());
  TORCH_CHECK(parameters.dim() == 2 && parameters.size(0) == images.size(0) &&
                  parameters.size(1) == kAugmentationColumns &&
                  parameters.scalar_type() == torch::kInt64,
              who, " needs int64 parameters [", images.size(0), ", ", kAugmentationColumns,
              "], got ", parameters.scalar_type(), " ", parameters.sizes());
}

}  // namespace

torch::Tensor sample_augmentation(int64_t batch, int64_t height, int64_t width,
                                  const AugmentationOptions& options, at::Generator& generator) {
  const int64_t p = options.crop_padding();
  TORCH_CHECK(batch >= 0, "sample_augmentation: batch must be >= 0, got ", batch);
  TORCH_CHECK(p >= 0 && p < height && p < width, "crop_padding must be in [0, image size), got ",
              p, " for ", height, "x", width, " images");
  TORCH_CHECK(options.erasing_size() >= 0, "erasing_size must be >= 0, got ",
              options.erasing_size());
  auto out = torch::full({batch, kAugmentationColumns}, -1, torch::kInt64);
  out.select(1, kCropTop).fill_(p);
  out.select(1, kCropLeft).fill_(p);
  out.select(1, kFlip).zero_();
  if (p > 0) {
    out.select(1, kCropTop).copy_(torch::randint(0, 2 * p + 1, {batch}, generator, torch::kInt64));
    out.select(1, kCropLeft).copy_(torch::randint(0, 2 * p + 1, {batch}, generator, torch::kInt64));
  }
  if (options.horizontal_flip()) {
    out.select(1, kFlip).copy_(torch::randint(0, 2, {batch}, generator, torch::kInt64));
  }
  if (options.erasing_size() > 0 && options.erasing_probability() > 0) {
    const auto chosen = torch::rand({batch}, generator, torch::kFloat64)
                            .lt(options.erasing_probability());
    const auto row = torch::randint(0, height, {batch}, generator, torch::kInt64);
    const auto column = torch::randint(0, width, {batch}, generator, torch::kInt64);
    out.select(1, kEraseRow).copy_(torch::where(chosen, row, -1));
    out.select(1, kEraseColumn).copy_(torch::where(chosen, column, -1));
  }
  return out;
}

torch::Tensor crop_and_flip(const torch::Tensor& images, const torch::Tensor& parameters,
                            const AugmentationOptions& options) {
  check_parameters(images, parameters, "crop_and_flip");
  const int64_t p = options.crop_padding();
  auto out = images;
  if (p > 0) {
    const auto top = parameters.select(1, kCropTop), left = parameters.select(1, kCropLeft);
    TORCH_CHECK(top.ge(0).logical_and(top.le(2 * p)).all().item<bool>() &&
                    left.ge(0).logical_and(left.le(2 * p)).all().item<bool>(),
                "crop offsets must be in [0, ", 2 * p, "] for crop_padding ", p);
    out = crop_padded(images, p, top, left);
  }
  if (options.horizontal_flip()) {
    const auto flip = parameters.select(1, kFlip).to(images.device()).eq(1)
                          .view({images.size(0), 1, 1, 1});
    out = torch::where(flip, out.flip({3}), out);
  }
  return out;
}

torch::Tensor erase(const torch::Tensor& inputs, const torch::Tensor& parameters,
                    const AugmentationOptions& options) {
  check_parameters(inputs, parameters, "erase");
  const int64_t size = options.erasing_size();
  if (size == 0 || options.erasing_probability() == 0) return inputs;
  const int64_t batch = inputs.size(0), height = inputs.size(2), width = inputs.size(3);
  const auto device = inputs.device();
  const auto row = parameters.select(1, kEraseRow).to(device).view({batch, 1, 1, 1});
  const auto column = parameters.select(1, kEraseColumn).to(device).view({batch, 1, 1, 1});
  // Pixels [centre - size / 2, centre - size / 2 + size), clipped by the image's borders.
  const auto r = torch::arange(height, int64_on(device)).view({1, 1, height, 1}) - row + size / 2;
  const auto c = torch::arange(width, int64_on(device)).view({1, 1, 1, width}) - column + size / 2;
  const auto inside = r.ge(0) & r.lt(size) & c.ge(0) & c.lt(size) & row.ge(0);  // [B, 1, H, W]
  return inputs.masked_fill(inside, 0);
}

torch::Tensor augmented_inputs(const Dataset& set, const torch::Tensor& rows,
                               const torch::Tensor& parameters, const AugmentationOptions& options) {
  return erase(set.inputs(crop_and_flip(rows, parameters, options)), parameters, options);
}

at::Generator epoch_generator(uint64_t seed, int64_t epoch) {
  // SplitMix64 of (seed, epoch): nearby seeds and epochs give unrelated streams.
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (static_cast<uint64_t>(epoch) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return at::make_generator<at::CPUGeneratorImpl>(z ^ (z >> 31));
}

torch::Tensor random_translate(const torch::Tensor& images, int64_t max_pixels,
                               at::Generator& generator) {
  TORCH_CHECK(images.dim() == 4, "random_translate needs [B, C, H, W] images, got ",
              images.sizes());
  const int64_t k = max_pixels;
  TORCH_CHECK(k >= 0 && k < images.size(2) && k < images.size(3),
              "jitter must be in [0, image size), got ", k);
  if (k == 0) return images;
  const int64_t batch = images.size(0);
  // Per-image offsets in [0, 2k]: offset k is the untranslated image.
  const auto dy = torch::randint(0, 2 * k + 1, {batch}, generator, torch::kInt64);
  const auto dx = torch::randint(0, 2 * k + 1, {batch}, generator, torch::kInt64);
  return crop_padded(images, k, dy, dx);
}

}  // namespace distillery::data
