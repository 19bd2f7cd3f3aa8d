// Replays a fuzz corpus without libFuzzer: every file of a folder goes once through the target's
// LLVMFuzzerTestOneInput, so the corpora run in the ordinary test suite (and under ASan + UBSan
// with gcc in scripts/test.sh). A crash or an unexpected exception aborts the process, naming
// the file first.
//
// usage: fuzz_replay_<target> TARGET CORPUS_DIR [KNOWN_FAILURES_TSV]
// KNOWN_FAILURES_TSV lists inputs that still fail because of an open finding, one per line:
// target <TAB> file name <TAB> finding <TAB> note; they are skipped and counted, and the replay
// fails when a listed file is missing (a stale entry).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TARGET CORPUS_DIR [KNOWN_FAILURES_TSV]\n", argv[0]);
    return 2;
  }
  const std::string target = argv[1];
  const fs::path corpus = argv[2];
  std::map<std::string, std::string> known;  // file name -> finding
  if (argc > 3) {
    std::ifstream in(argv[3]);
    if (!in) {
      std::fprintf(stderr, "%s: cannot open\n", argv[3]);
      return 2;
    }
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      std::string t, name, finding;
      std::getline(fields, t, '\t');
      std::getline(fields, name, '\t');
      std::getline(fields, finding, '\t');
      if (t == target) known[name] = finding;
    }
  }
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(corpus, ec))
    if (entry.is_regular_file()) files.push_back(entry.path());
  if (ec || files.empty()) {
    std::fprintf(stderr, "%s: no corpus files (%s)\n", corpus.c_str(), ec.message().c_str());
    return 1;
  }
  std::sort(files.begin(), files.end());
  size_t ran = 0, skipped = 0;
  for (const fs::path& file : files) {
    if (auto it = known.find(file.filename().string()); it != known.end()) {
      std::printf("skip %s (open finding %s)\n", file.filename().c_str(), it->second.c_str());
      known.erase(it);
      ++skipped;
      continue;
    }
    std::ifstream in(file, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::fprintf(stderr, "replay %s\n", file.c_str());  // names the input if it crashes
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ++ran;
  }
  for (const auto& [name, finding] : known)
    std::fprintf(stderr, "known failure %s (finding %s) is not in %s: remove the stale entry\n",
                 name.c_str(), finding.c_str(), corpus.c_str());
  std::printf("%s: %zu inputs replayed, %zu skipped as open findings\n", target.c_str(), ran, skipped);
  return known.empty() ? 0 : 1;
}
