// The parser and server half of http.h.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>

#include "server/http.h"

namespace bertrank::server {

// ---------------------------------------------------------------------------------------------
// Parser

namespace {

constexpr size_t kMaxChunkLine = 1024;  // chunk-size line with extensions, and each trailer line

bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

struct HttpParser::Impl {
  enum class Phase { request_line, headers, body, chunk_size, chunk_data, chunk_end, trailers, done, error };
  HttpLimits limits;
  std::string buf;       // received, not yet parsed: buf[pos..]
  size_t pos = 0;
  size_t scanned = 0;    // bytes of buf[pos..] already searched for '\n'
  size_t line_bytes = 0; // the last line next_line() returned, with its terminator
  Phase phase = Phase::request_line;
  HttpRequest req;
  size_t header_bytes = 0;   // request line + headers consumed so far
  size_t trailer_bytes = 0;
  uint64_t remaining = 0;    // body bytes (Content-Length) or chunk bytes still to read
  bool continue_wanted = false;
  int status = 0;
  std::string message;

  State fail(int s, std::string m) {
    phase = Phase::error;
    status = s;
    message = std::move(m);
    return State::error;
  }

  // The next line without its terminator ("\r\n" or a bare "\n"). 0: need more; 1: a line;
  // -1: the line (terminator included) would be longer than max_len.
  int next_line(size_t max_len, std::string_view* line) {
    const size_t avail = buf.size() - pos;
    const void* nl = std::memchr(buf.data() + pos + scanned, '\n', avail - scanned);
    if (!nl) {
      scanned = avail;
      return avail + 1 > max_len ? -1 : 0;
    }
    const size_t len = size_t(static_cast<const char*>(nl) - (buf.data() + pos)) + 1;
    if (len > max_len) return -1;
    std::string_view l(buf.data() + pos, len - 1);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    *line = l;
    line_bytes = len;
    pos += len;
    scanned = 0;
    return 1;
  }

  State parse_request_line(std::string_view l) {
    const size_t sp1 = l.find(' ');
    if (sp1 == std::string_view::npos) return fail(400, "malformed request line");
    const size_t sp2 = l.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || l.find(' ', sp2 + 1) != std::string_view::npos)
      return fail(400, "malformed request line");
    const std::string_view method = l.substr(0, sp1), target = l.substr(sp1 + 1, sp2 - sp1 - 1),
                           version = l.substr(sp2 + 1);
    if (method.empty()) return fail(400, "empty method");
    for (char c : method)
      if (!is_tchar(static_cast<unsigned char>(c))) return fail(400, "invalid character in method");
    if (target.empty()) return fail(400, "empty request target");
    for (char c : target) {
      const unsigned char u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u == 0x7f) return fail(400, "invalid character in request target");
    }
    if (target == "*") {
      if (method != "OPTIONS") return fail(400, "request target \"*\" is only for OPTIONS");
    } else if (target[0] != '/') {
      return fail(400, "request target must start with '/'");
    }
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
      return fail(400, "malformed HTTP version");
    if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
      return fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
    req.method.assign(method);
    req.target.assign(target);
    const size_t q = target.find('?');
    req.path.assign(target.substr(0, q));
    req.query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
    req.version_minor = version[7] - '0';
    phase = Phase::headers;
    return State::need_more;
  }

  State parse_header_line(std::string_view l) {
    if (l.front() == ' ' || l.front() == '\t') return fail(400, "obsolete header line folding");
    const size_t colon = l.find(':');
    if (colon == std::string_view::npos) return fail(400, "header line without ':'");
    const std::string_view name = l.substr(0, colon), value = trim(l.substr(colon + 1));
    if (name.empty()) return fail(400, "empty header name");
    for (char c : name)
      if (!is_tchar(static_cast<unsigned char>(c))) return fail(400, "invalid character in header name");
    for (char c : value) {
      const unsigned char u = static_cast<unsigned char>(c);
      if ((u < 0x20 && u != '\t') || u == 0x7f) return fail(400, "invalid character in header value");
    }
    std::string n(name);
    for (char& c : n) c = lower(c);
    req.headers.emplace_back(std::move(n), std::string(value));
    return State::need_more;
  }

