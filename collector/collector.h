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
/* Registers t if needed and returns its id; aborts when the table is full. */
uint32_t tc__type_register(tc_type *t);
/* Returns the type with this id. */
static inline tc_type *tc__type_get(uint32_t id);
extern tc_type *tc__types[TC__MAX_TYPES];
static inline tc_type *tc__type_get(uint32_t id) { return tc__types[id]; }

/* ---- phases ---- */
enum { TC__PHASE_OFF = 0, TC__PHASE_MARK = 1 };

/* ---- the mutator record (for now: the thread that called tc_init) ---- */
typedef struct tc__mutator {
  tc__mcache cache;            /* later owned by a P */
  tc__rootstack *rs;           /* later owned by a G */
} tc__mutator;

/* ---- collector state ---- */
typedef struct tc__gcstate {
  int phase;                   /* TC__PHASE_*; written only world-stopped */
  bool in_cycle;               /* a cycle is running (re-entrancy guard) */
  bool initialized;
  int gc_percent;              /* TC_GC_OFF or >= 0 */
  uint64_t min_heap;           /* goal floor */
  uint64_t trigger;            /* heap.live that starts a cycle */
  uint64_t goal;               /* reported heap goal */
  tc_oom_fn on_oom;
  tc__mutator *main;           /* the one mutator */
  uint64_t start_ns;           /* tc_init time */
} tc__gcstate;

extern tc__gcstate tc__gc;

/* ---- allocation (alloc.c) ---- */
/* Aborts with a message naming `call` unless on a live runtime's mutator. */
void tc__require_mutator(const char *call);
/* Starts a cycle if heap.live passed the trigger.  Mutator. */
void tc__maybe_collect(void);

/* ---- marking (mark.c); world stopped ---- */
/* Greys p if it is a white heap object; `from` names the referrer for
 * messages (object or slot), may be NULL. */
void tc__mark_ref(void *p, const void *from);
/* Greys everything obj references, without colouring obj itself. */
void tc__mark_scan_object(char *obj);
/* Scans grey objects until none is left. */
void tc__mark_drain(void);
/* Bytes marked so far this cycle. */
void tc__mark_init(void);
void tc__mark_destroy(void);

/* ---- roots (roots.c, handles.c); world stopped ---- */
void tc__roots_scan_stack(const tc__rootstack *rs);
void tc__roots_scan_globals(void);
void tc__handles_scan(void);
void tc__roots_destroy(void);
void tc__handles_destroy(void);

/* ---- finalizers (finalizer.c) ---- */
/* Records that obj (of a type with a finalizer) needs finalizing. */
bool tc__finalizer_register(void *obj, tc__span *s);
/* Marks the queue of objects waiting for their finalizer (a root). */
void tc__finalizers_scan_queue(void);
/* After marking: queues unmarked finalizable objects and marks them. */
void tc__finalizers_collect(void);
void tc__finalizers_destroy(void);
size_t tc__finalizers_pending(void);
uint64_t tc__finalizers_ran(void);

/* ---- the cycle (cycle.c) ---- */
enum { TC__REASON_HEAP, TC__REASON_EXPLICIT, TC__REASON_OOM,
       TC__REASON_STRESS };
/* Runs one stop-the-world cycle.  Mutator, no heap lock held. */
void tc__collect(int reason);
/* Sets trigger/goal from the marked bytes and gc_percent. */
void tc__pacer_update(uint64_t marked);

/* ---- statistics (stats.c) ---- */
void tc__stats_record_pause(uint64_t ns);
void tc__stats_cycle_done(int reason, uint64_t pause_ns, uint64_t cpu_ns,
                          uint64_t heap0, uint64_t heap1, uint64_t marked);
void tc__stats_reset(void);

#endif /* TC_COLLECTOR_H */
