/*
 * sched/world.h -- the seam between the collector and the scheduler: the
 * one header that crosses between collector/ and sched/.
 *
 * The collector needs a world to stop, and the scheduler has mutators the
 * collector must see; each side knows the other only through the calls
 * below (HACKING.md draws the module graph).  Neither reads the other's
 * state: the collector never touches a G, an M or a P, and the scheduler
 * never reads collector fields, except the phase word, which it reads
 * through tc__marking() on the context-switch path.
 *
 *   world side      implemented in sched/ (proc.c, run.c, gscan.c),
 *                   called by collector/: stop and start the world,
 *                   iterate the Ps' caches, scan and handshake the Gs'
 *                   root stacks, park and ready the calling coroutine.
 *   collector side  implemented in collector/ (world.c, gcwork.c,
 *                   trace.c), called by sched/: what the scheduler must
 *                   do at tc_run's start and end, at P creation, when a G
 *                   switches out or enters a syscall, at a safepoint, at G
 *                   creation; the time trigger (sysmon); whether a cycle is
 *                   pending (deadlock check); the event-trace hooks.
 *
 * Types crossing the seam are opaque here: a grey buffer (tc__marker,
 * collector/collector.h) and a coroutine (tc__g, sched/sched.h).  Both
 * sides include heap/ and base/, which sit below them.
 */
#ifndef TC_SCHED_WORLD_H
#define TC_SCHED_WORLD_H

#ifndef TC_BUILDING_LIBRARY
#error "sched/world.h is internal to tricolor"
#endif

#include "base/base.h"
#include "heap/heap.h"

typedef struct tc__marker tc__marker; /* collector/collector.h */
typedef struct tc__g tc__g;           /* sched/sched.h */

/* ---- the phase word (written by the collector's set_phase only) ---- */
enum { TC__PHASE_OFF = 0, TC__PHASE_MARK = 1, TC__PHASE_MARKTERM = 2 };
extern int tc__phase;
/* True while the concurrent mark runs (phase MARK).  Any thread; exact
 * for a thread holding a P (the phase moves only while every P is
 * stopped), a hint elsewhere (collector/gcwork.c's door makes it exact). */
static inline bool tc__marking(void) {
  return tc__load_relaxed(&tc__phase) == TC__PHASE_MARK;
}

/* ================================================================ world side
 * Implemented by the scheduler; called by the collector.  Each is a no-op
 * (or the trivial answer) while tc_run is not running: the collector then
 * has one bare mutator of its own. */

/* True while the scheduler runs (cycles then run on the collector thread,
 * but the mark-start pause of one its allocation triggered, which the
 * triggering coroutine runs). */
bool tc__world_scheduled(void);
/* Stops every P at a safepoint; false if the runtime is exiting (nothing
 * stopped).  The collector thread, or a coroutine that may stop the world
 * itself (tc__world_can_stop_here): its own P then counts as stopped. */
bool tc__world_stop(void);
/* True on a coroutine (not an attached thread) that holds its P: it may
 * stop and restart the world itself, with no safepoint in between. */
bool tc__world_can_stop_here(void);
/* Restarts the mutators; returns when they were released (pause end). */
uint64_t tc__world_start(void);
/* The collector thread, taking over a cycle whose mark-start pause a
 * coroutine ran: waits off the CPU until the Ms that pause restarted run
 * again (at most 2 ms), so that its marking does not take the CPU one of
 * them needs (on a machine with as many CPUs as Ps). */
void tc__world_await_restart(void);
/* The scheduler is shutting down: cycles in progress are abandoned. */
bool tc__world_exiting(void);
/* Ps with nothing to run right now. */
unsigned tc__world_idle_procs(void);
/* A stop-the-world is under way (a mark worker on g0 ends its slice). */
bool tc__world_stopping(void);
/* Wakes an idle P, if there is one, so that its M looks for work (and,
 * finding no coroutine, marks: tc__gc_p_mark). */
void tc__world_wake_idle(void);
/* The longest time from a world restart to the last of its Ms running. */
uint64_t tc__world_restart_lag_max(void);
/* Copies the ring of the last restarts' lags (restart k at
 * [k % TC_PAUSE_RING]); returns how many restarts were measured. */
uint64_t tc__world_restart_lags(uint64_t lag[TC_PAUSE_RING]);
/* Calls fn on every P's allocation cache.  World stopped. */
void tc__world_for_each_cache(void (*fn)(tc__mcache *c, void *arg),
                              void *arg);
/* Root stacks (sched/gscan.c).  World stopped: scans every G's root stack
 * and tc_go argument (only_grey: only Gs not yet black this cycle, which
 * turn black); returns slots scanned. */
uint64_t tc__world_scan_stacks(tc__marker *m, bool only_grey);
/* The same without changing any colour (the verifier). */
void tc__world_scan_stacks_verify(tc__marker *m);
/* Concurrent: scans parked Gs not yet black, asks running ones to scan
 * themselves; true once every root stack is black. */
bool tc__world_scan_stacks_concurrent(tc__marker *m);
/* The channel timers on the timer heap (sched/timer.c), a root like the
 * globals: scanned concurrently, and shaded when a timer enters or
 * leaves the heap.  Returns how many; 0 without the scheduler. */
uint64_t tc__world_scan_timers(tc__marker *m);
/* Asks every P running a G to flush its grey buffer at its next safepoint
 * (tc__gc_flush_request's generation) and waits up to wait_ns; true if
 * all answered. */
bool tc__world_flush_gcws(uint64_t wait_ns);
/* The colour word of the calling coroutine's root stack (the barrier
 * compares it with tc__gc_stack_black); false on a thread running no
 * coroutine. */