  // After the blank line: decide the body's framing (and 413) before reading any of it.
  State end_of_headers() {
    std::string te, cl_norm;
    bool has_te = false, has_cl = false, cl_overflow = false;
    uint64_t cl = 0;
    bool expect_continue = false;
    for (const auto& h : req.headers) {
      if (h.first == "transfer-encoding") {
        if (has_te) te += ',';
        te += h.second;
        has_te = true;
      } else if (h.first == "content-length") {
        std::string_view v = h.second;
        // A list "5, 5" is the same as two headers.
        while (true) {
          const size_t comma = v.find(',');
          const std::string_view item = trim(v.substr(0, comma));
          if (item.empty()) return fail(400, "empty Content-Length");
          uint64_t x = 0;
          bool over = false;
          for (char c : item) {
            if (c < '0' || c > '9') return fail(400, "Content-Length is not a number");
            if (x > (UINT64_MAX - uint64_t(c - '0')) / 10) over = true;
            else x = x * 10 + uint64_t(c - '0');
          }
          std::string_view digits = item;
          while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
          if (has_cl && digits != cl_norm) return fail(400, "several different Content-Length values");
          has_cl = true;
          cl_norm.assign(digits);
          cl = x;
          cl_overflow = over;
          if (comma == std::string_view::npos) break;
          v.remove_prefix(comma + 1);
        }
      } else if (h.first == "expect") {
        std::string v(trim(h.second));
        for (char& c : v) c = lower(c);
        if (v == "100-continue") expect_continue = true;
      }
    }
    if (has_te && has_cl) return fail(400, "both Transfer-Encoding and Content-Length");
    if (has_te) {
      std::string codings;
      std::string_view v = te;
      size_t n = 0;
      while (true) {
        const size_t comma = v.find(',');
        std::string item(trim(v.substr(0, comma)));
        for (char& c : item) c = lower(c);
        if (item.empty()) return fail(400, "empty transfer coding");
        codings = item;
        ++n;
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
      }
      if (n != 1 || codings != "chunked")
        return fail(501, "only Transfer-Encoding: chunked is supported");
      continue_wanted = expect_continue && req.version_minor == 1;
      phase = Phase::chunk_size;
      return State::need_more;
    }
    if (has_cl) {
      if (cl_overflow || cl > limits.max_body_bytes)
        return fail(413, "body larger than " + std::to_string(limits.max_body_bytes) + " bytes");
      if (cl == 0) {
        phase = Phase::done;
        return State::done;
      }
      continue_wanted = expect_continue && req.version_minor == 1;
      remaining = cl;
      req.body.reserve(size_t(std::min<uint64_t>(cl, 64 * 1024)));  // grows as bytes arrive
      phase = Phase::body;
      return State::need_more;
    }
    phase = Phase::done;  // no framing: no body
    return State::done;
  }

  State parse_chunk_size(std::string_view l) {
    size_t i = 0;
    uint64_t size = 0;
    bool over = false;
    for (; i < l.size() && hex_value(l[i]) >= 0; ++i) {
      if (size > (UINT64_MAX >> 4)) over = true;
      else size = (size << 4) | uint64_t(hex_value(l[i]));
    }
    if (i == 0) return fail(400, "malformed chunk size");
    while (i < l.size() && (l[i] == ' ' || l[i] == '\t')) ++i;
    if (i < l.size() && l[i] != ';') return fail(400, "malformed chunk size");
    for (; i < l.size(); ++i) {  // extensions: ignored, but no control characters
      const unsigned char u = static_cast<unsigned char>(l[i]);
      if ((u < 0x20 && u != '\t') || u == 0x7f) return fail(400, "invalid character in chunk extension");
    }
    if (over || size > limits.max_body_bytes - req.body.size())
      return fail(413, "body larger than " + std::to_string(limits.max_body_bytes) + " bytes");
    if (size == 0) {
      phase = Phase::trailers;
    } else {
      remaining = size;
      phase = Phase::chunk_data;
    }
    return State::need_more;
  }

