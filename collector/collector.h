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
 * In the stop-the-world collector the mutator does not run while marking,
 * so the invariant holds trivially; the barrier modes (barrier/) keep it
 * (or its weak form) once marking runs concurrently with mutators.
 *
 * Collector phases (tc__gc.phase), and what holds in each:
 *   TC__PHASE_OFF    no cycle marking; barrier off; allocation white;
 *                    spans may be unswept from the last cycle.
 *   TC__PHASE_MARK   world stopped (for now); grey lists in use; allocation
 *                    forbidden (it would be a trace callback allocating).
 */
#ifndef TC_COLLECTOR_H
#define TC_COLLECTOR_H

#ifndef TC_BUILDING_LIBRARY
#error "collector/collector.h is internal to tricolor"
#endif

#include "base/base.h"
#include "heap/heap.h"

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
} tc__typeinfo;

/* Registers t if needed and returns its id; aborts when the table is full.
 * A tc_type must not change after its first allocation. */
uint32_t tc__type_register(tc_type *t);
extern tc_type *tc__types[TC__MAX_TYPES];
extern tc__typeinfo tc__typeinfos[TC__MAX_TYPES];
/* Returns the type with this id (NULL for 0). */
static inline tc_type *tc__type_get(uint32_t id) { return tc__types[id]; }

/* ---- phases ---- */
enum { TC__PHASE_OFF = 0, TC__PHASE_MARK = 1 };

/* ---- marking (mark.c); world stopped ---- */
#define TC__PACKET 256 /* grey entries moved between markers at once */

typedef struct tc__grey_entry {
  char *obj;          /* a grey object */
  uint32_t size;      /* bytes it occupies (its size class) */
  uint32_t type;      /* its type id */
} tc__grey_entry;

/* One marking thread's state. */
typedef struct tc__marker {
  tc__grey_entry *grey;  /* grey stack, mmap'd */
  size_t n;              /* entries in use */
  size_t cap;            /* capacity in entries */
  uint64_t marked;       /* bytes this marker greyed this cycle */
  uint64_t scanned;      /* objects this marker scanned, ever */
  bool shared;           /* other markers run: set mark bits atomically */
  tc__span *last;        /* span of the last reference greyed, and its */
  uintptr_t last_lo;     /* address range [last_lo, last_hi): spans do not */
  uintptr_t last_hi;     /* change while the world is stopped */
} tc__marker;

void tc__marker_init(tc__marker *m);
void tc__marker_destroy(tc__marker *m);
void tc__marker_grow(tc__marker *m);
/* Greys p if it is a white heap object; `from` names the referrer for
 * messages (an object or a root slot), may be NULL. */
void tc__mark_ref(tc__marker *m, void *p, const void *from);
/* Greys everything obj references, without colouring obj itself. */
void tc__mark_scan_object(tc__marker *m, char *obj);
/* Scans m's grey objects until its stack is empty (sharing work when
 * another marker is idle). */
void tc__mark_drain(tc__marker *m);

/* ---- the mutator record (for now: the thread that called tc_init) ---- */
typedef struct tc__mutator {
  tc__mcache cache;            /* later owned by a P */
  tc__rootstack *rs;           /* later owned by a G */
} tc__mutator;

/* ---- collector state ---- */
typedef struct tc__gcstate {
  int phase;                   /* TC__PHASE_*; written only world-stopped */
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
  unsigned procs;              /* marking threads (later: Ps) */
  uint64_t start_ns;           /* tc_init time */
} tc__gcstate;

extern tc__gcstate tc__gc;

/* ---- allocation (alloc.c) ---- */
/* Aborts with a message naming `call` unless on a live runtime's mutator. */
void tc__require_mutator(const char *call);
/* Starts a cycle if heap.live passed the trigger.  Mutator. */
void tc__maybe_collect(void);

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

/* ---- roots (roots.c, handles.c); world stopped ---- */
void tc__roots_scan_stack(tc__marker *m, const tc__rootstack *rs);
void tc__roots_scan_globals(tc__marker *m);
void tc__handles_scan(tc__marker *m);
void tc__roots_destroy(void);
void tc__handles_destroy(void);

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

/* ---- mutators (sched/run.c): the world the collector stops ---- */
void tc__world_stop(void);
void tc__world_start(void);
void tc__world_flush_caches(void);
void tc__world_scan_stacks(tc__marker *m);
/* Yields the running coroutine if the scheduler runs; else nothing. */
void tc__yield_if_scheduled(void);

/* ---- the cycle (cycle.c) ---- */
enum { TC__REASON_HEAP, TC__REASON_EXPLICIT, TC__REASON_OOM,
       TC__REASON_STRESS };
/* Runs one stop-the-world cycle; false if another coroutine is running
 * one.  Mutator, no heap lock held. */
bool tc__collect(int reason);
/* Sets trigger/goal from the marked bytes and gc_percent. */
void tc__pacer_update(uint64_t marked);

/* ---- statistics (stats.c) ---- */
void tc__stats_record_pause(uint64_t ns);
void tc__stats_cycle_done(int reason, uint64_t pause_ns, uint64_t cpu_ns,
                          uint64_t heap0, uint64_t heap1, uint64_t marked);
void tc__stats_reset(void);

#endif /* TC_COLLECTOR_H */
