/*
 * collector/collector.h -- the collector's internal interface: type
 * registry, marking, roots, the cycle, finalizers and statistics.
 *
 * The tri-color invariant (referred to from every file that colours):
 *   white  mark bit clear: not yet known to be reachable;
 *   grey   mark bit set and the object is on a grey list: reachable, its
 *          references not yet scanned;
 *   black  mark bit set and scanned (or noscan, or allocated while
 *          marking): every reference it holds is grey or black.
 *   Strong form, kept while marking: no black object points to a white one.
 *   Marking ends when no grey object is left; then every white object is
 *   unreachable and the sweep may free it.
 *   Weak form: a white object a black one points to is also reachable
 *   from a grey object through white ones (Go's hybrid barrier keeps this).
 * In the stw mode the mutators do not run while marking, so the invariant
 * holds trivially; the barrier modes (barrier/barrier.c) keep it, or its
 * weak form, while marking runs concurrently with the coroutines.
 *
 * Collector phases (tc__phase), and what holds in each:
 *   TC__PHASE_OFF       no cycle marking; barrier off; allocation white;
 *                       spans may be unswept from the last cycle.
 *   TC__PHASE_MARK      concurrent mark (under tc_run, modes other than
 *                       stw): the barrier is on, allocation is black
 *                       (heap.alloc_black), markers share grey packets.
 *   TC__PHASE_MARKTERM  world stopped: the mark is finished (stw: done
 *                       entirely), finalizers queued, the sweep started.
 * Phase changes happen only while the world is stopped.
 */
#ifndef TC_COLLECTOR_H
#define TC_COLLECTOR_H

#ifndef TC_BUILDING_LIBRARY
#error "collector/collector.h is internal to tricolor"
#endif

#include "base/base.h"
#include "heap/heap.h"
#include "sched/world.h" /* the one seam with the scheduler */

#include <string.h>

#define TC__MAX_TYPES 32768 /* type ids are uint16_t; 0 means "none" */

/* ---- types (types.c) ---- */
/* What the marker needs of a type, copied at registration so that scanning
 * reads one dense record instead of the embedder's descriptor. */
typedef struct tc__typeinfo {
  const uint32_t *offsets;  /* pointer-field offsets */
  uint32_t noffsets;
  uint32_t stride;          /* repeat period, 0 = once */
  uint32_t extent;          /* last offset + 8: objects at least this big
                               need no per-field bound check */
  tc_trace_fn trace;
  uint64_t ptrmask;         /* bit k: word k holds a reference, for a type
                               with offsets only (no trace, no stride, all
                               in the first 64 words); else 0, and 0 while
                               a trace hook (wbcheck) covers the type */
} tc__typeinfo;

/* Registers t if needed and returns its id; aborts when the table is full.
 * A tc_type must not change after its first allocation. */
uint32_t tc__type_register(tc_type *t);
extern tc_type *tc__types[TC__MAX_TYPES];
extern tc__typeinfo tc__typeinfos[TC__MAX_TYPES];
/* Returns the type with this id (NULL for 0). */
static inline tc_type *tc__type_get(uint32_t id) { return tc__types[id]; }
/* Makes the marker call fn (NULL: nobody) instead of tracing every type
 * that holds references, but those skips(type) names; types registered
 * later too.  tc_init / tc_shutdown, no marking. */
void tc__types_hook_trace(tc_trace_fn fn, bool (*skips)(const tc_type *t));
/* The type as registered (offsets, trace), whatever the hook. */
const tc__typeinfo *tc__type_registered(uint32_t id);

/* ---- phases (the phase word: sched/world.h); barrier modes:
 * barrier/barrier.h ---- */

/* ---- marking (mark.c); world stopped ---- */
#define TC__PACKET 256 /* grey entries moved between markers at once */

typedef struct tc__grey_entry {
  char *obj;          /* a grey object */
  uint32_t size;      /* bytes it occupies (its size class) */
  uint32_t type;      /* its type id, or TC__GREY_REF */
} tc__grey_entry;
/* An entry's type for a reference the barrier recorded and nobody has
 * shaded yet (obj: the reference, size 0; collector/workers.c): a marker
 * that pops it shades it instead of scanning.  Not a type id. */
