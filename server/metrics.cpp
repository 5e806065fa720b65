// Prometheus text format 0.0.4 rendering of the service's counters and histograms.
#include "server/metrics.h"

#include <cmath>
#include <cstdio>

namespace bertrank::server {

namespace {
void add_double(std::atomic<double>& a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char b[32];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

std::string join_labels(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "," + b;
}

const std::vector<double>& latency_bounds() {
  static const std::vector<double> b = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
  return b;
}
std::vector<double> powers_of_two(double top) {
  std::vector<double> b;
  for (double v = 1; v <= top; v *= 2) b.push_back(v);
  return b;
}
}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  add_double(sum_, v);
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    const std::string le = "le=\"" + (i < bounds_.size() ? number(bounds_[i]) : std::string("+Inf")) + "\"";
    out += name + "_bucket{" + join_labels(labels, le) + "} " + std::to_string(cumulative) + "\n";
  }
  const std::string l = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + l + " " + number(sum_.load(std::memory_order_relaxed)) + "\n";
  // _count equals the +Inf bucket, as the format requires.
  out += name + "_count" + l + " " + std::to_string(cumulative) + "\n";
}

Metrics::PerModel::PerModel()
    : batch_size(powers_of_two(1024)), batch_tokens(powers_of_two(65536)), inference_seconds(latency_bounds()) {}

Metrics::Metrics() = default;

const char* Metrics::model_name(int model) { return model == 0 ? "encoder" : "reranker"; }

void Metrics::count_request(const std::string& route, int status, double seconds) {
  Histogram* h = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_[{route, status}];
    std::unique_ptr<Histogram>& slot = durations_[route];
    if (!slot) slot = std::make_unique<Histogram>(latency_bounds());
    h = slot.get();  // entries are never erased, so the pointer stays valid
  }
  h->observe(seconds);
}

void Metrics::count_batch(int model, size_t inputs, size_t tokens, double seconds) {
  if (model < 0 || model >= kModels) return;
  PerModel& m = models_[model];
  m.batch_size.observe(double(inputs));
  m.batch_tokens.observe(double(tokens));
  m.inference_seconds.observe(seconds);
  m.tokens.fetch_add(tokens, std::memory_order_relaxed);
  add_double(m.seconds, seconds);
}

std::string Metrics::render(const std::function<size_t(int model)>& queue_depth) const {
  std::string out;
  out.reserve(8192);
  out += "# HELP bertrank_requests_total Requests answered, by route and status.\n";
  out += "# TYPE bertrank_requests_total counter\n";
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, n] : requests_)
    out += "bertrank_requests_total{route=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(n) + "\n";
  out += "# HELP bertrank_request_duration_seconds Time from parsed request to response, by route.\n";
  out += "# TYPE bertrank_request_duration_seconds histogram\n";
  for (const auto& [route, h] : durations_) h->render(out, "bertrank_request_duration_seconds", "route=\"" + route + "\"");

  auto per_model = [&](const char* name, const char* type, const char* help, auto&& body) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (int m = 0; m < kModels; ++m) body(m, std::string("model=\"") + model_name(m) + "\"");
  };
  per_model("bertrank_queue_depth", "gauge", "Requests waiting for the model's batch worker.",
            [&](int m, const std::string& l) {
              out += "bertrank_queue_depth{" + l + "} " + std::to_string(queue_depth ? queue_depth(m) : 0) + "\n";
            });
  per_model("bertrank_batch_size", "histogram", "Inputs per engine batch.",
            [&](int m, const std::string& l) { models_[m].batch_size.render(out, "bertrank_batch_size", l); });
  per_model("bertrank_batch_tokens", "histogram", "Tokens per engine batch.",
            [&](int m, const std::string& l) { models_[m].batch_tokens.render(out, "bertrank_batch_tokens", l); });
  per_model("bertrank_tokens_total", "counter", "Tokens run through the model.", [&](int m, const std::string& l) {
    out += "bertrank_tokens_total{" + l + "} " + std::to_string(models_[m].tokens.load(std::memory_order_relaxed)) + "\n";
  });
  per_model("bertrank_inference_seconds_total", "counter", "Seconds spent in engine calls.",
            [&](int m, const std::string& l) {
              out += "bertrank_inference_seconds_total{" + l + "} " +
                     number(models_[m].seconds.load(std::memory_order_relaxed)) + "\n";
            });
  per_model("bertrank_inference_duration_seconds", "histogram", "Seconds per engine call.",
            [&](int m, const std::string& l) {
              models_[m].inference_seconds.render(out, "bertrank_inference_duration_seconds", l);
            });
  return out;
}

}  // namespace bertrank::server
