// Ctrl-C and SIGTERM end a verb cleanly: the handler only sets a flag (and interrupts the
// verb's wait), the verb's loop sees it, detaches and prints its summary.
#pragma once

namespace goscry {

// Installs the handlers for SIGINT and SIGTERM (without SA_RESTART, so a blocking wait
// returns EINTR at once).
void install_stop_handlers();
bool stop_requested();

}  // namespace goscry