#define TC__GREY_REF 0xffffffffu

/* One marking thread's state. */
#define TC__MARKER_SPANS 16 /* a marker's span cache, entries (power of 2) */
typedef struct tc__marker {
  tc__grey_entry *grey;  /* grey stack, mmap'd */
  size_t n;              /* entries in use */
  size_t cap;            /* capacity in entries */
  uint64_t marked;       /* bytes this marker greyed this cycle */
  uint64_t scanned;      /* objects this marker scanned, ever */
  uint64_t scan_bytes;   /* bytes of objects scanned, ever (work units) */
  uint64_t spans;        /* spans taken off the span queue, ever */
  bool shared;           /* other markers run: set mark bits atomically */
  bool verify;           /* gccheckmark traversal (collector/verify.c) */
  void *wbrefs;          /* with verify: wbcheck records the references
                            instead (collector/wbcheck.c) */
  uint64_t wb_slow;      /* (a P's buffer) barrier slow paths while marking */
  uint64_t wb_shaded;    /* (a P's buffer) objects the barrier greyed */
  struct {               /* spans of pages greyed into lately, in use */
    uintptr_t page;      /* address >> TC__PAGE_SHIFT; 0: empty */
    tc__span *span;
  } seen[TC__MARKER_SPANS]; /* direct-mapped by page: spans are not freed
                               while a cycle marks (collector/mark.c) */
} tc__marker;

void tc__marker_init(tc__marker *m);
void tc__marker_destroy(tc__marker *m);
void tc__marker_grow(tc__marker *m);
/* Drops m's cached spans (spans may have been freed since they were
 * looked up). */
static inline void tc__marker_forget_span(tc__marker *m) {
  memset(m->seen, 0, sizeof m->seen);
}
/* Greys p if it is a white heap object; `from` names the referrer for
 * messages (an object or a root slot), may be NULL. */
void tc__mark_ref(tc__marker *m, void *p, const void *from);
/* Greys each non-NULL reference of refs[0, n) into m (the barrier
 * buffer's flush); returns how many it greyed (were white). */
uint32_t tc__mark_batch(tc__marker *m, void *const *refs, uint32_t n);
/* Greys everything obj references, without colouring obj itself. */
void tc__mark_scan_object(tc__marker *m, char *obj);
/* Scans m's grey objects until its stack is empty (sharing work when
 * another marker is idle). */
void tc__mark_drain(tc__marker *m);
/* Scans grey objects until about `budget` bytes were scanned or the stack
 * is empty; returns the bytes scanned.  Concurrent marking. */
uint64_t tc__mark_drain_budget(tc__marker *m, uint64_t budget);

/* ---- the bare mutator's record (the thread that called tc_init, outside
 * tc_run; under tc_run a P owns each cache and a G each root stack) ---- */
typedef struct tc__mutator {
  tc__mcache cache;            /* its allocation cache */
  tc__rootstack *rs;           /* its root stack */
} tc__mutator;

