#include "tests/hostile/hostile_case.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace streammoe::hostile {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

[[noreturn]] void bad(const std::string& what) { throw std::runtime_error(what); }

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) bad(p.string() + ": cannot read");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& bytes) {
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) bad(p.string() + ": cannot write");
}

// A symlink into a base model becomes a real file before it is edited, so the base stays intact.
std::string own(const fs::path& p) {
  std::string bytes = read_file(p);
  if (fs::is_symlink(fs::symlink_status(p))) {
    fs::remove(p);
    write_file(p, bytes);
  }
  return bytes;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// File content as a list of pieces: "text", {"repeat": "text", "times": N}, {"hex": "00ff"},
// {"zeros": N}, {"u64": N} (8 bytes little-endian), {"file": path, "from": A, "to": B} (a slice).
struct Context {
  const Paths& paths;
  const fs::path& dir;
  // A JSON patch with the placeholders of its strings substituted.
  ordered_json patch(const json& p) const { return ordered_json::parse(substitute(p.dump(), paths, dir)); }
  fs::path at(const json& p) const {
    fs::path path = substitute(p.get<std::string>(), paths, dir);
    return path.is_absolute() ? path : dir / path;
  }
  std::string text(const json& t) const { return substitute(t.get<std::string>(), paths, dir); }
};

std::string pieces(const json& list, const Context& ctx) {
  std::string out;
  for (const json& piece : list.is_array() ? list : json::array({list})) {
    if (piece.is_string()) {
      out += ctx.text(piece);
    } else if (piece.contains("repeat")) {
      const std::string unit = piece["repeat"].get<std::string>();
      for (int64_t i = 0, n = piece["times"].get<int64_t>(); i < n; ++i) out += unit;
    } else if (piece.contains("hex")) {
      out += from_hex(piece["hex"].get<std::string>());
    } else if (piece.contains("zeros")) {
      out.append(piece["zeros"].get<size_t>(), '\0');
    } else if (piece.contains("u64")) {
      const uint64_t v = piece["u64"].get<uint64_t>();
      for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
    } else if (piece.contains("file")) {
      const std::string bytes = read_file(ctx.at(piece["file"]));
      const size_t from = piece.value("from", size_t{0});
      const size_t to = std::min(piece.value("to", bytes.size()), bytes.size());
      out += bytes.substr(from, to - from);
    } else {
      bad("unknown content piece " + piece.dump());
    }
  }
  return out;
}

uint64_t read_u64(const std::string& bytes) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}


// {"safetensors": path, "patch": [JSON patch on the header], "header": pieces (replaces it),
//  "pad": true (spaces to a multiple of 8, as writers do), "header_suffix": pieces,
//  "header_replace": {"old", "new"}, "length": N (the length field, else the header's size),
//  "length_delta": N (added to the header's size)}
void edit_safetensors(const json& e, const Context& ctx) {
  const fs::path path = ctx.at(e["safetensors"]);
  const std::string raw = own(path);
  const uint64_t n = read_u64(raw);
  const std::string data = raw.substr(8 + n);
  std::string header;
  if (e.contains("header")) {
    header = pieces(e["header"], ctx);
  } else {
    ordered_json h = ordered_json::parse(raw.substr(8, n));
    if (e.contains("patch")) h = h.patch(ctx.patch(e["patch"]));
    header = h.dump();
  }
  if (e.contains("header_replace")) {  // {"old": text, "new": pieces}: first occurrence
    const std::string old = e["header_replace"]["old"].get<std::string>();
    const size_t at = header.find(old);
    if (at == std::string::npos) bad(path.string() + ": header has no '" + old + "'");
    header.replace(at, old.size(), pieces(e["header_replace"]["new"], ctx));
  }
  if (e.value("pad", true)) header.append((8 - header.size() % 8) % 8, ' ');
  if (e.contains("header_suffix")) header += pieces(e["header_suffix"], ctx);
  const uint64_t length = e.contains("length") ? e["length"].get<uint64_t>()
                                                : header.size() + e.value("length_delta", int64_t{0});
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((length >> (8 * i)) & 0xff);
  write_file(path, out + header + data);
}

// {"jsonl": path, "line": N (1-based), "patch": [...] or "text": line}, {"jsonl": path,
// "from_line": N, "patch": [...]} (every line from N), {"jsonl": path, "keep_lines": N}
void edit_jsonl(const json& e, const Context& ctx) {
  const fs::path path = ctx.at(e["jsonl"]);
  std::istringstream in(own(path));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (e.contains("keep_lines")) lines.resize(std::min(lines.size(), e["keep_lines"].get<size_t>()));
  if (e.contains("from_line")) {  // the patch applied to every line from this one on
    for (size_t i = e["from_line"].get<size_t>() - 1; i < lines.size(); ++i)
      if (!lines[i].empty()) lines[i] = ordered_json::parse(lines[i]).patch(ctx.patch(e["patch"])).dump();
  }
  if (e.contains("line")) {
    const size_t i = e["line"].get<size_t>() - 1;
    if (i >= lines.size()) bad(fmt::format("{}: no line {}", path.string(), i + 1));
    if (e.contains("patch")) lines[i] = ordered_json::parse(lines[i]).patch(ctx.patch(e["patch"])).dump();
    if (e.contains("text")) lines[i] = ctx.text(e["text"]);
  }
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  write_file(path, out);
}

