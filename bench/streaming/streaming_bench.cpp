// Streaming benchmark driver, subcommands run as separate processes by
// scripts/bench-streaming.sh (so each decode run has its own peak RSS and can sit in its own
// cgroup):
//   synth  --like CONFIG --layers N [--vocab V] --out DIR    the same model `streammoe synth`
//   writes disk   --files F... [--seconds S] [--qd Q]   O_DIRECT sequential and 4 MiB random read
//   GB/s ram    [--mb M] [--threads T]                 memory read bandwidth GB/s (1 and T threads)
//   decode --model DIR [--io pread|direct|dontneed] [--io-threads N] [--threads T] [--prompt P]
//          [--tokens N] [--evict] [--warm]        decode through the engine, metrics as JSON
// Each prints one JSON object on stdout.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/convert/packed_writer.h"
#include "engine/convert/synth.h"
#include "engine/io/aligned_buffer.h"
#include "engine/io/packed_format.h"
#include "engine/models/model.h"
#include "engine/runtime/generator.h"
#include "engine/runtime/metrics.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Args {
  std::vector<std::string> positional;
  std::string get(const std::string& key, const std::string& fallback) const {
    for (size_t i = 0; i + 1 < positional.size(); ++i)
      if (positional[i] == key) return positional[i + 1];
    return fallback;
  }
  bool flag(const std::string& key) const {
    return std::find(positional.begin(), positional.end(), key) != positional.end();
  }
  std::vector<std::string> list(const std::string& key) const {
    std::vector<std::string> out;
    for (size_t i = 0; i < positional.size(); ++i)
      if (positional[i] == key)
        for (size_t j = i + 1; j < positional.size() && positional[j].rfind("--", 0) != 0; ++j)
          out.push_back(positional[j]);
    return out;
  }
};

// ---- disk -----------------------------------------------------------------------------------

struct OpenFile {
  int fd;
  uint64_t size;
};

std::vector<OpenFile> open_direct(const std::vector<std::string>& paths) {
  std::vector<OpenFile> files;
  for (const auto& p : paths) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECT);
    if (fd < 0) fail("{}: cannot open with O_DIRECT: {}", p, std::strerror(errno));
    files.push_back({fd, fs::file_size(p)});
  }
  return files;
}

void read_direct(const OpenFile& f, uint64_t offset, std::byte* buffer, size_t bytes) {
  size_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::pread(f.fd, buffer + done, bytes - done, static_cast<off_t>(offset + done));
    if (n <= 0)
      fail("disk bench: read failed at {}: {}", offset + done,
           n < 0 ? std::strerror(errno) : "end of file");
    done += static_cast<size_t>(n);
  }
}

// Sequential: each of `qd` threads streams its own contiguous share of the files in 4 MiB reads.
double sequential_gbps(const std::vector<OpenFile>& files, int qd, double max_seconds) {
  constexpr uint64_t kBlock = 4ull << 20;
  std::vector<std::pair<int, uint64_t>> blocks;  // (file, offset)
  for (size_t f = 0; f < files.size(); ++f)
    for (uint64_t off = 0; off + kBlock <= files[f].size; off += kBlock)
      blocks.push_back({static_cast<int>(f), off});
  std::atomic<uint64_t> bytes{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < qd; ++t)
    threads.emplace_back([&, t] {
      AlignedBuffer buffer(kBlock);
      const size_t share = blocks.size() / qd, begin = t * share,
                   end = t + 1 == qd ? blocks.size() : begin + share;
      for (size_t b = begin; b < end && seconds_since(start) < max_seconds; ++b) {
        read_direct(files[blocks[b].first], blocks[b].second, buffer.data(), kBlock);
        bytes += kBlock;
      }
    });
  for (auto& th : threads) th.join();
  return bytes / seconds_since(start) / 1e9;
}

