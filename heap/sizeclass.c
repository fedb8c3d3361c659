/*
 * heap/sizeclass.c -- the small-object size classes, 8 B to 32 KiB.
 *
 * How the table is built (a script computed it once; a test re-checks it):
 *   1. Sizes 8..64 step by 8 bytes, the allocation granule: a request is
 *      rounded up by at most 7 bytes.
 *   2. Above 64 B there are eight classes per doubling: between 2^k and
 *      2^(k+1) the step is 2^k / 8.  A request just above class c(i-1) is
 *      rounded up to c(i); the waste (c(i) - c(i-1) - 1) / c(i) is below
 *      1/9 (11.1%), so "max waste" stays within 12.5% for every class from
 *      56 B up, and below 8 bytes for the smaller ones.
 *   3. Pages per span: the fewest 8 KiB pages that hold at least 8 objects
 *      (4 above 8 KiB) with the tail that no object fits in at most 12.5%
 *      of the span.
 * Objects are 8-byte aligned; an object whose class size is a multiple of
 * 16 is 16-byte aligned (spans start on a page).
 *
 * The first 40 sizes and the size -> class map for sizes up to 1 KiB are
 * repeated in include/tricolor/inline.h for the inline path; a unit test
 * checks that both agree with this table.
 *
 * Rejected: power-of-two classes (up to 50% waste), Go's hand-tuned 68
 * classes (waste up to 87.5% at 16 B and no simple rule to test against).
 */
#include "heap/heap.h"

/* size, pages, objects; tail = pages*8192 - objects*size;
 * max waste = (size - previous size - 1) / size */