/* ---- collector state ---- */
typedef struct tc__gcstate {
  uint32_t epoch;              /* cycles started under the scheduler; a G
                                  whose gcscan == 2 * epoch has a black root
                                  stack (sched/gscan.c) */
  uint32_t flush_gen;          /* flush requests to the Ps' grey buffers */
  uint64_t force_period_ns;    /* 0 = never */
  uint64_t mem_limit;          /* soft limit, 0 = none */
  uint64_t last_gc_ns;         /* when the last cycle ended */
  uint64_t heap_at_trigger;    /* heap.live when the running cycle began */
  double trigger_ratio;        /* trigger = basis + ratio * (goal - basis) */
  uint64_t goal_basis;         /* bytes the last mark kept (its marked
                                  bytes, black allocation included) */
  uint64_t scan_expected;      /* bytes the running mark should scan */
  uint64_t scan_done;          /* bytes scanned by markers (relaxed, lags) */
  uint32_t requested;          /* a cycle was asked of the collector thread */
  uint32_t assists;            /* assists draining right now (atomic) */
  uint32_t workers;            /* mark workers on Ps draining right now
                                  (atomic; they hold packets meanwhile) */
  uint32_t workers_on;         /* this cycle marks on the Ps (release) */
  uint64_t mark_start_ns;      /* the running cycle's mark began */
  uint64_t worker_ns;          /* its mark workers' time on all Ps, idle
                                  Ps' included (relaxed atomic adds) */
  tc__marker orphan;           /* greys from threads without a P buffer */
  tc__lock orphan_lock;        /* the door: held to grey into the orphan
                                  and to move the phase (gcwork.c) */
  uint32_t in_cycle;           /* a cycle is running (CAS 0 -> 1) */
  uint64_t cycles_done;        /* cycles completed (release store) */
  bool initialized;
  int gc_percent;              /* TC_GC_OFF or >= 0 */
  uint64_t min_heap;           /* goal floor */
  uint64_t trigger;            /* heap.live that starts a cycle */
  uint64_t goal;               /* reported heap goal */
  tc_oom_fn on_oom;
  tc__mutator *main;           /* the one mutator without the scheduler,
                                  NULL while tc_run runs */
  tc__mutator *bare;           /* the record main points to */
  tc__marker marker;           /* marker 0: the thread that collects */
  unsigned procs;              /* marking threads; tc_run makes as many
                                  Ps (tc__gc_procs) */
  uint64_t start_ns;           /* tc_init time */
} tc__gcstate;

extern tc__gcstate tc__gc;

/* ---- stats counters (relaxed atomics) ---- */
typedef struct tc__gccounters {
  uint64_t barrier_slow, barrier_shaded, assist_ns, bg_mark_ns;
  uint64_t spans;  /* spans taken off the span queue (markorder=span),
                      added once per drain */
  uint64_t begun_here; /* cycles whose mark start ran on the coroutine
                          that triggered them (tc__gcthread_begin_here) */
} tc__gccounters;
extern tc__gccounters tc__gcc;

/* ---- allocation (alloc.c) ---- */
/* Aborts with a message naming `call` unless on a live runtime's mutator. */
void tc__require_mutator(const char *call);
/* Starts a cycle if heap.live passed the trigger.  Mutator. */
void tc__maybe_collect(void);

/* ---- the heap profile (profile.c) ---- */
/* Arms the run r of span class sc just refilled or sampled from: cuts
 * its end at the next sample point if one falls inside; true if the point
 * falls in its first object, which the caller then samples (the run is
 * not cut).  Owner of c. */
bool tc__profile_arm(tc__mcache *c, unsigned sc, tc__run *r);
/* True if the large object of `size` bytes just allocated is sampled. */
bool tc__profile_large(tc__mcache *c, size_t size);
/* Records the sampled object p of `size` bytes with the caller's stack
 * (tc__alloc_slow's caller and up).  Mutator, before any safepoint. */
void tc__profile_record(void *p, size_t size);
/* Formats where obj was allocated, "f+0x12 <- g+0x8 <- ..." (at most
 * `frames` frames), into buf; false if the profile did not sample it
 * (with wbcheck=1 it samples every object).  Any thread. */
bool tc__profile_site(const void *obj, char *buf, size_t len, int frames);
/* tc_init (after the settings and the heap) / tc_shutdown (before the
 * heap goes): the rate from TRICOLOR_DEBUG, the sweep's free hook, the
 * memprofile= writer. */
void tc__profile_init(void);
void tc__profile_shutdown(void);

/* ---- the missing-barrier finder (wbcheck.c), TRICOLOR_DEBUG=wbcheck=1 ---- */
/* The sweep freed obj: drops its snapshot.  Heap lock held. */
void tc__wbcheck_forget(void *obj);
/* A store is about to happen: into *slot (tc_store), or of new_ref over
 * old_ref somewhere (tc_barrier, slot NULL).  The barrier's slow path. */
void tc__wbcheck_note(void **slot, void *old_ref, void *new_ref);
/* A recording marker's reference (tc__verify_ref hands it over). */
void tc__wbcheck_visit(void *refs, void *ref);
/* tc_init (after the settings) / tc_shutdown. */
void tc__wbcheck_init(void);
void tc__wbcheck_shutdown(void);
/* weak.c: t is the ephemeron type (its trace visits the value only once
 * the key is marked: no snapshot can describe it). */
