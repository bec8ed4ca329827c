// Process-wide metrics in the Prometheus data model: counters, gauges and
// histograms, each a family (name + help) with label sets. Stages record into
// Metrics(); GET /metrics renders it. Recording is lock-free after the first
// lookup, so callers should keep the returned reference, not look it up per event.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace concierge {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// A value that only goes up (events, bytes).
class Counter {
 public:
  // Needs v >= 0.
  void Inc(double v = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down (queue depth, gallery size).
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed upper-bound buckets (seconds for latencies).
class Histogram {
 public:
  // Needs strictly increasing finite bounds; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return bounds_; }
  // Observations <= bounds()[i]; i == bounds().size() is +Inf (== count()).
  uint64_t cumulative(size_t i) const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per bound, not cumulative; last is +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Latency buckets from 1 ms to 60 s, for stage and end-to-end timings.
std::vector<double> LatencyBuckets();

class MetricsRegistry {
 public:
  // Needs a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) used with one
  // kind only. Returns the series for these labels, creating it (and the
  // family with this help text) on first use; the reference stays valid for
  // the registry's lifetime.
  Counter& counter(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  // `bounds` applies when the series is created; LatencyBuckets() if empty.
  Histogram& histogram(const std::string& name, const std::string& help,
                       const MetricLabels& labels = {}, std::vector<double> bounds = {});

  // Every family in the Prometheus text exposition format (version 0.0.4),
  // families and series in name/label order.
  std::string RenderPrometheus() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Series {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family {
    Kind kind;
    std::string help;
    std::map<MetricLabels, Series> series;
  };
  Series& Find(const std::string& name, const std::string& help, Kind kind,
               const MetricLabels& labels);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

// The process-wide registry.
MetricsRegistry& Metrics();

}  // namespace concierge
