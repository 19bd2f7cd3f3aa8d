#include "harness/machine_profile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include "harness/store.h"

namespace streammoe::lab {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kAlign = 4096;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

// A descriptor that closes itself.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<std::byte, FreeDeleter>;

AlignedBytes aligned_bytes(uint64_t bytes) {
  return AlignedBytes(static_cast<std::byte*>(std::aligned_alloc(kAlign, round_up(bytes, kAlign))));
}

struct ProbeFile {
  Fd fd;
  uint64_t size = 0;
};

// An unnamed scratch file of `bytes` beside `dir`, written with O_DIRECT (so none of it sits in
// the page cache) and unlinked at once, so that nothing is left behind whatever happens.
std::optional<ProbeFile> scratch_file(const fs::path& dir, uint64_t bytes, std::string& note) {
  fs::path name = dir / fmt::format(".streammoe-lab-probe-{}", getpid());
  Fd fd(::open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0600));
  if (fd.fd < 0) {
    note = fmt::format("{}: cannot create a scratch file: {}", dir.string(), std::strerror(errno));
    return std::nullopt;
  }
  ::unlink(name.c_str());
  constexpr uint64_t kChunk = 4 << 20;
  AlignedBytes chunk = aligned_bytes(kChunk);
  // Not zeros: a compressing or deduplicating device would read zeros faster than data.
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  auto* words = reinterpret_cast<uint64_t*>(chunk.get());
  for (uint64_t i = 0; i < kChunk / 8; ++i) words[i] = (state ^= state << 13, state ^= state >> 7, state ^= state << 17);
  for (uint64_t written = 0; written < bytes; written += kChunk) {
    words[0] = written;  // every chunk differs
    if (::pwrite(fd.fd, chunk.get(), kChunk, static_cast<off_t>(written)) != static_cast<ssize_t>(kChunk)) {
      note = fmt::format("{}: cannot write a scratch file: {}", dir.string(), std::strerror(errno));
      return std::nullopt;
    }
  }
  ::fdatasync(fd.fd);
  return ProbeFile{std::move(fd), round_up(bytes, kChunk)};
}

double random_reads(const std::vector<ProbeFile>& files, uint64_t block, int queue_depth,
                    double seconds) {
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> failed{false};
  std::vector<const ProbeFile*> usable;
  for (const auto& f : files)
    if (f.size >= block) usable.push_back(&f);
  if (usable.empty()) return kNaN;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < queue_depth; ++t)
    threads.emplace_back([&, t] {
      AlignedBytes buffer = aligned_bytes(block);
      uint64_t rng = 0x243f6a8885a308d3ULL + static_cast<uint64_t>(t) * 0x9e3779b97f4a7c15ULL;
      auto next = [&rng] {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
      };
      while (!failed && seconds_since(start) < seconds) {
        const ProbeFile& f = *usable[next() % usable.size()];
        uint64_t slots = (f.size - block) / kAlign + 1;
        off_t offset = static_cast<off_t>(next() % slots * kAlign);
        ssize_t n = ::pread(f.fd.fd, buffer.get(), block, offset);
        if (n <= 0) {
          failed = true;
          break;
        }
        bytes += static_cast<uint64_t>(n);
      }
    });
  for (auto& th : threads) th.join();
  if (failed) return kNaN;
  return static_cast<double>(bytes) / seconds_since(start) / 1e9;
}

std::string read_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

std::string gb(uint64_t bytes) { return fmt::format("{:.2f} GB", static_cast<double>(bytes) / 1e9); }

}  // namespace

nlohmann::json MachineProfile::to_json() const {
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  return {{"boot_id", boot_id},
          {"device", device},
          {"block_bytes", block_bytes},
          {"queue_depth", queue_depth},
          {"disk_rand_gbps", number(disk_rand_gbps)},
          {"ram_read_gbps", number(ram_read_gbps)},
          {"ram_read_gbps_1t", number(ram_read_gbps_1t)},
          {"probe", probe},
          {"measured_at", measured_at},
          {"measured_epoch_s", measured_epoch_s},
          {"seconds", seconds},
          {"reused", reused},
          {"note", note}};
}