bool tc__type_is_ephemeron(const tc_type *t);

/* ---- concurrent marking ---- */
/* Greys p from a mutator (barrier, channel moves, tc_go): into the grey
 * buffer of the caller's P, else the orphan marker.  Marking only. */
void tc__shade(void *p);
/* The same into a grey buffer the caller looked up (NULL: the orphan,
 * through the door). */
void tc__shade_into(tc__marker *w, void *p);
/* The door of the threads no world stop stops (collector/gcwork.c):
 * enter, then tc__shade_orphan greys p only if the phase is MARK. */
void tc__door_enter(void);
void tc__door_exit(void);
void tc__shade_orphan(void *p);

/* The grey buffer of the calling thread's P, or NULL. */
tc__marker *tc__gcw_current(void);
/* Moves all of a grey buffer's entries to the shared pool. */
void tc__gcw_flush(tc__marker *w);
/* A P's share of the collector, hung off its allocation cache (opaque to
 * heap/ and sched/).  The M holding the P owns it; the collector touches
 * it only with the world stopped, and reads `ack` (acquire) in the
 * handshake. */
#define TC__WBBUF 256 /* barrier buffer entries: a flush greys at most this
                         many at once; Go's wbBuf holds 512 */
typedef struct tc__pgc {
  tc__marker w;          /* grey buffer: barrier shades, assists, stack
                            scans of the P's Gs (first: &pgc->w == pgc) */
  int64_t assist_debt;   /* bytes allocated while marking not yet paid for
                            with mark work */
  uint32_t ack;          /* last flush request this P answered */
  tc__cache *runs;       /* its cache's public part, which holds wb's
                            cursor for the inline path (wbp: next free
                            entry, written by the P's owner, or by the
                            collector with the world stopped; wblim: wb +
                            TC__WBBUF - 1 while a hybrid cycle marks with
                            no store checks, else wb; tc__barrier_phase) */
  void *wb[TC__WBBUF];   /* references the barrier recorded while marking,
                            not yet shaded (barrier/barrier.c); NULLs
                            allowed */
} tc__pgc;
/* Shades what g's barrier buffer holds into its grey buffer and empties
 * it.  The P's owner, or the collector with the world stopped. */
void tc__wb_flush(tc__pgc *g);
/* Charges bytes allocated while marking to c's P and pays for them in
 * mark work once the debt is large enough (gcwork.c).  Mutator. */
void tc__assist_charge(tc__mcache *c, uint64_t bytes);
void tc__assist(tc__pgc *g);
/* Bare-metal pool access for concurrent marking (workers.c).  put moves
 * the oldest k entries of m (0: all) to the pool.  get moves a packet
 * onto m's stack; true if it did, or if spans wait on the span queue
 * (m's drain takes them itself).  take moves packets only.  empty: no
 * packet and no span queued (a relaxed hint while marking; exact with
 * the world stopped). */
void tc__pool_put(tc__marker *m, size_t k);
/* Hands n references a P's barrier recorded (NULLs allowed; n <=
 * TC__PACKET) to the pool as one packet, for the markers to shade; false
 * if no packet could be had (the caller shades them itself). */
bool tc__pool_put_refs(void *const *refs, uint32_t n);
bool tc__pool_get(tc__marker *m);
bool tc__pool_take(tc__marker *m);
bool tc__pool_empty(void);
/* Asks markers to share work (an assist found the pool empty). */
void tc__pool_hungry(void);
bool tc__pool_is_hungry(void);
/* Switches sharing between concurrent (on request) and pause mode. */
void tc__pool_set_concurrent(bool on);
/* Verifies the mark (gccheckmark); world stopped (verify.c). */
uint64_t tc__verify_mark(void);

/* ---- the span queue of markorder=span (spanq.c) ---- */
/* Appends s (its queued word just CASed 0 -> 1) / takes the oldest span,
 * or NULL.  Any marking thread. */
void tc__spanq_push(tc__span *s);
tc__span *tc__spanq_pop(void);
/* No span queued (relaxed; exact with the world stopped). */
bool tc__spanq_empty(void);
/* Empties the queue, clearing its spans' grey bits and queued words (an
 * abandoned cycle, the next mark start).  World stopped. */
