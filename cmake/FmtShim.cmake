# LibTorch ships its own copy of the fmt headers (a newer major version) in its include
# directory, which the compiler searches before /usr/include. A spdlog built against an
# external fmt (Debian's, for one) must see that same fmt, or its templates are compiled
# against one fmt and linked against another. The shim is a directory holding only a link to
# the external fmt's headers, placed ahead of LibTorch's include directories.
set(_distillery_fmt_shim "")
get_target_property(_spdlog_defs spdlog::spdlog INTERFACE_COMPILE_DEFINITIONS)
if(TARGET fmt::fmt AND _spdlog_defs MATCHES "SPDLOG_FMT_EXTERNAL")
  get_target_property(_fmt_inc fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  list(GET _fmt_inc 0 _fmt_inc)
  if(EXISTS "${_fmt_inc}/fmt/format.h")
    set(_distillery_fmt_shim "${CMAKE_BINARY_DIR}/fmt-shim")
    file(MAKE_DIRECTORY "${_distillery_fmt_shim}")
    file(CREATE_LINK "${_fmt_inc}/fmt" "${_distillery_fmt_shim}/fmt" SYMBOLIC)
  endif()
endif()

# Puts the fmt shim (if any) first on the include path of a target that uses spdlog.
function(distillery_use_fmt_shim target)
  if(_distillery_fmt_shim)
    target_include_directories(${target} BEFORE PRIVATE "$<BUILD_INTERFACE:${_distillery_fmt_shim}>")
  endif()
endfunction()
