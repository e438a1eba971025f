#include "agent/base/stop_signal.h"

#include <signal.h>

#include <csignal>
#include <cstring>

namespace goscry {

namespace {
volatile std::sig_atomic_t stop_flag = 0;
void on_stop(int) { stop_flag = 1; }
}  // namespace

void install_stop_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() { return stop_flag != 0; }

}  // namespace goscry
