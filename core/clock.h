// The clock seam: code that measures time (deadlines, windows, back-off) reads it through a
// Clock, so tests can drive time by hand instead of sleeping (as leveldb's Env does).
//
// RealClock is std::chrono::steady_clock. FakeClock stands still until a test advances it;
// anything that would wait for time to pass must not block on a FakeClock.
// Thread-safety: both implementations are safe for concurrent use.
#pragma once

#include <atomic>
#include <chrono>

namespace imgfs {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual time_point Now() const = 0;

  // The process-wide real clock; never destroyed.
  static Clock& Real();
};

class RealClock : public Clock {
 public:
  time_point Now() const override { return std::chrono::steady_clock::now(); }
};

inline Clock& Clock::Real() {
  static RealClock* const clock = new RealClock();
  return *clock;
}

// A clock that moves only when told to. Starts at an arbitrary fixed point.
class FakeClock : public Clock {
 public:
  time_point Now() const override { return time_point(duration(now_.load())); }
  void Advance(duration d) { now_ += d.count(); }

 private:
  std::atomic<duration::rep> now_{duration(std::chrono::hours(1000)).count()};
};

}  // namespace imgfs
