# Run at every build (the target sm_git_commit): writes OUT (generated/git_commit.h) with the
# source tree's commit, "-dirty" when tracked files differ from it, touching the file only when
# that changes, so every result names the commit its binary was built from (a commit taken at
# configure time goes stale with the next commit).
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT commit)
  set(commit unknown)
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SRC}
                  OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(changes)
    string(APPEND commit "-dirty")
  endif()
endif()
file(WRITE ${OUT}.tmp "#pragma once\n// Generated at build time by cmake/git_commit.cmake.\n#define STREAMMOE_GIT_COMMIT \"${commit}\"\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
