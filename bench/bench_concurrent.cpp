// Throughput and latency of concurrent callers of the C API (a server calling bertrank_embed
// from several threads at once), to show how the kernel worker pool (kernels/parallel.h)
// serves them. Only the public C API is used, so the same source builds against an older
// library for an A/B comparison (bench/README.md). Not a Google Benchmark binary (it only
// shares the bench/ build rule).
//
//   build/bench/bench_concurrent [--model weights/all-MiniLM-L6-v2.brm] [--texts 64]
//       [--batch 8] [--callers 1,2,4] [--passes 2] [--threads 0] [--label name]
//
// Texts: the first --texts MEDLINE abstracts of ../shared/data/ir/medline/MED.ALL (fixed
// sentences if absent), cut into calls of --batch texts. For each caller count C, C threads
// split the calls round-robin and embed them (num_threads --threads, 0: the default) --passes
// times, after one untimed warm-up pass. Output, one line per caller count:
//   <label> callers=C texts_per_s=... ratio_to_1=... call_ms_median=... call_ms_p90=...
//           cpus_used=... texts_per_cpu_s=... load=...
// cpus_used: the process's CPU time (getrusage, all threads) over the wall time, i.e. how many
// CPUs the callers and workers actually got; texts_per_cpu_s: texts per CPU second. load: the
// 1-minute load average (getloadavg) when that caller count finished. The machine may be
// shared: read the wall-clock figures beside cpus_used and load. Without the model: a message
// and exit code 0.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include "bertrank/bertrank.h"

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// MED.ALL: ".I <id>" then ".W" then the abstract's lines.
std::vector<std::string> medline(const std::string& path, size_t n) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line, cur;
  bool in_w = false;
  while (std::getline(in, line) && out.size() <= n) {
    if (line.rfind(".I", 0) == 0) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      in_w = false;
    } else if (line.rfind(".W", 0) == 0) {
      in_w = true;
    } else if (in_w) {
      if (!cur.empty()) cur += ' ';
      cur += line;
    }
  }
  if (!cur.empty() && out.size() < n) out.push_back(cur);
  if (out.size() > n) out.resize(n);
  return out;
}

std::vector<std::string> fixed_sentences(size_t n) {
  const char* s[] = {"The effect of a high dose of vitamin C on blood pressure in adults.",
                     "Renal function in patients with chronic liver disease was studied over two years.",
                     "Lung tissue samples showed increased protein levels after exposure to the acid.",
                     "A randomized trial compared two treatments for early breast cancer in older women.",
                     "Heart rate variability decreased with age in both groups of healthy volunteers."};
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(s[i % 5]);
  return out;
}

