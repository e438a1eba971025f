// One background thread that runs a job again and again: the agent's sources each had their
// own (a thread, a mutex, a condition variable and a stop flag, written three times). The
// job says when it wants to run next; a wake() runs it at once (a new target to look at),
// and stop() ends the wait at once, lets a job in progress finish, and joins, so an agent
// asked to stop never waits out a period.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace goscry {

class PeriodicWorker {
 public:
  using Clock = std::chrono::steady_clock;
  // The job; returns when it wants to run next.
  using Job = std::function<Clock::time_point()>;

  // `job` runs on the worker's thread, first `first_after` after start(). The thread is
  // named `name` (at most 15 bytes) so `top -H`, perf and /proc/PID/task tell it apart.
  PeriodicWorker(std::string name, Clock::duration first_after, Job job);
  // A job that runs `period` after the end of its previous run.
  static Job every(Clock::duration period, std::function<void()> work);

  ~PeriodicWorker();  // stop()
  PeriodicWorker(const PeriodicWorker&) = delete;
  PeriodicWorker& operator=(const PeriodicWorker&) = delete;

  // Starts the thread, once; nothing after stop(). The thread inherits the caller's signal
  // mask: the daemon starts its workers after blocking the signals it takes from a
  // signalfd (daemon.cpp), so no signal lands on a worker.
  void start();
  // Runs the job now rather than at the time it asked for (never twice at once).
  void wake();
  // Ends the wait at once, waits for a job in progress, joins. Idempotent.
  void stop();

 private:
  void run();

  const std::string name_;
  const Clock::duration first_after_;
  const Job job_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace goscry
