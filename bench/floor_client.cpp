// The floor of issue 10's comparison: the least work a client must do per image, and nothing else.
// One thread, epoll, CONC keep-alive TLS connections (OpenSSL on the socket, the read-ahead
// venice-batch uses), for each answer: read the head and the Content-Length body, find the first
// string of "images", decode it with venice-batch's base64 decoder, write it to a temp file,
// close and rename it. No JSON parsing or validation, no journal, no metadata, no retries: it
// trusts the server and stops at the first surprise. It is not a client anyone should use; it
// answers "how fast could any client that keeps the images go on this machine, next to this
// server?", so the ratio to wrk that issue 10 asks of venice-batch can be read against it.
//
// DURABLE (default none) asks the same of a client that keeps them durable, as venice-batch's
// durable_writes does, with the least syncing that guarantee allows: `flat` writes every image in
// images/, `fanout` in images/<3 hex>/ folders spread by a hash as venice-batch's files layout
// (4,096 folders). The event loop starts each file's write-back (sync_file_range) and hands the
// open file to one sync thread, which takes whatever is queued as one batch: fdatasync of each
// file, the renames, one fsync of each folder the batch renamed into (and of images/ when the
// batch made a folder). An image counts once its batch is synced.
//
// Usage: floor_client HOST PORT JOBS CONCURRENCY OUT_DIR [API_KEY [none|flat|fanout]]
// (images go in OUT_DIR/images). Prints one line: images, wall seconds, images/s. Exit 0 when
// every job wrote its image.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "venice_batch/base64.hpp"

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "floor_client: %s\n", what.c_str());
  ERR_print_errors_fp(stderr);
  std::exit(1);
}

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  enum class Phase { send, head, body } phase = Phase::send;
  std::size_t sent = 0;
  std::string head;
  std::vector<char> body;
  std::size_t body_len = 0, body_got = 0;
};

enum class Durable { none, flat, fanout };

// The files the event loop wrote and the sync thread makes durable, in batches.
class Syncer {
 public:
  struct File {
    int fd;
    std::string tmp, name, folder;
    bool new_folder;
  };
  explicit Syncer(std::string images) : images_(std::move(images)), thread_([this] { loop(); }) {}
  void add(File f) {
    {
      const std::lock_guard lock(mu_);
      queue_.push_back(std::move(f));
    }
    cv_.notify_one();
  }
  long finish() {  // waits for every queued file; returns how many are durable
    {
      const std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
    return durable_;
  }

 private:
  static void sync_dir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) die("fsync " + dir);
    ::close(fd);
  }
  void loop() {
    std::vector<File> batch;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return done_ || !queue_.empty(); });
        if (queue_.empty()) return;
        batch.swap(queue_);
      }
      std::set<std::string> folders;
      bool new_folder = false;
      for (const File& f : batch) {
        if (::fdatasync(f.fd) != 0) die("fdatasync " + f.tmp);
        ::close(f.fd);
        if (::rename(f.tmp.c_str(), f.name.c_str()) != 0) die("rename " + f.tmp);
        folders.insert(f.folder);
        new_folder = new_folder || f.new_folder;
      }
      for (const std::string& folder : folders) sync_dir(folder);
      if (new_folder) sync_dir(images_);
      durable_ += static_cast<long>(batch.size());
      batch.clear();
    }
  }
  std::string images_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<File> queue_;
  bool done_ = false;
  long durable_ = 0;  // the sync thread's alone until finish() joins it
  std::thread thread_;
};

struct Client {
  std::string request;
  std::string out_dir;
  long jobs = 0, issued = 0, written = 0;
  std::vector<std::uint8_t> image;
  Durable durable = Durable::none;
  std::unique_ptr<Syncer> syncer;
  std::vector<bool> made;  // fan-out folders made so far

