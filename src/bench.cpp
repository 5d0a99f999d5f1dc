#include "venice_batch/bench.hpp"

#include <cmath>
#include <csignal>
#include <ostream>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <fmt/format.h>

#include "venice_batch/exchange.hpp"
#include "venice_batch/exit_status.hpp"
#include "venice_batch/manifest.hpp"
#include "venice_batch/out_dir_lock.hpp"

namespace venice_batch {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

std::int64_t micros(Clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

// The pool must hold the closed loop's requests in flight: --concurrency, not the run's config
// (sized from the config, 16 requests shared 5 connections and waited for them).
HttpPoolSettings bench_pool_settings(const BenchOptions& o) {
  HttpPoolSettings s = pool_settings_from(o.config, " (bench)");
  if (o.concurrency > 0) s.max_connections = std::max<std::size_t>(s.max_connections, std::size_t{o.concurrency} + 1);
  return s;
}

class Bench {
 public:
  Bench(const BenchOptions& o, std::vector<JobSpec> jobs)
      : o_(o), jobs_(std::move(jobs)), pool_(io_.get_executor(), HttpEndpoint::from_base_url(o.config.base_url), bench_pool_settings(o)),
        stop_timer_(io_), signals_(io_, SIGINT, SIGTERM) {
    if (!o.discard_images) sink_ = std::make_unique<OutputSink>(o.out_dir, false);
    authorization_ = "Bearer " + o.api_key;
  }

  void run();
  void print(std::ostream& out) const;
  std::string to_json() const;
  std::uint64_t succeeded() const { return ok_; }

 private:
  bool should_issue() const {
    if (stopping_) return false;
    if (o_.requests && issued_measured_ >= *o_.requests) return false;
    return true;
  }
  net::awaitable<void> one_request(std::uint64_t seq, Clock::time_point intended);
  net::awaitable<void> closed_worker();
  net::awaitable<void> open_dispatcher();
  void stop();
  void maybe_finish();
  // A coroutine's exception ends the bench with the message (never std::terminate).
  void record_failure(std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      if (internal_error_.empty()) internal_error_ = ex.what();
    }
    stop();
  }

 public:
  const std::string& internal_error() const { return internal_error_; }

 private:
  std::string internal_error_;

  const BenchOptions& o_;
  std::vector<JobSpec> jobs_;
  net::io_context io_{1};
  net::thread_pool cpu_{2};
  HttpClientPool pool_;
  std::unique_ptr<OutputSink> sink_;
  net::steady_timer stop_timer_;
  net::signal_set signals_;
  std::string authorization_;
  RunMetrics metrics_;
  Clock::time_point start_, measure_start_, measure_end_;
  std::uint64_t next_seq_ = 0, issued_measured_ = 0, ok_ = 0, failed_ = 0, measured_ = 0, dropped_ = 0;
  std::uint64_t images_ = 0, image_bytes_ = 0, bytes_in_ = 0, bytes_out_ = 0;
  std::map<int, std::uint64_t> statuses_;
  std::map<std::string, std::uint64_t> errors_;
  unsigned in_flight_ = 0, live_ = 0;
  bool stopping_ = false;
};

net::awaitable<void> Bench::one_request(std::uint64_t seq, Clock::time_point intended) {
  const JobSpec& job = jobs_[seq % jobs_.size()];
  const auto sent = Clock::now();
  ++in_flight_;
  HttpExchange ex = co_await pool_.post("/image/generate", job.body, authorization_);
  StoredResponse decoded = co_await store_response(cpu_.get_executor(), ex, {job.format, job.variants, job.return_binary},
                                                   job.id + "-" + std::to_string(seq), sink_.get());
  --in_flight_;
  const auto done = Clock::now();
  if (done < measure_start_) co_return;  // warmup
  ++measured_;
  if (measure_end_ == Clock::time_point{} || done > measure_end_) measure_end_ = done;
  const int status = ex.response ? ex.response->status : 0;
  ++statuses_[status];
  bytes_in_ += ex.bytes_in;
  bytes_out_ += ex.bytes_out;
  metrics_.counters().bytes_wire += ex.body_wire_bytes;
  metrics_.counters().bytes_decoded += ex.body_decoded_bytes;
  record_exchange(metrics_, ex);
  metrics_.record(Phase::admission_rate, micros(sent - intended));  // schedule lag (open loop)
  // From the intended start: in an open loop a request that could not start on time is late,
  // and that lateness is latency the user would have seen.
  metrics_.record(Phase::attempt_total, micros(done - intended));
  if (decoded.ok) {
    ++ok_;
    images_ += decoded.images;
    image_bytes_ += decoded.image_bytes;
    metrics_.record(Phase::decode, decoded.decode_us);
    if (sink_) metrics_.record(Phase::write_files, decoded.write_us);
    if (decoded.server_timing) metrics_.record_server_timing(*decoded.server_timing);
  } else {
    ++failed_;
    if (!ex.response) ++errors_[std::string(to_string(ex.error))];
    else if (status != 200) ++errors_["http_" + std::to_string(status)];
    else ++errors_[decoded.error_kind];
  }
}

net::awaitable<void> Bench::closed_worker() {
  while (should_issue()) {
    const std::uint64_t seq = next_seq_++;
    if (Clock::now() >= measure_start_) ++issued_measured_;
    co_await one_request(seq, Clock::now());
  }
  --live_;
  maybe_finish();
}

net::awaitable<void> Bench::open_dispatcher() {
  net::steady_timer timer(io_);
  const auto interval = std::chrono::duration<double>(1.0 / o_.rate_per_second);
  const auto t0 = Clock::now();
  for (std::uint64_t i = 0; should_issue(); ++i) {
    const auto intended = t0 + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
    timer.expires_at(intended);
    co_await timer.async_wait(use_tuple);
    if (!should_issue()) break;
    if (intended >= measure_start_) ++issued_measured_;
    if (in_flight_ >= o_.max_in_flight) {
      ++dropped_;  // counted, never silently skipped
      continue;
    }
    ++live_;
    net::co_spawn(io_, one_request(next_seq_++, intended), [this](std::exception_ptr e) {
      record_failure(e);
      --live_;
      maybe_finish();
    });
  }
  --live_;
  maybe_finish();
}

void Bench::stop() {
  stopping_ = true;
}

void Bench::maybe_finish() {
  if (live_ == 0) {
    stop_timer_.cancel();
    boost::system::error_code ignored;
    signals_.cancel(ignored);
  }
}

void Bench::run() {
  start_ = Clock::now();
  measure_start_ = start_ + o_.warmup;
  if (o_.duration) {
    stop_timer_.expires_at(measure_start_ + *o_.duration);
    stop_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) stop();
    });
  }
  signals_.async_wait([this](boost::system::error_code ec, int) {
    if (!ec) stop();
  });
  auto on_done = [this](std::exception_ptr e) { record_failure(e); };
  if (o_.rate_per_second > 0) {
    live_ = 1;
    net::co_spawn(io_, open_dispatcher(), on_done);
  } else {
    live_ = o_.concurrency;
    for (unsigned i = 0; i < o_.concurrency; ++i) net::co_spawn(io_, closed_worker(), on_done);
  }
  io_.run();
  cpu_.join();
}

