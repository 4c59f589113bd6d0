# OpenCV's core module (cv::kmeans, for the specialists' class clustering). A full OpenCV
# installation is found through its CMake package; Debian's libopencv-core-dev ships the
# header and library without one, so fall back to finding those two files.
# Defines the imported target distillery_opencv_core. Installed with the package, whose
# config includes it so that consumers of the static library link OpenCV core too.
if(TARGET distillery_opencv_core)
  return()
endif()
find_package(OpenCV QUIET COMPONENTS core)
if(OpenCV_FOUND)
  add_library(distillery_opencv_core INTERFACE IMPORTED)
  target_link_libraries(distillery_opencv_core INTERFACE opencv_core)
  target_include_directories(distillery_opencv_core INTERFACE ${OpenCV_INCLUDE_DIRS})
else()
  find_path(DISTILLERY_OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4)
  find_library(DISTILLERY_OPENCV_CORE_LIBRARY opencv_core)
  if(NOT DISTILLERY_OPENCV_INCLUDE_DIR OR NOT DISTILLERY_OPENCV_CORE_LIBRARY)
    message(FATAL_ERROR "OpenCV core not found: install libopencv-core-dev (Debian/Ubuntu) "
                        "or point CMAKE_PREFIX_PATH at an OpenCV installation")
  endif()
  add_library(distillery_opencv_core UNKNOWN IMPORTED)
  set_target_properties(distillery_opencv_core PROPERTIES
    IMPORTED_LOCATION "${DISTILLERY_OPENCV_CORE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${DISTILLERY_OPENCV_INCLUDE_DIR}")
endif()