std::optional<MachineProfile> MachineProfile::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  auto number = [&](const char* key) {
    return j.contains(key) && j[key].is_number() ? j[key].get<double>() : kNaN;
  };
  try {
    MachineProfile p;
    p.boot_id = j.at("boot_id").get<std::string>();
    p.device = j.at("device").get<std::string>();
    p.block_bytes = j.at("block_bytes").get<uint64_t>();
    p.queue_depth = j.at("queue_depth").get<int>();
    p.disk_rand_gbps = number("disk_rand_gbps");
    p.ram_read_gbps = number("ram_read_gbps");
    p.ram_read_gbps_1t = number("ram_read_gbps_1t");
    p.probe = j.value("probe", "");
    p.measured_at = j.value("measured_at", "");
    p.measured_epoch_s = j.at("measured_epoch_s").get<int64_t>();
    p.seconds = number("seconds");
    p.note = j.value("note", "");
    return p;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // an entry of another format: ignored
  }
}

std::string boot_id() { return read_line("/proc/sys/kernel/random/boot_id"); }

std::string block_device(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  unsigned maj = major(st.st_dev), min = minor(st.st_dev);
  std::error_code ec;
  fs::path device = fs::canonical(fmt::format("/sys/dev/block/{}:{}", maj, min), ec);
  if (ec) return fmt::format("dev {}:{}", maj, min);
  return device.filename().string();
}

ProfileRequest profile_request(const ExpertFiles& experts) {
  ProfileRequest request;
  request.files = experts.files;
  if (experts.record_bytes > 0) request.block_bytes = experts.record_bytes;
  if (experts.experts_per_token > 0) request.queue_depth = experts.experts_per_token;
  return request;
}

double disk_random_read_gbps(const std::vector<fs::path>& files, uint64_t block_bytes,
                             int queue_depth, double seconds, std::string& note) {
  block_bytes = round_up(std::max<uint64_t>(block_bytes, 1), kAlign);
  std::vector<ProbeFile> open;
  for (const auto& f : files) {
    Fd fd(::open(f.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
    if (fd.fd < 0) {
      note = fmt::format("{}: cannot open with O_DIRECT: {}", f.string(), std::strerror(errno));
      return kNaN;
    }
    struct stat st {};
    if (::fstat(fd.fd, &st) != 0) continue;
    open.push_back({std::move(fd), static_cast<uint64_t>(st.st_size)});
  }
  double gbps = random_reads(open, block_bytes, std::max(queue_depth, 1), seconds);
  if (!std::isfinite(gbps) && note.empty())
    note = fmt::format("no file of at least {} bytes could be read with O_DIRECT", block_bytes);
  return gbps;
}

double ram_read_gbps(uint64_t bytes, int threads, int passes) {
  threads = std::max(threads, 1);
  std::vector<uint64_t> buffer(bytes / 8);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = i;
  const size_t share = buffer.size() / threads;
  std::vector<uint64_t> sums(threads);
  double best = 0;
  for (int p = 0; p < passes; ++p) {
    const auto start = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        // Four accumulators: one add chain would bound the loop by latency, not bandwidth.
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        const uint64_t* p0 = buffer.data() + t * share;
        for (size_t i = 0; i + 4 <= share; i += 4) {
          s0 += p0[i];
          s1 += p0[i + 1];
          s2 += p0[i + 2];
          s3 += p0[i + 3];
        }
        sums[t] = s0 + s1 + s2 + s3;
      });
    for (auto& th : pool) th.join();
    best = std::max(best, static_cast<double>(share * threads * 8) / seconds_since(start) / 1e9);
  }
  // The sums are stored, so the reads cannot be optimised away.
  static volatile uint64_t sink;
  for (uint64_t s : sums) sink = sink + s;
  return best;
}

