// The tensor operators of export_onnx: element-wise arithmetic and activations, and the shape
// operators (flatten, reshape, concatenation, splits, slices, channel shuffle).
#include <torch/csrc/jit/ir/constants.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "onnx_ops.h"

namespace distillery::detail {
namespace {

using torch::jit::Node;

template <const char* Op>
void unary(OnnxTranslation& t, const Node* n) {
  t.graph.node(Op, {onnx_name(t, n->input(0))}, {name_output(t, n, Op)});
}

template <const char* Op>
void binary(OnnxTranslation& t, const Node* n) {
  t.graph.node(Op, {onnx_name(t, n->input(0)), onnx_name(t, n->input(1))}, {name_output(t, n, Op)});
}

constexpr char kRelu[] = "Relu", kSigmoid[] = "Sigmoid", kTanh[] = "Tanh", kMul[] = "Mul",
               kAdd[] = "Add",
               kMax[] = "Max";

// aten::add(a, b, alpha): a + alpha * b, exported for alpha 1.
void add(OnnxTranslation& t, const Node* n) {
  if (n->inputs().size() > 2 && number_of(n, 2) != 1.0) refuse(n, "with alpha other than 1");
  binary<kAdd>(t, n);
}

void clip(OnnxTranslation& t, const Node* n, double low, double high) {
  t.graph.node("Clip", {onnx_name(t, n->input(0)), t.graph.scalar("clip_min", low),
                        t.graph.scalar("clip_max", high)},
               {name_output(t, n, "clip")});
}

void hardtanh(OnnxTranslation& t, const Node* n) { clip(t, n, number_of(n, 1), number_of(n, 2)); }
void relu6(OnnxTranslation& t, const Node* n) { clip(t, n, 0.0, 6.0); }

int64_t axis_of(const Node* n, int64_t dim, const torch::jit::Value* value) {
  const auto rank = static_cast<int64_t>(sizes_of(n, value).size());
  return dim < 0 ? dim + rank : dim;
}

// aten::flatten(input, start_dim, end_dim): from dimension 1 to the last, ONNX Flatten.
void flatten(OnnxTranslation& t, const Node* n) {
  const auto start = axis_of(n, int_of(n, 1), n->input(0));
  const auto end = axis_of(n, int_of(n, 2), n->input(0));
  if (start == end) return alias(t, n);
  const auto rank = static_cast<int64_t>(sizes_of(n, n->input(0)).size());
  if (start != 1 || end != rank - 1) refuse(n, "other than from dimension 1 to the last");
  auto& node = t.graph.node("Flatten", {onnx_name(t, n->input(0))}, {name_output(t, n, "flatten")});
  set_attribute(node, "axis", int64_t{1});
}

// aten::view / aten::reshape(input, size[]).
void reshape(OnnxTranslation& t, const Node* n) {
  auto shape = ints_of(n, 1);
  const auto in = sizes_of(n, n->input(0));
  if (!shape.empty() && !in.empty() && in[0] == kTraceBatch && shape[0] == kTraceBatch) {
    shape[0] = 0;  // the batch, read in C++ as x.size(0)
  }
  t.graph.node("Reshape", {onnx_name(t, n->input(0)), t.graph.int64s("shape", shape)},
               {name_output(t, n, "reshape")});
}

// aten::cat(tensors[], dim).
void cat(OnnxTranslation& t, const Node* n) {
  const auto* list = n->input(0)->node();
  if (list->kind() != c10::Symbol::fromQualString("prim::ListConstruct")) {
    refuse(n, "on a list of tensors it cannot see");
  }
  std::vector<std::string> inputs;
  for (const auto* v : list->inputs()) inputs.push_back(onnx_name(t, v));
  auto& node = t.graph.node("Concat", inputs, {name_output(t, n, "concat")});
  set_attribute(node, "axis", axis_of(n, int_of(n, 1), n->output()));
}

// ONNX Slice of one axis.
void slice_axis(OnnxTranslation& t, const Node* n, int64_t axis, int64_t start, int64_t end,
                int64_t step) {
  t.graph.node("Slice", {onnx_name(t, n->input(0)), t.graph.int64s("starts", {start}),
                         t.graph.int64s("ends", {end}), t.graph.int64s("axes", {axis}),
                         t.graph.int64s("steps", {step})},
               {name_output(t, n, "slice")});
}

// aten::slice(input, dim, start?, end?, step).
void slice(OnnxTranslation& t, const Node* n) {
  const int64_t start = is_none(n, 2) ? 0 : int_of(n, 2);
  const int64_t end = is_none(n, 3) ? std::numeric_limits<int64_t>::max() : int_of(n, 3);
  slice_axis(t, n, axis_of(n, int_of(n, 1), n->input(0)), start, end, int_of(n, 4));
}

// aten::narrow(input, dim, start, length).
void narrow(OnnxTranslation& t, const Node* n) {
  const auto start = int_of(n, 2);
  slice_axis(t, n, axis_of(n, int_of(n, 1), n->input(0)), start, start + int_of(n, 3), 1);
}

// aten::chunk(input, chunks, dim) / aten::split(input, split_size, dim), unpacked by the
// prim::ListUnpack that reads the list: ONNX Split into the same pieces.
void split_pieces(OnnxTranslation& t, const Node* n, int64_t piece) {
  const auto axis = axis_of(n, int_of(n, 2), n->input(0));
  const auto length = sizes_of(n, n->input(0))[axis];
  const auto& uses = n->output()->uses();
  if (uses.size() != 1 || uses[0].user->kind() != c10::Symbol::fromQualString("prim::ListUnpack")) {
    refuse(n, "whose pieces are not unpacked at once");
  }
  const auto* unpack = uses[0].user;
  std::vector<int64_t> sizes;
  for (int64_t at = 0; at < length; at += piece) sizes.push_back(std::min(piece, length - at));
  if (sizes.size() != unpack->outputs().size()) refuse(n, "into pieces the tracer did not record");
  std::vector<std::string> outputs;
  for (const auto* v : unpack->outputs()) outputs.push_back(t.names[v] = t.graph.fresh("split"));
  auto& node = t.graph.node("Split", {onnx_name(t, n->input(0)), t.graph.int64s("split", sizes)},
                            outputs);
  set_attribute(node, "axis", axis);
  t.done.insert(unpack);
}

void chunk(OnnxTranslation& t, const Node* n) {
  const auto axis = axis_of(n, int_of(n, 2), n->input(0));
  const auto length = sizes_of(n, n->input(0))[axis];
  const auto chunks = int_of(n, 1);
  split_pieces(t, n, (length + chunks - 1) / chunks);
}

void split(OnnxTranslation& t, const Node* n) { split_pieces(t, n, int_of(n, 1)); }

// aten::channel_shuffle(input [N, C, H, W], groups): reshape to [N, g, C / g, H, W], swap the
// group axes, reshape back.
void channel_shuffle(OnnxTranslation& t, const Node* n) {
  const auto s = sizes_of(n, n->input(0));
  if (s.size() != 4) refuse(n, "on an input that is not [N, C, H, W]");
  const auto g = int_of(n, 1);
  const auto grouped = t.graph.fresh("grouped"), swapped = t.graph.fresh("swapped");
  t.graph.node("Reshape", {onnx_name(t, n->input(0)), t.graph.int64s("shape", {0, g, s[1] / g, s[2], s[3]})},
               {grouped});
  auto& transpose = t.graph.node("Transpose", {grouped}, {swapped});
  set_attribute(transpose, "perm", std::vector<int64_t>{0, 2, 1, 3, 4});
  t.graph.node("Reshape", {swapped, t.graph.int64s("shape", {0, s[1], s[2], s[3]})},
               {name_output(t, n, "shuffled")});
}

// aten::mean(input, dims[], keepdim, dtype?).
void mean(OnnxTranslation& t, const Node* n) {
  std::vector<int64_t> axes;
  for (const auto d : ints_of(n, 1)) axes.push_back(axis_of(n, d, n->input(0)));
  const auto keep = int64_t{bool_of(n, 2)};
  if (t.opset >= 18) {
    auto& node = t.graph.node("ReduceMean", {onnx_name(t, n->input(0)), t.graph.int64s("axes", axes)},
                              {name_output(t, n, "mean")});
    set_attribute(node, "keepdims", keep);
    return;
  }
  auto& node = t.graph.node("ReduceMean", {onnx_name(t, n->input(0))}, {name_output(t, n, "mean")});
  set_attribute(node, "axes", axes);
  set_attribute(node, "keepdims", keep);
}

void identity(OnnxTranslation& t, const Node* n) { alias(t, n); }

}  // namespace

void add_tensor_translators(std::unordered_map<std::string, OnnxTranslator>& table) {
  for (const auto& [name, translator] :
       std::vector<std::pair<std::string, OnnxTranslator>>{
           {"relu", unary<kRelu>}, {"sigmoid", unary<kSigmoid>}, {"tanh", unary<kTanh>},
           {"add", add}, {"mul", binary<kMul>}, {"hardtanh", hardtanh}, {"relu6", relu6}}) {
    table["aten::" + name] = translator;
    table["aten::" + name + "_"] = translator;  // the in-place form
  }
  table["aten::maximum"] = binary<kMax>;
  table["aten::flatten"] = flatten;
  table["aten::view"] = reshape;
  table["aten::reshape"] = reshape;
  table["aten::cat"] = cat;
  table["aten::slice"] = slice;
  table["aten::narrow"] = narrow;
  table["aten::chunk"] = chunk;
  table["aten::split"] = split;
  table["aten::channel_shuffle"] = channel_shuffle;
  table["aten::mean"] = mean;
  for (const char* name : {"aten::contiguous", "aten::detach", "aten::clone"}) table[name] = identity;
}

}  // namespace distillery::detail
