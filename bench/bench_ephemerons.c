/*
 * bench/bench_ephemerons.c -- chains of ephemerons that keep their keys
 * alive one link at a time, replaced while the collector runs.  tricolor
 * only (no peer here has ephemerons).
 *
 * What it stresses.  The collector's ephemeron fixpoint and its clearing
 * pass (collector/weak.c): marking that can reach a key only through the
 * value of another ephemeron, deferred ephemerons walked at every settle,
 * and the registry walk of the mark-termination pause that clears
 * ephemerons and weak references whose keys died.  The shape follows
 * Whippet's `ephemerons` benchmark (benchmarks/ephemerons.c there): a
 * chain of L links, each an ephemeron whose key is a small object and
 * whose value is a box referring to the next key, so only the head key is
 * held strongly and the rest of the chain is live only through the
 * ephemerons:
 *
 *     chain.head -> k0    E0(k0 -> box0 -> k1)   E1(k1 -> box1 -> k2) ...
 *                         E(L-1)(k(L-1) -> box(L-1) -> kL)
 *
 * Whippet builds one chain per thread as long as the heap allows, checks
 * it, collects, checks it again, drops the head key, collects and checks
 * that the chain reads empty.  Here a marker resolves a chain one link per
 * settle round and each round walks every pending ephemeron (weak.c, rule
 * 3), so N ephemerons in chains of L cost about N x L, and one chain of N
 * links N^2: with 75 000 ephemerons (--heap-mib 8) the background marking
 * of a run took 0.08 s at L = 16, 0.26 s at 256 and 1.9 s at 2048 on the
 * 2-core test machine.  The heap is therefore split into C chains of L
 * links (default 16), and instead of one drop the chains are replaced over
 * and over, so cycles run (concurrently under tc_run) while chains are
 * built, walked and dropped.
 *
 * Objects (bytes): a key (16, noscan: an id and a check word), a box (16:
 * the next key and an id), an ephemeron (16, tc_ephemeron_new), and per
 * chain a header (40: head key, a tc_weak to the head key, the array, id,
 * the cycle it died in), the tc_weak (8), the deepest key (16) and an
 * array of the chain's L ephemerons in order from the head (8 L).  A link
 * is 56 bytes, a chain 56 L + 64: C = live / (56 L + 64).
 *
 * Method.
 *   1. Sizes: live = --heap-mib / --multiplier (Whippet's pair: the heap
 *      is this multiple of the live data).  tricolor's heap is paced, not
 *      fixed, so the multiplier sets the growth percent (multiplier - 1) x
 *      100 (tc_set_gc_percent) unless TRICOLOR_GC is set; default 2, the
 *      default 100%.  Main fills a table of C chains, one per slot, and a
 *      graveyard of C/4 slots (no chain yet), then collects and forgets the
 *      pauses so far (bench_pauses_reset: set-up is not measured).
 *   2. The timed phase: K mutators (--mutators, coroutines under tc_run,
 *      one after the other on a bare mutator) each own the table and
 *      graveyard slots congruent to their index mod K, and replace chains:
 *      pick one of their slots at random, walk the chain there (every
 *      link: key, value, box, next key and the check words, and the weak
 *      reference to the head), build a new chain and store it in the slot,
 *      then kill the old one (its head := NULL, so all its keys and boxes
 *      are unreachable) and move it to the next graveyard slot, whose
 *      chain falls out (header, array and ephemerons become garbage).
 *      Every --rounds x C replacements in all.
 *   3. A dead chain keeps its ephemerons and its weak reference alive in
 *      the graveyard, so each cycle clears them: key and value (and the
 *      weak target) read NULL from the cycle that found the keys dead.
 *      When a chain falls out of the graveyard it is checked if two cycles
 *      ended since it died (a cycle running at its death may keep it as
 *      floating garbage; the next one starts after it); the cycle count of
 *      the death is read after a batch of 32 kills, so it is never lower
 *      than the true one, and the count now is the last batch's, never
 *      higher.  Reading an ephemeron shades what it returns while marking,
 *      so a chain that might not be cleared yet is never read.
 *   4. After the phase (not measured): tc_gc(), a cycle that starts after
 *      the call, so every chain in the graveyard must read empty; every
 *      chain in the table is walked once more; and the collector's totals
 *      must cover what was checked: ephemerons_cleared >= the dead links
 *      read empty, weak_cleared >= the dead heads read empty.  Any
 *      damaged live link, or dead one not cleared, fails the run.
 *
 * Figures: the RESULT line (backend.h) with bench=ephemerons, wall_ms the
 * replacement phase, ops = replacements ("chains"), and notes: the sizes
 * (chains, length, graveyard, live_mib as tc_stats.heap_marked after
 * set-up, gc_percent), over the window eph_cleared, eph_resolved (deferred
 * ephemerons traced once their key was marked) and weak_cleared, and per
 * cycle (tc_stats.last_*, one sample per cycle the pause poller saw end):
 * eph_per_cycle (live ephemerons in the registry the termination pause
 * walks, median; the dead ones it drops are not counted),
 * eph_cleared_per_cycle, eph_resolved_per_cycle (medians), and
 * weak_pass_p50_us / weak_pass_max_us, the clearing pass's time inside
 * the termination pause.  That time is measured only with gctrace=1 or a
 * trace running (collector/cycle.c, finish_mark), so main adds gctrace=1
 * to TRICOLOR_DEBUG unless it names gctrace already (one line per cycle
 * on stderr); weak_samples and weak_missed say how many cycles the
 * figures cover.
 *
 * Alternatives rejected.  Whippet's single chain per mutator: quadratic
 * here, so its length would set the pause, not the heap size.  Ephemerons
 * held in a list of cells rather than an array: an extra object per link
 * and the same resolution rounds.  Reading the stats at every kill for its
 * cycle count: tc_read_stats takes the heap lock, which every refill
 * wants; a batch of 32 keeps the checks sound at a thirty-second of it.
 *
 * Usage: bench_ephemerons_tricolor [--heap-mib H] [--multiplier X]
 *        [--length L] [--rounds R] [--mutators K] [--seed S]
 * Prints a summary line, then the RESULT line.
 */
