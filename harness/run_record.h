#pragma once
// One executed run as the lab records it: how it ended (ok | error | crash | timeout | oom),
// the engine's metrics JSON when it wrote a usable one, and the rows it becomes in the runs and
// metrics tables. Pure functions of what the executor returned, so they are tested without
// running anything.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/executor.h"
#include "harness/store.h"

namespace streammoe::lab {

struct RunRecord {
  std::string status;  // ok | error | crash | timeout | oom
  ExecResult result;
  std::vector<std::string> argv;
  std::string started_at;
  std::string finished_at;
  double load_1m = 0;  // NaN when unknown
  std::string stderr_tail;  // the engine's, plus the lab's own notes on what went wrong
  std::string metrics_text;  // as the engine wrote it ("" when it wrote nothing)
  std::optional<nlohmann::json> metrics;  // parsed; only for ok runs
  std::optional<uint64_t> disk_read_bytes;  // the model disk's read counter over the run
  std::string disk_read_source;
  double expert_resident_before = -1;  // page-cache share of the expert files (-1: unknown)

  // The progress line's outcome: "41.20 tok/s", or "crash (signal 11 ...): last stderr line".
  std::string outcome() const;
};

// ok | error | crash | timeout | oom from how the process ended.
std::string classify(const ExecResult& result, bool oom_killed);

// Judges a finished run: classifies it, parses the metrics of a successful one, and turns a run
// that exited 0 but wrote no usable metrics, or whose metrics report non-finite values, into an
// error with the reason appended to its stderr tail. A non-zero exit (the engine's "non-finite
// activations after layer L at token t") is an error with the engine's message.
RunRecord judge_run(ExecResult result, bool oom_killed, std::string metrics_text,
                    const std::string& metrics_origin);

// The `nonfinite` count the engine writes into its metrics or `eval --json` output (a number, or
// an object with a count); 0 when absent.
double nonfinite_count(const nlohmann::json& metrics_or_eval);

// The metrics-table row for one run, taking whatever fields the engine wrote.
Fields metrics_fields(const nlohmann::json& metrics, const ExecResult& result);

// The telemetry the lab derives for one ok run (metrics-table columns): expert bytes and bytes
// from the disk (the engine's routing.expert_io, else the disk counter), the cache hit rate,
// the achieved expert GB/s, and the share of the expert stream's roofline from the machine
// profile (`ram_gbps`: the RAM rate for the threads the run computed with; NaN/absent: none).
Fields telemetry_fields(const nlohmann::json& metrics, std::optional<uint64_t> disk_read_bytes,
                        double disk_gbps, double ram_gbps);

}  // namespace streammoe::lab
