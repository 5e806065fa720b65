#include "retrieval/ivf_index.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <stdexcept>

#include "common/checked_size.h"
#include "common/parallel_errors.h"
#include "retrieval/scan.h"

namespace bertrank::retrieval {

namespace {
void normalize(float* v, size_t d) {
  double s = 0;
  for (size_t i = 0; i < d; ++i) s += (double)v[i] * v[i];
  const float inv = s > 0 ? (float)(1.0 / std::sqrt(s)) : 0.f;
  for (size_t i = 0; i < d; ++i) v[i] *= inv;
}

// k-means++ seeding (squared L2 distance) on a random subsample of at most 32 * k points:
// writes k rows of dim floats to c (not normalised).
void kmeans_plus_plus_seed(size_t n, const float* x, size_t dim, size_t k, std::mt19937_64& rng, float* c) {
  const auto& sc = scan::active();
  const size_t m = std::min(n, std::max(k, k * 32));
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  for (size_t i = 0; i < m; ++i) std::swap(idx[i], idx[i + rng() % (n - i)]);
  idx.resize(m);
  std::vector<float> sub(m * dim), norms(m), dist(m, INFINITY), dots(m);
  for (size_t i = 0; i < m; ++i) {
    std::memcpy(&sub[i * dim], x + idx[i] * dim, dim * 4);
    double s = 0;
    for (size_t d = 0; d < dim; ++d) s += (double)sub[i * dim + d] * sub[i * dim + d];
    norms[i] = (float)s;
  }
  size_t pick = rng() % m;
  for (size_t j = 0; j < k; ++j) {
    const float* cj = &sub[pick * dim];
    std::memcpy(&c[j * dim], cj, dim * 4);
    const float cn = norms[pick];
    double total = 0;
    const size_t chunk = 4096, nchunks = (m + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) reduction(+ : total) if ((double)m * dim > 4e6)
    for (size_t ch = 0; ch < nchunks; ++ch) {
      const size_t i0 = ch * chunk, i1 = std::min(m, i0 + chunk);
      sc.ip_block(1, cj, dim, i1 - i0, &sub[i0 * dim], dim, dim, &dots[i0], m);
      for (size_t i = i0; i < i1; ++i) {
        const float d2 = std::max(0.f, norms[i] + cn - 2 * dots[i]);
        dist[i] = std::min(dist[i], d2);
        total += dist[i];
      }
    }
    if (j + 1 == k) break;
    if (total <= 0) {
      pick = rng() % m;
      continue;
    }
    double r = std::uniform_real_distribution<double>(0, total)(rng), acc = 0;
    pick = m - 1;
    for (size_t i = 0; i < m; ++i) {
      acc += dist[i];
      if (acc >= r && dist[i] > 0) {
        pick = i;
        break;
      }
    }
  }
}

// assign[i] = the centroid (of k rows of c) with the largest inner product with point i.
void assign_to_centroids(size_t n, const float* x, size_t dim, size_t k, const float* c, int64_t* assign) {
  std::vector<int64_t> cid(k);
  std::iota(cid.begin(), cid.end(), 0);
  FlatIndex q(dim);
  q.add(k, c, cid.data());
  std::vector<float> s(n);
  q.search(n, x, 1, s.data(), assign);
}

// Each centroid with members becomes their normalised mean; counts[j] = members of centroid j.
// Centroids without members are left as they are.
void update_centroids(size_t n, const float* x, size_t dim, size_t k, const int64_t* assign, float* c,
                      std::vector<size_t>& counts) {
  std::vector<double> sums(k * dim, 0.0);
  counts.assign(k, 0);
  for (size_t i = 0; i < n; ++i) {
    const size_t a = (size_t)assign[i];
    ++counts[a];
    const float* v = x + i * dim;
    double* sj = &sums[a * dim];
    for (size_t d = 0; d < dim; ++d) sj[d] += v[d];
  }
  for (size_t j = 0; j < k; ++j) {
    if (counts[j] == 0) continue;
    for (size_t d = 0; d < dim; ++d) c[j * dim + d] = (float)(sums[j * dim + d] / counts[j]);
    normalize(&c[j * dim], dim);
  }
}

// Each empty list is re-seeded with a random member of the (then) largest list, which moves to it.
void reseed_empty_lists(size_t n, const float* x, size_t dim, size_t k, std::mt19937_64& rng, float* c,
                        std::vector<size_t>& counts, int64_t* assign) {
  for (size_t j = 0; j < k; ++j) {
    if (counts[j] != 0) continue;
    const size_t big = (size_t)(std::max_element(counts.begin(), counts.end()) - counts.begin());
    if (counts[big] < 2) break;
    size_t want = rng() % counts[big], seen = 0, member = 0;
    for (size_t i = 0; i < n; ++i)
      if ((size_t)assign[i] == big && seen++ == want) {
        member = i;
        break;
      }
    std::memcpy(&c[j * dim], x + member * dim, dim * 4);
    normalize(&c[j * dim], dim);
    counts[j] = 1;
    --counts[big];
    assign[member] = (int64_t)j;
  }
}

}  // namespace

std::vector<float> kmeans_spherical(size_t n, const float* x, size_t dim, size_t k, size_t iters,
                                    uint64_t seed) {
  if (k == 0 || n < k) throw std::invalid_argument("k-means: need at least k points");
  std::mt19937_64 rng(seed);
  std::vector<float> c(k * dim);
  kmeans_plus_plus_seed(n, x, dim, k, rng, c.data());
  for (size_t j = 0; j < k; ++j) normalize(&c[j * dim], dim);
  std::vector<int64_t> assign(n);
  std::vector<size_t> counts(k);
  for (size_t it = 0; it < iters; ++it) {  // Lloyd iterations
    assign_to_centroids(n, x, dim, k, c.data(), assign.data());
    update_centroids(n, x, dim, k, assign.data(), c.data(), counts);
    reseed_empty_lists(n, x, dim, k, rng, c.data(), counts, assign.data());
  }
  return c;
}

IvfIndex::IvfIndex(size_t dim, size_t nlist, StorageType storage, bool rescore) {
  codec_ = RowCodec(dim, storage);
  rescore_ = rescore && storage == StorageType::int8;
  if (nlist == 0) throw std::invalid_argument("IVF: nlist must be at least 1");
  if (nlist > (size_t(1) << 31)) throw std::invalid_argument("IVF: nlist too large");
  nlist_ = nlist;
  nprobe_ = std::min<size_t>(nlist, 8);
}

void IvfIndex::set_centroids(std::vector<float> c) {
  centroids_ = std::move(c);
  quantizer_.reset(new FlatIndex(dim()));
  std::vector<int64_t> cid(nlist_);
  std::iota(cid.begin(), cid.end(), 0);
  quantizer_->add(nlist_, centroids_.data(), cid.data());
}

void IvfIndex::train(size_t n, const float* x, const IvfTrainParams& p) {
  if (size() != 0) throw std::logic_error("IVF: cannot retrain an index that holds vectors");
  if (n == 0) throw std::invalid_argument("IVF: training needs at least one vector");
  if (n < nlist_) nlist_ = n;
  nprobe_ = std::min(nprobe_, nlist_);
  const size_t want = p.train_sample ? p.train_sample : 128 * nlist_;
  std::vector<float> sample;
  const float* tx = x;
  size_t tn = n;
  if (n > want) {
    std::mt19937_64 rng(p.seed ^ 0x5eedull);
    std::vector<size_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    for (size_t i = 0; i < want; ++i) std::swap(idx[i], idx[i + rng() % (n - i)]);
    idx.resize(want);
    std::sort(idx.begin(), idx.end());
    sample.resize(want * dim());
    for (size_t i = 0; i < want; ++i) std::memcpy(&sample[i * dim()], x + idx[i] * dim(), dim() * 4);
    tx = sample.data();
    tn = want;
  }
  codec_.train(tn, tx);
  set_centroids(kmeans_spherical(tn, tx, dim(), nlist_, p.train_iters, p.seed));
  lists_.assign(nlist_, List{});
}

void IvfIndex::add(size_t n, const float* x, const int64_t* ids) {
  if (n == 0) return;
  if (!trained()) throw std::logic_error("IVF: the index must be trained before add()");
  check_new_ids(*this, n, ids);
  std::vector<float> s(n);
  std::vector<int64_t> assign(n);
  quantizer_->search(n, x, 1, s.data(), assign.data());
  std::vector<uint8_t> code(codec_.row_bytes());
  const size_t rb = codec_.row_bytes(), eb = dim() * 4;
  pos_.reserve(size() + n);
  for (size_t i = 0; i < n; ++i) {
    const size_t l = (size_t)assign[i];
    List& L = lists_[l];
    codec_.encode(1, x + i * dim(), code.data());
    auto& codes = L.codes.mut();
    codes.insert(codes.end(), code.begin(), code.end());
    if (rescore_) {
      auto& ex = L.exact.mut();
      const uint8_t* p = (const uint8_t*)(x + i * dim());
      ex.insert(ex.end(), p, p + eb);
    }
    pos_[ids[i]] = ((uint64_t)l << 32) | L.ids.size();
    L.ids.push_back(ids[i]);
  }
  (void)rb;
}

size_t IvfIndex::remove(size_t n, const int64_t* ids) {
  size_t removed = 0;
  const size_t rb = codec_.row_bytes(), eb = dim() * 4;
  for (size_t i = 0; i < n; ++i) {
    auto it = pos_.find(ids[i]);
    if (it == pos_.end()) continue;
    const size_t l = it->second >> 32, p = it->second & 0xffffffffu;
    pos_.erase(it);
    List& L = lists_[l];
    const size_t last = L.ids.size() - 1;
    auto& codes = L.codes.mut();
    if (p != last) {
      std::memcpy(codes.data() + p * rb, codes.data() + last * rb, rb);
      if (rescore_) {
        auto& ex = L.exact.mut();
        std::memcpy(ex.data() + p * eb, ex.data() + last * eb, eb);
      }
      L.ids[p] = L.ids[last];
      pos_[L.ids[p]] = ((uint64_t)l << 32) | p;
    }
    codes.resize(last * rb);
    if (rescore_) L.exact.mut().resize(last * eb);
    L.ids.pop_back();
    ++removed;
  }
  return removed;
}

bool IvfIndex::reconstruct(int64_t id, float* out) const {
  auto it = pos_.find(id);
  if (it == pos_.end()) return false;
  if (rescore_) {
    std::memcpy(out, exact_row(it->second), dim() * 4);
  } else {
    const List& L = lists_[it->second >> 32];
    codec_.reconstruct(L.codes.data() + (it->second & 0xffffffffu) * codec_.row_bytes(), out);
  }
  return true;
}

std::vector<int64_t> IvfIndex::ids() const {
  std::vector<int64_t> out;
  out.reserve(size());
  for (const auto& L : lists_) out.insert(out.end(), L.ids.begin(), L.ids.end());
  return out;
}

std::vector<std::vector<Hit>> IvfIndex::search_hits(size_t nq, const float* queries, size_t k,
                                                    const SearchParams& params) const {
  std::vector<std::vector<Hit>> out(nq);
  if (nq == 0 || k == 0 || size() == 0 || !trained()) return out;
  k = std::min(k, size());  // memory is bounded by the index, not by the request
  const size_t nprobe = std::min(nlist_, params.nprobe ? params.nprobe : nprobe_);
  const size_t factor = params.rescore_factor ? params.rescore_factor : 8;
  const size_t kk = rescore_ ? std::min(size(), sat_mul(k, factor)) : k;
  const size_t stride = codec_.stride();
  auto probes = quantizer_->search_hits(nq, queries, nprobe);
  auto run_of = [&](size_t l) {
    const List& L = lists_[l];
    return RowRun{L.codes.data(), L.ids.data(), L.ids.size(), (uint64_t)l << 32};
  };
  auto finish = [&](size_t i, TopK& heap) {
    auto hits = heap.take_sorted();
    out[i] = rescore_ ? rescore_hits(queries + i * dim(), std::move(hits), k) : std::move(hits);
  };
  if (nq == 1) {
    std::vector<float> qp(stride);
    float bias;
    codec_.prepare_query(queries, qp.data(), &bias);
    TopK heap(kk);
    const auto& pr = probes[0];
    size_t scanned = 0;
    for (const Hit& h : pr) scanned += lists_[h.id].ids.size();
    const bool parallel = (double)scanned * stride > 8e6;  // about 32 MB of f32 rows
    ParallelErrors errs;  // an exception must not leave the OpenMP region
#pragma omp parallel if (parallel)
    {
      TopK local;
      ScanScratch scratch;
      errs.run([&] { local.reset(kk); });
#pragma omp for schedule(dynamic, 1)
      for (size_t j = 0; j < pr.size(); ++j)
        errs.run([&] { scan_run(codec_, run_of((size_t)pr[j].id), 1, qp.data(), &bias, &local, scratch); });
#pragma omp critical(bertrank_ivf_merge)
      errs.run([&] {
        for (const Hit& h : local.items()) heap.push(h.score, h.id, h.loc);
      });
    }
    errs.rethrow();
    finish(0, heap);
    return out;
  }
  ParallelErrors errs;
#pragma omp parallel
  {
    std::vector<float> qp;
    float bias;
    TopK heap;
    ScanScratch scratch;
    errs.run([&] { qp.resize(stride); });
#pragma omp for schedule(dynamic, 4)
    for (size_t i = 0; i < nq; ++i)
      errs.run([&] {
        codec_.prepare_query(queries + i * dim(), qp.data(), &bias);
        heap.reset(kk);
        for (const Hit& h : probes[i])
          scan_run(codec_, run_of((size_t)h.id), 1, qp.data(), &bias, &heap, scratch);
        finish(i, heap);
      });
  }
  errs.rethrow();
  return out;
}

void IvfIndex::search(size_t nq, const float* queries, size_t k, float* out_scores,
                      int64_t* out_ids, const SearchParams& params) const {
  size_mul(nq, k, "search: nq * k");
  auto hits = search_hits(nq, queries, k, params);
  for (size_t i = 0; i < nq; ++i) write_hits(hits[i], k, out_scores + i * k, out_ids + i * k);
}

void IvfIndex::write(IndexFileWriter& w, nlohmann::json& meta) const {
  if (!trained()) throw std::logic_error("IVF: cannot save an untrained index");
  write_common_meta(meta);
  meta["nlist"] = nlist_;
  meta["nprobe"] = nprobe_;
  std::vector<std::pair<const void*, size_t>> ids, codes, exact;
  std::vector<uint8_t> sizes;
  for (const auto& L : lists_) {
    ids.push_back({L.ids.data(), L.ids.size() * 8});
    codes.push_back({L.codes.data(), L.codes.size()});
    if (rescore_) exact.push_back({L.exact.data(), L.exact.size()});
    put_u64(sizes, L.ids.size());
  }
  std::vector<uint8_t> cent;
  const size_t stride = codec_.stride();
  std::vector<float> row(stride, 0.f);
  for (size_t l = 0; l < nlist_; ++l) {
    std::memcpy(row.data(), &centroids_[l * dim()], dim() * 4);
    put_bytes(cent, row.data(), stride * 4);
  }
  w.add(SectionType::ivf_centroids, std::move(cent));
  w.add(SectionType::ivf_list_sizes, std::move(sizes));
  w.add_pieces(SectionType::vec_ids, std::move(ids));
  w.add_pieces(SectionType::vec_codes, std::move(codes));
  write_sq(w);
  if (rescore_) w.add_pieces(SectionType::rescore, std::move(exact));
}

std::unique_ptr<IvfIndex> IvfIndex::read_from(const IndexFileReader& r, const nlohmann::json& meta) {
  std::unique_ptr<IvfIndex> x(new IvfIndex());
  x->read_common_meta(r, meta);
  const size_t count = meta_u64(r, meta, "count");
  const size_t nlist = meta_u64(r, meta, "nlist");
  if (nlist == 0 || nlist > (size_t(1) << 31)) r.fail("META.nlist: " + std::to_string(nlist) + " is outside 1..2^31");
  const size_t nprobe = meta_u64(r, meta, "nprobe");
  if (nprobe == 0 || nprobe > nlist) r.fail("META.nprobe: " + std::to_string(nprobe) + " is outside 1..nlist");
  x->nlist_ = nlist;
  x->nprobe_ = nprobe;
  const size_t dim = x->dim(), stride = x->codec_.stride(), rb = x->codec_.row_bytes();
  const auto cent = r.get(SectionType::ivf_centroids);
  if (cent.size != checked_mul(checked_mul(nlist, stride, "IVF_CENTROIDS"), 4, "IVF_CENTROIDS"))
    r.fail("section IVF_CENTROIDS: size " + std::to_string(cent.size) + ", expected nlist " +
           std::to_string(nlist) + " x stride " + std::to_string(stride) + " x 4");
  const auto sizes = r.get(SectionType::ivf_list_sizes);
  if (sizes.size != checked_mul(nlist, 8, "IVF_LIST_SIZES"))
    r.fail("section IVF_LIST_SIZES: size " + std::to_string(sizes.size) + ", expected nlist x 8");
  std::vector<uint64_t> ls(nlist);
  std::memcpy(ls.data(), sizes.data, nlist * 8);
  size_t total = 0;
  for (size_t l = 0; l < nlist; ++l) {
    total = checked_add(total, ls[l], "IVF_LIST_SIZES");
    if (ls[l] > 0xffffffffull) r.fail("section IVF_LIST_SIZES: list " + std::to_string(l) + " is too long");
  }
  if (total != count)
    r.fail("section IVF_LIST_SIZES: lists hold " + std::to_string(total) + " vectors but META.count is " +
           std::to_string(count));
  const auto ids = r.get(SectionType::vec_ids);
  if (ids.size != checked_mul(count, 8, "VEC_IDS"))
    r.fail("section VEC_IDS: size " + std::to_string(ids.size) + ", expected count " + std::to_string(count) + " x 8");
  const auto codes = r.get(SectionType::vec_codes);
  if (codes.size != checked_mul(count, rb, "VEC_CODES"))
    r.fail("section VEC_CODES: size " + std::to_string(codes.size) + ", expected count " +
           std::to_string(count) + " x row_bytes " + std::to_string(rb));
  x->read_sq(r);
  IndexFileReader::Span ex{};
  if (x->rescore_) {
    ex = r.get(SectionType::rescore);
    if (ex.size != checked_mul(checked_mul(count, dim, "RESCORE"), 4, "RESCORE"))
      r.fail("section RESCORE: size " + std::to_string(ex.size) + ", expected count x dim x 4");
  } else if (r.has(SectionType::rescore)) {
    r.fail("section RESCORE: present but META.rescore is false");
  }
  std::vector<float> c(nlist * dim);
  for (size_t l = 0; l < nlist; ++l) {
    std::memcpy(&c[l * dim], cent.data + l * stride * 4, dim * 4);
    for (size_t d = 0; d < dim; ++d)
      if (!std::isfinite(c[l * dim + d])) r.fail("section IVF_CENTROIDS: centroid " + std::to_string(l) + " is not finite");
  }
  x->set_centroids(std::move(c));
  x->lists_.resize(nlist);
  x->pos_.reserve(count);
  size_t at = 0;
  for (size_t l = 0; l < nlist; ++l) {
    List& L = x->lists_[l];
    const size_t m = ls[l];
    L.ids.resize(m);
    if (m) std::memcpy(L.ids.data(), ids.data + at * 8, m * 8);
    L.codes.set_view(codes.data + at * rb, m * rb, r.keepalive());
    if (x->rescore_) L.exact.set_view(ex.data + at * dim * 4, m * dim * 4, r.keepalive());
    for (size_t p = 0; p < m; ++p) {
      if (L.ids[p] < 0) r.fail("section VEC_IDS: entry " + std::to_string(at + p) + " is negative");
      if (!x->pos_.emplace(L.ids[p], ((uint64_t)l << 32) | p).second)
        r.fail("section VEC_IDS: id " + std::to_string(L.ids[p]) + " appears twice");
    }
    at += m;
  }
  return x;
}

}  // namespace bertrank::retrieval
