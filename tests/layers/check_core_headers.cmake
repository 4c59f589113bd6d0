# cmake -DINCLUDE_DIR=<include/distillery> -P check_core_headers.cmake
# Fails when a core public header (anything outside app/) includes nlohmann/json.hpp: JSON is the
# core's private business and the application layer's public one.
file(GLOB_RECURSE headers "${INCLUDE_DIR}/*.h")
set(core_headers 0)
foreach(header IN LISTS headers)
  if(header MATCHES "/app/")
    continue()
  endif()
  math(EXPR core_headers "${core_headers} + 1")
  file(STRINGS "${header}" json_includes REGEX "#include[ \t]*<nlohmann/")
  if(json_includes)
    message(FATAL_ERROR "${header} is a core header and includes nlohmann/json.hpp")
  endif()
endforeach()
if(core_headers EQUAL 0)
  message(FATAL_ERROR "no core headers found under ${INCLUDE_DIR}")
endif()
message(STATUS "${core_headers} core headers, none includes nlohmann/json.hpp")