  // Decodes the answer's first image and writes it as OUT_DIR/<n>.webp through a temp file.
  void keep(const Conn& c) {
    const std::string_view body(c.body.data(), c.body_len);
    const std::size_t key = body.find("\"images\":[\"");
    if (key == std::string_view::npos) die("no images in the answer");
    const std::size_t start = key + 11, end = body.find('"', start);
    if (end == std::string_view::npos) die("unterminated image string");
    const std::string_view b64 = body.substr(start, end - start);
    image.resize(venice_batch::base64::max_decoded_size(b64.size()));
    const auto n = venice_batch::base64::decode(b64, image.data());
    if (!n) die("bad base64");
    std::string folder = out_dir;
    bool new_folder = false;
    if (durable == Durable::fanout) {
      const unsigned h = static_cast<unsigned>((static_cast<std::uint64_t>(written) * 0x9E3779B97F4A7C15ull) >> 52);
      char hex[4];
      std::snprintf(hex, sizeof hex, "%03x", h);
      folder += "/";
      folder += hex;
      if (!made[h]) {
        if (::mkdir(folder.c_str(), 0755) != 0) die("mkdir " + folder);
        made[h] = new_folder = true;
      }
    }
    const std::string name = folder + "/" + std::to_string(written);
    const std::string tmp = name + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die("open " + tmp);
    std::size_t off = 0;
    while (off < *n) {
      const ssize_t w = ::write(fd, image.data() + off, *n - off);
      if (w <= 0) die("write " + tmp);
      off += static_cast<std::size_t>(w);
    }
    ++written;
    if (syncer) {
      ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
      syncer->add({fd, tmp, name + ".webp", folder, new_folder});
      return;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), (name + ".webp").c_str()) != 0) die("rename " + tmp);
  }

  // Moves one connection as far as it goes without blocking; false when it is done for good.
  bool step(Conn& c) {
    for (;;) {
      if (c.phase == Conn::Phase::send) {
        std::size_t w = 0;
        const int r = SSL_write_ex(c.ssl, request.data() + c.sent, request.size() - c.sent, &w);
        if (r <= 0) {
          const int e = SSL_get_error(c.ssl, r);
          if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
          die("SSL_write");
        }
        c.sent += w;
        if (c.sent == request.size()) {
          c.phase = Conn::Phase::head;
          c.head.clear();
        }
        continue;
      }
      if (c.phase == Conn::Phase::head) {
        char buf[16384];
        std::size_t got = 0;
        const int r = SSL_read_ex(c.ssl, buf, sizeof buf, &got);
        if (r <= 0) {
          const int e = SSL_get_error(c.ssl, r);
          if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
          die("SSL_read (head)");
        }
        c.head.append(buf, got);
        const std::size_t end = c.head.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        std::string lower = c.head.substr(0, end);
        for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (lower.rfind("http/1.1 200", 0) != 0) die("not a 200: " + c.head.substr(0, 40));
        const std::size_t cl = lower.find("\r\ncontent-length:");
        if (cl == std::string::npos) die("no Content-Length");
        c.body_len = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
        if (c.body.size() < c.body_len) c.body.resize(c.body_len);
        c.body_got = c.head.size() - (end + 4);
        std::memcpy(c.body.data(), c.head.data() + end + 4, c.body_got);
        c.phase = Conn::Phase::body;
      }
      while (c.body_got < c.body_len) {
        std::size_t got = 0;
        const int r = SSL_read_ex(c.ssl, c.body.data() + c.body_got, c.body_len - c.body_got, &got);
        if (r <= 0) {
          const int e = SSL_get_error(c.ssl, r);
          if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
          die("SSL_read (body)");
        }
        c.body_got += got;
      }
      keep(c);
      if (issued == jobs) return false;
      ++issued;
      c.phase = Conn::Phase::send;
      c.sent = 0;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) die("usage: floor_client HOST PORT JOBS CONCURRENCY OUT_DIR [API_KEY [none|flat|fanout]]");
  const std::string host = argv[1];
  const int port = std::atoi(argv[2]);
  Client client;
  client.jobs = std::atol(argv[3]);
  const long conc = std::atol(argv[4]);
  client.out_dir = std::string(argv[5]) + "/images";
  ::mkdir(argv[5], 0755);
  if (::mkdir(client.out_dir.c_str(), 0755) != 0) die("cannot make " + client.out_dir);
  const std::string key = argc > 6 ? argv[6] : "bench";
  const std::string durable = argc > 7 ? argv[7] : "none";
  if (durable == "flat") client.durable = Durable::flat;
  else if (durable == "fanout") client.durable = Durable::fanout;
  else if (durable != "none") die("DURABLE is none, flat or fanout, not " + durable);
  if (client.durable != Durable::none) client.syncer = std::make_unique<Syncer>(client.out_dir);
  client.made.assign(4096, false);
  const std::string json =
      R"({"model":"z-image-turbo","prompt":"throughput probe","width":1024,"height":1024,"format":"webp"})";
  client.request = "POST /api/v1/image/generate HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + key +
                   "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(json.size()) +
                   "\r\n\r\n" + json;

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) die("SSL_CTX_new");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // loopback bench against a self-signed nginx
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_default_read_buffer_len(ctx, 4 * (16 * 1024 + 256));  // as venice-batch's TlsStream

  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(static_cast<std::size_t>(std::min(conc, client.jobs)));
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < conns.size(); ++i) {
    Conn& c = conns[i];
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
    const int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.ssl = SSL_new(ctx);
    SSL_set_fd(c.ssl, c.fd);
    if (SSL_connect(c.ssl) != 1) die("handshake");
    ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.ptr = &c;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
  }
  long open = 0;
  for (Conn& c : conns) {
    if (client.issued == client.jobs) break;
    ++client.issued;
    ++open;
    if (!client.step(c)) --open;
  }
  std::vector<epoll_event> events(conns.size());
  while (open > 0) {
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 30000);
    if (n == 0) die("30 s without an event");
    for (int i = 0; i < n; ++i) {
      Conn& c = *static_cast<Conn*>(events[i].data.ptr);
      if (c.ssl == nullptr) continue;
      if (!client.step(c)) {
        SSL_free(c.ssl);
        c.ssl = nullptr;
        ::close(c.fd);
        --open;
      }
    }
  }
  const long kept = client.syncer ? client.syncer->finish() : client.written;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%ld images, %.3f s, %.0f images/s\n", kept, wall, kept / wall);
  return kept == client.jobs ? 0 : 1;
}