void run_sql(const fs::path& path, const std::string& script) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) bad(path.string() + ": cannot open database");
  char* error = nullptr;
  const int rc = sqlite3_exec(db, script.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  if (rc != SQLITE_OK) bad(path.string() + ": " + message);
}

void link_tree(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    const fs::path target = to / entry.path().filename();
    if (entry.is_directory()) {
      link_tree(entry.path(), target);
    } else {
      fs::create_symlink(fs::absolute(entry.path()), target);
    }
  }
}

void apply_edit(const json& e, const Context& ctx) {
  if (e.contains("write")) {
    const fs::path p = ctx.at(e["write"]);
    const std::string bytes = pieces(e.contains("pieces") ? e["pieces"] : e["text"], ctx);
    if (fs::is_symlink(fs::symlink_status(p))) fs::remove(p);
    write_file(p, bytes);
  } else if (e.contains("json")) {  // RFC 6902 JSON patch; key order kept
    const fs::path p = ctx.at(e["json"]);
    ordered_json j = ordered_json::parse(own(p));
    write_file(p, j.patch(ctx.patch(e["patch"])).dump(e.value("indent", -1)));
  } else if (e.contains("jsonl")) {
    edit_jsonl(e, ctx);
  } else if (e.contains("safetensors")) {
    edit_safetensors(e, ctx);
  } else if (e.contains("replace")) {  // text: "old" (first occurrence) -> "new" (pieces)
    const fs::path p = ctx.at(e["replace"]);
    std::string bytes = own(p);
    const std::string old = ctx.text(e["old"]);
    const size_t at = bytes.find(old);
    if (at == std::string::npos) bad(p.string() + ": no '" + old + "' to replace");
    bytes.replace(at, old.size(), pieces(e["new"], ctx));
    write_file(p, bytes);
  } else if (e.contains("base")) {  // another base model: {"base": name, "to": folder}
    const auto bases = ctx.paths.base_models();
    auto it = bases.find(e["base"].get<std::string>());
    if (it == bases.end()) bad("unknown base " + e["base"].dump());
    link_tree(it->second, ctx.at(e["to"]));
  } else if (e.contains("truncate")) {  // "size": N, "fraction": F or "drop": N bytes at the end
    const fs::path p = ctx.at(e["truncate"]);
    std::string bytes = own(p);
    size_t size = bytes.size();
    if (e.contains("size")) size = e["size"].get<size_t>();
    if (e.contains("fraction")) size = static_cast<size_t>(static_cast<double>(bytes.size()) * e["fraction"].get<double>());
    if (e.contains("drop")) size = bytes.size() - e["drop"].get<size_t>();
    bytes.resize(std::min(size, bytes.size()));
    write_file(p, bytes);
  } else if (e.contains("append")) {
    const fs::path p = ctx.at(e["append"]);
    write_file(p, own(p) + pieces(e["pieces"], ctx));
  } else if (e.contains("patch_bytes")) {  // "offset": N, "hex": bytes written there
    const fs::path p = ctx.at(e["patch_bytes"]);
    std::string bytes = own(p);
    const std::string patch = from_hex(e["hex"].get<std::string>());
    bytes.replace(e["offset"].get<size_t>(), patch.size(), patch);
    write_file(p, bytes);
  } else if (e.contains("fill") || e.contains("random")) {  // same size unless "size"
    const fs::path p = ctx.at(e.contains("fill") ? e["fill"] : e["random"]);
    const size_t size = e.contains("size") ? e["size"].get<size_t>() : fs::file_size(p);
    std::string bytes(size, static_cast<char>(e.value("byte", 0)));
    if (e.contains("random")) {
      std::mt19937_64 rng(e.value("seed", 1));
      for (char& b : bytes) b = static_cast<char>(rng() & 0xff);
    }
    fs::remove(p);
    write_file(p, bytes);
  } else if (e.contains("symlink")) {
    const fs::path p = ctx.at(e["symlink"]);
    fs::remove(p);
    fs::create_symlink(ctx.text(e["to"]), p);
  } else if (e.contains("mkdir")) {
    const fs::path p = ctx.at(e["mkdir"]);
    fs::remove(p);
    fs::create_directories(p);
  } else if (e.contains("mkfifo")) {
    const fs::path p = ctx.at(e["mkfifo"]);
    fs::remove(p);
    if (::mkfifo(p.c_str(), 0644) != 0) bad(p.string() + ": mkfifo: " + std::strerror(errno));
  } else if (e.contains("remove")) {
    fs::remove_all(ctx.at(e["remove"]));
  } else if (e.contains("copy")) {  // "substitute": true replaces placeholders in the text
    const fs::path to = ctx.at(e["to"]);
    std::string bytes = read_file(ctx.at(e["copy"]));
    if (e.value("substitute", false)) bytes = substitute(bytes, ctx.paths, ctx.dir);
    if (fs::is_symlink(fs::symlink_status(to))) fs::remove(to);
    write_file(to, bytes);
  } else if (e.contains("sql")) {
    const fs::path p = ctx.at(e["sql"]);
    if (p.has_parent_path()) fs::create_directories(p.parent_path());
    run_sql(p, ctx.text(e["script"]));
  } else if (e.contains("chmod")) {
    fs::permissions(ctx.at(e["chmod"]), static_cast<fs::perms>(std::stoi(e["mode"].get<std::string>(), nullptr, 8)));
  } else {
    bad("unknown edit " + e.dump());
  }
}