#include "backend.h"

#if !defined(BACKEND_TRICOLOR)
#error "bench_ephemerons is tricolor only"
#endif

#define KILL_BATCH 32   /* kills per tc_read_stats (see step 3) */
#define GRAVE_DIV 4     /* graveyard slots = chains / GRAVE_DIV */
#define LINK_BYTES 56   /* key 16 + box 16 + ephemeron 16 + array slot 8 */
#define CHAIN_BYTES 64  /* header 40 + weak 8 + the deepest key 16 */

typedef struct key {
  uint64_t id;          /* chain id * (L + 1) + depth */
  uint64_t check;       /* check_of(id) */
} key;

typedef struct box {
  key *next;            /* the key one link deeper */
  uint64_t id;          /* the id of the key of its ephemeron */
} box;

typedef struct chain {
  key *head;            /* k0; NULL once the chain was killed */
  tc_weak *weak;        /* to k0 */
  void **links;         /* L ephemerons, links[d] = E(k(d) -> box(d)) */
  uint64_t id;
  uint64_t died;        /* cycles ended when killed (never fewer);
                           UINT64_MAX until stamp_batch */
} chain;

static const uint32_t box_refs[] = {offsetof(box, next)};
static tc_type box_type = {.name = "box", .offsets = box_refs,
                           .noffsets = 1};
static const uint32_t chain_refs[] = {offsetof(chain, head),
                                      offsetof(chain, weak),
                                      offsetof(chain, links)};
static tc_type chain_type = {.name = "chain", .offsets = chain_refs,
                             .noffsets = 3};
static const uint32_t array_refs[] = {0};
static tc_type array_type = {.name = "array", .offsets = array_refs,
                             .noffsets = 1, .stride = sizeof(void *)};

typedef struct settings {
  long heap_mib, length, rounds, mutators, seed;
  double multiplier;
} settings;

/* Shared by main and the mutators; lives on main's stack. */
typedef struct shared {
  const settings *cfg;
  long chains;          /* table slots */
  long graves;          /* graveyard slots */
  void **table;         /* chains, main's root */
  void **grave;         /* killed chains, main's root */
} shared;

