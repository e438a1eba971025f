#include "agent/base/periodic_worker.h"

#include <pthread.h>

#include <utility>

namespace goscry {

PeriodicWorker::PeriodicWorker(std::string name, Clock::duration first_after, Job job)
    : name_(std::move(name)), first_after_(first_after), job_(std::move(job)) {}

PeriodicWorker::Job PeriodicWorker::every(Clock::duration period, std::function<void()> work) {
  return [period, work = std::move(work)] {
    work();
    return Clock::now() + period;
  };
}

PeriodicWorker::~PeriodicWorker() { stop(); }

void PeriodicWorker::start() {
  std::lock_guard lock(mu_);
  if (stopping_ || thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void PeriodicWorker::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void PeriodicWorker::stop() {
  std::thread thread;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    thread = std::move(thread_);
  }
  cv_.notify_all();
  // A job that stops its own worker cannot join itself: its thread ends when the job returns.
  if (thread.joinable()) {
    if (thread.get_id() == std::this_thread::get_id())
      thread.detach();
    else
      thread.join();
  }
}

void PeriodicWorker::run() {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  Clock::time_point next = Clock::now() + first_after_;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, next, [this] { return stopping_ || woken_; });
      if (stopping_) return;
      woken_ = false;
    }
    next = job_();
  }
}

}  // namespace goscry
