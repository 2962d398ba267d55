# Installs the built ved into a scratch prefix, builds tests/packaging/consumer against it with
# find_package(ved), runs it on a fixture model and checks its tokens against transformers'.
# Expects: VED_BINARY_DIR, VED_SOURCE_DIR, WORK_DIR, EXPECTED.
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()
run(${CMAKE_COMMAND} --install ${VED_BINARY_DIR} --prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} -S ${VED_SOURCE_DIR}/tests/packaging/consumer -B ${WORK_DIR}/build
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
set(model ${VED_SOURCE_DIR}/tests/data/fixtures/models/vit-gpt2)
run(${WORK_DIR}/build/consumer ${model} ${model}/expected.safetensors)
string(STRIP "${out}" out)
if(NOT out STREQUAL EXPECTED)
  message(FATAL_ERROR "consumer printed '${out}', expected '${EXPECTED}'")
endif()
message(STATUS "find_package(ved) consumer OK: ${out}")
file(REMOVE_RECURSE ${WORK_DIR})
