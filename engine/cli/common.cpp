#include "engine/cli/common.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/util/error.h"

namespace streammoe::cli {
namespace {

std::filesystem::path variants_dir() {
  if (const char* env = std::getenv("STREAMMOE_VARIANTS")) return env;
  return std::filesystem::path(STREAMMOE_SOURCE_DIR) / "variants";
}

}  // namespace

void add_engine_args(CLI::App& app, EngineArgs& args) {
  app.add_option("--model", args.model, "model folder (Hugging Face checkpoint)")->required();
  app.add_option("--variant", args.variant, "named bundle of switches (variants/NAME.yaml) or a YAML file; later flags override it")
      ->group("Engine switches");
  // One flag per engine switch, as `streammoe options` describes it; values stay strings until
  // resolve_options parses them (after the variant, which they override).
  for (const auto& d : EngineOptions::describe()) {
    const std::string name = d["name"];
    std::string help = d["help"];
    if (!d["values"].empty()) help += " {" + CLI::detail::join(d["values"].get<std::vector<std::string>>(), "|") + "}";
    help += " [default: " + d["default"].get<std::string>() + "]";
    app.add_option_function<std::string>("--" + name, [&map = args.switches, name](const std::string& v) { map[name] = v; },
                                         help)
        ->group("Engine switches");
  }
}

EngineOptions resolve_options(const EngineArgs& args) {
  EngineOptions options;
  if (!args.variant.empty()) options.apply_variant(args.variant, variants_dir());
  for (const auto& [name, value] : args.switches) options.set(name, value);
  return options;
}

std::unique_ptr<Engine> make_engine(const EngineArgs& args) {
  return std::make_unique<Engine>(args.model, resolve_options(args));
}

std::vector<int32_t> parse_ids(const std::string& list) {
  std::vector<int32_t> ids;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, end - start);
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || v < 0 || v > INT32_MAX)
      fail("--ids: '{}' is not a token id (expected a comma-separated list like 5,17,3)", item);
    ids.push_back(static_cast<int32_t>(v));
    start = end + 1;
  }
  return ids;
}

std::string read_text_file(const std::string& path, const char* flag) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("{}: {} is not a readable file", path, flag);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open {}", path, flag);
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) fail("{}: read error ({})", path, flag);
  return text.str();
}

Tokenizer load_tokenizer(const std::string& model_folder) {
  const auto path = std::filesystem::path(model_folder) / "tokenizer.json";
  if (!std::filesystem::exists(path))
    fail("{}: no tokenizer.json in the model folder (use --ids)", path.string());
  return Tokenizer::load(path);
}

}  // namespace streammoe::cli
