#include "core/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace concierge {

namespace {

void AtomicAdd(std::atomic<double>& target, double v) {
  double old = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

std::string FormatValue(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::string EscapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// {a="1",b="2"} with an optional extra label (histogram "le"); "" when empty.
std::string LabelText(const MetricLabels& labels, const std::string& extra_key = "",
                      const std::string& extra_value = "") {
  std::string out;
  auto add = [&out](const std::string& k, const std::string& v) {
    out += out.empty() ? "{" : ",";
    out += k + "=\"" + EscapeLabel(v) + "\"";
  };
  for (const auto& [k, v] : labels) add(k, v);
  if (!extra_key.empty()) add(extra_key, extra_value);
  return out.empty() ? out : out + "}";
}

}  // namespace

void Counter::Inc(double v) { AtomicAdd(value_, v); }

void Gauge::Add(double v) { AtomicAdd(value_, v); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
}

uint64_t Histogram::cumulative(size_t i) const {
  uint64_t total = 0;
  for (size_t b = 0; b <= i && b <= bounds_.size(); ++b)
    total += buckets_[b].load(std::memory_order_relaxed);
  return total;
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

MetricsRegistry::Series& MetricsRegistry::Find(const std::string& name, const std::string& help,
                                               Kind kind, const MetricLabels& labels) {
  auto [it, inserted] = families_.try_emplace(name, Family{kind, help, {}});
  // Mixing kinds under one name is a programming error caught by any test that records it.
  if (!inserted && it->second.kind != kind) {
    std::fprintf(stderr, "metric %s registered with two kinds\n", name.c_str());
    std::abort();
  }
  return it->second.series[labels];
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Series& s = Find(name, help, Kind::kCounter, labels);
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Series& s = Find(name, help, Kind::kGauge, labels);
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const MetricLabels& labels, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  Series& s = Find(name, help, Kind::kHistogram, labels);
  if (!s.histogram)
    s.histogram = std::make_unique<Histogram>(bounds.empty() ? LatencyBuckets() : std::move(bounds));
  return *s.histogram;
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    const char* type = family.kind == Kind::kCounter ? "counter"
                       : family.kind == Kind::kGauge ? "gauge"
                                                     : "histogram";
    out += "# HELP " + name + " " + family.help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [labels, s] : family.series) {
      if (s.counter) out += name + LabelText(labels) + " " + FormatValue(s.counter->value()) + "\n";
      if (s.gauge) out += name + LabelText(labels) + " " + FormatValue(s.gauge->value()) + "\n";
      if (!s.histogram) continue;
      const Histogram& h = *s.histogram;
      for (size_t i = 0; i <= h.bounds().size(); ++i) {
        const std::string le = i < h.bounds().size() ? FormatValue(h.bounds()[i]) : "+Inf";
        out += name + "_bucket" + LabelText(labels, "le", le) + " " +
               std::to_string(h.cumulative(i)) + "\n";
      }
      out += name + "_sum" + LabelText(labels) + " " + FormatValue(h.sum()) + "\n";
      out += name + "_count" + LabelText(labels) + " " + std::to_string(h.count()) + "\n";
    }
  }
  return out;
}

MetricsRegistry& Metrics() {
  static MetricsRegistry registry;
  return registry;
}

}  // namespace concierge
