// A fixed pool of worker threads running queued tasks in FIFO order. Thread-safe.
//
// Starting threads can fail (a process or user thread limit, memory): the pool then runs with
// the workers it got, and with none it runs each task on the thread that submits it. It never
// aborts the process; size() tells how many workers it has.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace imgfs {

class ThreadPool {
 public:
  // `threads` workers (at least one is tried); see above for when fewer start.
  explicit ThreadPool(unsigned threads);
  // Runs every queued task, then joins the workers.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The task must not throw.
  void Submit(std::function<void()> task);
  // Blocks until the queue is empty and no task is running.
  void Wait();
  // The workers that started.
  unsigned size() const { return static_cast<unsigned>(workers_.size()); }

 private:
  void WorkerLoop();

  std::mutex mu_;
  std::condition_variable work_cv_;          // a task was queued, or stopping
  std::condition_variable idle_cv_;          // the pool may have become idle
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  unsigned running_ = 0;                     // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::vector<std::thread> workers_;
};

}  // namespace imgfs
