// http.h — the HTTP/1.1 transport of `bertrank serve`: an incremental request parser with hard
// limits, response serialisation, and a small threaded server over POSIX sockets.
//
// Why our own and not a library: the fully static CLI must include the server. Debian's
// cpp-httplib 0.11 is a shared library built against OpenSSL, brotli and zlib; Boost.Beast/Asio
// would add Boost 1.81's headers and minutes of compile time per translation unit on the
// 2-core machines. The part of HTTP/1.1 a JSON service needs is small (request line, headers,
// Content-Length or chunked bodies, keep-alive, Expect: 100-continue), and owning it puts every
// limit — header bytes, body bytes, time per read — before a byte is buffered, and lets the
// parser be fuzzed on its own (tests/fuzz/fuzz_http.cpp).
//
// Contract
//   HttpParser: feed() bytes as they arrive; it reports need_more, done (request() is complete)
//   or error (error_status() is the status to answer with: 400 malformed, 413 body over
//   max_body_bytes, 431 headers over max_header_bytes, 501 a transfer-encoding other than
//   chunked, 505 a version other than HTTP/1.0 or 1.1). It never throws for bad input and never
//   buffers more than max_header_bytes + max_body_bytes (+ chunk framing). Bytes after a complete
//   request stay buffered for the next one (pipelining): call reset_for_next() and feed(nullptr, 0).
//   Header names are lower-cased; values trimmed of surrounding blanks.
//   Details: lines end in CRLF or a bare LF (either, everywhere); empty lines before a request
//   line are skipped; the target starts with '/' ("*" only for OPTIONS; absolute-form is 400);
//   obs-fold is 400; Content-Length is digits only, repeated values must agree (else 400), a
//   value over max_body_bytes is 413 at once, before any of the body is read; Content-Length
//   together with Transfer-Encoding is 400 (request smuggling); chunk extensions are ignored
//   and trailers skipped (they count against max_header_bytes); no framing means no body.
//
//   HttpServer: listen() binds host:port (port 0: an ephemeral port, see port()) with SO_REUSEADDR;
//   run() accepts until stop() and answers each request by calling the handler (from the
//   connection's thread; handlers must be thread-safe and should not throw — an exception is
//   answered 500). One thread per connection, at most max_connections at once (more are answered
//   503 and closed). TCP_NODELAY on every connection. A connection is closed after
//   idle_timeout_ms without a request, and a request that stalls longer than read_timeout_ms
//   between bytes is answered 408 and closed. stop() (from any thread, not from a signal handler)
//   stops accepting, lets in-flight requests finish and be answered (their connections then
//   close), and makes run() return once every connection thread has ended. Idle keep-alive
//   connections are closed at stop() at once. Errors the transport answers itself (parse
//   errors, 408, 500, 503) carry {"error": "<message>", "error_type": "<kind>"} and close the
//   connection. One run() per server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bertrank::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ... as sent (case-sensitive, as HTTP says)
  std::string target;  // the request-target as sent ("/v1/embeddings?x=1")
  std::string path;    // target up to '?', percent-decoding not applied
  std::string query;   // after '?', or ""
  int version_minor = 1;  // HTTP/1.<minor>
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;    // de-chunked
  // The value of the first header `name` (lower-case), or nullptr.
  const std::string* header(std::string_view name) const;
  // HTTP/1.1 without "Connection: close", or HTTP/1.0 with "Connection: keep-alive".
  bool keep_alive() const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (e.g. Retry-After)
};

// "HTTP/1.1 <status> <reason>\r\n" + Content-Type, Content-Length, Connection and the extra
// headers + "\r\n" + body.
std::string http_serialize(const HttpResponse& r, bool keep_alive);
const char* http_reason(int status);

struct HttpLimits {
  size_t max_header_bytes = 16 * 1024;      // request line + headers
  size_t max_body_bytes = 2 * 1024 * 1024;  // TEI's default payload limit: 2 MB
  int read_timeout_ms = 10000;              // longest wait for the next byte inside a request
                                            // (also for a send to make progress); > 0
  int idle_timeout_ms = 5000;               // keep-alive: longest wait for a next request; > 0
  size_t max_connections = 512;
};

class HttpParser {
 public:
  enum class State { need_more, done, error };
  explicit HttpParser(const HttpLimits& limits);
  State feed(const char* data, size_t n);
  const HttpRequest& request() const;  // valid after done
  HttpRequest& request();
  int error_status() const;            // valid after error
  const std::string& error_message() const;
  // True once the headers are complete and announce "Expect: 100-continue" with an acceptable
  // body size: the server then sends "HTTP/1.1 100 Continue" before reading the body.
  bool wants_continue() const;
  void reset_for_next();  // keeps bytes already received past the last request
  bool started() const;   // some bytes of a next request have arrived
  // Bytes received but not yet parsed: after need_more, less than max_header_bytes (an
  // unfinished line); after done, what was fed past the request (pipelining).
  size_t buffered() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  HttpServer(HttpHandler handler, HttpLimits limits);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  // Binds and listens; false with *error set ("cannot bind 127.0.0.1:8080: Address already in use").
  bool listen(const std::string& host, int port, std::string* error);
  int port() const;  // the bound port (after listen)
  void run();        // blocks until stop() and every connection has ended
  void stop();
  size_t open_connections() const;
  // Called (from connection threads, or the accept loop for 503) with the status of every
  // response the transport makes itself: parse errors, 408, 500 for a handler exception, 503.
  // Set it before run(); it must be thread-safe; an exception from it is ignored.
  void set_error_observer(std::function<void(int status)> observer);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bertrank::server
