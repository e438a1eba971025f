# Benchmark of the agent's /metrics path (render + HTTP, 20 concurrent scrapers). Not run
# by CTest: ninja -C build agent_scrape_bench && build/tests/bench/agent_scrape_bench
add_executable(agent_scrape_bench ${CMAKE_CURRENT_LIST_DIR}/agent_scrape_bench.cpp)
target_link_libraries(agent_scrape_bench PRIVATE goscry_agent goscry_warnings)

# The real agent (BPF on) tracking 5 live fixtures: CPU %, RSS, /metrics time. Needs root:
# ninja -C build agent_live_bench goscry fixtures && build/tests/bench/agent_live_bench [SECONDS]
add_executable(agent_live_bench ${CMAKE_CURRENT_LIST_DIR}/agent_live_bench.cpp)
target_link_libraries(agent_live_bench PRIVATE goscry_test_support goscry_agent goscry_warnings)