MachineProfile measure_machine(const ProfileRequest& request) {
  const auto start = Clock::now();
  MachineProfile p;
  p.boot_id = boot_id();
  p.block_bytes = round_up(std::max<uint64_t>(request.block_bytes, 1), kAlign);
  p.queue_depth = std::max(request.queue_depth, 1);
  std::error_code ec;
  uint64_t total = 0;
  for (const auto& f : request.files) total += fs::file_size(f, ec);
  p.device = request.files.empty() ? "" : block_device(request.files.front());

  if (!request.files.empty() && total >= request.min_probe_bytes) {
    p.probe = fmt::format("{} model file{} ({})", request.files.size(),
                          request.files.size() == 1 ? "" : "s", gb(total));
    p.disk_rand_gbps =
        disk_random_read_gbps(request.files, p.block_bytes, p.queue_depth, request.disk_seconds, p.note);
  } else if (!request.files.empty()) {
    fs::path dir = request.files.front().parent_path();
    std::vector<ProbeFile> scratch;
    if (auto f = scratch_file(dir, request.min_probe_bytes, p.note)) scratch.push_back(std::move(*f));
    p.probe = fmt::format("scratch file of {} beside {} (the model's files hold only {})",
                          gb(request.min_probe_bytes), dir.string(), gb(total));
    p.disk_rand_gbps = scratch.empty() ? kNaN
                                       : random_reads(scratch, p.block_bytes, p.queue_depth,
                                                      request.disk_seconds);
    if (!scratch.empty() && !std::isfinite(p.disk_rand_gbps))
      p.note = fmt::format("{}: O_DIRECT reads failed", dir.string());
  } else {
    p.disk_rand_gbps = kNaN;
    p.note = "no model files to probe";
  }
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  p.ram_read_gbps_1t = ram_read_gbps(request.ram_bytes, 1);
  p.ram_read_gbps = cores > 1 ? ram_read_gbps(request.ram_bytes, cores) : p.ram_read_gbps_1t;
  p.measured_at = now_iso8601();
  p.measured_epoch_s = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  p.seconds = seconds_since(start);
  return p;
}

fs::path default_profile_cache() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return fs::path(xdg) / "streammoe-lab/machine-profiles.json";
  if (const char* home = std::getenv("HOME"); home && *home)
    return fs::path(home) / ".cache/streammoe-lab/machine-profiles.json";
  return fs::temp_directory_path() / "streammoe-lab-machine-profiles.json";
}

MachineProfile machine_profile(const ProfileRequest& request, const fs::path& cache_file,
                               bool force, double max_age_s) {
  nlohmann::json cache = nlohmann::json::array();
  {
    std::ifstream in(cache_file);
    if (in) {
      auto parsed = nlohmann::json::parse(in, nullptr, false);
      if (parsed.is_array()) cache = std::move(parsed);
    }
  }
  const std::string boot = boot_id();
  const std::string device = request.files.empty() ? "" : block_device(request.files.front());
  const uint64_t block = round_up(std::max<uint64_t>(request.block_bytes, 1), kAlign);
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  if (!force)
    for (auto it = cache.rbegin(); it != cache.rend(); ++it) {
      auto p = MachineProfile::from_json(*it);
      if (p && !boot.empty() && p->boot_id == boot && p->device == device &&
          p->block_bytes == block && p->queue_depth == std::max(request.queue_depth, 1) &&
          now - p->measured_epoch_s <= max_age_s) {
        p->reused = true;
        return *p;
      }
    }
  MachineProfile measured = measure_machine(request);
  cache.push_back(measured.to_json());
  while (cache.size() > 32) cache.erase(cache.begin());
  // Written beside and renamed: two labs measuring at once never leave half a file.
  std::error_code ec;
  fs::create_directories(cache_file.parent_path(), ec);
  fs::path partial = cache_file;
  partial += fmt::format(".{}", getpid());
  {
    std::ofstream out(partial);
    out << cache.dump(1) << "\n";
  }
  fs::rename(partial, cache_file, ec);
  if (ec) fs::remove(partial, ec);  // a cache we cannot write only costs a later measurement
  return measured;
}

}  // namespace streammoe::lab
