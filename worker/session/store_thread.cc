#include "worker/session/store_thread.h"

#include <pthread.h>

#include <utility>

namespace dynoguard::worker {

StoreThread::StoreThread(std::string name) : name_(std::move(name)) {
  thread_ = std::thread([this] { Run(); });
}

StoreThread::~StoreThread() { Join(); }

bool StoreThread::Submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void StoreThread::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
}

void StoreThread::Join() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void StoreThread::Run() {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, nothing left
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace dynoguard::worker