/* One mutator's share; malloc'd (tc_stats is 5 KiB: not on a stack). */
typedef struct share {
  shared *sh;
  long index;           /* owns the slots congruent to index mod K */
  long replacements;
  uint64_t rng;
  uint64_t next_id;     /* ids index, index + K, ... above the set-up's */
  long next_grave;      /* its next graveyard slot: index + K next_grave */
  long errors;          /* damaged live links, dead ones not cleared */
  long dead_checked;    /* dead chains read empty */
  long dead_unchecked;  /* fell out before two cycles ended */
  chain *batch[KILL_BATCH]; /* killed since the last stats read (the
                               graveyard holds them: see replace_one) */
  int nbatch, batch_max;  /* batch_max = min(KILL_BATCH, its graves) */
  tc_stats stats;
} share;

/* ---- deterministic contents ---- */

/* Returns the next value of a splitmix64 sequence. */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static uint64_t check_of(uint64_t id) {
  uint64_t s = id;
  return next_random(&s);
}

static uint64_t key_id(uint64_t chain_id, long length, long depth) {
  return chain_id * (uint64_t)(length + 1) + (uint64_t)depth;
}

static key *new_key(uint64_t id) {
  key *k = bench_check(tc_alloc_noscan(sizeof(key)), "tc_alloc_noscan");
  k->id = id;
  k->check = check_of(id);
  return k;
}

/* ---- chains ---- */

/* Returns a new chain of `length` links, built from the deepest key up so
 * that every key is held (by a local or a box) until its ephemeron exists.
 * Mutator. */
static chain *make_chain(uint64_t id, long length) {
  chain *c = NULL;
  void **links = NULL;
  key *k = NULL;
  box *b = NULL;
  TC_LOCALS(c, links, k, b);
  c = bench_check(tc_alloc(&chain_type, sizeof(chain)), "tc_alloc");
  c->id = id;
  links = bench_check(tc_alloc(&array_type, (size_t)length * sizeof(void *)),
                      "tc_alloc");
  TC_STORE(c, links, links);
  k = new_key(key_id(id, length, length));
  for (long d = length - 1; d >= 0; d--) {
    b = bench_check(tc_alloc(&box_type, sizeof(box)), "tc_alloc");
    TC_STORE(b, next, k);
    b->id = key_id(id, length, d);
    k = new_key(b->id);
    tc_store(&links[d], bench_check(tc_ephemeron_new(k, b),
                                    "tc_ephemeron_new"));
  }
  TC_STORE(c, weak, bench_check(tc_weak_new(k), "tc_weak_new"));
  TC_STORE(c, head, k);
  return c;
}

/* Tells whether the live chain c is intact: every link holds its key and
 * a box that leads to the next key, every key its id and check word, the
 * weak reference the head.  Allocates nothing; c is reachable from a
 * root.  Mutator. */
static bool chain_is_intact(const chain *c, long length) {
  const key *k = c->head;
  if (k == NULL || tc_weak_get(c->weak) != k || c->links == NULL)
    return false;
  for (long d = 0; d <= length; d++) {
    if (k == NULL || k->id != key_id(c->id, length, d) ||
        k->check != check_of(k->id))
      return false;
    if (d == length)
      break;
    const tc_ephemeron *e = c->links[d];
    if (e == NULL || tc_ephemeron_key(e) != k)
      return false;
    const box *b = tc_ephemeron_value(e);
    if (b == NULL || b->id != k->id)
      return false;
    k = b->next;
  }
  return true;
}

/* Tells whether the killed chain c was cleared: every ephemeron's key and
 * value and the weak reference read NULL.  Call only once a cycle that
 * started after the kill has ended (reads shade while marking).  Mutator. */
static bool chain_is_cleared(const chain *c, long length) {
  if (c->head != NULL || tc_weak_get(c->weak) != NULL)
    return false;
  for (long d = 0; d < length; d++) {
    const tc_ephemeron *e = c->links[d];
    if (e == NULL || tc_ephemeron_key(e) != NULL ||
        tc_ephemeron_value(e) != NULL)
      return false;
  }
  return true;
}

/* Stamps the chains killed since the last call with the cycles ended now
 * (not fewer than at their deaths).  Mutator. */