  State step() {
    while (true) {
      std::string_view line;
      switch (phase) {
        case Phase::done: return State::done;
        case Phase::error: return State::error;
        case Phase::request_line:
        case Phase::headers: {
          const int r = next_line(limits.max_header_bytes - header_bytes, &line);
          if (r < 0) return fail(431, "request line and headers larger than " +
                                          std::to_string(limits.max_header_bytes) + " bytes");
          if (r == 0) return State::need_more;
          header_bytes += line_bytes;
          if (phase == Phase::request_line) {
            if (line.empty()) continue;  // empty lines before a request are ignored
            if (parse_request_line(line) == State::error) return State::error;
          } else if (line.empty()) {
            if (State s = end_of_headers(); s != State::need_more) return s;
          } else if (parse_header_line(line) == State::error) {
            return State::error;
          }
          break;
        }
        case Phase::body:
        case Phase::chunk_data: {
          const size_t avail = buf.size() - pos;
          if (avail == 0) return State::need_more;
          const size_t take = size_t(std::min<uint64_t>(remaining, avail));
          req.body.append(buf, pos, take);
          pos += take;
          remaining -= take;
          if (remaining == 0) {
            if (phase == Phase::body) {
              phase = Phase::done;
              return State::done;
            }
            phase = Phase::chunk_end;
          }
          break;
        }
        case Phase::chunk_size: {
          const int r = next_line(kMaxChunkLine, &line);
          if (r < 0) return fail(400, "chunk size line too long");
          if (r == 0) return State::need_more;
          if (parse_chunk_size(line) == State::error) return State::error;
          break;
        }
        case Phase::chunk_end: {
          const int r = next_line(kMaxChunkLine, &line);
          if (r < 0 || (r > 0 && !line.empty())) return fail(400, "chunk data longer than its size");
          if (r == 0) return State::need_more;
          phase = Phase::chunk_size;
          break;
        }
        case Phase::trailers: {
          const size_t left = limits.max_header_bytes > trailer_bytes ? limits.max_header_bytes - trailer_bytes : 0;
          const int r = next_line(left, &line);
          if (r < 0) return fail(431, "chunked trailers larger than " +
                                          std::to_string(limits.max_header_bytes) + " bytes");
          if (r == 0) return State::need_more;
          trailer_bytes += line_bytes;
          if (line.empty()) {
            phase = Phase::done;
            return State::done;
          }
          break;  // trailer fields are skipped
        }
      }
    }
  }

  State feed(const char* data, size_t n) {
    if (phase == Phase::done || phase == Phase::error) return phase == Phase::done ? State::done : State::error;
    if (pos > 0 && pos == buf.size()) {
      buf.clear();
      pos = 0;
    } else if (pos > 4096 && pos * 2 > buf.size()) {
      buf.erase(0, pos);
      pos = 0;
    }
    if (n > 0) buf.append(data, n);
    return step();
  }
};

HttpParser::HttpParser(const HttpLimits& limits) : impl_(std::make_shared<Impl>()) { impl_->limits = limits; }

HttpParser::State HttpParser::feed(const char* data, size_t n) { return impl_->feed(data, n); }
const HttpRequest& HttpParser::request() const { return impl_->req; }
HttpRequest& HttpParser::request() { return impl_->req; }
int HttpParser::error_status() const { return impl_->status; }
const std::string& HttpParser::error_message() const { return impl_->message; }
bool HttpParser::wants_continue() const { return impl_->continue_wanted; }
size_t HttpParser::buffered() const { return impl_->buf.size() - impl_->pos; }

bool HttpParser::started() const {
  return impl_->header_bytes > 0 || impl_->buf.size() > impl_->pos || impl_->phase != Impl::Phase::request_line;
}

void HttpParser::reset_for_next() {
  Impl& m = *impl_;
  m.buf.erase(0, m.pos);
  m.pos = 0;
  m.scanned = 0;
  m.phase = Impl::Phase::request_line;
  m.req = HttpRequest();
  m.header_bytes = m.trailer_bytes = 0;
  m.remaining = 0;
  m.continue_wanted = false;
  m.status = 0;
  m.message.clear();
}

// ---------------------------------------------------------------------------------------------
// Server