bool tc__world_current_colour(uint32_t *colour);
/* Park and ready, for the collector's waiters (tc_gc): the calling
 * coroutine (aborts naming `call` outside one), a list linked through the
 * Gs themselves, parking with an unlock callback run on g0, and readying
 * a list on the global queue. */
tc__g *tc__needg(const char *call);
void tc__g_push(tc__g **list, tc__g *g);
void tc__park(const char *reason, void (*unlock)(void *), void *arg);
void tc__ready_global(tc__g *list);
/* Yields the running coroutine if the scheduler runs; else nothing. */
void tc__yield_if_scheduled(void);
/* The event-trace track of the calling thread: its P's id, or -1. */
int tc__world_current_p(void);

/* Bare mode (tc_init without tc_run; sched/bare.c): tc_init's thread and
 * attached threads take turns on the one processor.  tc_init opens the
 * bare world with its thread holding the turn; tc_run (which takes over)
 * and tc_shutdown close it (tc_shutdown aborts while threads are
 * attached, or from a thread without the turn).  tc__world_bare_scan
 * scans the attached threads' root stacks into m (the turn holder's
 * thread: the others are stopped); returns slots scanned. */
void tc__world_bare_open(tc__ctx *ctx);
/* The cache a mutator's context points at while it has no processor
 * (between tc_syscall_enter and tc_syscall_exit): allocating is misuse. */
tc__cache *tc__world_no_cache(void);
void tc__world_bare_close(tc__ctx *ctx);
uint64_t tc__world_bare_scan(tc__marker *m);

/* ================================================================ collector side
 * Implemented by the collector; called by the scheduler. */

/* tc_run: the procs the collector was set up for (tc_init, TRICOLOR_PROCS). */
unsigned tc__gc_procs(void);
/* tc_run, once the Ps exist and the scheduler runs: the Gs become the
 * mutators, concurrent cycles' pacing, the collector thread starts. */
void tc__gc_sched_begin(void);
/* tc_run, main returned: the collector thread stops (abandoning a cycle
 * in progress).  Then, with the scheduler gone, tc__gc_sched_end makes
 * the thread behind ctx the bare mutator again. */
void tc__gc_sched_stop(void);
void tc__gc_sched_end(tc__ctx *ctx);
/* Bare mode: the allocation cache its mutators share (the turn holder's). */
tc__cache *tc__gc_bare_cache(void);
/* A P's share of the collector: its grey buffer and assist debt. */
void tc__gc_p_init(tc__mcache *c);
void tc__gc_p_destroy(tc__mcache *c);
/* The P's G switches out or enters a syscall: while marking, its grey
 * buffer goes to the shared pool (the P may run elsewhere next), which
 * answers the flush requests made so far. */
void tc__gc_p_release(tc__mcache *c);
/* The P's grey buffer, NULL if it has none (stack scans go there). */
tc__marker *tc__gc_p_gcw(tc__mcache *c);
/* A safepoint of the P's running G asked for GC work: flush the grey
 * buffer and acknowledge the flush generation. */
void tc__gc_p_safepoint(tc__mcache *c);
/* The G running on the P of cache c has a black root stack this cycle
 * (it scanned itself): hybrid's barrier need not record new references
 * there until the next phase move (barrier/barrier.c). */
void tc__barrier_stack_black(tc__mcache *c);
/* The P's M, in its scheduling loop while a cycle marks: marks a slice
 * of the cycle's work if this P is behind its share of time (idle: the P
 * has nothing else to run, so whatever there is).  True if it marked. */
bool tc__gc_p_mark(tc__mcache *c, bool idle);
/* Whether the P answered flush generation gen. */
bool tc__gc_p_acked(tc__mcache *c, uint32_t gen);
/* Starts a flush handshake: the new generation. */
uint32_t tc__gc_flush_request(void);
/* Root-stack colours: a stack scanned in this cycle has this colour. */
uint32_t tc__gc_stack_black(void);
/* This cycle scans stacks concurrently (hybrid, insertion). */
bool tc__gc_stacks_concurrent(void);
/* Scans a root stack and a G's argument slot (either may be NULL) into
 * m; returns slots scanned. */
uint64_t tc__gc_scan_roots(tc__marker *m, const tc__rootstack *rs,
                           void **argslot);
/* A G created while marking has a black stack: its argument is shaded. */
void tc__gc_shade_arg(void *arg);
/* sysmon, every tick: asks for a cycle if none ran for the force period
 * (collector policy: Go's forcegcperiod).  Returns true if it asked. */
bool tc__gc_time_trigger(int64_t now);
/* A cycle is asked for or running (the deadlock check waits for it). */
bool tc__gc_busy(void);

/* ---- event trace (collector/trace.c) ----
 * Hooks cost one relaxed load and a not-taken branch while no trace runs:
 *     if (TC__TRACING()) tc__trace_...(...);
 * Any thread; they take the trace lock (a leaf) and never allocate. */
extern __attribute__((visibility("hidden"))) uint32_t tc__tracing;
#define TC__TRACING() TC__UNLIKELY(tc__load_relaxed(&tc__tracing) != 0)
/* A G's run slice on P pid from start to now; why names its end; func,
 * file and line are the G's creation site. */
TC_COLD void tc__trace_slice(int pid, uint64_t gid, const char *func,
                             const char *file, int line, uint64_t start,
                             const char *why);
/* Instants on the caller's track: g created, g parks (reason), g readied. */
TC_COLD void tc__trace_gcreate(uint64_t gid, const char *func);
TC_COLD void tc__trace_gblock(uint64_t gid, const char *reason);
TC_COLD void tc__trace_gunblock(uint64_t gid);

#endif /* TC_SCHED_WORLD_H */
