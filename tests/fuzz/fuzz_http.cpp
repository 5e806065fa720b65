// Fuzz target: the HTTP/1.1 request parser (server/http.h, HttpParser).
//
// Input: byte 0 sets max_header_bytes (16 + 4 * b), byte 1 max_body_bytes (4 * b), bytes 2-3
// seed the split points; the rest is a byte stream of (possibly pipelined) requests.
//
// The stream is parsed twice: fed at once, and fed in pieces of 1-64 bytes drawn from the seed.
// Each time every completed request is taken (reset_for_next + feed(nullptr, 0)) until the
// parser needs more or fails. Invariants: both ways give the same requests (method, target,
// path, query, version, headers, body) and the same final verdict, status and message; after
// need_more the parser holds less than max(max_header_bytes, 1 KiB) unparsed bytes (an
// unfinished line; body bytes are never left in the buffer); a completed request has a body of
// at most max_body_bytes, lower-case token header names, and path + query that make up target;
// an error status is one of 400, 413, 431, 501, 505.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "server/http.h"
#include "tests/fuzz/fuzz_util.h"

using bertrank::server::HttpLimits;
using bertrank::server::HttpParser;
using bertrank::server::HttpRequest;

namespace {

struct Run {
  std::vector<HttpRequest> requests;
  HttpParser::State state = HttpParser::State::need_more;
  int status = 0;
  std::string message;
};

bool same(const HttpRequest& a, const HttpRequest& b) {
  return a.method == b.method && a.target == b.target && a.path == b.path && a.query == b.query &&
         a.version_minor == b.version_minor && a.headers == b.headers && a.body == b.body;
}

void check_request(const HttpRequest& r, const HttpLimits& lim) {
  FUZZ_CHECK(r.body.size() <= lim.max_body_bytes, "body over max_body_bytes");
  FUZZ_CHECK(!r.method.empty() && !r.target.empty(), "empty method or target");
  const std::string joined = r.query.empty() && r.target.find('?') == std::string::npos
                                 ? r.path
                                 : r.path + "?" + r.query;
  FUZZ_CHECK(joined == r.target, "path and query do not make up the target");
  FUZZ_CHECK(r.version_minor == 0 || r.version_minor == 1, "version");
  size_t header_bytes = r.method.size() + r.target.size();
  for (const auto& h : r.headers) {
    FUZZ_CHECK(!h.first.empty(), "empty header name");
    for (char c : h.first) FUZZ_CHECK(!(c >= 'A' && c <= 'Z') && c > 0x20 && c != ':', "header name");
    header_bytes += h.first.size() + h.second.size();
  }
  FUZZ_CHECK(header_bytes <= lim.max_header_bytes, "headers over max_header_bytes");
}

// Feeds the pieces; takes every completed request.
Run parse(const std::string& stream, const std::vector<size_t>& pieces, const HttpLimits& lim) {
  Run run;
  HttpParser p(lim);
  const size_t max_unparsed = std::max<size_t>(lim.max_header_bytes, 1024);
  size_t at = 0;
  for (size_t len : pieces) {
    HttpParser::State s = p.feed(stream.data() + at, len);
    at += len;
    while (s == HttpParser::State::done) {
      check_request(p.request(), lim);
      run.requests.push_back(p.request());
      p.reset_for_next();
      s = p.feed(nullptr, 0);
    }
    run.state = s;
    if (s == HttpParser::State::error) {
      run.status = p.error_status();
      run.message = p.error_message();
      FUZZ_CHECK(run.status == 400 || run.status == 413 || run.status == 431 || run.status == 501 ||
                     run.status == 505,
                 "unexpected status " + std::to_string(run.status));
      FUZZ_CHECK(!run.message.empty(), "error without a message");
      break;
    }
    FUZZ_CHECK(p.buffered() < max_unparsed, "unparsed bytes beyond the line limit");
  }
  return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  HttpLimits lim;
  lim.max_header_bytes = 16 + 4 * size_t(data[0]);
  lim.max_body_bytes = 4 * size_t(data[1]);
  uint32_t seed = uint32_t(data[2]) | (uint32_t(data[3]) << 8) | 1u;
  const std::string stream(reinterpret_cast<const char*>(data) + 4, size - 4);

  std::vector<size_t> split;
  for (size_t left = stream.size(); left > 0;) {
    seed = seed * 1103515245u + 12345u;
    const size_t len = std::min<size_t>(left, 1 + (seed >> 16) % 64);
    split.push_back(len);
    left -= len;
  }
  const Run whole = parse(stream, {stream.size()}, lim);
  const Run pieces = parse(stream, split, lim);

  FUZZ_CHECK(whole.state == pieces.state, "verdicts differ");
  FUZZ_CHECK(whole.status == pieces.status, "statuses differ");
  FUZZ_CHECK(whole.message == pieces.message, "messages differ: " + whole.message + " / " + pieces.message);
  FUZZ_CHECK(whole.requests.size() == pieces.requests.size(), "request counts differ");
  for (size_t i = 0; i < whole.requests.size(); ++i)
    FUZZ_CHECK(same(whole.requests[i], pieces.requests[i]), "request " + std::to_string(i) + " differs");
  return 0;
}