static void stamp_batch(share *s) {
  tc_read_stats(&s->stats);
  for (int i = 0; i < s->nbatch; i++) {
    s->batch[i]->died = s->stats.cycles;
    s->batch[i] = NULL;
  }
  s->nbatch = 0;
}

/* Checks a chain that fell out of the graveyard, if it is old enough. */
static void check_evicted(share *s, const chain *c) {
  long length = s->sh->cfg->length;
  if (c->died == UINT64_MAX || s->stats.cycles < c->died + 2) {
    s->dead_unchecked++;
    return;
  }
  if (chain_is_cleared(c, length))
    s->dead_checked++;
  else
    s->errors++;
}

/* Replaces the chain in one of this mutator's slots.  Mutator. */
static void replace_one(share *s) {
  shared *sh = s->sh;
  long k = sh->cfg->mutators, length = sh->cfg->length;
  long own = (sh->chains - s->index + k - 1) / k;
  long slot = s->index + k * (long)(next_random(&s->rng) % (uint64_t)own);
  chain *old = NULL, *fresh = NULL, *out = NULL;
  TC_LOCALS(old, fresh, out);
  old = sh->table[slot];
  if (!chain_is_intact(old, length))
    s->errors++;
  fresh = make_chain(s->next_id, length);
  s->next_id += (uint64_t)k;
  tc_store(&sh->table[slot], fresh);
  TC_STORE(old, head, NULL); /* every key and box of old is garbage now */
  old->died = UINT64_MAX;    /* stamped by stamp_batch */
  long gslots = (sh->graves - s->index + k - 1) / k;
  long g = s->index + k * s->next_grave;
  s->next_grave = (s->next_grave + 1) % gslots;
  out = sh->grave[g];
  tc_store(&sh->grave[g], old);
  /* out is not in the batch: it died gslots >= batch_max kills ago */
  s->batch[s->nbatch++] = old;
  if (out != NULL)
    check_evicted(s, out);
  if (s->nbatch == s->batch_max)
    stamp_batch(s);
}

static void mutator_main(void *arg) {
  share *s = arg;
  shared *sh = s->sh;
  long k = sh->cfg->mutators;
  long gslots = (sh->graves - s->index + k - 1) / k;
  s->batch_max = gslots < KILL_BATCH ? (int)gslots : KILL_BATCH;
  tc_read_stats(&s->stats);
  for (long i = 0; i < s->replacements; i++)
    replace_one(s);
  stamp_batch(s);
}

/* ---- main ---- */

static int usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [--heap-mib H] [--multiplier X (1 < X <= 100)] "
          "[--length L] [--rounds R] [--mutators K (1..64)] [--seed S]\n",
          prog);
  return 2;
}

/* Parses argv into *c; false on a bad argument.  --multiplier takes a
 * decimal number; the rest are integers (bench_parse_opts). */
static bool parse_args(int argc, char **argv, settings *c) {
  static const bench_opt opts[] = {
      {"--heap-mib", offsetof(settings, heap_mib), 1, 1L << 20},
      {"--length", offsetof(settings, length), 1, 1L << 20},
      {"--rounds", offsetof(settings, rounds), 1, 1L << 20},
      {"--mutators", offsetof(settings, mutators), 1, BENCH_MAX_TASKS},
      {"--seed", offsetof(settings, seed), 0, 0x7fffffffffffffffL},
  };
  char *rest[64];
  int n = 0;
  rest[n++] = argv[0];
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--multiplier") == 0) {
      if (i + 1 >= argc)
        return false;
      char *end;
      c->multiplier = strtod(argv[++i], &end);
      if (*argv[i] == '\0' || *end != '\0' || !(c->multiplier > 1.0) ||
          c->multiplier > 100.0)
        return false;
    } else if (n < 64) {
      rest[n++] = argv[i];
    } else {
      return false;
    }
  }
  return bench_parse_opts(n, rest, opts, sizeof opts / sizeof opts[0], c);
}

static uint64_t median_u64(uint64_t *v, size_t n) {
  return bench_quantile(v, n, 0.50);
}