namespace {

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\u%04x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

const char* error_type_of(int status) {
  switch (status) {
    case 408: return "timeout";
    case 413: return "payload_too_large";
    case 431: return "headers_too_large";
    case 500: return "internal";
    case 501: return "not_implemented";
    case 503: return "overloaded";
    case 505: return "http_version";
    default: return "bad_request";
  }
}

std::string error_response(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = "{\"error\":\"" + json_escape(message) + "\",\"error_type\":\"" + error_type_of(status) + "\"}";
  return http_serialize(r, false);
}

// Writes everything or gives up (the socket has SO_SNDTIMEO; a peer that stopped reading fails).
bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    s.remove_prefix(size_t(n));
  }
  return true;
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// Closes after the response: our side first, then reads and drops what the peer has sent or
// still sends (waiting at most linger_ms for more; 0: only what is there, and never more than
// 1 MiB), so that unread input does not turn the close into a reset that could destroy the
// response before the peer has read it.
void close_gracefully(int fd, int linger_ms) {
  ::shutdown(fd, SHUT_WR);
  const int64_t deadline = now_ms() + linger_ms;
  char sink[4096];
  for (size_t drained = 0; drained < (size_t(1) << 20);) {
    const int64_t left = deadline - now_ms();
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, left > 0 ? int(left) : 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    const ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    drained += size_t(n);
  }
  ::close(fd);
}

}  // namespace

struct HttpServer::Impl {
  HttpHandler handler;
  HttpLimits limits;
  std::function<void(int)> observer;
  int listen_fd = -1;
  int port = 0;
  int wake[2] = {-1, -1};  // self-pipe: written by stop(), never drained, so it stays readable
  std::atomic<bool> stopping{false};
  mutable std::mutex m;
  std::condition_variable cv;
  size_t active = 0;

  void report(int status) {
    if (!observer) return;
    try {
      observer(status);
    } catch (...) {
    }
  }

  struct Conn {
    Impl* server;
    int fd;
  };

  static void* thread_main(void* arg) {
    Conn* c = static_cast<Conn*>(arg);
    Impl* s = c->server;
    try {
      s->serve(c->fd);
    } catch (...) {
      ::close(c->fd);  // serve() closes on every path it returns by; only bad_alloc gets here
    }
    delete c;
    {
      std::lock_guard<std::mutex> lock(s->m);
      --s->active;
    }
    s->cv.notify_all();
    return nullptr;
  }

  // Waits for input on fd (and the stop pipe unless stopping). 1: readable; 0: timeout; -1: stop.
  int wait_readable(int fd, int timeout_ms) {
    const int64_t deadline = now_ms() + timeout_ms;
    while (true) {
      pollfd p[2] = {{fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
      const bool watch_stop = !stopping.load();
      const int64_t left = deadline - now_ms();
      if (left <= 0) return 0;
      const int r = ::poll(p, watch_stop ? 2 : 1, int(left));
      if (r < 0) {
        if (errno == EINTR) continue;
        return 0;
      }
      if (r == 0) return 0;
      if (p[0].revents) return 1;
      if (watch_stop && p[1].revents) return -1;
    }
  }

  void serve(int fd) {
    HttpParser parser(limits);
    std::vector<char> buf(16 * 1024);
    const int linger = std::min(limits.read_timeout_ms, 1000);
    while (true) {
      HttpParser::State st = parser.feed(nullptr, 0);
      bool continue_sent = false;
      while (st == HttpParser::State::need_more) {
        if (parser.wants_continue() && !continue_sent) {
          if (!send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n")) return (void)::close(fd);
          continue_sent = true;
        }
        const bool in_request = parser.started();
        if (!in_request && stopping.load()) return (void)::close(fd);
        const int w = wait_readable(fd, in_request ? limits.read_timeout_ms : limits.idle_timeout_ms);
        if (w < 0) continue;  // stop(): re-check whether this connection is idle
        if (w == 0) {
          if (!in_request) return (void)::close(fd);
          report(408);
          send_all(fd, error_response(408, "timed out waiting for the rest of the request"));
          return close_gracefully(fd, linger);
        }
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return (void)::close(fd);  // peer closed (mid-request: nobody to answer)
        st = parser.feed(buf.data(), size_t(n));
      }
      if (st == HttpParser::State::error) {
        report(parser.error_status());
        send_all(fd, error_response(parser.error_status(), parser.error_message()));
        return close_gracefully(fd, linger);
      }
      const HttpRequest& req = parser.request();
      HttpResponse resp;
      try {
        resp = handler(req);
      } catch (...) {
        report(500);
        resp = HttpResponse();
        resp.status = 500;
        resp.body = "{\"error\":\"internal error\",\"error_type\":\"internal\"}";
      }
      const bool keep = req.keep_alive() && !stopping.load();
      if (!send_all(fd, http_serialize(resp, keep))) return (void)::close(fd);
      // Linger only when the peer sent more than this request (it may still be sending).
      if (!keep) return close_gracefully(fd, parser.buffered() > 0 ? linger : 0);
      parser.reset_for_next();
    }
  }

  // Over max_connections (or no thread to be had): a 503 from the accept loop itself.
  void refuse(int fd) {
    report(503);
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl >= 0) ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    send_all(fd, error_response(503, "too many open connections"));
    close_gracefully(fd, 20);
  }

  void start_connection(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{};
    tv.tv_sec = limits.read_timeout_ms / 1000;
    tv.tv_usec = (limits.read_timeout_ms % 1000) * 1000;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    bool admitted = false;
    {
      std::lock_guard<std::mutex> lock(m);
      if (active < limits.max_connections) {
        ++active;
        admitted = true;
      }
    }
    if (!admitted) return refuse(fd);
    Conn* c = new Conn{this, fd};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    const int rc = pthread_create(&t, &attr, &Impl::thread_main, c);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      delete c;
      {
        std::lock_guard<std::mutex> lock(m);
        --active;
      }
      refuse(fd);
    }
  }

  void wait_connections() {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return active == 0; });
  }
};

