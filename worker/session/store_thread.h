// StoreThread: one thread for a session store whose driver blocks (libpq,
// libmongoc, the file's fsync), so that the loop never waits on it. Jobs run
// one at a time in the order submitted; a job hands its answer to the loop
// with the PostToLoop it was given.
#ifndef DYNOGUARD_WORKER_SESSION_STORE_THREAD_H_
#define DYNOGUARD_WORKER_SESSION_STORE_THREAD_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace dynoguard::worker {

// Thread-safe.
class StoreThread {
 public:
  // Starts the thread (named `name`, at most 15 characters, for top/gdb).
  explicit StoreThread(std::string name);
  // Stop() then join.
  ~StoreThread();
  StoreThread(const StoreThread&) = delete;
  StoreThread& operator=(const StoreThread&) = delete;

  // Queues `job`; false (and `job` dropped) once Stop() was called.
  bool Submit(std::function<void()> job);
  // No new jobs; the queued ones still run. Returns at once.
  void Stop();
  // Stop(), then waits until the thread has run every queued job and ended.
  void Join();

 private:
  void Run();

  const std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::thread thread_;
};

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_SESSION_STORE_THREAD_H_