/* Notes the per-cycle figures of the window (bench_weak_cycles). */
static void note_cycles(void) {
  size_t n;
  uint64_t missed;
  const bench_weakcycle *wc = bench_weak_cycles(&n, &missed, NULL, NULL);
  bench_note("weak_samples", (double)n);
  bench_note("weak_missed", (double)missed);
  if (n == 0)
    return;
  uint64_t *v = bench_check(malloc(n * sizeof v[0]), "malloc");
  for (size_t i = 0; i < n; i++)
    v[i] = wc[i].ephemerons;
  bench_note("eph_per_cycle", (double)median_u64(v, n));
  for (size_t i = 0; i < n; i++)
    v[i] = wc[i].ephemerons_cleared;
  bench_note("eph_cleared_per_cycle", (double)median_u64(v, n));
  for (size_t i = 0; i < n; i++)
    v[i] = wc[i].ephemerons_resolved;
  bench_note("eph_resolved_per_cycle", (double)median_u64(v, n));
  size_t timed = 0;
  for (size_t i = 0; i < n; i++)
    if (wc[i].weak_ns != 0)
      v[timed++] = wc[i].weak_ns;
  if (timed > 0) { /* gctrace or a trace measured them */
    bench_note("weak_pass_p50_us", (double)median_u64(v, timed) / 1e3);
    bench_note("weak_pass_max_us", (double)v[timed - 1] / 1e3); /* sorted */
  }
  free(v);
}

