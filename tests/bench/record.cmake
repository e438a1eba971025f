# Figures for goscry record (issue 5): the target's throughput at 99 and 19 Hz against no
# sampling, goscry's CPU and RSS, samples lost at 999 Hz. Needs root; run by
# scripts/bench-record.sh, not by CTest.
add_executable(record_bench ${CMAKE_CURRENT_LIST_DIR}/record_bench.cpp)
target_link_libraries(record_bench PRIVATE goscry_agent goscry_test_support goscry_warnings)
add_dependencies(record_bench fixtures goscry)
