# Standalone tools and fuzz targets of the render module, included by the
# top-level CMakeLists.txt after pb_render is defined.

add_executable(html2md ${CMAKE_SOURCE_DIR}/src/render/tools/html2md_main.c)
target_link_libraries(html2md PRIVATE pb_render pb_common)
set_target_properties(html2md PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

# libFuzzer: cmake -DPB_FUZZ=ON -DCMAKE_C_COMPILER=clang, then
#   ./fuzz_html2md -max_total_time=300 corpus/
if(PB_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  # coverage and sanitizers inside the converter, not only in the harness
  target_compile_options(pb_render PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
  add_executable(fuzz_html2md ${CMAKE_SOURCE_DIR}/src/render/tools/fuzz_html2md.c)
  target_compile_options(fuzz_html2md PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz_html2md PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_html2md PRIVATE pb_render pb_common)
  set_target_properties(fuzz_html2md PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
endif()
