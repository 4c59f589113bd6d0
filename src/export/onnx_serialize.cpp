// The ONNX library's side of the export: OnnxModel to onnx.ModelProto, checked and serialised.
// Compiled without LibTorch's include directories (see onnx_ir.h).
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <stdexcept>

#include "onnx_ir.h"

namespace distillery::detail {
namespace {

void write_node(const OnnxNode& node, onnx::NodeProto* proto) {
  proto->set_op_type(node.op);
  proto->set_name(node.name);
  for (const auto& input : node.inputs) proto->add_input(input);
  for (const auto& output : node.outputs) proto->add_output(output);
  for (const auto& a : node.attributes) {
    auto* attribute = proto->add_attribute();
    attribute->set_name(a.name);
    switch (a.kind) {
      case OnnxAttribute::Kind::kInt:
        attribute->set_type(onnx::AttributeProto::INT);
        attribute->set_i(a.i);
        break;
      case OnnxAttribute::Kind::kFloat:
        attribute->set_type(onnx::AttributeProto::FLOAT);
        attribute->set_f(a.f);
        break;
      case OnnxAttribute::Kind::kInts:
        attribute->set_type(onnx::AttributeProto::INTS);
        for (const auto v : a.ints) attribute->add_ints(v);
        break;
    }
  }
}

void write_initializer(const OnnxInitializer& init, onnx::TensorProto* proto) {
  proto->set_name(init.name);
  for (const auto d : init.dims) proto->add_dims(d);
  // raw_data is little-endian, as this machine's memory (x86-64, AArch64).
  if (init.is_float) {
    proto->set_data_type(onnx::TensorProto::FLOAT);
    proto->set_raw_data(init.floats.data(), init.floats.size() * sizeof(float));
  } else {
    proto->set_data_type(onnx::TensorProto::INT64);
    proto->set_raw_data(init.ints.data(), init.ints.size() * sizeof(int64_t));
  }
}

void write_value_info(const OnnxValueInfo& info, onnx::ValueInfoProto* proto) {
  proto->set_name(info.name);
  auto* tensor = proto->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tensor->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (const auto d : info.dims) shape->add_dim()->set_dim_value(d);
}

}  // namespace

std::string serialize_onnx(const OnnxModel& model) {
  onnx::ModelProto proto;
  proto.set_ir_version(onnx::IR_VERSION);
  proto.set_producer_name("distillery");
  proto.set_producer_version(model.producer_version);
  auto* opset = proto.add_opset_import();
  opset->set_domain(onnx::ONNX_DOMAIN);
  opset->set_version(model.opset);
  auto* graph = proto.mutable_graph();
  graph->set_name(model.graph_name);
  write_value_info(model.input, graph->add_input());
  write_value_info(model.output, graph->add_output());
  for (const auto& node : model.nodes) write_node(node, graph->add_node());
  for (const auto& init : model.initializers) write_initializer(init, graph->add_initializer());
  for (const auto& [key, value] : model.metadata) {
    auto* entry = proto.add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  }
  try {
    onnx::checker::check_model(proto);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("the ONNX checker refused the graph: ") + e.what());
  }
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) {
    throw std::runtime_error("the model could not be serialised (over protobuf's 2 GB limit?)");
  }
  return bytes;
}

int64_t newest_onnx_opset() {
  return onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map().at(onnx::ONNX_DOMAIN).second;
}

}  // namespace distillery::detail
