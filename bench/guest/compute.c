/*
 * A compute-heavy bare-metal guest for `npm run bench`: integer arithmetic, multiplies and
 * divisions, loads and stores, branches and calls. It runs a fixed amount of work, stores a
 * checksum in `result` and reports through the HTIF `tohost` word (1 = pass).
 */
#include <stdint.h>

volatile uint64_t tohost __attribute__((section(".tohost"), aligned(8)));
volatile uint64_t fromhost __attribute__((section(".tohost"), aligned(8)));
volatile uint64_t result;

#define N_SIEVE 20000
#define N_SORT 2048
#define N_MAT 24

static uint8_t sieve_buf[N_SIEVE];
static uint32_t sort_buf[N_SORT];
static int64_t ma[N_MAT][N_MAT], mb[N_MAT][N_MAT], mc[N_MAT][N_MAT];
static uint32_t crc_table[256];

static uint64_t sieve(void) {
  uint64_t count = 0;
  for (int i = 0; i < N_SIEVE; i++) sieve_buf[i] = 1;
  for (int i = 2; i < N_SIEVE; i++) {
    if (!sieve_buf[i]) continue;
    count += i;
    for (int j = i + i; j < N_SIEVE; j += i) sieve_buf[j] = 0;
  }
  return count;
}

static uint32_t rng_state = 12345;
static uint32_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static void quicksort(uint32_t *a, int lo, int hi) {
  while (lo < hi) {
    uint32_t p = a[(lo + hi) / 2];
    int i = lo, j = hi;
    while (i <= j) {
      while (a[i] < p) i++;
      while (a[j] > p) j--;
      if (i <= j) { uint32_t t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (j - lo < hi - i) { quicksort(a, lo, j); lo = i; }
    else { quicksort(a, i, hi); hi = j; }
  }
}

static uint64_t sort_test(void) {
  for (int i = 0; i < N_SORT; i++) sort_buf[i] = rng();
  quicksort(sort_buf, 0, N_SORT - 1);
  uint64_t s = 0;
  for (int i = 1; i < N_SORT; i++) s += (sort_buf[i] >= sort_buf[i - 1]) ? sort_buf[i] >> 20 : 1000000;
  return s;
}

static uint64_t matmul(void) {
  for (int i = 0; i < N_MAT; i++)
    for (int j = 0; j < N_MAT; j++) { ma[i][j] = (int64_t)rng() - 0x7fffffff; mb[i][j] = rng() % 1000; }
  for (int i = 0; i < N_MAT; i++)
    for (int j = 0; j < N_MAT; j++) {
      int64_t s = 0;
      for (int k = 0; k < N_MAT; k++) s += ma[i][k] * mb[k][j];
      mc[i][j] = s;
    }
  uint64_t h = 0;
  for (int i = 0; i < N_MAT; i++) for (int j = 0; j < N_MAT; j++) h = h * 31 + (uint64_t)mc[i][j];
  return h;
}

static uint32_t crc32(const uint8_t *p, int n) {
  uint32_t c = 0xffffffffu;
  for (int i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

static uint64_t divisions(void) {
  uint64_t s = 0;
  for (uint64_t i = 1; i < 4000; i++) s += (0xfedcba9876543ull / i) + (s % (i + 7));
  return s;
}

int main(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
  uint64_t acc = 0;
  for (int round = 0; round < ROUNDS; round++) {
    acc = acc * 1099511628211ull + sieve();
    acc = acc * 1099511628211ull + sort_test();
    acc = acc * 1099511628211ull + matmul();
    acc = acc * 1099511628211ull + crc32(sieve_buf, N_SIEVE);
    acc = acc * 1099511628211ull + divisions();
  }
  result = acc;
  return 0;
}

void _start_c(void) {
  main();
  tohost = 1;
  /* On QEMU's virt board (the benchmark baseline) tohost is plain RAM: end through the
     sifive,test1 finisher instead. */
  *(volatile uint32_t *)0x100000 = 0x5555;
  for (;;) {}
}