void tc__spanq_discard(void);

/* ---- marking threads (workers.c) ---- */
/* Starts n - 1 helper threads; the caller is marker 0.  Returns the number
 * of markers actually running (>= 1). */
unsigned tc__workers_start(unsigned n);
void tc__workers_stop(void);
/* Marks until every marker is out of work; m holds the roots.  Returns the
 * bytes marked by the helpers.  World stopped. */
uint64_t tc__workers_mark(tc__marker *m);
/* Hands part of m's grey stack to an idle marker, if there is one. */
void tc__workers_share(tc__marker *m);

/* ---- roots (roots.c, handles.c); world stopped or concurrent ---- */
/* Returns the number of slots scanned. */
uint64_t tc__roots_scan_stack(tc__marker *m, const tc__rootstack *rs);
/* Each returns the number of slots it scanned. */
uint64_t tc__roots_scan_globals(tc__marker *m);
uint64_t tc__handles_scan(tc__marker *m);
void tc__roots_destroy(void);
void tc__handles_destroy(void);

/* ---- weak references and ephemerons (weak.c) ---- */
typedef struct tc__weakstats {
  uint64_t weak;                /* live weak references looked at */
  uint64_t weak_cleared;        /* of which cleared (target unmarked) */
  uint64_t ephemerons;          /* live ephemerons looked at */
  uint64_t ephemerons_cleared;  /* of which cleared (key unmarked) */
  uint64_t ephemerons_resolved; /* deferred while marking, then traced
                                   once their key was marked */
} tc__weakstats;
/* Visits the values of pending ephemerons whose keys are marked now (as
 * m sees it: the verifier's own reach for a verifying marker), greying
 * them into m; returns how many it resolved.  Any marking thread. */
size_t tc__ephemerons_settle(tc__marker *m);
/* Ephemerons deferred and not resolved: list 0 the mark, 1 the verifier. */
size_t tc__ephemerons_pending(int list);
void tc__ephemerons_forget(int list);
/* Mark termination, after the fixpoint: clears weak references and
 * ephemerons whose targets or keys are unmarked, drops dead entries from
 * the registry, fills *cycle.  World stopped. */
void tc__weak_process(tc__weakstats *cycle);
/* The verifier: every weak reference or ephemeron it reached must hold
 * only marked objects. */
void tc__weak_verify(bool (*reached)(const void *obj));
void tc__weak_destroy(void);

/* ---- the marker, for the collector's own trace callbacks (mark.c) ---- */
tc__marker *tc__visitor_marker(tc_visitor *v);
/* Calls fn(obj, v) with a visitor for m (wbcheck runs a type's own trace
 * with a recording marker). */
void tc__mark_trace(tc__marker *m, char *obj, tc_trace_fn fn);
/* p is marked in this cycle as m sees it (a verifying marker: reached by
 * the verifier); a pointer outside the heap counts as marked. */
bool tc__marker_is_marked(tc__marker *m, const void *p);
/* The verifier reached obj (verify.c; during tc__verify_mark). */
bool tc__verify_reached(const void *obj);

/* ---- finalizers (finalizer.c) ---- */
/* Records that obj (of a type with a finalizer) needs finalizing. */
bool tc__finalizer_register(void *obj, tc__span *s);
/* Marks the queue of objects waiting for their finalizer (a root) and
 * what finalizable objects reference. */
void tc__finalizers_scan_queue(tc__marker *m);
/* After marking: queues unmarked finalizable objects and marks them. */
void tc__finalizers_collect(void);
void tc__finalizers_destroy(void);
size_t tc__finalizers_pending(void);
uint64_t tc__finalizers_ran(void);

/* ---- mutators: the world the collector stops is sched/world.h; these
 * wrap it for the bare mutator too (collector/world.c) ---- */
/* Every allocation cache: the Ps' (tc__world_for_each_cache), else the
 * bare mutator's.  World stopped. */
