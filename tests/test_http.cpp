// The HTTP/1.1 transport (server/http.h): the parser fed whole and byte by byte, every error
// status, the limits at and one past their boundary, and a real server on a loopback port
// driven by raw sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "server/http.h"

using bertrank::server::HttpLimits;
using bertrank::server::HttpParser;
using bertrank::server::HttpRequest;
using bertrank::server::HttpResponse;
using bertrank::server::HttpServer;
using State = HttpParser::State;

namespace {

struct Outcome {
  State state = State::need_more;
  int status = 0;
  HttpRequest req;
};

Outcome parse_whole(const std::string& in, const HttpLimits& lim = HttpLimits()) {
  HttpParser p(lim);
  Outcome o;
  o.state = p.feed(in.data(), in.size());
  if (o.state == State::error) o.status = p.error_status();
  if (o.state == State::done) o.req = p.request();
  return o;
}

Outcome parse_bytewise(const std::string& in, const HttpLimits& lim = HttpLimits()) {
  HttpParser p(lim);
  Outcome o;
  for (char c : in) {
    o.state = p.feed(&c, 1);
    if (o.state != State::need_more) break;
  }
  if (o.state == State::error) o.status = p.error_status();
  if (o.state == State::done) o.req = p.request();
  return o;
}

// Parses both ways, checks that they agree, returns the outcome.
Outcome parse(const std::string& in, const HttpLimits& lim = HttpLimits()) {
  const Outcome a = parse_whole(in, lim), b = parse_bytewise(in, lim);
  EXPECT_EQ(int(a.state), int(b.state)) << in;
  EXPECT_EQ(a.status, b.status) << in;
  EXPECT_EQ(a.req.method, b.req.method);
  EXPECT_EQ(a.req.target, b.req.target);
  EXPECT_EQ(a.req.headers, b.req.headers);
  EXPECT_EQ(a.req.body, b.req.body);
  return a;
}

int status_of(const std::string& in, const HttpLimits& lim = HttpLimits()) {
  const Outcome o = parse(in, lim);
  EXPECT_EQ(int(o.state), int(State::error)) << in;
  return o.status;
}

}  // namespace

TEST(HttpParser, SimpleGetWholeAndBytewiseAgree) {
  const Outcome o = parse("GET /v1/embeddings?x=1&y=2 HTTP/1.1\r\nHost: a\r\nX-Thing:  v  \r\n\r\n");
  ASSERT_EQ(int(o.state), int(State::done));
  EXPECT_EQ(o.req.method, "GET");
  EXPECT_EQ(o.req.target, "/v1/embeddings?x=1&y=2");
  EXPECT_EQ(o.req.path, "/v1/embeddings");
  EXPECT_EQ(o.req.query, "x=1&y=2");
  EXPECT_EQ(o.req.version_minor, 1);
  ASSERT_NE(o.req.header("x-thing"), nullptr);
  EXPECT_EQ(*o.req.header("x-thing"), "v");
  EXPECT_EQ(*o.req.header("host"), "a");
  EXPECT_EQ(o.req.header("X-Thing"), nullptr);  // lookups are by the lower-cased name
  EXPECT_TRUE(o.req.body.empty());
}

TEST(HttpParser, ContentLengthBodyAndBareLf) {
  const Outcome o = parse("POST /embed HTTP/1.1\nContent-Length: 11\n\nhello world");
  ASSERT_EQ(int(o.state), int(State::done));
  EXPECT_EQ(o.req.body, "hello world");
  const Outcome partial = parse("POST /embed HTTP/1.1\r\nContent-Length: 12\r\n\r\nhello world");
  EXPECT_EQ(int(partial.state), int(State::need_more));
}

