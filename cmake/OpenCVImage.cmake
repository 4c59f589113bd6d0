# OpenCV's imgcodecs and imgproc modules (decoding PNG/JPEG/BMP and resizing, for the image
# folder reader). As in OpenCVCore.cmake: a full OpenCV installation is found through its CMake
# package; Debian's libopencv-imgcodecs-dev and libopencv-imgproc-dev ship the headers and
# libraries without one, so fall back to finding those files.
# Defines the imported target distillery_opencv_image (which links distillery_opencv_core).
# Installed with the package, whose config includes it, so that consumers of the static library
# link these modules too.
if(TARGET distillery_opencv_image)
  return()
endif()
include(${CMAKE_CURRENT_LIST_DIR}/OpenCVCore.cmake)
find_package(OpenCV QUIET COMPONENTS core imgcodecs imgproc)
if(OpenCV_FOUND)
  add_library(distillery_opencv_image INTERFACE IMPORTED)
  target_link_libraries(distillery_opencv_image INTERFACE opencv_imgcodecs opencv_imgproc
                        distillery_opencv_core)
  target_include_directories(distillery_opencv_image INTERFACE ${OpenCV_INCLUDE_DIRS})
else()
  find_path(DISTILLERY_OPENCV_IMGCODECS_INCLUDE_DIR opencv2/imgcodecs.hpp PATH_SUFFIXES opencv4)
  find_library(DISTILLERY_OPENCV_IMGCODECS_LIBRARY opencv_imgcodecs)
  find_library(DISTILLERY_OPENCV_IMGPROC_LIBRARY opencv_imgproc)
  if(NOT DISTILLERY_OPENCV_IMGCODECS_INCLUDE_DIR OR NOT DISTILLERY_OPENCV_IMGCODECS_LIBRARY
     OR NOT DISTILLERY_OPENCV_IMGPROC_LIBRARY)
    message(FATAL_ERROR "OpenCV imgcodecs/imgproc not found: install libopencv-imgcodecs-dev and "
                        "libopencv-imgproc-dev (Debian/Ubuntu; scripts/setup.sh does) or point "
                        "CMAKE_PREFIX_PATH at an OpenCV installation")
  endif()
  add_library(distillery_opencv_imgproc UNKNOWN IMPORTED)
  set_target_properties(distillery_opencv_imgproc PROPERTIES
    IMPORTED_LOCATION "${DISTILLERY_OPENCV_IMGPROC_LIBRARY}"
    INTERFACE_LINK_LIBRARIES distillery_opencv_core)
  add_library(distillery_opencv_image UNKNOWN IMPORTED)
  set_target_properties(distillery_opencv_image PROPERTIES
    IMPORTED_LOCATION "${DISTILLERY_OPENCV_IMGCODECS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${DISTILLERY_OPENCV_IMGCODECS_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "distillery_opencv_imgproc;distillery_opencv_core")
endif()
