# SPDX-License-Identifier: MIT
# Finds the three OpenCV modules the vision pipeline uses (core, imgproc, video). Debian's
# sub-packages (libopencv-{core,imgproc,video}-dev) ship no opencv4.pc and no
# OpenCVConfig.cmake; only the 670 MB meta package does, so look for headers and libraries
# directly. Defines the target sk_opencv.
find_path(SK_OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
foreach(mod core imgproc video)
    find_library(SK_OPENCV_${mod}_LIB opencv_${mod} REQUIRED)
    if(NOT EXISTS ${SK_OPENCV_INCLUDE_DIR}/opencv2/${mod}.hpp)
        message(FATAL_ERROR "OpenCV ${mod} headers missing: install libopencv-${mod}-dev")
    endif()
endforeach()
add_library(sk_opencv INTERFACE IMPORTED)
target_include_directories(sk_opencv SYSTEM INTERFACE ${SK_OPENCV_INCLUDE_DIR})
target_link_libraries(sk_opencv INTERFACE
    ${SK_OPENCV_video_LIB} ${SK_OPENCV_imgproc_LIB} ${SK_OPENCV_core_LIB})