void tc__gc_for_each_cache(void (*fn)(tc__mcache *c, void *arg), void *arg);
void tc__gc_flush_caches(void);
/* Root stacks of every mutator (sched/world.h's, else the bare one's). */
uint64_t tc__gc_scan_stacks(tc__marker *m, bool only_grey);
void tc__gc_scan_stacks_verify(tc__marker *m);
/* World stopped: makes every P's grey buffer forget its cached span. */
void tc__gc_forget_spans(void);
/* World stopped: moves every P's grey buffer into m; sums and resets the
 * bytes they marked into *marked. */
void tc__gc_collect_gcws(tc__marker *m, uint64_t *marked);

/* ---- the cycle (cycle.c) ---- */
enum { TC__REASON_HEAP, TC__REASON_EXPLICIT, TC__REASON_OOM,
       TC__REASON_STRESS, TC__REASON_TIME };
/* Runs one cycle; false if a cycle is already running.  Under the
 * scheduler it asks the collector thread for one and returns true, after
 * that cycle has ended if reason is TC__REASON_OOM (tc_gc waits for a
 * whole cycle itself).  Mutator, no heap lock held. */
bool tc__collect(int reason);
/* Runs one whole cycle on the calling thread: the collector thread under
 * the scheduler, the mutator in bare mode. */
void tc__cycle_run(int reason);
/* The mark-start pause on the coroutine whose allocation triggers a
 * cycle (no wake-up of the collector thread inside the pause):
 * tc__cycle_mode_here is the cycle's barrier mode if this thread may run
 * its mark start (a coroutine holding its P; hybrid or insertion: no
 * stack to scan in the pause), else -1; tc__cycle_start_here runs steps
 * 0 and 1; the collector thread then runs the rest,
 * tc__cycle_finish_handed (or tc__cycle_abandon_handed if it is gone). */
int tc__cycle_mode_here(void);
void tc__cycle_start_here(int reason, int mode);
void tc__cycle_finish_handed(void);
void tc__cycle_abandon_handed(void);
/* Collector thread (gcthread.c). */
void tc__gcthread_start(void);
void tc__gcthread_stop(void);
/* Asks the collector thread for a cycle; returns the number it will have
 * (wait for it with tc__gcthread_wait). */
uint64_t tc__gcthread_request(int reason);
/* The number of the cycle running, or of the next one if none runs. */
uint64_t tc__gcthread_current(void);
/* Runs the mark start of a cycle here and hands the rest to the collector
 * thread (tc__cycle_mode_here says where that is allowed); true also if a
 * cycle is being begun or running already; false if the caller should
 * ask for one (not allowed here, the last sweep not done, one asked for
 * already: the request merges). */
bool tc__gcthread_begin_here(int reason);
/* Parks the calling G until cycles_done >= n. */
void tc__gcthread_wait(uint64_t n);
/* Returns free pages to the OS (cycle.c); now: no hysteresis. */
void tc__scavenge(bool now);
/* The pacer (pacer.c): two pure functions of their inputs, and the
 * wrappers that feed them from tc__gc and tc__h and store what they
 * return.  Bytes throughout; UINT64_MAX as a goal means none. */
typedef struct tc__pacer_plan_in {
  uint64_t basis;          /* bytes the last mark found by tracing */
  int gc_percent;          /* TC_GC_OFF or >= 0 */
  uint64_t min_heap;       /* goal floor */
  uint64_t mem_limit;      /* soft limit, 0 = none */
  uint64_t overhead;       /* under the limit besides the heap: metadata +
                              free pages still backed */
  double trigger_ratio;    /* current ratio; 0 = none yet (start at 7/8) */
  bool stw;                /* the next cycle marks in one pause (stw mode
                              or a bare mutator): trigger at the goal */
} tc__pacer_plan_in;
typedef struct tc__pacer_plan_out {
  uint64_t goal;           /* heap goal */
  uint64_t trigger;        /* heap.live that starts a cycle, <= goal */
  double trigger_ratio;    /* = in.trigger_ratio, or 7/8 if that was 0 */
} tc__pacer_plan_out;
/* Returns the goal and trigger for `in`.  Pure: any thread. */
tc__pacer_plan_out tc__pacer_plan(tc__pacer_plan_in in);

