#include "retrieval/flat_index.h"

#include "common/checked_size.h"
#include "common/parallel_errors.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <unordered_set>

namespace bertrank::retrieval {

void check_new_ids(const VectorIndex& index, size_t n, const int64_t* ids) {
  std::unordered_set<int64_t> seen;
  seen.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] < 0) throw std::invalid_argument("id " + std::to_string(ids[i]) + " is negative (ids must be >= 0)");
    if (index.contains(ids[i]) || !seen.insert(ids[i]).second)
      throw std::invalid_argument("id " + std::to_string(ids[i]) + " is already in the index");
  }
}

FlatIndex::FlatIndex(size_t dim, StorageType storage, bool rescore) {
  codec_ = RowCodec(dim, storage);
  rescore_ = rescore && storage == StorageType::int8;
}

void FlatIndex::add(size_t n, const float* x, const int64_t* ids) {
  if (n == 0) return;
  check_new_ids(*this, n, ids);
  if (!codec_.trained()) codec_.train(n, x);
  const size_t old = ids_.size(), rb = codec_.row_bytes();
  auto& codes = codes_.mut();
  codes.resize((old + n) * rb);
  codec_.encode(n, x, codes.data() + old * rb);
  if (rescore_) {
    auto& ex = exact_.mut();
    ex.resize((old + n) * dim() * 4);
    std::memcpy(ex.data() + old * dim() * 4, x, n * dim() * 4);
  }
  ids_.insert(ids_.end(), ids, ids + n);
  pos_.reserve(old + n);
  for (size_t i = 0; i < n; ++i) pos_[ids[i]] = old + i;
}

size_t FlatIndex::remove(size_t n, const int64_t* ids) {
  size_t removed = 0;
  const size_t rb = codec_.row_bytes(), eb = dim() * 4;
  for (size_t i = 0; i < n; ++i) {
    auto it = pos_.find(ids[i]);
    if (it == pos_.end()) continue;
    const size_t p = it->second, last = ids_.size() - 1;
    pos_.erase(it);
    auto& codes = codes_.mut();
    if (p != last) {
      std::memcpy(codes.data() + p * rb, codes.data() + last * rb, rb);
      if (rescore_) {
        auto& ex = exact_.mut();
        std::memcpy(ex.data() + p * eb, ex.data() + last * eb, eb);
      }
      ids_[p] = ids_[last];
      pos_[ids_[p]] = p;
    }
    codes.resize(last * rb);
    if (rescore_) exact_.mut().resize(last * eb);
    ids_.pop_back();
    ++removed;
  }
  return removed;
}

bool FlatIndex::reconstruct(int64_t id, float* out) const {
  auto it = pos_.find(id);
  if (it == pos_.end()) return false;
  if (rescore_)
    std::memcpy(out, exact_row(it->second), dim() * 4);
  else
    codec_.reconstruct(codes_.data() + it->second * codec_.row_bytes(), out);
  return true;
}

std::vector<std::vector<Hit>> FlatIndex::search_hits(size_t nq, const float* queries, size_t k,
                                                     const SearchParams& params) const {
  std::vector<std::vector<Hit>> out(nq);
  const size_t n = size();
  if (nq == 0 || k == 0 || n == 0) return out;
  k = std::min(k, n);  // memory is bounded by the index, not by the request
  const size_t factor = params.rescore_factor ? params.rescore_factor : 8;
  const size_t kk = rescore_ ? std::min(n, sat_mul(k, factor)) : k;
  const size_t stride = codec_.stride(), rb = codec_.row_bytes();
  const size_t RB = 2048;  // rows per parallel task
  const size_t ntasks = (n + RB - 1) / RB;

  // Scans all rows for queries [q0, q0 + nqb); rows split over threads when `parallel`.
  auto pass = [&](size_t q0, size_t nqb, bool parallel) {
    std::vector<float> qp(nqb * stride), bias(nqb);
    for (size_t i = 0; i < nqb; ++i)
      codec_.prepare_query(queries + (q0 + i) * dim(), qp.data() + i * stride, &bias[i]);
    std::vector<TopK> heaps(nqb, TopK(kk));
    ParallelErrors errs;  // an exception must not leave the OpenMP region
#pragma omp parallel if (parallel)
    {
      std::vector<TopK> local;
      ScanScratch scratch;
      errs.run([&] { local.assign(nqb, TopK(kk)); });
#pragma omp for schedule(static)
      for (size_t t = 0; t < ntasks; ++t)
        errs.run([&] {
          const size_t r0 = t * RB, nr = std::min(RB, n - r0);
          RowRun run{codes_.data() + r0 * rb, ids_.data() + r0, nr, r0};
          scan_run(codec_, run, nqb, qp.data(), bias.data(), local.data(), scratch);
        });
#pragma omp critical(bertrank_flat_merge)
      errs.run([&] {
        for (size_t i = 0; i < local.size(); ++i)
          for (const Hit& h : local[i].items()) heaps[i].push(h.score, h.id, h.loc);
      });
    }
    errs.rethrow();
    for (size_t i = 0; i < nqb; ++i) {
      auto hits = heaps[i].take_sorted();
      out[q0 + i] = rescore_ ? rescore_hits(queries + (q0 + i) * dim(), std::move(hits), k) : std::move(hits);
    }
  };

  const size_t nthreads = (size_t)omp_get_max_threads();
  const double work = (double)n * (double)stride * (double)nq;
  if (nthreads > 1 && ntasks < 2 * nthreads && nq >= 2 * nthreads && work > 4e6) {
    // Few rows, many queries (e.g. k-means assignment, the IVF coarse quantizer): split queries.
    const size_t QC = std::max<size_t>(1, std::min<size_t>(64, nq / (2 * nthreads)));
    const size_t nchunks = (nq + QC - 1) / QC;
    ParallelErrors errs;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t c = 0; c < nchunks; ++c) errs.run([&] { pass(c * QC, std::min(QC, nq - c * QC), false); });
    errs.rethrow();
  } else {
    const size_t QB = 1024;  // queries per pass (bounds the per-thread heaps)
    for (size_t q0 = 0; q0 < nq; q0 += QB) {
      const size_t nqb = std::min(QB, nq - q0);
      pass(q0, nqb, (double)n * stride * nqb > 4e6 && ntasks > 1);
    }
  }
  return out;
}

