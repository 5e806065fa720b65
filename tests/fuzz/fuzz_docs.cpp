// Fuzz target: the document, query and judgement readers (retrieval/docs_io.h, smart.h,
// metrics.h). The input is one file; every reader runs on it (documents: as UTF-8 and as
// Latin-1). Invariants: a reader either
// returns or throws std::runtime_error / std::invalid_argument whose message names the file
// (never a library exception such as nlohmann's, never a crash); what it returns is valid
// UTF-8 (documents: issue 13), ids are unique, metas are JSON objects, query ids are canonical.
#include <cstddef>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "common/utf8.h"
#include "retrieval/docs_io.h"
#include "retrieval/metrics.h"
#include "retrieval/smart.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace bertrank;

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = (unsigned char)s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = (unsigned char)s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

// Runs one reader: only the documented exception types, naming the file, may escape.
template <class F>
void run_reader(const char* name, const std::string& path, F&& f) {
  try {
    f();
  } catch (const nlohmann::json::exception& e) {
    FUZZ_CHECK(false, std::string(name) + " leaked a JSON library exception: " + e.what());
  } catch (const std::runtime_error& e) {
    FUZZ_CHECK(std::string(e.what()).find(path) != std::string::npos,
               std::string(name) + " error does not name the file: " + e.what());
  } catch (const std::invalid_argument& e) {
    FUZZ_CHECK(std::string(e.what()).find(path) != std::string::npos,
               std::string(name) + " error does not name the file: " + e.what());
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string(name) + " threw an undocumented exception: " + e.what());
  }
}

void check_docs(const std::vector<retrieval::DocInput>& docs) {
  std::set<int64_t> ids;
  for (const auto& d : docs) {
    FUZZ_CHECK(d.id >= 0, "negative id " + std::to_string(d.id));
    FUZZ_CHECK(ids.insert(d.id).second, "repeated id " + std::to_string(d.id));
    FUZZ_CHECK(valid_utf8(d.text), "document text is not valid UTF-8 (id " + std::to_string(d.id) + ")");
    if (!d.meta.empty()) {
      FUZZ_CHECK(valid_utf8(d.meta), "meta is not valid UTF-8");
      const auto j = nlohmann::json::parse(d.meta, nullptr, false);
      FUZZ_CHECK(!j.is_discarded() && j.is_object(), "meta is not a JSON object: " + d.meta);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input("input.txt", data, size);

  // Each document reader once: jsonl and SMART directly (UTF-8), the dispatching
  // read_documents as Latin-1.
  run_reader("read_jsonl_documents", path, [&] { check_docs(retrieval::read_jsonl_documents(path)); });
  run_reader("read_smart_documents", path, [&] {
    TextDecodeReport rep;
    check_docs(retrieval::read_smart_documents(path, TextEncoding::text_utf8, &rep));
    FUZZ_CHECK(rep.replaced <= rep.records && (rep.replaced == 0) == rep.first_replaced.empty(),
               "inconsistent decode report");
  });
  run_reader("read_documents latin-1", path, [&] {
    TextDecodeReport rep;
    check_docs(retrieval::read_documents(path, TextEncoding::text_latin1, &rep));
    FUZZ_CHECK(rep.replaced == 0, "latin-1 decoding replaced something");
  });
  run_reader("read_smart_file", path, [&] {
    for (const auto& r : retrieval::read_smart_file(path)) {
      auto w = r.fields.find('W');
      auto t = r.fields.find('T');
      const std::string expect = w != r.fields.end() && !w->second.empty() ? w->second
                                 : t != r.fields.end()                    ? t->second
                                                                          : std::string();
      FUZZ_CHECK(r.text == expect, "record text is neither its .W nor its .T field");
    }
  });
  run_reader("read_qrels_file", path, [&] {
    for (const auto& q : retrieval::read_qrels_file(path))
      FUZZ_CHECK(!q.query_id.empty() && !q.doc_id.empty(), "judgement with an empty id");
  });
  run_reader("read_queries", path, [&] {
    retrieval::QueryFileFormat fmt;
    std::set<std::string> ids;
    for (const auto& q : retrieval::read_queries(path, &fmt)) {
      FUZZ_CHECK(q.id == retrieval::canonical_id(q.id), "query id not canonical: " + q.id);
      FUZZ_CHECK(ids.insert(q.id).second, "repeated query id " + q.id);
    }
  });
  return 0;
}
