#include "harness/rerun.h"

#include <map>

#include <fmt/format.h>

#include "harness/stats.h"

namespace streammoe::lab {

std::string Reproduction::text() const {
  if (compared == 0)
    return "no verdict to compare (no variant besides the baseline has one in both)";
  std::string out = fmt::format("{} of {} verdicts reproduced ({:.0f}%)", reproduced, compared,
                                100.0 * reproduced / compared);
  if (!flipped.empty()) {
    out += "; not robust:";
    for (const auto& f : flipped)
      out += fmt::format(" {}{} {} -> {};", f.variant, f.model.empty() ? "" : " on " + f.model,
                         f.before, f.after);
    out.pop_back();
  }
  return out;
}

Reproduction compare_verdicts(Store& store, int64_t original, int64_t rerun) {
  // A verdict with the direction of its effect on the keep metric: a cold experiment flagged
  // "not cold" discards everything, so the decision alone would reproduce trivially.
  auto verdicts = [&](int64_t id) {
    std::map<std::pair<std::string, std::string>, std::string> out;
    for (const auto& r : store.query(
             "SELECT v.name, d.model, d.verdict, d.speedup_ci_low, d.speedup_ci_high FROM verdicts "
             "d JOIN variants v ON v.id = d.variant_id WHERE d.experiment_id = ? AND d.verdict <> "
             "'baseline' ORDER BY v.ordinal",
             {id})) {
      std::string verdict = to_text(r.at("verdict"));
      if (!is_null(r.at("speedup_ci_low")) && !is_null(r.at("speedup_ci_high"))) {
        Interval ci{to_double(r.at("speedup_ci_low")), to_double(r.at("speedup_ci_high"))};
        verdict += ci.above(1) ? " (better)" : ci.below(1) ? " (worse)" : " (n.s.)";
      }
      out[{to_text(r.at("name")), to_text(r.at("model"))}] = verdict;
    }
    return out;
  };
  auto before = verdicts(original), after = verdicts(rerun);
  bool many_models = false;
  for (const auto& [key, v] : before) many_models |= key.second != before.begin()->first.second;
  Reproduction r;
  for (const auto& [key, verdict] : before) {
    auto it = after.find(key);
    if (it == after.end()) continue;
    ++r.compared;
    if (it->second == verdict) {
      ++r.reproduced;
    } else {
      r.flipped.push_back({key.first, many_models ? key.second : "", verdict, it->second});
    }
  }
  return r;
}

}  // namespace streammoe::lab
