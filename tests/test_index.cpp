// Flat and IVF vector indexes: exactness against a brute-force reference, storage types,
// add/remove semantics, scan kernels against their scalar reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "retrieval/flat_index.h"
#include "retrieval/ivf_index.h"
#include "retrieval/scan.h"

using namespace bertrank::retrieval;

namespace {

std::vector<float> random_unit(size_t n, size_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> x(n * dim);
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t d = 0; d < dim; ++d) {
      x[i * dim + d] = nd(rng);
      s += (double)x[i * dim + d] * x[i * dim + d];
    }
    for (size_t d = 0; d < dim; ++d) x[i * dim + d] /= (float)std::sqrt(s);
  }
  return x;
}

// Clustered data: centres plus noise, normalised (IVF needs structure to be meaningful).
std::vector<float> clustered(size_t n, size_t dim, size_t nc, uint64_t seed) {
  auto c = random_unit(nc, dim, seed + 1);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0, 0.3f / std::sqrt((float)dim));
  std::vector<float> x(n * dim);
  for (size_t i = 0; i < n; ++i) {
    const size_t k = rng() % nc;
    double s = 0;
    for (size_t d = 0; d < dim; ++d) {
      x[i * dim + d] = c[k * dim + d] + nd(rng) * 3;
      s += (double)x[i * dim + d] * x[i * dim + d];
    }
    for (size_t d = 0; d < dim; ++d) x[i * dim + d] /= (float)std::sqrt(s);
  }
  return x;
}