static int bench_main(int argc, char **argv) {
  settings cfg = {.heap_mib = 32, .multiplier = 2.0, .length = 16,
                  .rounds = 8, .mutators = 1, .seed = 1};
  if (!parse_args(argc, argv, &cfg))
    return usage(argv[0]);
  const char *gcenv = getenv("TRICOLOR_GC");
  int gc_percent = (int)((cfg.multiplier - 1.0) * 100.0 + 0.5);
  char gcdesc[64];
  if (gcenv == NULL || *gcenv == '\0') {
    tc_set_gc_percent(gc_percent);
    snprintf(gcdesc, sizeof gcdesc, "gc %d%%", gc_percent);
  } else {
    gc_percent = -1; /* TRICOLOR_GC's: not noted */
    snprintf(gcdesc, sizeof gcdesc, "TRICOLOR_GC=%.40s", gcenv);
  }

  static tc_stats first, st; /* 5 KiB each: not on the coroutine's stack */
  tc_read_stats(&first);
  double live = (double)cfg.heap_mib * 1048576.0 / cfg.multiplier;
  shared sh = {.cfg = &cfg};
  sh.chains = (long)(live / (double)(LINK_BYTES * cfg.length + CHAIN_BYTES));
  if (sh.chains < cfg.mutators * GRAVE_DIV)
    sh.chains = cfg.mutators * GRAVE_DIV; /* a slot of each for everyone */
  sh.graves = sh.chains / GRAVE_DIV;
  TC_LOCALS(sh.table, sh.grave);
  sh.table = bench_check(tc_alloc(&array_type,
                                  (size_t)sh.chains * sizeof(void *)),
                         "tc_alloc");
  sh.grave = bench_check(tc_alloc(&array_type,
                                  (size_t)sh.graves * sizeof(void *)),
                         "tc_alloc");

  /* 1. the chains, then a cycle: set-up stays out of the figures */
  for (long i = 0; i < sh.chains; i++)
    tc_store(&sh.table[i], make_chain((uint64_t)i, cfg.length));
  tc_gc();
  tc_read_stats(&st);
  double live_mib = (double)st.heap_marked / 1048576.0;
  bench_pauses_reset();

  /* 2. the replacements, timed */
  long k = cfg.mutators;
  share *shares = bench_check(calloc((size_t)k, sizeof *shares), "calloc");
  long total = cfg.rounds * sh.chains;
  for (long i = 0; i < k; i++)
    shares[i] = (share){.sh = &sh, .index = i,
                        .replacements = total * (i + 1) / k - total * i / k,
                        .rng = (uint64_t)cfg.seed * 0x9e3779b97f4a7c15u +
                               (uint64_t)i,
                        .next_id = (uint64_t)sh.chains + (uint64_t)i};
  bench_set_mutators((int)k);
  uint64_t start = bench_now_ns();
  bench_parallel((int)k, mutator_main, shares, sizeof shares[0]);
  uint64_t wall = bench_now_ns() - start;
  bench_phase_end(); /* the checks below are not measured */

  /* 3. a cycle that starts now: every chain in the graveyard is dead */
  tc_gc();
  long errors = 0, checked = 0, unchecked = 0, graves = 0;
  for (long i = 0; i < k; i++) {
    errors += shares[i].errors;
    checked += shares[i].dead_checked;
    unchecked += shares[i].dead_unchecked;
  }
  long live_bad = 0, dead_bad = 0;
  for (long i = 0; i < sh.chains; i++) {
    if (!chain_is_intact(sh.table[i], cfg.length))
      live_bad++;
    tc_safepoint(); /* no allocation here: let the collector in */
  }
  for (long i = 0; i < sh.graves; i++) {
    const chain *c = sh.grave[i];
    if (c == NULL)
      continue;
    graves++;
    if (chain_is_cleared(c, cfg.length))
      checked++;
    else
      dead_bad++;
    tc_safepoint();
  }
  tc_read_stats(&st);
  uint64_t eph_cleared_all = st.ephemerons_cleared - first.ephemerons_cleared;
  uint64_t weak_cleared_all = st.weak_cleared - first.weak_cleared;
  bool totals_ok = eph_cleared_all >= (uint64_t)checked * (uint64_t)cfg.length
                   && weak_cleared_all >= (uint64_t)checked;
  errors += live_bad + dead_bad;
  free(shares);

  size_t ncycles;
  uint64_t missed;
  const tc_stats *wb, *we;
  bench_weak_cycles(&ncycles, &missed, &wb, &we);
  printf("ephemerons: %ld chains x %ld links (%ld ephemerons live, %ld "
         "graveyard chains), live %.1f MiB, %s; %ld mutator(s), %ld "
         "replacements; dead chains read empty: %ld (%ld fell out too young "
         "to check); cleared in all: %llu ephemerons, %llu weak refs; "
         "damaged live chains: %ld, dead chains not cleared: %ld, previous "
         "checks failed: %ld%s\n",
         sh.chains, cfg.length, sh.chains * cfg.length, sh.graves, live_mib,
         gcdesc, k, total, checked,
         unchecked, (unsigned long long)eph_cleared_all,
         (unsigned long long)weak_cleared_all, live_bad, dead_bad,
         errors - live_bad - dead_bad,
         totals_ok ? "" : "; the collector's totals are below what was "
                          "read empty");
  if (errors || !totals_ok) {
    fprintf(stderr, "bench_ephemerons: %ld chains damaged or not cleared: "
                    "Failed\n", errors);
    return 1;
  }
  bench_set_ops((uint64_t)total, "chains");
  bench_note("chains", (double)sh.chains); /* tricolor-lab's title */
  bench_note("length", (double)cfg.length);
  bench_note("graveyard", (double)sh.graves);
  bench_note("live_mib", live_mib);
  if (gc_percent >= 0)
    bench_note("gc_percent", gc_percent);
  bench_note("eph_cleared",
             (double)(we->ephemerons_cleared - wb->ephemerons_cleared));
  bench_note("eph_resolved",
             (double)(we->ephemerons_resolved - wb->ephemerons_resolved));
  bench_note("weak_cleared", (double)(we->weak_cleared - wb->weak_cleared));
  note_cycles();
  bench_finish("ephemerons", wall);
  return 0;
}

/* Appends gctrace=1 to TRICOLOR_DEBUG unless it names gctrace: the weak
 * pass is timed only then (collector/cycle.c, finish_mark). */
static void time_weak_pass(void) {
  const char *d = getenv("TRICOLOR_DEBUG");
  if (d && strstr(d, "gctrace="))
    return;
  char buf[512];
  snprintf(buf, sizeof buf, "%s%sgctrace=1", d ? d : "", d && *d ? "," : "");
  setenv("TRICOLOR_DEBUG", buf, 1);
}

int main(int argc, char **argv) {
  time_weak_pass();
  return bench_start(bench_main, argc, argv);
}