// CPU seconds used by the whole process (all threads) so far.
double cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::atoi(item.c_str()));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path = std::string(BERTRANK_SOURCE_DIR) + "/weights/all-MiniLM-L6-v2.brm";
  std::string data = std::string(BERTRANK_SOURCE_DIR) + "/../shared/data/ir/medline/MED.ALL";
  std::string label = "bertrank";
  size_t ntexts = 64, batch = 8;
  int passes = 2, threads = 0;
  std::vector<int> callers = {1, 2, 4};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (!v) {
      std::fprintf(stderr, "bench_concurrent: %s needs a value\n", a.c_str());
      return 2;
    }
    ++i;
    if (a == "--model") model_path = v;
    else if (a == "--texts") ntexts = size_t(std::atol(v));
    else if (a == "--batch") batch = size_t(std::atol(v));
    else if (a == "--callers") callers = parse_list(v);
    else if (a == "--passes") passes = std::atoi(v);
    else if (a == "--threads") threads = std::atoi(v);
    else if (a == "--label") label = v;
    else {
      std::fprintf(stderr, "bench_concurrent: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (ntexts == 0 || batch == 0 || passes <= 0 || callers.empty()) {
    std::fprintf(stderr, "bench_concurrent: --texts, --batch, --passes must be > 0\n");
    return 2;
  }
  std::ifstream probe(model_path);
  if (!probe) {
    std::printf("bench_concurrent: %s not found (run ./scripts/setup.sh); nothing measured\n", model_path.c_str());
    return 0;
  }
  bertrank_model* m = nullptr;
  if (bertrank_model_load(model_path.c_str(), nullptr, &m) != BERTRANK_OK) {
    std::fprintf(stderr, "bench_concurrent: %s\n", bertrank_last_error());
    return 1;
  }
  bertrank_model_info info{};
  bertrank_model_get_info(m, &info);
  std::vector<std::string> texts = medline(data, ntexts);
  const char* source = "MEDLINE abstracts";
  if (texts.size() < ntexts) {
    texts = fixed_sentences(ntexts);
    source = "fixed sentences (no MED.ALL)";
  }
  std::vector<std::vector<const char*>> calls;
  for (size_t i = 0; i < texts.size(); i += batch) {
    calls.emplace_back();
    for (size_t j = i; j < std::min(texts.size(), i + batch); ++j) calls.back().push_back(texts[j].c_str());
  }
  std::printf("# %s: %zu %s in %zu calls of <= %zu, %d passes, num_threads %d, max threads %d, isa %s\n",
              label.c_str(), texts.size(), source, calls.size(), batch, passes, threads, bertrank_max_threads(),
              bertrank_isa());

  bertrank_embed_params ep = bertrank_embed_default_params();
  ep.num_threads = threads;
  double base_rate = 0.0;
  for (int nc : callers) {
    if (nc <= 0) continue;
    std::vector<std::vector<double>> lat(static_cast<size_t>(nc));
    std::vector<int> failed(static_cast<size_t>(nc), 0);
    auto run = [&](int c, int npasses, bool timed) {
      std::vector<float> out(batch * size_t(info.dim));
      for (int p = 0; p < npasses; ++p)
        for (size_t i = size_t(c); i < calls.size(); i += size_t(nc)) {
          const double t0 = now_s();
          if (bertrank_embed(m, calls[i].data(), nullptr, calls[i].size(), &ep, out.data(), out.size(), nullptr) !=
              BERTRANK_OK)
            failed[size_t(c)] = 1;
          if (timed) lat[size_t(c)].push_back(now_s() - t0);
        }
    };
    std::vector<std::thread> th;
    for (int c = 0; c < nc; ++c) th.emplace_back(run, c, 1, false);
    for (auto& t : th) t.join();
    th.clear();
    const double t0 = now_s(), c0 = cpu_s();
    for (int c = 0; c < nc; ++c) th.emplace_back(run, c, passes, true);
    for (auto& t : th) t.join();
    const double wall = now_s() - t0, cpu = cpu_s() - c0;
    if (std::find(failed.begin(), failed.end(), 1) != failed.end()) {
      std::fprintf(stderr, "bench_concurrent: a call failed: %s\n", bertrank_last_error());
      return 1;
    }
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    const double rate = double(texts.size()) * passes / wall;
    if (nc == 1) base_rate = rate;
    double load[1] = {0.0};
    getloadavg(load, 1);
    char ratio[32] = "-";  // needs the 1-caller figure first
    if (base_rate > 0.0) std::snprintf(ratio, sizeof ratio, "%.2f", rate / base_rate);
    std::printf(
        "%s callers=%d texts_per_s=%.1f ratio_to_1=%s call_ms_median=%.1f call_ms_p90=%.1f cpus_used=%.2f "
        "texts_per_cpu_s=%.2f load=%.2f\n",
        label.c_str(), nc, rate, ratio, 1e3 * percentile(all, 0.5), 1e3 * percentile(all, 0.9), cpu / wall,
        double(texts.size()) * passes / cpu, load[0]);
    std::fflush(stdout);
  }
  bertrank_model_free(m);
  return 0;
}
