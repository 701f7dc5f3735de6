// The one translation unit per test binary that holds CAF test's engine
// and main(). Suites live in the *_test.cpp files next to it.
#include "caf/test/unit_test_impl.hpp"
