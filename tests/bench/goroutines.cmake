# Benchmarks of goroutine tracking (issue 3): cost per goroutine against the bare-uprobe
# floor, HTTP throughput with and without goscry, goscry's CPU and RSS. Need root; run by
# scripts/bench-goroutines.sh, not by CTest.
foreach(bench goroutine_cost_bench http_overhead_bench probe_cost_bench bpf_program_cost_bench
              tier_cost_bench)
  add_executable(${bench} ${CMAKE_CURRENT_LIST_DIR}/${bench}.cpp)
  target_link_libraries(${bench} PRIVATE goscry_agent goscry_test_support goscry_warnings)
  add_dependencies(${bench} fixtures goscry)
endforeach()