const tc__sizeclass tc__classes[TC__NCLASSES] = {
    {    8,  1, 1024}, /*  0: tail    0 B, max waste 87.5% */
    {   16,  1,  512}, /*  1: tail    0 B, max waste 43.8% */
    {   24,  1,  341}, /*  2: tail    8 B, max waste 29.2% */
    {   32,  1,  256}, /*  3: tail    0 B, max waste 21.9% */
    {   40,  1,  204}, /*  4: tail   32 B, max waste 17.5% */
    {   48,  1,  170}, /*  5: tail   32 B, max waste 14.6% */
    {   56,  1,  146}, /*  6: tail   16 B, max waste 12.5% */
    {   64,  1,  128}, /*  7: tail    0 B, max waste 10.9% */
    {   72,  1,  113}, /*  8: tail   56 B, max waste  9.7% */
    {   80,  1,  102}, /*  9: tail   32 B, max waste  8.8% */
    {   88,  1,   93}, /* 10: tail    8 B, max waste  8.0% */
    {   96,  1,   85}, /* 11: tail   32 B, max waste  7.3% */
    {  104,  1,   78}, /* 12: tail   80 B, max waste  6.7% */
    {  112,  1,   73}, /* 13: tail   16 B, max waste  6.2% */
    {  120,  1,   68}, /* 14: tail   32 B, max waste  5.8% */
    {  128,  1,   64}, /* 15: tail    0 B, max waste  5.5% */
    {  144,  1,   56}, /* 16: tail  128 B, max waste 10.4% */
    {  160,  1,   51}, /* 17: tail   32 B, max waste  9.4% */
    {  176,  1,   46}, /* 18: tail   96 B, max waste  8.5% */
    {  192,  1,   42}, /* 19: tail  128 B, max waste  7.8% */
    {  208,  1,   39}, /* 20: tail   80 B, max waste  7.2% */
    {  224,  1,   36}, /* 21: tail  128 B, max waste  6.7% */
    {  240,  1,   34}, /* 22: tail   32 B, max waste  6.2% */
    {  256,  1,   32}, /* 23: tail    0 B, max waste  5.9% */
    {  288,  1,   28}, /* 24: tail  128 B, max waste 10.8% */
    {  320,  1,   25}, /* 25: tail  192 B, max waste  9.7% */
    {  352,  1,   23}, /* 26: tail   96 B, max waste  8.8% */
    {  384,  1,   21}, /* 27: tail  128 B, max waste  8.1% */
    {  416,  1,   19}, /* 28: tail  288 B, max waste  7.5% */
    {  448,  1,   18}, /* 29: tail  128 B, max waste  6.9% */
    {  480,  1,   17}, /* 30: tail   32 B, max waste  6.5% */
    {  512,  1,   16}, /* 31: tail    0 B, max waste  6.1% */
    {  576,  1,   14}, /* 32: tail  128 B, max waste 10.9% */
    {  640,  1,   12}, /* 33: tail  512 B, max waste  9.8% */
    {  704,  1,   11}, /* 34: tail  448 B, max waste  8.9% */
    {  768,  1,   10}, /* 35: tail  512 B, max waste  8.2% */
    {  832,  1,    9}, /* 36: tail  704 B, max waste  7.6% */
    {  896,  1,    9}, /* 37: tail  128 B, max waste  7.0% */
    {  960,  1,    8}, /* 38: tail  512 B, max waste  6.6% */
    { 1024,  1,    8}, /* 39: tail    0 B, max waste  6.2% */
    { 1152,  2,   14}, /* 40: tail  256 B, max waste 11.0% */
    { 1280,  2,   12}, /* 41: tail 1024 B, max waste  9.9% */
    { 1408,  2,   11}, /* 42: tail  896 B, max waste  9.0% */
    { 1536,  2,   10}, /* 43: tail 1024 B, max waste  8.3% */
    { 1664,  2,    9}, /* 44: tail 1408 B, max waste  7.6% */
    { 1792,  2,    9}, /* 45: tail  256 B, max waste  7.1% */
    { 1920,  2,    8}, /* 46: tail 1024 B, max waste  6.6% */
    { 2048,  2,    8}, /* 47: tail    0 B, max waste  6.2% */
    { 2304,  3,   10}, /* 48: tail 1536 B, max waste 11.1% */
    { 2560,  3,    9}, /* 49: tail 1536 B, max waste 10.0% */
    { 2816,  3,    8}, /* 50: tail 2048 B, max waste  9.1% */
    { 3072,  3,    8}, /* 51: tail    0 B, max waste  8.3% */
    { 3328,  4,    9}, /* 52: tail 2816 B, max waste  7.7% */
    { 3584,  4,    9}, /* 53: tail  512 B, max waste  7.1% */
    { 3840,  4,    8}, /* 54: tail 2048 B, max waste  6.6% */
    { 4096,  4,    8}, /* 55: tail    0 B, max waste  6.2% */
    { 4608,  5,    8}, /* 56: tail 4096 B, max waste 11.1% */
    { 5120,  5,    8}, /* 57: tail    0 B, max waste 10.0% */
    { 5632,  6,    8}, /* 58: tail 4096 B, max waste  9.1% */
    { 6144,  6,    8}, /* 59: tail    0 B, max waste  8.3% */
    { 6656,  7,    8}, /* 60: tail 4096 B, max waste  7.7% */
    { 7168,  7,    8}, /* 61: tail    0 B, max waste  7.1% */
    { 7680,  8,    8}, /* 62: tail 4096 B, max waste  6.7% */
    { 8192,  8,    8}, /* 63: tail    0 B, max waste  6.2% */
    { 9216,  5,    4}, /* 64: tail 4096 B, max waste 11.1% */
    {10240,  5,    4}, /* 65: tail    0 B, max waste 10.0% */
    {11264,  6,    4}, /* 66: tail 4096 B, max waste  9.1% */
    {12288,  6,    4}, /* 67: tail    0 B, max waste  8.3% */
    {13312,  7,    4}, /* 68: tail 4096 B, max waste  7.7% */
    {14336,  7,    4}, /* 69: tail    0 B, max waste  7.1% */
    {15360,  8,    4}, /* 70: tail 4096 B, max waste  6.7% */
    {16384,  8,    4}, /* 71: tail    0 B, max waste  6.2% */
    {18432,  9,    4}, /* 72: tail    0 B, max waste 11.1% */
    {20480, 10,    4}, /* 73: tail    0 B, max waste 10.0% */
    {22528, 11,    4}, /* 74: tail    0 B, max waste  9.1% */
    {24576, 12,    4}, /* 75: tail    0 B, max waste  8.3% */
    {26624, 13,    4}, /* 76: tail    0 B, max waste  7.7% */
    {28672, 14,    4}, /* 77: tail    0 B, max waste  7.1% */
    {30720, 15,    4}, /* 78: tail    0 B, max waste  6.7% */
    {32768, 16,    4}, /* 79: tail    0 B, max waste  6.2% */
};

unsigned tc__size_to_class(size_t size) {
  if (size <= TC__SMALL_INLINE_MAX)
    return tc__small_class[(size + 7) >> 3];
  /* 1 KiB < size <= 32 KiB: eight classes per doubling */
  size_t s = size - 1;
  unsigned k = 63u - (unsigned)__builtin_clzll(s); /* 2^k <= s < 2^(k+1) */
  size_t step = (size_t)1 << (k - 3);
  unsigned within = (unsigned)((s - ((size_t)1 << k)) / step); /* 0..7 */
  return 40u + (k - 10u) * 8u + within;
}

uint32_t tc__class_divmul(unsigned cls) {
  uint64_t size = tc__classes[cls].size;
  return (uint32_t)(((uint64_t)1 << 32) / size + ((((uint64_t)1 << 32) % size) != 0));
}
