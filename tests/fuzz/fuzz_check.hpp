#pragma once

// tests/fuzz: what every fuzz target shares. A target checks properties
// of what the code under test returns with FUZZ_CHECK; a violation
// prints the property and aborts, which libFuzzer (and the replay main)
// report as a crash with the offending input.

#include <cstdio>
#include <cstdlib>

/// Aborts with `what` unless `cond` holds.
#define FUZZ_CHECK(cond, what)                                                 \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: fuzz property violated: %s (%s)\n",         \
                   __FILE__, __LINE__, #cond, what);                           \
      std::abort();                                                            \
    }                                                                          \
  } while (false)