// Random: `qd` threads each issue 4 MiB reads at random 4 KiB-aligned offsets.
double random_gbps(const std::vector<OpenFile>& files, int qd, double seconds, uint64_t block) {
  std::atomic<uint64_t> bytes{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < qd; ++t)
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(1234 + t);
      AlignedBuffer buffer(block);
      while (seconds_since(start) < seconds) {
        const OpenFile& f = files[rng() % files.size()];
        const uint64_t slots = (f.size - block) / 4096;
        read_direct(f, (rng() % slots) * 4096, buffer.data(), block);
        bytes += block;
      }
    });
  for (auto& th : threads) th.join();
  return bytes / seconds_since(start) / 1e9;
}

json disk(const Args& a) {
  const auto paths = a.list("--files");
  if (paths.empty()) fail("disk: --files needs at least one file");
  const auto files = open_direct(paths);
  const double seconds = std::stod(a.get("--seconds", "5"));
  const int qd = std::stoi(a.get("--qd", "8"));
  json j = {{"what", "disk"},
            {"files", paths.size()},
            {"method", "O_DIRECT pread, page cache bypassed"},
            {"qd", qd},
            {"seq_gbps", sequential_gbps(files, qd, seconds)},
            {"rand4m_gbps", random_gbps(files, qd, seconds, 4ull << 20)},
            {"rand4m_qd1_gbps", random_gbps(files, 1, seconds / 2, 4ull << 20)}};
  // The engine's own read size (one expert record) at the same depth, for comparison.
  if (const uint64_t expert = std::stoull(a.get("--expert-bytes", "0")); expert > 0) {
    j["expert_read_bytes"] = expert;
    j["rand_expert_gbps"] = random_gbps(files, qd, seconds, expert);
  }
  for (const auto& f : files) ::close(f.fd);
  return j;
}

// ---- RAM --------------------------------------------------------------------------------------

double ram_read_gbps(std::vector<uint64_t>& buffer, int threads, int passes) {
  double best = 0.0;
  std::vector<uint64_t> sums(threads);
  for (int p = 0; p < passes; ++p) {
    const auto start = Clock::now();
    std::vector<std::thread> pool;
    const size_t share = buffer.size() / threads;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
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
    best = std::max(best, share * threads * 8.0 / seconds_since(start) / 1e9);
  }
  volatile uint64_t sink = 0;
  for (uint64_t s : sums) sink = sink + s;
  return best;
}

json ram(const Args& a) {
  const size_t mb = std::stoul(a.get("--mb", "2048"));
  const int threads =
      std::stoi(a.get("--threads", std::to_string(std::thread::hardware_concurrency())));
  std::vector<uint64_t> buffer(mb * (1 << 20) / 8);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = i;
  return {{"what", "ram"},
          {"mb", mb},
          {"threads", threads},
          {"read_gbps_1thread", ram_read_gbps(buffer, 1, 3)},
          {"read_gbps_all", ram_read_gbps(buffer, threads, 5)}};
}

// ---- decode -----------------------------------------------------------------------------------

std::vector<fs::path> expert_files(const fs::path& model, const PackedManifest& m) {
  std::vector<fs::path> out;
  for (const auto& l : m.layers) out.push_back(model / l.file);
  return out;
}

void evict(const std::vector<fs::path>& files) {
  for (const auto& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY);
    if (fd < 0) fail("{}: cannot open to evict", f.string());
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

void warm_up(const std::vector<fs::path>& files) {
  std::vector<char> buffer(8 << 20);
  for (const auto& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY);
    while (::read(fd, buffer.data(), buffer.size()) > 0) {
    }
    ::close(fd);
  }
}