// Brute force in double precision; ties by smaller id; padded with -1 / -inf.
void brute_force(const std::vector<float>& x, const std::vector<int64_t>& ids, size_t dim,
                 const std::vector<float>& q, size_t nq, size_t k, std::vector<float>& s,
                 std::vector<int64_t>& o) {
  const size_t n = ids.size();
  s.assign(nq * k, -INFINITY);
  o.assign(nq * k, -1);
  for (size_t i = 0; i < nq; ++i) {
    std::vector<std::pair<double, int64_t>> all(n);
    for (size_t j = 0; j < n; ++j) {
      double d = 0;
      for (size_t t = 0; t < dim; ++t) d += (double)q[i * dim + t] * x[j * dim + t];
      all[j] = {d, ids[j]};
    }
    std::sort(all.begin(), all.end(), [](auto& a, auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (size_t j = 0; j < std::min(k, n); ++j) {
      s[i * k + j] = (float)all[j].first;
      o[i * k + j] = all[j].second;
    }
  }
}

// Ids must match exactly, except that neighbours whose reference scores lie within float
// rounding of each other (|diff| < 2e-6, a near-tie that fp32 cannot order) may swap places.
void expect_same(const std::vector<float>& s1, const std::vector<int64_t>& i1,
                 const std::vector<float>& s2, const std::vector<int64_t>& i2, float tol,
                 size_t k = 0) {
  ASSERT_EQ(i1.size(), i2.size());
  if (k == 0) k = i1.size();
  for (size_t j = 0; j < i1.size(); ++j) {
    if (i1[j] != i2[j]) {
      const size_t row = j / k * k;
      size_t at = row;
      while (at < row + k && i2[at] != i1[j]) ++at;
      const bool near_tie = at < row + k && std::fabs(s2[at] - s2[j]) < 2e-6f;
      EXPECT_TRUE(near_tie) << "at " << j << ": got id " << i1[j] << ", reference " << i2[j];
    }
    if (std::isinf(s1[j]) || std::isinf(s2[j]))
      EXPECT_EQ(s1[j], s2[j]) << "at " << j;
    else
      EXPECT_NEAR(s1[j], s2[j], tol) << "at " << j;
  }
}

}  // namespace

TEST(IndexScan, KernelsMatchReference) {
  const scan::ScanTable* tabs[] = {&scan::ref_table(), scan::avx2_table()};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  for (const scan::ScanTable* t : tabs) {
    if (!t) continue;
    for (size_t d : {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 384}) {
      for (size_t nq : {1, 3, 4, 5, 9}) {
        const size_t nr = 7, ldq = d + 3, ldr = d + 5;
        std::vector<float> q(nq * ldq), r(nr * ldr), out(nq * nr), ref(nq * nr);
        for (auto& v : q) v = u(rng);
        for (auto& v : r) v = u(rng);
        t->ip_block(nq, q.data(), ldq, nr, r.data(), ldr, d, out.data(), nr);
        for (size_t i = 0; i < nq; ++i)
          for (size_t j = 0; j < nr; ++j) {
            double s = 0;
            for (size_t k = 0; k < d; ++k) s += (double)q[i * ldq + k] * r[j * ldr + k];
            EXPECT_NEAR(out[i * nr + j], s, 1e-5 * std::sqrt((double)d) + 1e-6) << t->name << " d=" << d;
          }
        // Position independence: each pair alone gives the same bits.
        for (size_t i = 0; i < nq; ++i)
          for (size_t j = 0; j < nr; ++j) {
            float one;
            t->ip_block(1, &q[i * ldq], ldq, 1, &r[j * ldr], ldr, d, &one, 1);
            EXPECT_EQ(one, out[i * nr + j]) << t->name;
          }
      }
    }
    // Half conversions round-trip exactly on representable values and round to nearest.
    std::vector<float> f = {0.f, -0.f, 1.f, -2.5f, 65504.f, 6.1035156e-05f, 5.96e-08f, 0.1f, 1e6f};
    std::vector<uint16_t> h(f.size()), href(f.size());
    std::vector<float> back(f.size()), backref(f.size());
    t->f32_to_f16(f.size(), f.data(), h.data());
    scan::ref_table().f32_to_f16(f.size(), f.data(), href.data());
    EXPECT_EQ(h, href) << t->name;
    t->f16_to_f32(h.size(), h.data(), back.data());
    scan::ref_table().f16_to_f32(h.size(), h.data(), backref.data());
    for (size_t i = 0; i < f.size(); ++i) EXPECT_EQ(back[i], backref[i]) << t->name << " " << f[i];
    EXPECT_EQ(back[2], 1.f);
    EXPECT_EQ(back[3], -2.5f);
    EXPECT_TRUE(std::isinf(back[8]));
  }
}

TEST(IndexFlat, MatchesBruteForce) {
  for (size_t dim : {1, 5, 8, 13, 32, 100, 384}) {
    for (size_t n : {0, 1, 7, 100, 2500, 5000}) {
      if (dim == 384 && n > 2500) continue;
      auto x = random_unit(n, dim, dim * 1000 + n);
      std::vector<int64_t> ids(n);
      for (size_t i = 0; i < n; ++i) ids[i] = (int64_t)(i * 7 + 3);
      FlatIndex idx(dim);
      idx.add(n, x.data(), ids.data());
      const size_t nq = 37;
      auto q = random_unit(nq, dim, 99 + dim);
      for (size_t k : {1, 10, 200}) {  // includes k > n
        std::vector<float> s(nq * k), bs;
        std::vector<int64_t> o(nq * k), bo;
        idx.search(nq, q.data(), k, s.data(), o.data());
        brute_force(x, ids, dim, q, nq, k, bs, bo);
        SCOPED_TRACE("dim=" + std::to_string(dim) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
        expect_same(s, o, bs, bo, 1e-5f, k);
        // Single queries give the same as the batch.
        std::vector<float> s1(k);
        std::vector<int64_t> o1(k);
        idx.search(1, &q[5 * dim], k, s1.data(), o1.data());
        for (size_t j = 0; j < k; ++j) EXPECT_EQ(o1[j], o[5 * k + j]);
      }
    }
  }
}

TEST(IndexFlat, StorageTypes) {
  const size_t dim = 64, n = 3000, nq = 50, k = 10;
  auto x = clustered(n, dim, 40, 5);
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 1000);
  auto q = clustered(nq, dim, 40, 6);
  std::vector<float> bs;
  std::vector<int64_t> bo;
  brute_force(x, ids, dim, q, nq, k, bs, bo);
  auto recall = [&](const std::vector<int64_t>& o) {
    size_t hit = 0;
    for (size_t i = 0; i < nq; ++i)
      for (size_t j = 0; j < k; ++j)
        hit += std::find(&bo[i * k], &bo[i * k] + k, o[i * k + j]) != &bo[i * k] + k;
    return (double)hit / (nq * k);
  };
  for (auto [t, rescore, min_recall] : {std::tuple{StorageType::f16, false, 0.97},
                                        std::tuple{StorageType::int8, false, 0.8},
                                        std::tuple{StorageType::int8, true, 0.99}}) {
    FlatIndex idx(dim, t, rescore);
    idx.add(n, x.data(), ids.data());
    std::vector<float> s(nq * k);
    std::vector<int64_t> o(nq * k);
    idx.search(nq, q.data(), k, s.data(), o.data());
    const double r = recall(o);
    EXPECT_GE(r, min_recall) << storage_type_name(t) << " rescore=" << rescore;
    if (rescore) {  // re-scored scores are exact
      for (size_t j = 0; j < nq * k; ++j)
        if (std::find(bo.begin(), bo.end(), o[j]) != bo.end()) {
          float v[64];
          ASSERT_TRUE(idx.reconstruct(o[j], v));
          double d = 0;
          for (size_t t2 = 0; t2 < dim; ++t2) d += (double)v[t2] * q[(j / k) * dim + t2];
          EXPECT_NEAR(s[j], d, 1e-5);
        }
    }
  }
}

TEST(IndexFlat, RemoveKeepsOtherIds) {
  const size_t dim = 24, n = 500;
  auto x = random_unit(n, dim, 11);
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = (int64_t)(1ll << 40) + (int64_t)i * 3;
  for (int kind = 0; kind < 2; ++kind) {
    std::unique_ptr<VectorIndex> idx;
    if (kind == 0) {
      idx = std::make_unique<FlatIndex>(dim);
    } else {
      auto ivf = std::make_unique<IvfIndex>(dim, 8);
      ivf->train(n, x.data());
      ivf->set_nprobe(8);
      idx = std::move(ivf);
    }
    idx->add(n, x.data(), ids.data());
    std::vector<int64_t> gone = {ids[0], ids[17], ids[499], ids[250], 123456789};
    EXPECT_EQ(idx->remove(gone.size(), gone.data()), 4u);
    EXPECT_EQ(idx->size(), n - 4);
    std::vector<float> kx;
    std::vector<int64_t> kids;
    for (size_t i = 0; i < n; ++i)
      if (std::find(gone.begin(), gone.end(), ids[i]) == gone.end()) {
        kids.push_back(ids[i]);
        kx.insert(kx.end(), &x[i * dim], &x[i * dim] + dim);
        EXPECT_TRUE(idx->contains(ids[i]));
      }
    for (auto g : gone) EXPECT_FALSE(idx->contains(g));
    // Every remaining vector still finds itself under its own id.
    const size_t k = 5;
    std::vector<float> s(kids.size() * k), bs;
    std::vector<int64_t> o(kids.size() * k), bo;
    idx->search(kids.size(), kx.data(), k, s.data(), o.data());
    brute_force(kx, kids, dim, kx, kids.size(), k, bs, bo);
    expect_same(s, o, bs, bo, 1e-5f, k);
    // Duplicate ids are refused without changing the index.
    EXPECT_THROW(idx->add(1, x.data(), &ids[1]), std::invalid_argument);
    EXPECT_EQ(idx->size(), n - 4);
    // Re-adding a removed id works.
    idx->add(1, x.data(), &ids[0]);
    EXPECT_TRUE(idx->contains(ids[0]));
  }
}

TEST(IndexIvf, FullProbeEqualsFlat) {
  const size_t dim = 40, n = 4000, nq = 60, k = 20;
  auto x = clustered(n, dim, 30, 21);
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = (int64_t)(n - i) * 2;
  auto q = clustered(nq, dim, 30, 22);
  for (StorageType t : {StorageType::f32, StorageType::f16}) {
    FlatIndex flat(dim, t);
    flat.add(n, x.data(), ids.data());
    IvfIndex ivf(dim, 32, t);
    ivf.train(n, x.data());
    ivf.add(n, x.data(), ids.data());
    EXPECT_EQ(ivf.size(), n);
    size_t nonempty = 0;
    for (size_t l = 0; l < ivf.nlist(); ++l) nonempty += ivf.list_size(l) > 0;
    EXPECT_EQ(nonempty, ivf.nlist());
    std::vector<float> fs(nq * k), is(nq * k);
    std::vector<int64_t> fo(nq * k), io(nq * k);
    flat.search(nq, q.data(), k, fs.data(), fo.data());
    SearchParams p;
    p.nprobe = ivf.nlist();
    ivf.search(nq, q.data(), k, is.data(), io.data(), p);
    expect_same(is, io, fs, fo, 1e-5f);
    ivf.search(1, q.data(), k, is.data(), io.data(), p);  // single-query path
    for (size_t j = 0; j < k; ++j) EXPECT_EQ(io[j], fo[j]);
    // A few probes already find most neighbours on clustered data.
    p.nprobe = 4;
    ivf.search(nq, q.data(), k, is.data(), io.data(), p);
    size_t hit = 0;
    for (size_t i = 0; i < nq; ++i)
      for (size_t j = 0; j < k; ++j)
        hit += std::find(&fo[i * k], &fo[i * k] + k, io[i * k + j]) != &fo[i * k] + k;
    EXPECT_GT((double)hit / (nq * k), 0.7);
  }
}

TEST(IndexIvf, KmeansHandlesDegenerateData) {
  // Many duplicates: k-means must still return k finite centroids (empty clusters re-seeded).
  const size_t dim = 8, n = 200;
  std::vector<float> x(n * dim, 0.f);
  for (size_t i = 0; i < n; ++i) x[i * dim + (i % 3)] = 1.f;
  auto c = kmeans_spherical(n, x.data(), dim, 10, 10, 1);
  ASSERT_EQ(c.size(), 10 * dim);
  for (float v : c) EXPECT_TRUE(std::isfinite(v));
  IvfIndex ivf(dim, 10);
  ivf.train(5, x.data());  // fewer points than lists: nlist shrinks
  EXPECT_EQ(ivf.nlist(), 5u);
  IvfIndex untrained(dim, 4);
  int64_t id = 1;
  EXPECT_THROW(untrained.add(1, x.data(), &id), std::logic_error);
}
