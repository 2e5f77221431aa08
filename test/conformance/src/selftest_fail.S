// Negative self-test: checks 1..6 pass, check 7 fails on purpose.
// A harness must report exit code 7 for this program.
#include "test.h"
  TEST_START
  li a0, 5
  CHECK 1, a0, 5
  addi a0, a0, 1
  CHECK 2, a0, 6
  CHECK 3, zero, 0
  li a1, -1
  CHECK 4, a1, 0xffffffffffffffff
  li a1, 0x123456789
  CHECK 5, a1, 0x123456789
  CHECK 6, a0, 6
  CHECK 7, a0, 7          // deliberately wrong: a0 is 6
  CHECK 8, a0, 6
  TEST_END