json decode(const Args& a) {
  const fs::path folder = a.get("--model", "");
  const PackedManifest manifest = read_packed_manifest(folder);
  const auto files = expert_files(folder, manifest);
  ExpertIoOptions io;
  if (!parse_enum(a.get("--io", "pread"), &io.mode))
    fail("--io {}: unknown mode", a.get("--io", ""));
  io.io_threads = std::stoi(a.get("--io-threads", "0"));
  if (a.flag("--evict")) evict(files);
  if (a.flag("--warm")) warm_up(files);

  const auto load_start = Clock::now();
  auto model = Model::load(folder, io);
  const double load_s = seconds_since(load_start);
  const int64_t threads = std::stoll(a.get("--threads", "1"));
  model->set_threads(threads);
  const ModelConfig& c = model->config();
  const int64_t prompt_tokens = std::stoll(a.get("--prompt", "4"));
  const int64_t new_tokens = std::stoll(a.get("--tokens", "16"));
  GenerationRequest req;
  for (int64_t i = 0; i < prompt_tokens; ++i)
    req.prompt.push_back(static_cast<int32_t>((i * 7919 + 17) % c.vocab_size));
  req.max_new_tokens = new_tokens;
  req.stop_at_eos = false;
  Sampler sampler({});
  ModelState state = model->new_state();
  const GenerationResult r = generate(*model, state, req, sampler);

  json metrics = generation_metrics(r, *model, {}, {folder.string(), req.prompt.size(), ""});
  const uint64_t resident = fs::file_size(folder / manifest.resident_file);
  const uint64_t embed_bytes =
      static_cast<uint64_t>(c.vocab_size) * c.hidden_size * 2;  // bf16 embed table
  const uint64_t slots = std::max<int64_t>(c.experts_per_tok, 1);
  json j = {{"what", "decode"},
            {"io", enum_name(io.mode)},
            {"io_threads", io.io_threads},
            {"compute_threads", threads},
            {"evicted_before", a.flag("--evict")},
            {"warmed_before", a.flag("--warm")},
            {"load_s", load_s},
            {"prompt_tokens", prompt_tokens},
            {"decode_tokens", r.decode_ms.size()},
            {"decode_tok_s", r.decode_tok_s()},
            {"ttft_ms", r.ttft_ms},
            {"phase_ms_per_token", metrics["phase_ms_per_token"]},
            {"expert_bytes_read_per_token", metrics["expert_bytes_read_per_token"]},
            {"experts_loaded_per_token", metrics["experts_loaded_per_token"]},
            {"peak_rss_mb", peak_rss_mb()},
            {"resident_bytes", resident},
            {"io_buffer_bytes", slots * manifest.layout.expert_stride},
            {"expert_file_bytes", manifest.expert_file_bytes()},
            // Every resident weight is read each token except the embedding table (one row).
            {"resident_bytes_touched_per_token", resident - embed_bytes + c.hidden_size * 2},
            {"model", c.summary()},
            {"build", metrics["build"]}};
  return j;
}

// ---- synth --------------------------------------------------------------------------------------

// What `streammoe synth` does, here too so that the benchmark needs only this one binary on a
// machine without the build dependencies.
json synth(const Args& a) {
  std::ifstream in(a.get("--like", ""));
  if (!in) fail("{}: cannot open --like", a.get("--like", ""));
  SynthOptions options;
  options.layers = std::stoll(a.get("--layers", "0"));
  options.vocab = std::stoll(a.get("--vocab", "0"));
  const json config = synth_config(json::parse(in), options, a.get("--like", ""));
  PackOptions pack;
  const PackResult r = write_packed_model(*make_synth_input(config, options, a.get("--like", "")),
                                          a.get("--out", ""), pack);
  return {{"what", "synth"},
          {"seconds", r.seconds},
          {"expert_file_bytes", r.expert_file_bytes},
          {"resident_bytes", r.resident_bytes},
          {"expert_bytes", r.manifest.layout.expert_bytes}};
}

}  // namespace
}  // namespace streammoe

int main(int argc, char** argv) {
  using namespace streammoe;
  if (argc < 2) {
    std::fprintf(stderr, "usage: streaming_bench synth|disk|ram|decode [options]\n");
    return 2;
  }
  Args args;
  for (int i = 2; i < argc; ++i) args.positional.push_back(argv[i]);
  try {
    const std::string what = argv[1];
    json j;
    if (what == "synth")
      j = synth(args);
    else if (what == "disk")
      j = disk(args);
    else if (what == "ram")
      j = ram(args);
    else if (what == "decode")
      j = decode(args);
    else
      fail("unknown subcommand '{}'", what);
    std::cout << j.dump() << std::endl;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "streaming_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
