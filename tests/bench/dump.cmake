# Figures for goscry dump / goscry leaks (issue 6). Not run by CTest: scripts/bench-dump.sh.
add_executable(dump_bench ${CMAKE_CURRENT_LIST_DIR}/dump_bench.cpp)
target_link_libraries(dump_bench PRIVATE goscry_agent goscry_test_support goscry_warnings)
add_dependencies(dump_bench fixtures)