std::string Bench::to_json() const {
  std::string m = metrics_.to_json("");
  const double secs = std::chrono::duration<double>(measure_end_ - measure_start_).count();
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("mode");
  w.String(o_.rate_per_second > 0 ? "open" : "closed");
  w.Key("concurrency");
  w.Uint(o_.concurrency);
  w.Key("rate_per_s");
  w.Double(o_.rate_per_second);
  w.Key("measured_s");
  w.Double(secs);
  w.Key("requests");
  w.Uint64(measured_);
  w.Key("ok");
  w.Uint64(ok_);
  w.Key("failed");
  w.Uint64(failed_);
  w.Key("dropped");
  w.Uint64(dropped_);
  w.Key("requests_per_s");
  w.Double(secs > 0 ? static_cast<double>(measured_) / secs : 0);
  w.Key("images_per_s");
  w.Double(secs > 0 ? static_cast<double>(images_) / secs : 0);
  w.Key("mb_per_s");
  w.Double(secs > 0 ? static_cast<double>(bytes_in_) / secs / 1e6 : 0);
  w.Key("success_ratio");
  w.Double(measured_ ? static_cast<double>(ok_) / static_cast<double>(measured_) : 0);
  w.Key("status_counts");
  w.StartObject();
  for (const auto& [s, n] : statuses_) {
    w.Key(std::to_string(s).c_str());
    w.Uint64(n);
  }
  w.EndObject();
  w.Key("errors");
  w.StartObject();
  for (const auto& [s, n] : errors_) {
    w.Key(s.c_str());
    w.Uint64(n);
  }
  w.EndObject();
  w.Key("metrics");
  w.RawValue(m.data(), m.size(), rapidjson::kObjectType);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

void Bench::print(std::ostream& out) const {
  const double secs = std::chrono::duration<double>(measure_end_ - measure_start_).count();
  auto per_s = [&](double n) { return secs > 0 ? n / secs : 0.0; };
  std::string s = o_.rate_per_second > 0 ? fmt::format("Summary (open loop, {:.2f} req/s):\n", o_.rate_per_second)
                                         : fmt::format("Summary (closed loop, concurrency {}):\n", o_.concurrency);
  s += fmt::format("  Measured:      {:.2f} s (after {:.2f} s warmup)\n", secs, o_.warmup.count() / 1000.0);
  s += fmt::format("  Requests:      {} ({:.2f}/s)", measured_, per_s(static_cast<double>(measured_)));
  if (dropped_) s += fmt::format(", {} not started (in-flight cap)", dropped_);
  s += fmt::format("\n  Images:        {} ({:.2f}/s)\n", images_, per_s(static_cast<double>(images_)));
  s += fmt::format("  Throughput:    {:.2f} MB/s in, {:.2f} MB/s out\n", per_s(bytes_in_ / 1e6), per_s(bytes_out_ / 1e6));
  s += fmt::format("  Success ratio: {:.2f} %\n", measured_ ? 100.0 * static_cast<double>(ok_) / measured_ : 0.0);
  s += "  Status codes:  ";
  for (const auto& [st, n] : statuses_) s += fmt::format("[{}] {}  ", st ? std::to_string(st) : "no answer", n);
  s += "\n";
  if (!errors_.empty()) {
    s += "  Errors:        ";
    for (const auto& [e, n] : errors_) s += fmt::format("{} {}  ", e, n);
    s += "\n";
  }
  s += "\n  Phase (ms)            count      p50      p90      p99    p99.9      max\n";
  auto row = [&](std::string_view label, Phase p) {
    const auto& h = metrics_.histogram(p);
    if (h.count() == 0) return;
    s += fmt::format("  {:<20}{:>7}", label, h.count());
    for (double q : {50.0, 90.0, 99.0, 99.9}) s += fmt::format("{:>9.2f}", h.value_at_percentile(q) / 1000.0);
    s += fmt::format("{:>9.2f}\n", h.max() / 1000.0);
  };
  s += "  client:\n";
  row("  schedule lag", Phase::admission_rate);
  row("  connect", Phase::connect);
  row("  tls handshake", Phase::tls);
  row("  request write", Phase::write);
  row("  time to 1st byte", Phase::ttfb);
  row("  body download", Phase::download);
  row("  parse + decode", Phase::decode);
  row("  file write", Phase::write_files);
  row("  latency (total)", Phase::attempt_total);
  s += "  server (timing):\n";
  row("  queue", Phase::server_queue);
  row("  preprocessing", Phase::server_preprocessing);
  row("  inference", Phase::server_inference);
  row("  total", Phase::server_total);
  out << s;
}

}  // namespace

