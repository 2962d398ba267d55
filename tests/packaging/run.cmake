# Uses a built ved the three ways a user's project can, and runs each consumer on a fixture model,
# checking its tokens against transformers' (EXPECTED):
#   1. `cmake --install` into a scratch prefix, then find_package(ved) (tests/packaging/consumer,
#      which also builds a C program against ved::ved_c);
#   2. pkg-config against the same prefix (`pkg-config --cflags --libs ved`);
#   3. add_subdirectory of the source tree (tests/packaging/subdirectory).
# and runs the installed `ved` with its embedded default model.
# Expects: VED_BINARY_DIR, VED_SOURCE_DIR, WORK_DIR, EXPECTED.
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()
set(model ${VED_SOURCE_DIR}/tests/data/fixtures/models/vit-gpt2)
function(expect_tokens program what)
  run(${program} ${model} ${model}/expected.safetensors)
  string(STRIP "${out}" out)
  if(NOT out STREQUAL EXPECTED)
    message(FATAL_ERROR "${what} consumer printed '${out}', expected '${EXPECTED}'")
  endif()
  message(STATUS "${what} consumer OK: ${out}")
endfunction()
file(STRINGS ${VED_SOURCE_DIR}/include/ved/version.hpp version_line
     REGEX "#define VED_VERSION_STRING ")
string(REGEX REPLACE ".*\"(.*)\".*" "\\1" version "${version_line}")

# 1. find_package
set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install ${VED_BINARY_DIR} --prefix ${prefix})
run(${CMAKE_COMMAND} -S ${VED_SOURCE_DIR}/tests/packaging/consumer -B ${WORK_DIR}/build
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
expect_tokens(${WORK_DIR}/build/consumer "find_package(ved)")
run(${WORK_DIR}/build/consumer_c)
string(STRIP "${out}" out)
if(NOT out STREQUAL version)
  message(FATAL_ERROR "the C consumer printed '${out}', expected the version '${version}'")
endif()
message(STATUS "C API consumer (ved::ved_c) OK: ${out}")

# The installed CLI finds the embedded model under the prefix with no --model, also after the
# prefix is moved (the expected text is samples/expected.json's).
unset(ENV{VED_DEFAULT_MODEL})
function(expect_default_model_reads prefix_dir)
  run(${prefix_dir}/bin/ved caption ${prefix_dir}/share/ved/models/tiny-ocr/samples/00.png)
  string(STRIP "${out}" out)
  if(NOT out STREQUAL "INV-2024-0042")
    message(FATAL_ERROR "${prefix_dir}/bin/ved read '${out}' with its default model")
  endif()
endfunction()
expect_default_model_reads(${prefix})
file(COPY ${prefix}/ DESTINATION ${WORK_DIR}/moved)
expect_default_model_reads(${WORK_DIR}/moved)
message(STATUS "installed ved reads with its default model, also from a moved prefix")

# 2. pkg-config
file(GLOB_RECURSE pc_file ${prefix}/*/ved.pc)
if(NOT pc_file)
  message(FATAL_ERROR "no ved.pc installed under ${prefix}")
endif()
get_filename_component(pc_dir "${pc_file}" DIRECTORY)
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
find_program(PKG_CONFIG NAMES pkg-config pkgconf REQUIRED)
run(${PKG_CONFIG} --modversion ved)
string(STRIP "${out}" out)
if(NOT out STREQUAL version)
  message(FATAL_ERROR "pkg-config --modversion ved gave '${out}', expected '${version}'")
endif()
run(${PKG_CONFIG} --cflags --libs ved)
separate_arguments(flags UNIX_COMMAND "${out}")
find_program(CXX NAMES c++ g++ clang++ REQUIRED)
run(${CXX} -std=c++17 -O1 ${VED_SOURCE_DIR}/tests/packaging/consumer/main.cpp ${flags}
    -o ${WORK_DIR}/pkg_config_consumer)
expect_tokens(${WORK_DIR}/pkg_config_consumer "pkg-config")

# 3. add_subdirectory
run(${CMAKE_COMMAND} -S ${VED_SOURCE_DIR}/tests/packaging/subdirectory -B ${WORK_DIR}/subdir
    -DVED_SOURCE_DIR=${VED_SOURCE_DIR} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/subdir --target consumer -j2)
expect_tokens(${WORK_DIR}/subdir/consumer "add_subdirectory(ved)")
file(REMOVE_RECURSE ${WORK_DIR})
