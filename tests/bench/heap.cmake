# Figures for goscry heap (issue 16). Not run by CTest: scripts/bench-heap.sh.
add_executable(heap_bench ${CMAKE_CURRENT_LIST_DIR}/heap_bench.cpp)
target_link_libraries(heap_bench PRIVATE goscry_agent goscry_test_support goscry_warnings)
add_dependencies(heap_bench fixtures)