TEST(HttpParser, PostWithoutLengthHasEmptyBodyAndGetMayHaveABody) {
  const Outcome post = parse("POST /x HTTP/1.1\r\n\r\n");
  ASSERT_EQ(int(post.state), int(State::done));
  EXPECT_EQ(post.req.body, "");
  const Outcome get = parse("GET /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_EQ(int(get.state), int(State::done));
  EXPECT_EQ(get.req.body, "abc");
}

TEST(HttpParser, PipelinedRequests) {
  const std::string in =
      "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
      "GET /b HTTP/1.1\r\n\r\n"
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n";
  for (size_t step : {size_t(1), size_t(7), in.size()}) {
    HttpParser p{HttpLimits()};
    std::vector<HttpRequest> got;
    for (size_t i = 0; i < in.size(); i += step) {
      State s = p.feed(in.data() + i, std::min(step, in.size() - i));
      while (s == State::done) {
        got.push_back(p.request());
        p.reset_for_next();
        s = p.feed(nullptr, 0);
      }
      ASSERT_NE(int(s), int(State::error)) << p.error_message();
    }
    ASSERT_EQ(got.size(), 3u) << "step " << step;
    EXPECT_EQ(got[0].path, "/a");
    EXPECT_EQ(got[0].body, "abc");
    EXPECT_EQ(got[1].path, "/b");
    EXPECT_EQ(got[1].body, "");
    EXPECT_EQ(got[2].path, "/c");
    EXPECT_EQ(got[2].body, "xy");
    EXPECT_FALSE(p.started());
    EXPECT_EQ(p.buffered(), 0u);
  }
}

TEST(HttpParser, Chunked) {
  const Outcome o = parse(
      "POST /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
      "0\r\nX-Trailer: skipped\r\n\r\n");
  ASSERT_EQ(int(o.state), int(State::done));
  EXPECT_EQ(o.req.body, "helloabcdefghijklmnopqrstuvwxyz");
  EXPECT_EQ(o.req.header("x-trailer"), nullptr);  // trailers are skipped
}

TEST(HttpParser, MalformedIs400) {
  const char* cases[] = {
      "GET\r\n\r\n",
      "GET /x\r\n\r\n",
      "GET  /x HTTP/1.1\r\n\r\n",
      "GET /x HTTP/1.1 \r\n\r\n",
      "G(T /x HTTP/1.1\r\n\r\n",
      "GET x HTTP/1.1\r\n\r\n",
      "GET http://example.com/x HTTP/1.1\r\n\r\n",  // absolute-form
      "GET * HTTP/1.1\r\n\r\n",                     // "*" only for OPTIONS
      "GET /x HTTP/1.x\r\n\r\n",
      "GET /x FTP/1.1\r\n\r\n",
      "GET /x HTTP/1.1\r\nNoColon\r\n\r\n",
      "GET /x HTTP/1.1\r\n: empty\r\n\r\n",
      "GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n",
      "GET /x HTTP/1.1\r\nName : v\r\n\r\n",
      "GET /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",  // obs-fold
      ("GET /x HTTP/1.1\r\nA: b\x01" "c\r\n\r\n"),  // split so that \x01 ends before the c
      "POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
      "POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "POST /x HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
      "POST /x HTTP/1.1\r\nContent-Length:\r\n\r\n",
      "POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "POST /x HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd",
      "POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n",
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n",
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n;ext\r\n",
  };
  for (const char* c : cases) EXPECT_EQ(status_of(c), 400) << c;
  // Repeated equal lengths are one length.
  const Outcome same = parse("POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 03\r\n\r\nabc");
  ASSERT_EQ(int(same.state), int(State::done));
  EXPECT_EQ(same.req.body, "abc");
  const Outcome star = parse("OPTIONS * HTTP/1.1\r\n\r\n");
  ASSERT_EQ(int(star.state), int(State::done));
  EXPECT_EQ(star.req.target, "*");
}

TEST(HttpParser, VersionsOtherThan10And11Are505) {
  EXPECT_EQ(status_of("GET /x HTTP/2.0\r\n\r\n"), 505);
  EXPECT_EQ(status_of("GET /x HTTP/1.2\r\n\r\n"), 505);
  EXPECT_EQ(status_of("GET /x HTTP/0.9\r\n\r\n"), 505);
  const Outcome o = parse("GET /x HTTP/1.0\r\n\r\n");
  ASSERT_EQ(int(o.state), int(State::done));
  EXPECT_EQ(o.req.version_minor, 0);
}

TEST(HttpParser, TransferCodingsOtherThanChunkedAre501) {
  EXPECT_EQ(status_of("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
  EXPECT_EQ(status_of("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(status_of("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            501);
}

TEST(HttpParser, BodyLimitAtAndOnePastTheBoundary) {
  HttpLimits lim;
  lim.max_body_bytes = 10;
  const std::string ten(10, 'a');
  const Outcome at = parse("POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n" + ten, lim);
  ASSERT_EQ(int(at.state), int(State::done));
  EXPECT_EQ(at.req.body, ten);
  // 413 from the header alone, before any body byte arrives.
  EXPECT_EQ(status_of("POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n", lim), 413);
  EXPECT_EQ(status_of("POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", lim), 413);
  // Chunked: the total counts, decided at the chunk size that passes the limit.
  const Outcome chunked_at =
      parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\naaaa\r\n6\r\naaaaaa\r\n0\r\n\r\n", lim);
  ASSERT_EQ(int(chunked_at.state), int(State::done));
  EXPECT_EQ(chunked_at.req.body, ten);
  EXPECT_EQ(status_of("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\naaaa\r\n7\r\n", lim), 413);
  EXPECT_EQ(status_of("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n", lim), 413);
}

TEST(HttpParser, HeaderLimitAtAndOnePastTheBoundary) {
  const std::string head = "GET /x HTTP/1.1\r\nX: ";
  const std::string tail = "\r\n\r\n";
  HttpLimits lim;
  lim.max_header_bytes = 100;
  const std::string at = head + std::string(100 - head.size() - tail.size(), 'v') + tail;
  ASSERT_EQ(at.size(), 100u);
  EXPECT_EQ(int(parse(at, lim).state), int(State::done));
  const std::string past = head + std::string(101 - head.size() - tail.size(), 'v') + tail;
  EXPECT_EQ(status_of(past, lim), 431);
  // Without the end in sight: refused as soon as the buffered line passes the limit.
  HttpParser p(lim);
  const std::string endless = head + std::string(200, 'v');
  EXPECT_EQ(int(p.feed(endless.data(), endless.size())), int(State::error));
  EXPECT_EQ(p.error_status(), 431);
  // Trailers count against the same limit.
  const std::string big_trailer = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " +
                                  std::string(200, 't') + "\r\n\r\n";
  EXPECT_EQ(status_of(big_trailer, lim), 431);
}

TEST(HttpParser, NeverBuffersAnUnfinishedLinePastTheLimit) {
  HttpLimits lim;
  lim.max_header_bytes = 64;
  HttpParser p(lim);
  const std::string start = "GET /x HTTP/1.1\r\nA: ";
  State s = p.feed(start.data(), start.size());
  for (int i = 0; i < 1000 && s == State::need_more; ++i) {
    EXPECT_LT(p.buffered(), lim.max_header_bytes);
    s = p.feed("a", 1);
  }
  EXPECT_EQ(int(s), int(State::error));
  EXPECT_EQ(p.error_status(), 431);
}

TEST(HttpParser, ExpectContinue) {
  HttpParser p{HttpLimits()};
  const std::string head = "POST /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
  ASSERT_EQ(int(p.feed(head.data(), head.size())), int(State::need_more));
  EXPECT_TRUE(p.wants_continue());
  ASSERT_EQ(int(p.feed("abc", 3)), int(State::done));
  EXPECT_EQ(p.request().body, "abc");
  // Too large: 413, never a 100 Continue.
  HttpLimits lim;
  lim.max_body_bytes = 2;
  HttpParser q(lim);
  EXPECT_EQ(int(q.feed(head.data(), head.size())), int(State::error));
  EXPECT_EQ(q.error_status(), 413);
  EXPECT_FALSE(q.wants_continue());
  // HTTP/1.0 does not know 100 Continue.
  HttpParser r{HttpLimits()};
  const std::string head10 = "POST /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
  ASSERT_EQ(int(r.feed(head10.data(), head10.size())), int(State::need_more));
  EXPECT_FALSE(r.wants_continue());
}

TEST(HttpParser, KeepAliveRules) {
  auto keep = [](const std::string& in) {
    const Outcome o = parse(in);
    EXPECT_EQ(int(o.state), int(State::done)) << in;
    return o.req.keep_alive();
  };
  EXPECT_TRUE(keep("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(keep("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
  EXPECT_FALSE(keep("GET / HTTP/1.1\r\nConnection: Upgrade, Close\r\n\r\n"));
  EXPECT_FALSE(keep("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(keep("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
  EXPECT_FALSE(keep("GET / HTTP/1.0\r\nConnection: close\r\n\r\n"));
}

TEST(HttpParser, LeadingEmptyLinesAreSkippedAndErrorsStick) {
  const Outcome o = parse("\r\n\r\nGET /x HTTP/1.1\r\n\r\n");
  ASSERT_EQ(int(o.state), int(State::done));
  EXPECT_EQ(o.req.path, "/x");
  HttpParser p{HttpLimits()};
  ASSERT_EQ(int(p.feed("BAD\r\n", 5)), int(State::error));
  EXPECT_EQ(int(p.feed("GET / HTTP/1.1\r\n\r\n", 18)), int(State::error));
  EXPECT_FALSE(p.error_message().empty());
}

TEST(HttpMessage, SerializeAndReasons) {
  HttpResponse r;
  r.status = 429;
  r.body = "{}";
  r.headers.emplace_back("Retry-After", "1");
  EXPECT_EQ(bertrank::server::http_serialize(r, true),
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            "Connection: keep-alive\r\nRetry-After: 1\r\n\r\n{}");
  EXPECT_STREQ(bertrank::server::http_reason(505), "HTTP Version Not Supported");
}

// ---------------------------------------------------------------------------------------------
// A real server on 127.0.0.1, port 0.

namespace {

// A raw-socket client: the test controls every byte and every pause.
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  bool send(const std::string& s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size());
  }
  // Reads one response (headers + Content-Length body); "" on EOF or timeout.
  std::string read_response(int timeout_ms = 5000) {
    while (true) {
      const size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t len = 0;
        const size_t cl = buf_.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) len = std::stoul(buf_.substr(cl + 16));
        if (buf_.size() >= end + 4 + len) {
          std::string r = buf_.substr(0, end + 4 + len);
          buf_.erase(0, end + 4 + len);
          return r;
        }
      }
      if (!fill(timeout_ms)) return "";
    }
  }
  // True if the server closed the connection (EOF) within timeout_ms and sent nothing more.
  bool closed_by_peer(int timeout_ms = 5000) {
    while (buf_.empty()) {
      if (!fill(timeout_ms)) return eof_;
    }
    return false;
  }

 private:
  bool fill(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char tmp[8192];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, size_t(n));
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buf_;
};

int status_line(const std::string& response) {
  if (response.compare(0, 9, "HTTP/1.1 ") != 0 || response.size() < 12) return -1;
  return std::stoi(response.substr(9, 3));
}

std::string body_of(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

// The server on a thread; echoes method, path and body unless the handler is replaced.
struct TestServer {
  explicit TestServer(HttpLimits lim, bertrank::server::HttpHandler h = nullptr)
      : server(h ? h : [](const HttpRequest& r) {
                     HttpResponse resp;
                     resp.content_type = "text/plain";
                     resp.body = r.method + " " + r.path + " " + r.body;
                     return resp;
                   },
               lim) {
    server.set_error_observer([this](int s) {
      std::lock_guard<std::mutex> lock(m);
      errors.push_back(s);
    });
    std::string err;
    listening = server.listen("127.0.0.1", 0, &err);
    EXPECT_TRUE(listening) << err;
    if (listening) thread = std::thread([this] {
      server.run();
      returned = true;
    });
  }
  ~TestServer() {
    server.stop();
    if (thread.joinable()) thread.join();
  }
  std::vector<int> observed() {
    std::lock_guard<std::mutex> lock(m);
    return errors;
  }
  HttpServer server;
  bool listening = false;
  std::atomic<bool> returned{false};
  std::thread thread;
  std::mutex m;
  std::vector<int> errors;
};

}  // namespace

TEST(HttpServer, KeepAliveOf100RequestsOnOneConnection) {
  TestServer ts(HttpLimits{});
  ASSERT_TRUE(ts.listening);
  Client c(ts.server.port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 100; ++i) {
    const std::string body = "n=" + std::to_string(i);
    ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
    const std::string r = c.read_response();
    ASSERT_EQ(status_line(r), 200) << "request " << i;
    EXPECT_NE(r.find("Connection: keep-alive"), std::string::npos);
    EXPECT_EQ(body_of(r), "POST /echo " + body);
  }
  EXPECT_EQ(ts.server.open_connections(), 1u);
}

TEST(HttpServer, PipelinedRequestsAnsweredInOrder) {
  TestServer ts(HttpLimits{});
  ASSERT_TRUE(ts.listening);
  Client c(ts.server.port());
  ASSERT_TRUE(c.send("GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 1\r\n\r\nzGET /3 HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(body_of(c.read_response()), "GET /1 ");
  EXPECT_EQ(body_of(c.read_response()), "POST /2 z");
  EXPECT_EQ(body_of(c.read_response()), "GET /3 ");
}

TEST(HttpServer, ConnectionCloseAndHttp10) {
  TestServer ts(HttpLimits{});
  ASSERT_TRUE(ts.listening);
  {
    Client c(ts.server.port());
    ASSERT_TRUE(c.send("GET /a HTTP/1.1\r\nConnection: close\r\n\r\n"));
    const std::string r = c.read_response();
    EXPECT_EQ(status_line(r), 200);
    EXPECT_NE(r.find("Connection: close"), std::string::npos);
    EXPECT_TRUE(c.closed_by_peer());
  }
  {
    Client c(ts.server.port());
    ASSERT_TRUE(c.send("GET /a HTTP/1.0\r\n\r\n"));
    EXPECT_EQ(status_line(c.read_response()), 200);
    EXPECT_TRUE(c.closed_by_peer());
  }
  {
    Client c(ts.server.port());
    ASSERT_TRUE(c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    EXPECT_EQ(status_line(c.read_response()), 200);
    ASSERT_TRUE(c.send("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    EXPECT_EQ(body_of(c.read_response()), "GET /b ");
  }
}

TEST(HttpServer, ParseErrorsAnsweredWithJsonThenClosed) {
  HttpLimits lim;
  lim.max_body_bytes = 100;
  TestServer ts(lim);
  ASSERT_TRUE(ts.listening);
  const std::pair<const char*, int> cases[] = {
      {"BROKEN\r\n\r\n", 400},
      {"POST /x HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413},
      {"GET /x HTTP/3.0\r\n\r\n", 505},
      {"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
  };
  std::vector<int> want;
  for (const auto& [req, status] : cases) {
    Client c(ts.server.port());
    ASSERT_TRUE(c.send(req));
    const std::string r = c.read_response();
    EXPECT_EQ(status_line(r), status) << req;
    EXPECT_EQ(body_of(r).rfind("{\"error\":\"", 0), 0u) << r;
    EXPECT_NE(body_of(r).find("\"error_type\":\""), std::string::npos) << r;
    EXPECT_TRUE(c.closed_by_peer());
    want.push_back(status);
  }
  EXPECT_EQ(ts.observed(), want);
}

TEST(HttpServer, ExpectContinueGets100BeforeTheBody) {
  TestServer ts(HttpLimits{});
  ASSERT_TRUE(ts.listening);
  Client c(ts.server.port());
  ASSERT_TRUE(c.send("POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  const std::string interim = c.read_response();
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.send("body"));
  EXPECT_EQ(body_of(c.read_response()), "POST /e body");
}

TEST(HttpServer, ChunkedBodyAndAnOversizedExpectGets413Not100) {
  HttpLimits lim;
  lim.max_body_bytes = 8;
  TestServer ts(lim);
  ASSERT_TRUE(ts.listening);
  Client c(ts.server.port());
  ASSERT_TRUE(c.send("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"));
  ASSERT_TRUE(c.send("2\r\nde\r\n0\r\n\r\n"));
  EXPECT_EQ(body_of(c.read_response()), "POST /c abcde");
  Client d(ts.server.port());
  ASSERT_TRUE(d.send("POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n"));
  EXPECT_EQ(status_line(d.read_response()), 413);
  EXPECT_TRUE(d.closed_by_peer());
}

TEST(HttpServer, SlowClientStallingMidBodyGets408) {
  HttpLimits lim;
  lim.read_timeout_ms = 200;
  TestServer ts(lim);
  ASSERT_TRUE(ts.listening);
  Client c(ts.server.port());
  ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
  const auto t0 = std::chrono::steady_clock::now();
  const std::string r = c.read_response(5000);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(status_line(r), 408);
  EXPECT_GE(waited, std::chrono::milliseconds(150));
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_EQ(ts.observed(), std::vector<int>{408});
}

TEST(HttpServer, IdleKeepAliveConnectionClosedSilently) {
  HttpLimits lim;
  lim.idle_timeout_ms = 150;
  TestServer ts(lim);
  ASSERT_TRUE(ts.listening);
  Client c(ts.server.port());
  ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(status_line(c.read_response()), 200);
  EXPECT_TRUE(c.closed_by_peer(5000));  // EOF, no 408
  EXPECT_TRUE(ts.observed().empty());
}

TEST(HttpServer, ConnectionOverMaxConnectionsGets503) {
  HttpLimits lim;
  lim.max_connections = 2;
  TestServer ts(lim);
  ASSERT_TRUE(ts.listening);
  Client a(ts.server.port()), b(ts.server.port());
  ASSERT_TRUE(a.send("GET /a HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(b.send("GET /b HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(status_line(a.read_response()), 200);
  ASSERT_EQ(status_line(b.read_response()), 200);
  Client c(ts.server.port());
  ASSERT_TRUE(c.send("GET /c HTTP/1.1\r\n\r\n"));
  const std::string r = c.read_response();
  EXPECT_EQ(status_line(r), 503);
  EXPECT_NE(body_of(r).find("\"error_type\":\"overloaded\""), std::string::npos);
  EXPECT_TRUE(c.closed_by_peer());
  // The two admitted connections still work.
  ASSERT_TRUE(a.send("GET /a2 HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(body_of(a.read_response()), "GET /a2 ");
  EXPECT_EQ(ts.observed(), std::vector<int>{503});
}

TEST(HttpServer, HandlerExceptionIs500AndServingContinues) {
  TestServer ts(HttpLimits{}, [](const HttpRequest& r) -> HttpResponse {
    if (r.path == "/throw") throw std::runtime_error("boom");
    HttpResponse resp;
    resp.body = "ok";
    return resp;
  });
  ASSERT_TRUE(ts.listening);
  Client c(ts.server.port());
  ASSERT_TRUE(c.send("GET /throw HTTP/1.1\r\n\r\n"));
  const std::string r = c.read_response();
  EXPECT_EQ(status_line(r), 500);
  EXPECT_NE(body_of(r).find("\"error_type\":\"internal\""), std::string::npos);
  ASSERT_TRUE(c.send("GET /fine HTTP/1.1\r\n\r\n"));  // the same connection keeps serving
  EXPECT_EQ(body_of(c.read_response()), "ok");
  Client d(ts.server.port());
  ASSERT_TRUE(d.send("GET /fine HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(body_of(d.read_response()), "ok");
  EXPECT_EQ(ts.observed(), std::vector<int>{500});
}

TEST(HttpServer, StopLetsTheInFlightRequestFinishAndClosesIdleConnections) {
  std::atomic<bool> in_handler{false};
  HttpLimits lim;
  lim.idle_timeout_ms = 60000;  // stop() must not wait for it
  TestServer ts(lim, [&](const HttpRequest&) {
    in_handler = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    HttpResponse resp;
    resp.body = "finished";
    return resp;
  });
  ASSERT_TRUE(ts.listening);
  Client idle(ts.server.port());
  ASSERT_TRUE(idle.send("GET /warm HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(status_line(idle.read_response()), 200);  // now idle between requests
  in_handler = false;
  Client busy(ts.server.port());
  ASSERT_TRUE(busy.send("GET /slow HTTP/1.1\r\n\r\n"));
  while (!in_handler) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto t0 = std::chrono::steady_clock::now();
  ts.server.stop();
  const std::string r = busy.read_response();
  EXPECT_EQ(status_line(r), 200);
  EXPECT_EQ(body_of(r), "finished");
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(idle.closed_by_peer(5000));
  ts.thread.join();
  EXPECT_TRUE(ts.returned);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(ts.server.open_connections(), 0u);
  // Nothing listens any more.
  Client late(ts.server.port());
  EXPECT_FALSE(late.connected());
}

TEST(HttpServer, ListenErrors) {
  HttpServer a([](const HttpRequest&) { return HttpResponse(); }, HttpLimits{});
  std::string err;
  ASSERT_TRUE(a.listen("127.0.0.1", 0, &err)) << err;
  HttpServer b([](const HttpRequest&) { return HttpResponse(); }, HttpLimits{});
  EXPECT_FALSE(b.listen("127.0.0.1", a.port(), &err));
  EXPECT_NE(err.find("cannot bind 127.0.0.1:" + std::to_string(a.port())), std::string::npos) << err;
  EXPECT_NE(err.find("in use"), std::string::npos) << err;
  HttpServer c([](const HttpRequest&) { return HttpResponse(); }, HttpLimits{});
  EXPECT_FALSE(c.listen("not a host name", 0, &err));
  EXPECT_NE(err.find("cannot resolve"), std::string::npos) << err;
  EXPECT_FALSE(c.listen("127.0.0.1", 70000, &err));
  HttpServer v6([](const HttpRequest&) { return HttpResponse(); }, HttpLimits{});
  if (v6.listen("::1", 0, &err)) {  // hosts without IPv6 refuse ::1
    EXPECT_GT(v6.port(), 0);
  }
}