typedef struct tc__pacer_adjust_in {
  uint64_t basis;          /* the ended cycle's basis (tc__pacer_plan_in) */
  uint64_t goal;           /* the ended cycle's goal */
  uint64_t heap_at_term;   /* heap.live at its mark termination */
  double trigger_ratio;    /* the ratio that set its trigger */
} tc__pacer_adjust_in;
typedef struct tc__pacer_adjust_out {
  double trigger_ratio;    /* for the next trigger, in [0.45, 0.90] if
                              changed, else = in.trigger_ratio */
  bool changed;            /* false: no goal or no runway (goal <= basis) */
} tc__pacer_adjust_out;
/* Returns the trigger ratio after a concurrent cycle that ended with the
 * heap at `in.heap_at_term` against its goal.  Pure: any thread. */
tc__pacer_adjust_out tc__pacer_adjust(tc__pacer_adjust_in in);

/* Sets tc__gc.goal, trigger (and the first trigger ratio) from `marked`
 * (the goal basis) and the knobs.  Mutator, or the collector with the
 * world stopped. */
void tc__pacer_update(uint64_t marked);
/* Adjusts tc__gc.trigger_ratio from how the last cycle ended.  Collector,
 * world stopped (mark termination of a concurrent cycle). */
void tc__pacer_feedback(uint64_t heap_at_term, uint64_t goal);

/* ---- statistics (stats.c) ---- */
/* One cycle's figures, for stats and the gctrace line. */
typedef struct tc__cycle_report {
  int reason;
  int mode;
  uint64_t t_start;        /* stop request of the mark-start pause */
  uint64_t pause1_ns;      /* mark-start pause (0 in stw mode) */
  uint64_t mark_ns;        /* concurrent mark wall time */
  uint64_t pause2_ns;      /* mark-termination pause (stw: the one pause) */
  uint64_t assist_ns;      /* mutator assist time this cycle */
  uint64_t bg_ns;          /* background marker CPU this cycle */
  uint64_t heap0, heap1, marked, goal;
  uint64_t stack_bytes, global_bytes;
  uint64_t pause_slots, pause_objects;
  unsigned restarts;       /* termination pauses that found work left */
  unsigned procs;
  tc__weakstats weak;      /* weak references and ephemerons, this cycle */
  uint64_t weak_ns;        /* their clearing, in the termination pause
                              (measured while tracing or with gctrace) */
  bool float_measured;     /* gccheckmark ran: float_bytes is exact */
  uint64_t float_bytes;    /* kept (marked) but unreachable from the roots */
} tc__cycle_report;
void tc__stats_record_pause(uint64_t start, uint64_t ns, int kind);
void tc__stats_cycle_done(const tc__cycle_report *r);
void tc__stats_reset(void);

/* ---- event trace (trace.c): tc_trace_start / tc_trace_stop ----
 * Hooks cost one relaxed load and a not-taken branch while no trace runs:
 *     if (TC__TRACING()) tc__trace_...(...);
 * Any thread; the hooks take the trace lock (a leaf) and never allocate. */
/* TC__TRACING() and the scheduler's hooks: sched/world.h */
/* A pause, with the start and length tc__stats_record_pause got (STW
 * track); kind 0 = mark start, 1 = mark termination. */
TC_COLD void tc__trace_pause(uint64_t start, uint64_t ns, int kind,
                             uint64_t cycle, int mode);
/* A span of collector work on the GC track: a cycle, the concurrent mark,
 * a background mark slice, a background sweep.  start == 0: nothing. */
TC_COLD void tc__trace_gc(const char *name, uint64_t start, uint64_t end,
                          uint64_t cycle);
/* A whole cycle on the GC track, with its weak-reference figures. */
struct tc__weakstats;
TC_COLD void tc__trace_cycle(const char *name, uint64_t start, uint64_t end,
                             uint64_t cycle, const struct tc__weakstats *w);
/* A mark worker's slice on the caller's P track; work in scan bytes. */
TC_COLD void tc__trace_mark_worker(uint64_t start, uint64_t end,
                                   uint64_t work, bool idle);
/* An assist by the running G, on its P's track; work in scan bytes. */
TC_COLD void tc__trace_assist(uint64_t start, uint64_t end, uint64_t work);

#endif /* TC_COLLECTOR_H */
