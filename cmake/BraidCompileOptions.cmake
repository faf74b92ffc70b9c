# Warnings, sanitizers and fuzzing flags, applied to braid's own targets
# through the braid_options interface library.

add_library(braid_options INTERFACE)
target_compile_options(braid_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wimplicit-fallthrough)
if(BRAID_WERROR)
  target_compile_options(braid_options INTERFACE -Werror)
endif()

if(BRAID_SANITIZE STREQUAL "address")
  set(_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
elseif(BRAID_SANITIZE STREQUAL "thread")
  set(_san -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT BRAID_SANITIZE STREQUAL "")
  message(FATAL_ERROR "BRAID_SANITIZE must be empty, 'address' or 'thread', not '${BRAID_SANITIZE}'")
endif()
if(_san)
  # Applied globally so that every object, tests included, is instrumented.
  add_compile_options(${_san})
  add_link_options(${_san})
endif()

if(BRAID_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "BRAID_FUZZ needs clang: configure with -DCMAKE_CXX_COMPILER=clang++")
endif()