HttpServer::HttpServer(HttpHandler handler, HttpLimits limits) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->limits = limits;
  if (::pipe2(impl_->wake, O_CLOEXEC) != 0) impl_->wake[0] = impl_->wake[1] = -1;
}

HttpServer::~HttpServer() {
  stop();
  impl_->wait_connections();
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
  for (int fd : impl_->wake)
    if (fd >= 0) ::close(fd);
}

void HttpServer::set_error_observer(std::function<void(int status)> observer) {
  impl_->observer = std::move(observer);
}

bool HttpServer::listen(const std::string& host_in, int port, std::string* error) {
  auto set_error = [&](const std::string& e) {
    if (error) *error = e;
    return false;
  };
  std::string host = host_in;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                            std::to_string(port);
  if (impl_->wake[0] < 0) return set_error("cannot create the stop pipe: " + std::string(std::strerror(errno)));
  if (impl_->listen_fd >= 0) return set_error("already listening");
  if (port < 0 || port > 65535) return set_error("invalid port " + std::to_string(port));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int gai = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (gai != 0) return set_error("cannot resolve " + where + ": " + ::gai_strerror(gai));
  std::string last = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 511) != 0) {
      last = std::strerror(errno);
      ::close(fd);
      continue;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    impl_->port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                           : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    impl_->listen_fd = fd;
    break;
  }
  ::freeaddrinfo(res);
  if (impl_->listen_fd < 0) return set_error("cannot bind " + where + ": " + last);
  return true;
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::run() {
  Impl& s = *impl_;
  if (s.listen_fd < 0) return;
  while (!s.stopping.load()) {
    pollfd p[2] = {{s.listen_fd, POLLIN, 0}, {s.wake[0], POLLIN, 0}};
    const int r = ::poll(p, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents) break;
    if (!(p[0].revents & POLLIN)) continue;
    const int fd = ::accept4(s.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        ::poll(nullptr, 0, 50);  // out of descriptors: let connections end instead of spinning
      continue;
    }
    s.start_connection(fd);
  }
  ::close(s.listen_fd);  // refuse new connections while the open ones finish
  s.listen_fd = -1;
  s.wait_connections();
}

void HttpServer::stop() {
  if (impl_->stopping.exchange(true)) return;
  if (impl_->wake[1] >= 0) {
    const char b = 1;
    while (::write(impl_->wake[1], &b, 1) < 0 && errno == EINTR) {
    }
  }
}

size_t HttpServer::open_connections() const {
  std::lock_guard<std::mutex> lock(impl_->m);
  return impl_->active;
}

}  // namespace bertrank::server
