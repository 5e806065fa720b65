// Writes the seed corpora of the fuzz targets into <out>/<target>/ (run by make_seeds.sh):
// tiny valid files of each format, made with the project's own writers, so that fuzzing
// starts from inputs that pass every check. Usage: fuzz_make_seeds <out dir>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "retrieval/index.h"
#include "tests/model_test_util.h"

using namespace bertrank;
namespace fs = std::filesystem;

namespace {

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

std::vector<float> vectors(size_t n, size_t dim, float phase) {
  std::vector<float> v(n * dim);
  for (size_t i = 0; i < n; ++i) {
    double norm = 0;
    for (size_t j = 0; j < dim; ++j) {
      v[i * dim + j] = std::sin(float(i * 7 + j) * 0.61f + phase);
      norm += double(v[i * dim + j]) * v[i * dim + j];
    }
    for (size_t j = 0; j < dim; ++j) v[i * dim + j] = float(v[i * dim + j] / std::sqrt(norm));
  }
  return v;
}

void index_seed(const fs::path& p, size_t dim, size_t n, retrieval::IndexOptions o) {
  retrieval::Index idx(dim, o, "sha256:seed", "seed.brm");
  std::vector<int64_t> ids(n);
  std::vector<std::string> texts(n), metas(n);
  const char* words[] = {"the", "wing", "flow", "boundary", "layer", "heat", "shock", "a", "of", "x"};
  for (size_t i = 0; i < n; ++i) {
    ids[i] = int64_t(i * 3 + 1);
    texts[i] = std::string(words[i % 10]) + " " + words[(i * 7 + 3) % 10] + " " + std::to_string(i);
    if (i % 3 == 0) metas[i] = "{\"title\":\"t" + std::to_string(i) + "\"}";
  }
  if (n) idx.add(n, vectors(n, dim, 0.3f).data(), ids.data(), texts.data(), metas.data());
  idx.save(p.string());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <out dir>\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  for (const char* t : {"model", "safetensors", "index", "tokenizer", "docs", "http"}) fs::create_directories(out / t);
  try {
    // model: an embedding and a cross-encoder tiny BERT.
    test::TinyModel().write((out / "model" / "tiny_embed.brm").string());
    test::TinyCrossModel().write((out / "model" / "tiny_cross.brm").string());
    {
      test::TinyModel cls;
      cls.meta["head"]["pooling"] = "cls";
      cls.meta["head"]["normalize"] = false;
      cls.write((out / "model" / "tiny_cls.brm").string());
    }

    // safetensors: one file per dtype family, and one with metadata.
    auto st = [&](const std::string& name, const std::string& header, std::vector<uint8_t> data) {
      test::write_bytes((out / "safetensors" / name).string(), test::raw_safetensors(header, data));
    };
    std::vector<uint8_t> f32(24);
    for (size_t i = 0; i < 6; ++i) {
      float f = float(i) - 2.5f;
      std::memcpy(&f32[4 * i], &f, 4);
    }
    st("f32.safetensors", R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", f32);
    st("mixed.safetensors",
       R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
       R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},"c":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},)"
       R"("d":{"dtype":"I64","shape":[1],"data_offsets":[16,24]},"e":{"dtype":"F32","shape":[0,4],"data_offsets":[24,24]}})",
       std::vector<uint8_t>{0x00, 0x3c, 0x00, 0xc0, 0x80, 0x3f, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f,
                            7, 0, 0, 0, 0, 0, 0, 0});
    st("empty.safetensors", "{}", {});