void FlatIndex::search(size_t nq, const float* queries, size_t k, float* out_scores,
                       int64_t* out_ids, const SearchParams& params) const {
  size_mul(nq, k, "search: nq * k");
  auto hits = search_hits(nq, queries, k, params);
  for (size_t i = 0; i < nq; ++i) write_hits(hits[i], k, out_scores + i * k, out_ids + i * k);
}

void FlatIndex::write(IndexFileWriter& w, nlohmann::json& meta) const {
  write_common_meta(meta);
  w.add_pieces(SectionType::vec_ids, {{ids_.data(), ids_.size() * 8}});
  w.add_pieces(SectionType::vec_codes, {{codes_.data(), codes_.size()}});
  write_sq(w);
  if (rescore_) w.add_pieces(SectionType::rescore, {{exact_.data(), exact_.size()}});
}

std::unique_ptr<FlatIndex> FlatIndex::read_from(const IndexFileReader& r, const nlohmann::json& meta) {
  std::unique_ptr<FlatIndex> x(new FlatIndex());
  x->read_common_meta(r, meta);
  for (SectionType t : {SectionType::ivf_centroids, SectionType::ivf_list_sizes})
    if (r.has(t)) r.fail(std::string("section ") + section_name(t) + ": present in a flat index");
  const size_t count = meta_u64(r, meta, "count");
  const auto ids = r.get(SectionType::vec_ids);
  if (ids.size != checked_mul(count, 8, "VEC_IDS"))
    r.fail("section VEC_IDS: size " + std::to_string(ids.size) + ", expected count " +
           std::to_string(count) + " x 8");
  const auto codes = r.get(SectionType::vec_codes);
  if (codes.size != checked_mul(count, x->codec_.row_bytes(), "VEC_CODES"))
    r.fail("section VEC_CODES: size " + std::to_string(codes.size) + ", expected count " +
           std::to_string(count) + " x row_bytes " + std::to_string(x->codec_.row_bytes()));
  x->read_sq(r);
  if (x->rescore_) {
    const auto ex = r.get(SectionType::rescore);
    if (ex.size != checked_mul(checked_mul(count, x->dim(), "RESCORE"), 4, "RESCORE"))
      r.fail("section RESCORE: size " + std::to_string(ex.size) + ", expected count x dim x 4");
    x->exact_.set_view(ex.data, ex.size, r.keepalive());
  } else if (r.has(SectionType::rescore)) {
    r.fail("section RESCORE: present but META.rescore is false");
  }
  x->ids_.resize(count);
  if (count) std::memcpy(x->ids_.data(), ids.data, count * 8);
  x->pos_.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    if (x->ids_[i] < 0) r.fail("section VEC_IDS: entry " + std::to_string(i) + " is negative");
    if (!x->pos_.emplace(x->ids_[i], i).second)
      r.fail("section VEC_IDS: id " + std::to_string(x->ids_[i]) + " appears twice");
  }
  x->codes_.set_view(codes.data, codes.size, r.keepalive());
  return x;
}

}  // namespace bertrank::retrieval