int run_bench(const BenchOptions& o, std::ostream& out) {
  check_api_key(o.api_key);
  validate_config(o.config);
  if ((o.concurrency > 0) == (o.rate_per_second > 0)) throw ConfigError("give exactly one of --concurrency or --rate");
  if (!o.duration && !o.requests) throw ConfigError("give --duration or --requests");
  if (!o.discard_images && o.out_dir.empty()) throw ConfigError("give --out DIR, or --discard-images");

  const ManifestOptions mo = manifest_options_from(o.config);
  std::vector<JobSpec> jobs;
  std::uint64_t invalid = 0;
  try {
    ManifestReader reader(o.manifest, mo);
    while (auto e = reader.next()) {
      if (auto* j = std::get_if<JobSpec>(&*e)) jobs.push_back(std::move(*j));
      else ++invalid;
      if (jobs.size() >= 100000) break;  // enough to cycle through
    }
  } catch (const std::exception& e) {
    throw ConfigError(e.what());
  }
  if (jobs.empty()) throw ConfigError("the manifest has no valid job");
  if (invalid) out << "bench: skipping " << invalid << " invalid manifest line(s)\n";

  // bench writes its images with no journal: in a run's out dir they would be files no record
  // names, in the dataset, never swept. Its own out dir, and no run on it meanwhile.
  std::optional<OutDirLock> lock;
  if (!o.discard_images) {
    std::error_code ec;
    for (const char* runs_file : {"results.jsonl", "layout.json"})
      if (std::filesystem::exists(std::filesystem::symlink_status(o.out_dir / runs_file, ec)))
        throw ConfigError(fmt::format("{} holds a run ({}): bench writes images no journal records, so give it an out "
                                      "dir of its own (or --discard-images)",
                                      o.out_dir.string(), runs_file));
    lock.emplace(o.out_dir);  // throws ConfigError naming the run that holds it
  }

  std::unique_ptr<Bench> bench;
  try {
    bench = std::make_unique<Bench>(o, std::move(jobs));
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    throw ConfigError(e.what());
  }
  bench->run();
  if (!bench->internal_error().empty()) {
    out << fmt::format("bench: stopped by an internal error: {}\n", bench->internal_error());
    return exit_stopped;
  }
  bench->print(out);
  if (!o.json_file.empty()) {
    auto w = write_file_atomically(o.json_file, bench->to_json() + "\n", false);
    if (!w) out << "bench: cannot write " << o.json_file.string() << ": " << w.error().message() << "\n";
  }
  return bench->succeeded() > 0 ? 0 : 1;
}

}  // namespace venice_batch
