#pragma once
// `run --rerun EXP`: the experiment repeated from the YAML it ran (stored in the database), as a
// new experiment that names the one it repeats, and which of its verdicts reproduced.
#include <cstdint>
#include <string>
#include <vector>

#include "harness/store.h"

namespace streammoe::lab {

struct VerdictChange {
  std::string variant, model, before, after;
};

struct Reproduction {
  int compared = 0;    // verdicts present in both (baselines excluded)
  // The same verdict (keep, discard, crash) both times, and where it has a CI the same direction
  // of effect on its keep metric: better (CI above 1), worse (below 1) or n.s. (across 1).
  int reproduced = 0;
  std::vector<VerdictChange> flipped;
  // "7 of 9 verdicts reproduced (78%); not robust: lru keep (better) -> discard (n.s.)"
  std::string text() const;
};

// Verdicts of `rerun` against those of `original`, matched by variant name and model.
Reproduction compare_verdicts(Store& store, int64_t original, int64_t rerun);

}  // namespace streammoe::lab
