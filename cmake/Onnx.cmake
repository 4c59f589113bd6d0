# The ONNX library (the protobuf messages of the ONNX format and its checker) for the ONNX
# export (include/distillery/export.h), as Debian's libonnx-dev and libprotobuf-dev install it
# (scripts/setup.sh does), or an ONNX installation found through CMAKE_PREFIX_PATH.
# Defines the imported target distillery_onnx. Installed with the package, whose config includes
# it, so that consumers of the static library link these libraries too.
if(TARGET distillery_onnx)
  return()
endif()
find_package(Protobuf QUIET)  # ONNX's targets link protobuf::libprotobuf
find_package(ONNX QUIET CONFIG)
# The library itself as well: FindProtobuf's imported target does not always reach the link line
# of a static library's consumers.
find_library(DISTILLERY_PROTOBUF_LIBRARY protobuf)
if(NOT ONNX_FOUND OR NOT TARGET onnx OR NOT TARGET onnx_proto OR NOT DISTILLERY_PROTOBUF_LIBRARY)
  message(FATAL_ERROR "ONNX not found: install libonnx-dev and libprotobuf-dev (Debian/Ubuntu; "
                      "scripts/setup.sh does) or point CMAKE_PREFIX_PATH at an ONNX installation")
endif()
add_library(distillery_onnx INTERFACE IMPORTED)
target_link_libraries(distillery_onnx INTERFACE onnx onnx_proto "${DISTILLERY_PROTOBUF_LIBRARY}")
