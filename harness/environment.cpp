#include "harness/environment.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "build_info.h"
#include "harness/store.h"

namespace streammoe::lab {

namespace fs = std::filesystem;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

std::string read_first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return trim(line);
}

// Output of a short command (git); empty on failure.
std::string command_output(const std::string& command) {
  struct Closer {
    void operator()(FILE* f) const { pclose(f); }
  };
  std::unique_ptr<FILE, Closer> pipe(popen(command.c_str(), "r"));
  if (!pipe) return "";
  std::string out;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) out.append(buffer.data(), n);
  return out;
}

std::string quote(const fs::path& p) {
  std::string out = "'";
  for (char c : p.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

double load_average_1m() {
  std::ifstream in("/proc/loadavg");
  double load = std::numeric_limits<double>::quiet_NaN();
  in >> load;
  return load;
}

std::string describe_disk(const fs::path& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";
  unsigned maj = major(st.st_dev), min = minor(st.st_dev);
  fs::path sys = fmt::format("/sys/dev/block/{}:{}", maj, min);
  std::error_code ec;
  fs::path device = fs::canonical(sys, ec);
  if (ec) return fmt::format("dev {}:{}", maj, min);
  // A partition's queue/ and device/ live on its parent disk.
  fs::path disk = fs::exists(device / "partition") ? device.parent_path() : device;
  std::string model = read_first_line(disk / "device" / "model");
  std::string rotational = read_first_line(disk / "queue" / "rotational");
  return fmt::format("{}{}{}", disk.filename().string(), model.empty() ? "" : " (" + model + ")",
                     rotational.empty() ? "" : ", rotational=" + rotational);
}

Environment capture_environment(const fs::path& source_dir, const fs::path& data_path) {
  Environment env;
  env.captured_at = now_iso8601();
  std::string git = "git -C " + quote(source_dir);
  env.git_commit = trim(command_output(git + " rev-parse --short=12 HEAD 2>/dev/null"));
  if (env.git_commit.empty()) env.git_commit = streammoe::build::kGitCommit;
  // Untracked files do not change what is built from tracked sources; ignore them.
  env.git_dirty =
      !trim(command_output(git + " status --porcelain --untracked-files=no 2>/dev/null")).empty();
#if defined(__clang__)
  env.compiler = fmt::format("clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  env.compiler = fmt::format("gcc {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#endif
  env.build_type = streammoe::build::kBuildType;
  env.build_flags = streammoe::build::kFlags;

  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (key == "model name" && env.cpu_model.empty()) env.cpu_model = value;
    if (key == "flags" && env.cpu_flags.empty()) {
      // Only the flags that decide which kernels can run; the full list is hundreds of words.
      std::istringstream words(value);
      for (std::string w; words >> w;)
        if (w == "avx" || w == "avx2" || w == "fma" || w == "f16c" || w.rfind("avx512", 0) == 0 ||
            w == "sse4_2" || w == "amx_tile" || w == "amx_bf16")
          env.cpu_flags += (env.cpu_flags.empty() ? "" : " ") + w;
    }
  }
  env.cpu_cores = static_cast<int>(std::thread::hardware_concurrency());
  struct utsname uts {};
  if (uname(&uts) == 0) {
    env.kernel = fmt::format("{} {} {}", uts.sysname, uts.release, uts.machine);
    env.hostname = uts.nodename;
  }
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);)
    if (line.rfind("MemTotal:", 0) == 0) env.memory_total_mb = std::stod(line.substr(9)) / 1024.0;
  env.disk = describe_disk(data_path);
  std::istringstream loads(read_first_line("/proc/loadavg"));
  for (int i = 0; i < 3; ++i) {
    std::string load;
    if (loads >> load) env.load_average += (i ? " " : "") + load;
  }
  return env;
}

}  // namespace streammoe::lab
