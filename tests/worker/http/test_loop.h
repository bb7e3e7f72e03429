// TestLoop: a libuv loop on a thread of its own, as the worker runs one, with
// a thread-safe RunOnLoop for the routes that call the transport there.
// For the media and read route tests.
#ifndef DYNOGUARD_TESTS_WORKER_HTTP_TEST_LOOP_H_
#define DYNOGUARD_TESTS_WORKER_HTTP_TEST_LOOP_H_

#include <uv.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace dynoguard::worker::testing_loop {

class TestLoop {
 public:
  TestLoop() {
    uv_loop_init(&loop_);
    async_.data = this;
    uv_async_init(&loop_, &async_, [](uv_async_t* a) {
      static_cast<TestLoop*>(a->data)->RunTasks();
    });
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  // Runs `before_stop` on the loop (e.g. the transport's Stop), then ends the
  // loop once nothing is left on it.
  void Stop(std::function<void(std::function<void()> done)> before_stop = {}) {
    if (stopped_) return;
    stopped_ = true;
    Post([this, before_stop = std::move(before_stop)] {
      auto close = [this] {
        uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
      };
      if (before_stop) {
        before_stop(close);
      } else {
        close();
      }
    });
    thread_.join();
    uv_loop_close(&loop_);
  }
  ~TestLoop() { Stop(); }

  uv_loop_t* loop() { return &loop_; }

  // Thread-safe: runs `task` on the loop thread soon.
  void Post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
    }
    uv_async_send(&async_);
  }
  std::function<void(std::function<void()>)> runner() {
    return [this](std::function<void()> task) { Post(std::move(task)); };
  }

  // Runs `fn` on the loop and waits for it.
  void RunAndWait(const std::function<void()>& fn) {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Post([&] {
      fn();
      std::lock_guard<std::mutex> lock(mu);
      done = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }

 private:
  void RunTasks() {
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks.swap(tasks_);
    }
    for (auto& t : tasks) t();
  }

  uv_loop_t loop_{};
  uv_async_t async_{};
  std::mutex mu_;
  std::deque<std::function<void()>> tasks_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace dynoguard::worker::testing_loop

#endif  // DYNOGUARD_TESTS_WORKER_HTTP_TEST_LOOP_H_
