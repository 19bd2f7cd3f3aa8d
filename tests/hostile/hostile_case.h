#pragma once
// One case of the hostile-input corpus (tests/fixtures/hostile/cases.jsonl) as data: the model
// folder it starts from, the mutations that make it bad, the command, and the one outcome it
// must have. materialise() builds the case in a folder; the test (hostile_test.cpp) runs it.
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace streammoe::hostile {

struct Case {
  std::string name;
  std::string base;  // a name of Paths::bases(), materialised as the folder "m"; "" = none
  nlohmann::json edits = nlohmann::json::array();  // applied in order, see apply_edit()
  std::vector<std::vector<std::string>> before;    // commands that must succeed first
  // argv[0]: streammoe or streammoe-lab; an argument is a string (placeholders substituted) or
  // content pieces (e.g. {"repeat": "A", "times": 5000}, {"hex": "fffe"}).
  std::vector<nlohmann::json> argv;
  bool expect_error = true;  // else: exit 0
  int exit_code = 1;
  std::vector<std::string> message;  // substrings of the one error line
  std::vector<std::string> unchanged;               // files whose bytes must not change
  std::vector<std::pair<std::string, std::string>> file_lacks;  // file, text it must not hold
  double timeout_s = 30;
  std::string xfail;  // finding number (or "review") while the case does not pass yet
  std::string why;
  int line = 0;  // in the manifest
};

// gtest prints a case by its name (and manifest line).
void PrintTo(const Case& c, std::ostream* os);

// Where a case's placeholders point: {src} the source tree, {bin} the commands, {bases} models
// and databases made once per test run (make_bases), {case} the case's own folder.
struct Paths {
  std::filesystem::path src, bin, bases;
  std::map<std::string, std::filesystem::path> base_models() const;
};

std::string substitute(std::string text, const Paths& paths, const std::filesystem::path& case_dir);

// Reads the manifest: one JSON object per line ('#' lines are comments); the first object may
// hold {"templates": {"@name": [args...]}} that "cmd" lists expand inline.
std::vector<Case> load_cases(const std::filesystem::path& manifest);

std::vector<std::string> expand_argv(const Case& c, const Paths& paths, const std::filesystem::path& dir);

// Builds the case in `dir` (which exists and is empty): the base model as "m" (symlinks to the
// base's files; an edited file becomes a real copy first), then every edit.
void materialise(const Case& c, const Paths& paths, const std::filesystem::path& dir);

}  // namespace streammoe::hostile
