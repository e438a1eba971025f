# Benchmarks of the encoders (exporters/). Not run by CTest: run them by hand, e.g.
#   ninja -C build prometheus_bench && build/tests/bench/prometheus_bench
find_package(benchmark REQUIRED)

add_executable(prometheus_bench ${CMAKE_CURRENT_LIST_DIR}/prometheus_bench.cpp)
target_link_libraries(prometheus_bench PRIVATE goscry_exporters benchmark::benchmark goscry_warnings)

add_executable(pprof_bench ${CMAKE_CURRENT_LIST_DIR}/pprof_bench.cpp)
target_link_libraries(pprof_bench PRIVATE goscry_exporters benchmark::benchmark goscry_warnings)