    // index: flat f32 + BM25, f16, int8 with re-scoring, IVF, untrained IVF, empty flat.
    retrieval::IndexOptions o;
    o.bm25 = true;
    index_seed(out / "index" / "flat_f32_bm25.bri", 8, 6, o);
    o = {};
    o.storage = retrieval::StorageType::f16;
    index_seed(out / "index" / "flat_f16.bri", 5, 4, o);
    o = {};
    o.storage = retrieval::StorageType::int8;
    o.rescore = true;
    index_seed(out / "index" / "flat_int8.bri", 8, 5, o);
    o = {};
    o.kind = retrieval::IndexKind::ivf;
    o.nlist = 2;
    o.bm25 = true;
    index_seed(out / "index" / "ivf_f32.bri", 4, 12, o);
    index_seed(out / "index" / "ivf_untrained.bri", 4, 0, o);
    index_seed(out / "index" / "flat_empty.bri", 3, 0, {});

    // tokenizer: flags, max_length, split, text (see fuzz_tokenizer.cpp).
    auto tk = [&](const std::string& name, uint8_t flags, uint8_t max_len, uint8_t split, const std::string& text) {
      write_text(out / "tokenizer" / name, std::string{char(flags), char(max_len), char(split)} + text);
    };
    tk("single", 0, 0, 0, "Hello, world! The unable playing tokenizer.");
    tk("pair_trunc", 4, 9, 100, "hello world the playing|un able caf\xC3\xA9 na\xC3\xAFve");
    tk("cased_cjk", 1, 0, 0, "Caf\xC3\xA9 \xC3\x9C" "ber \xE4\xB8\xAD\xE6\x96\x87\xE6\x97\xA5\xE6\x9C\xAC [MASK] [CLS]x");
    tk("raw_ctrl", 6, 7, 128, std::string("a\x01\tb\xE2\x80\x8B" "c\r\nd\0e\xFF\xC3", 16) + "\xF0\x9F\x98\x80");

    // docs: jsonl documents and queries, SMART records, both qrels forms.
    write_text(out / "docs" / "docs.jsonl",
               "{\"id\": 1, \"text\": \"boundary layer\", \"meta\": {\"title\": \"t\"}}\n"
               "\n{\"id\": \"002\", \"text\": \"heat \\u00e9 flow\"}\n{\"id\": 3, \"text\": \"\", \"meta\": null}\n");
    write_text(out / "docs" / "queries.jsonl", "{\"id\": \"q1\", \"text\": \"what\"}\n{\"id\": 7, \"text\": \"x\"}\n");
    write_text(out / "docs" / "smart.all",
               ".I 1\n.T\nexperimental investigation\n.A\nbrenckman,m.\n.B\nj. ae. scs. 25, 1958\n.W\n"
               "experimental investigation\nof the aerodynamics\n.I 002\n.T\ntitle only\n");
    write_text(out / "docs" / "smart.qry", ".I 001\n.W\nwhat similarity laws\n.I 2\n.W\nwhat are\n");
    write_text(out / "docs" / "qrels3", "1 184 2\n1 29 -1\n\n2 12 4\n");
    write_text(out / "docs" / "qrels4", "1 0 13 1\r\n1 0 14 1\r\n2 0 15 0\r\n");

    // http: header limit, body limit, split seed, then requests (see fuzz_http.cpp).
    auto http = [&](const std::string& name, uint8_t header_limit, uint8_t body_limit, const std::string& s) {
      write_text(out / "http" / name, std::string{char(header_limit), char(body_limit), '\x5a', '\x01'} + s);
    };
    http("get", 255, 255, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    http("post_length", 255, 64,
         "POST /embed HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n"
         "{\"inputs\": \"hi\"}\n");
    http("chunked", 255, 64,
         "POST /v1/rerank HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
         "4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nTrailer: x\r\n\r\n");
    http("pipelined", 60, 8,
         "GET /a?x=1 HTTP/1.0\nConnection: keep-alive\n\nPOST /b HTTP/1.1\nContent-Length: 3\n\nabc"
         "\r\nOPTIONS * HTTP/1.1\r\n\r\n");
    http("over_limits", 2, 1, "POST /x HTTP/1.1\r\nContent-Length: 5\r\nX: 0123456789\r\n\r\n01234");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
