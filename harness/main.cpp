// streammoe-lab: runs YAML experiments over the engine's switches, stores every run in SQLite,
// and renders results tables, charts and keep/discard verdicts.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <iostream>

#include <fmt/format.h>

#include "engine/util/error.h"
#include "engine/util/utf8.h"
#include "harness/executor.h"
#include "harness/machine_profile.h"
#include "harness/rerun.h"
#include "harness/runner.h"
#include "harness/scratch_file.h"
#include "harness/spec.h"
#include "harness/store.h"
#include "report/exporter.h"
#include "report/terminal.h"

namespace fs = std::filesystem;
using namespace streammoe;
using namespace streammoe::lab;

namespace {

constexpr int kUsageError = 2;  // the command line does not parse (README: the error contract)

fs::path default_engine() {
  if (const char* env = std::getenv("STREAMMOE_ENGINE")) return env;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path("streammoe") : self.parent_path() / "streammoe";
}

SwitchCatalog engine_switches(const fs::path& engine, const std::string& options_json) {
  if (!options_json.empty()) return SwitchCatalog::from_file(options_json);
  SubprocessExecutor executor;
  Command command;
  command.argv = {engine.string(), "options", "--json"};
  command.timeout_s = 60;
  ExecResult result = executor.execute(command);
  if (!result.ok())
    fail("cannot list the engine's switches with '{}' ({}{}); build it, or pass --engine PATH or "
         "--options-json FILE",
         shell_join(command.argv), describe(result),
         result.stderr_tail.empty() ? "" : ": " + result.stderr_tail.substr(0, 200));
  return SwitchCatalog::parse(result.stdout_text, engine.string() + " options --json");
}

// Asks the engine whether each variant's switches are valid together (`streammoe options
// --check-file`, one call for all of them), so a variant every run of which would fail is refused
// at plan time, at its line in the YAML.
std::vector<std::optional<std::string>> engine_check(const fs::path& engine,
                                                     const SpecOptions::SwitchSets& sets) {
  ScratchFile file("switch-sets");
  {
    std::ofstream out(file.path());
    for (const auto& set : sets) out << nlohmann::json(set).dump() << "\n";
    if (!out.flush()) fail("{}: cannot write the switch sets to check", file.path().string());
  }
  SubprocessExecutor executor;
  Command command;
  command.argv = {engine.string(), "options", "--check-file", file.path().string()};
  command.timeout_s = 60;
  ExecResult result = executor.execute(command);
  if (!result.ok())
    fail("cannot check the variants' switches with '{}' ({}): {}", shell_join(command.argv),
         describe(result), result.stderr_tail.substr(0, 200));
  std::vector<std::optional<std::string>> problems;
  std::istringstream lines(result.stdout_text);
  for (std::string line; std::getline(lines, line);)
    problems.push_back(line == "ok" ? std::nullopt : std::optional<std::string>(line));
  if (problems.size() != sets.size())
    fail("'{}' judged {} switch sets of {}", shell_join(command.argv), problems.size(), sets.size());
  return problems;
}

int64_t experiment_id(Store& store, const std::string& key) {
  auto id = find_experiment(store, key);
  if (!id) fail("{}: no experiment named or numbered '{}'", store.db().path().string(), key);
  return *id;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) fail("{}: cannot write", path.string());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"streammoe-lab: YAML experiments in, SQLite results and reports out"};
  app.require_subcommand(1);
  std::string db = "results/results.db";

  auto* run = app.add_subcommand("run", "Run an experiment file and print its results table");
  std::string spec_file, engine_path, options_json, root, build_root, cache_dir;
  bool resume = false, dry_run = false, quiet = false, measure_machine_now = false,
       no_machine_profile = false;
  std::string profile_cache;
  int jobs = 2;
  int64_t max_runs = 0;
  std::string rerun_key;
  run->add_option("FILE", spec_file, "experiment YAML (experiments/*.yaml)");
  run->add_option("--rerun", rerun_key,
                  "repeat experiment EXP (name or id) from the YAML it ran, as a new experiment, "
                  "and report which of its verdicts reproduced");
  run->add_option("--db", db, "SQLite database")->capture_default_str();
  run->add_flag("--resume", resume, "continue the latest experiment of this name, skipping "
                                    "finished runs");
  run->add_flag("--dry-run", dry_run, "validate and print the planned runs; run nothing");
  run->add_option("--engine", engine_path,
                  "streammoe binary (default: $STREAMMOE_ENGINE, else next to streammoe-lab)");
  run->add_option("--options-json", options_json,
                  "switch list to validate against instead of asking `streammoe options --json`");
  run->add_option("--root", root, "project root for relative paths (default: nearest folder "
                                  "with variants/)");
  run->add_option("--build-root", build_root,
                  "where variants with compile-time options are built (default: ROOT/build-variants)");
  run->add_option("--cache-dir", cache_dir, "reference-logits cache (default: next to the db)");
  std::string models_dir;
  run->add_option("--models-dir", models_dir,
                  "where derived models ({pack: ...}, {synth: ...}) are made; they can be tens of "
                  "GB (default: ROOT/results/models)");
  run->add_option("--max-runs", max_runs,
                  "allow this many planned runs (overrides the file's max_runs; default cap 5000)");
  run->add_option("-j,--jobs", jobs, "parallel jobs for variant builds")->capture_default_str();
  run->add_flag("-q,--quiet", quiet, "no progress output");
  run->add_flag("--measure-machine", measure_machine_now,
                "measure the machine profile (disk random-read and RAM rates) even when this "
                "boot's is cached");
  run->add_flag("--no-machine-profile", no_machine_profile,
                "do not measure the machine profile (no roofline shares)");
  run->add_option("--profile-cache", profile_cache,
                  "machine profile cache (default: $XDG_CACHE_HOME/streammoe-lab/machine-profiles.json)");

  auto* report = app.add_subcommand("report", "Write results.md, index.html, results.tsv and runs.tsv (one row per run)");
  std::string out_dir;
  std::vector<std::string> only;
  report->add_option("--db", db, "SQLite database")->capture_default_str();
  report->add_option("--out", out_dir, "output folder")->required();
  report->add_option("--experiment", only, "only these experiments (name or id; repeatable)");

  auto* profile = app.add_subcommand(
      "profile", "Print the machine profile: the disk's random-read rate at a model's expert size "
                 "and K in flight (O_DIRECT), and the RAM read rate (cached per boot)");
  std::string profile_model;
  bool profile_force = false, profile_json = false;
  profile->add_option("--model", profile_model, "model folder whose expert files are read")
      ->required();
  profile->add_flag("--force", profile_force, "measure even when this boot's profile is cached");
  profile->add_flag("--json", profile_json, "print the profile as one JSON object");
  profile->add_option("--profile-cache", profile_cache, "machine profile cache");
  uint64_t profile_block = 0;
  int profile_depth = 0;
  profile->add_option("--block-bytes", profile_block,
                      "read size instead of the model's expert record (e.g. a study model's that is not made yet)");
  profile->add_option("--queue-depth", profile_depth, "reads in flight instead of the model's K");

  auto* migrate = app.add_subcommand(
      "migrate", "Upgrade a database made by an older streammoe-lab to this lab's schema");
  migrate->add_option("--db", db, "SQLite database")->capture_default_str();

  auto* list = app.add_subcommand("list", "List the experiments in the database");
  list->add_option("--db", db, "SQLite database")->capture_default_str();

  auto* show = app.add_subcommand("show", "Show one experiment: conditions, table, failures");
  std::string show_key;
  show->add_option("EXP", show_key, "experiment name (latest with it) or id")->required();
  show->add_option("--db", db, "SQLite database")->capture_default_str();

  auto* compare = app.add_subcommand(
      "compare", "Compare the variants two experiments share: the same options on the same model "
                 "under the same conditions, whatever their names");
  std::string key_a, key_b;
  compare->add_option("EXP_A", key_a, "experiment name or id")->required();
  compare->add_option("EXP_B", key_b, "experiment name or id")->required();
  compare->add_option("--db", db, "SQLite database")->capture_default_str();
  bool any_conditions = false;
  compare->add_flag("--any-conditions", any_conditions,
                    "compare even when the workload, cache state or memory budget differ");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help
    std::cerr << "streammoe-lab: error: " << utf8::printable_line(e.what())
              << " (see streammoe-lab --help)\n";
    return kUsageError;
  }

  try {
    auto need_db = [&]() {
      if (!fs::exists(db)) fail("{}: no such database (run an experiment first)", db);
    };
    if (*run) {
      fs::path engine = engine_path.empty() ? default_engine() : fs::path(engine_path);
      SwitchCatalog catalog = engine_switches(engine, options_json);
      SpecOptions spec_options;
      spec_options.catalog = &catalog;
      if (options_json.empty())  // --options-json stands in for the engine: nothing to ask
        spec_options.check_switches = [engine](const SpecOptions::SwitchSets& sets) {
          return engine_check(engine, sets);
        };
      if (!root.empty()) spec_options.root = fs::absolute(root);
      if (max_runs > 0) spec_options.max_runs = max_runs;
      if (!models_dir.empty()) spec_options.packed_models_dir = fs::absolute(models_dir);
      if (spec_file.empty() == rerun_key.empty())
        fail("run: give an experiment FILE or --rerun EXP, one of them");
      std::optional<Store> opened;
      std::optional<int64_t> rerun_of;
      ExperimentSpec spec;
      if (!rerun_key.empty()) {
        if (resume) fail("run --rerun starts a new experiment; it does not take --resume");
        need_db();
        opened.emplace(db);
        rerun_of = experiment_id(*opened, rerun_key);
        auto row = opened->query("SELECT spec_yaml, spec_path FROM experiments WHERE id = ?",
                                 {*rerun_of});
        spec = load_experiment_text(to_text(row[0].at("spec_yaml")),
                                    to_text(row[0].at("spec_path")), spec_options);
      } else {
        spec = load_experiment(spec_file, spec_options);
      }
      fs::path builds = build_root.empty() ? spec.root / "build-variants" : fs::path(build_root);
      if (dry_run) {
        // Earlier runs in the database estimate the time; a database this lab cannot read
        // only costs the estimate (the run itself would say why).
        std::optional<Store> history;
        if (!opened && fs::exists(db)) {
          try {
            history.emplace(db, lab_schema(), Store::Access::kRead);
          } catch (const Error& e) {
            std::cerr << "streammoe-lab: note: " << e.what() << "\n";
          }
        }
        fs::path cache = profile_cache.empty() ? default_profile_cache() : fs::path(profile_cache);
        print_plan(spec, engine, builds, std::cout, opened ? &*opened : history ? &*history : nullptr,
                   cached_roofline(cache));
        return 0;
      }
      if (!opened) opened.emplace(db);
      Store& store = *opened;
      SubprocessExecutor executor;
      RunnerOptions options;
      options.engine = fs::absolute(engine);
      options.source_dir = spec.root;
      options.build_root = fs::absolute(builds);
      options.cache_dir = cache_dir.empty() ? fs::absolute(db).parent_path() / "ref-logits"
                                            : fs::path(cache_dir);
      options.resume = resume;
      options.progress = quiet ? nullptr : &std::cerr;
      options.progress_tty = isatty(STDERR_FILENO);
      options.build_jobs = jobs;
      options.rerun_of = rerun_of;
      if (!no_machine_profile) {
        fs::path cache = profile_cache.empty() ? default_profile_cache() : fs::path(profile_cache);
        options.machine_profile = [cache, measure_machine_now](const ExpertFiles& experts) {
          return std::optional<MachineProfile>(
              machine_profile(profile_request(experts), cache, measure_machine_now));
        };
      }
      RunnerSummary summary = Runner(spec, store, executor, options).run();
      LabResults results = load_results(store, {summary.experiment_id});
      std::cout << fmt::format("\n## {} (#{}){}\n\n", spec.name, summary.experiment_id,
                               summary.resumed ? ", resumed" : "");
      std::cout << markdown_table(results_table(results.experiments.front()));
      std::cout << fmt::format("\n{} runs planned, {} run now, {} already recorded, {} failed; "
                               "database {}\n",
                               summary.planned, summary.executed, summary.skipped, summary.failed,
                               db);
      if (rerun_of)
        std::cout << fmt::format("rerun of #{}: {}\n", *rerun_of,
                                 compare_verdicts(store, *rerun_of, summary.experiment_id).text());
      if (summary.failed > 0)  // recorded as errors; the exit status says so too
        fail("{} of {} runs failed, recorded as errors in {} (first: {})", summary.failed,
             summary.executed, db, summary.first_failure);
    } else if (*report) {
      need_db();
      Store store = Store::read_only(db);
      std::vector<int64_t> ids;
      for (const auto& key : only) ids.push_back(experiment_id(store, key));
      LabResults results = load_results(store, ids);
      fs::create_directories(out_dir);
      write_file(fs::path(out_dir) / "results.md", MarkdownExporter().render(results));
      write_file(fs::path(out_dir) / "index.html", HtmlExporter().render(results));
      write_file(fs::path(out_dir) / "results.tsv", TsvExporter().render(results));
      write_file(fs::path(out_dir) / "runs.tsv", RunsTsvExporter().render(results));
      std::cout << fmt::format("wrote {0}/results.md, {0}/index.html, {0}/results.tsv, "
                               "{0}/runs.tsv ({1} experiments, {2} runs)\n",
                               out_dir, results.experiments.size(), results.runs.rows.size());
    } else if (*profile) {
      if (!fs::is_directory(profile_model)) fail("{}: no such model folder", profile_model);
      fs::path cache = profile_cache.empty() ? default_profile_cache() : fs::path(profile_cache);
      ProfileRequest request = profile_request(expert_files(profile_model));
      if (profile_block > 0) request.block_bytes = profile_block;
      if (profile_depth > 0) request.queue_depth = profile_depth;
      MachineProfile p = machine_profile(request, cache, profile_force);
      std::cout << (profile_json ? p.to_json().dump() : profile_summary(p)) << "\n";
    } else if (*migrate) {
      need_db();
      Store store(db);
      std::cout << fmt::format("{}: schema version {}\n", db, store.version_on_disk());
    } else if (*list) {
      need_db();
      Store store = Store::read_only(db);
      std::cout << list_view(store);
    } else if (*show) {
      need_db();
      Store store = Store::read_only(db);
      std::cout << show_view(store, experiment_id(store, show_key));
    } else if (*compare) {
      need_db();
      Store store = Store::read_only(db);
      std::cout << compare_view(store, experiment_id(store, key_a), experiment_id(store, key_b),
                                any_conditions);
    }
  } catch (const std::exception& e) {  // streammoe::Error, and anything a library throws
    std::cerr << "streammoe-lab: error: " << utf8::printable_line(e.what()) << "\n";
    return 1;
  }
  return 0;
}