std::vector<std::string> strings(const json& j) {
  if (j.is_string()) return {j.get<std::string>()};
  return j.get<std::vector<std::string>>();
}

}  // namespace

std::vector<std::string> expand_argv(const Case& c, const Paths& paths, const fs::path& dir) {
  const Context ctx{paths, dir};
  std::vector<std::string> argv;
  for (const json& arg : c.argv) argv.push_back(arg.is_string() ? ctx.text(arg) : pieces(arg, ctx));
  return argv;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name << " (cases.jsonl:" << c.line << ")"; }

std::map<std::string, fs::path> Paths::base_models() const {
  return {{"tiny", src / "models/tiny-qwen35moe"},
          {"q3moe_f32", src / "tests/fixtures/models/q3moe_f32"},
          {"q35_text_f32", src / "tests/fixtures/models/q35_text_f32"},
          {"sharded", src / "tests/fixtures/models/q35_vl_bf16_sharded"},
          {"packed", bases / "p4"}};
}

std::string substitute(std::string text, const Paths& paths, const fs::path& case_dir) {
  const std::pair<const char*, std::string> vars[] = {{"{src}", paths.src.string()},
                                                      {"{bin}", paths.bin.string()},
                                                      {"{bases}", paths.bases.string()},
                                                      {"{case}", case_dir.string()}};
  for (const auto& [key, value] : vars)
    for (size_t pos = 0; (pos = text.find(key, pos)) != std::string::npos; pos += value.size())
      text.replace(pos, std::strlen(key), value);
  return text;
}

std::vector<Case> load_cases(const fs::path& manifest) {
  std::ifstream in(manifest);
  if (!in) bad(manifest.string() + ": cannot open");
  std::map<std::string, std::vector<std::string>> templates;
  std::vector<Case> cases;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    const std::string where = fmt::format("{}:{}", manifest.string(), line_no);
    try {
      const json j = json::parse(line);
      if (j.contains("templates")) {
        for (const auto& [name, args] : j["templates"].items()) templates[name] = strings(args);
        continue;
      }
      Case c;
      c.line = line_no;
      c.name = j.at("name").get<std::string>();
      c.base = j.value("base", "");
      if (j.contains("edits")) c.edits = j["edits"];
      for (const json& cmd : j.value("before", json::array())) c.before.push_back(strings(cmd));
      for (const json& arg : j.at("cmd")) {
        auto t = arg.is_string() ? templates.find(arg.get<std::string>()) : templates.end();
        if (t == templates.end()) {
          c.argv.push_back(arg);
        } else {
          c.argv.insert(c.argv.end(), t->second.begin(), t->second.end());
        }
      }
      if (c.argv.empty() || !c.argv[0].is_string()) bad("cmd must start with the command's name");
      c.expect_error = j.value("expect", "error") == "error";
      if (!c.expect_error && j.value("expect", "error") != "ok") bad("expect must be error or ok");
      c.exit_code = j.value("rc", c.expect_error ? 1 : 0);
      if (j.contains("message")) c.message = strings(j["message"]);
      if (c.expect_error && c.message.empty()) bad("an error case needs a message substring");
      if (j.contains("unchanged")) c.unchanged = strings(j["unchanged"]);
      for (const json& f : j.value("file_lacks", json::array()))
        c.file_lacks.emplace_back(f.at(0).get<std::string>(), f.at(1).get<std::string>());
      c.timeout_s = j.value("timeout_s", 30.0);
      if (j.contains("xfail")) c.xfail = j["xfail"].get<std::string>();
      c.why = j.value("why", "");
      for (const auto& other : cases)
        if (other.name == c.name) bad("case " + c.name + " is defined twice");
      for (char ch : c.name)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') bad("case names use [A-Za-z0-9_]");
      cases.push_back(std::move(c));
    } catch (const std::exception& e) {
      bad(where + ": " + e.what());
    }
  }
  return cases;
}

void materialise(const Case& c, const Paths& paths, const fs::path& dir) {
  if (!c.base.empty()) {
    const auto bases = paths.base_models();
    auto it = bases.find(c.base);
    if (it == bases.end()) bad("unknown base '" + c.base + "'");
    link_tree(it->second, dir / "m");
  }
  const Context ctx{paths, dir};
  for (const json& e : c.edits) apply_edit(e, ctx);
}

}  // namespace streammoe::hostile
