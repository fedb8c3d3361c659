/*
 * tricolor.h -- the public API of tricolor, a precise tri-color garbage
 * collector for C.
 *
 * The model in five lines:
 *   1. Describe each kind of object with a tc_type: where its pointer fields
 *      are (offsets) or a trace callback that visits them.
 *   2. Allocate with tc_alloc(type, size) or tc_alloc_noscan(size); memory is
 *      zeroed and has no header the embedder must reserve.
 *   3. Keep every heap pointer that lives across an allocation in a root:
 *      TC_LOCALS(a, b) for C locals, tc_root_add() for globals, handles for
 *      pointers kept in malloc'd structures.
 *   4. Store references into heap objects, globals and handles with
 *      tc_store() / TC_STORE(), never with a plain assignment.
 *   5. Objects nothing reaches are reclaimed; tc_gc() forces a cycle.
 *
 * Calling context.  Each function says where it may be called.  "Mutator"
 * means the thread that called tc_init() without tc_run (a bare mutator),
 * a coroutine run by tc_run, or a thread attached with tc_thread_attach.
 * Any other thread ("not a mutator": a thread of your own, the thread
 * that called tc_run) may call only:
 *     tc_init, tc_run, tc_thread_attach, tc_root_add, tc_root_remove,
 *     tc_read_stats, tc_stats_pause_quantile, tc_get_barrier,
 *     tc_strerror, tc_barrier_name, tc_now, tc_trace_start, tc_trace_stop,
 *     tc_dump_coroutines.
 * It holds no root stack, so nothing it keeps in its own variables is kept
 * alive: it may register ranges of slots and move references between
 * ranges it owns, but must not keep a heap reference anywhere else.  Any
 * other call from such a thread aborts with a message naming the call
 * (tc_store and tc_barrier check it on their slow path: while a cycle
 * marks, and always with CMake TRICOLOR_DEBUG >= 2 or checkstores=1).
 *
 * Errors.  Functions that can fail return 0 (TC_OK) or a negative TC_E*
 * code; tc_strerror() names it.  Misuse that would corrupt the heap (a root
 * frame popped out of order, a pointer that is not an object start handed to
 * the API in a debug build, allocation inside a trace callback) prints a
 * line starting with "tricolor:" and aborts.
 *
 * Environment, read by tc_init (tc_run calls it); a variable overrides
 * the tc_config field named after it, as Go's GOGC and GODEBUG do:
 *   TRICOLOR_GC=off|N      heap growth percent before a cycle, 0..1000000
 *                          (default 100: collect at 2x the live heap);
 *                          .gc_percent
 *   TRICOLOR_PROCS=N       processors (P) under tc_run, and the threads
 *                          that mark; 1..256 (default: online CPUs); .procs
 *   TRICOLOR_MEMLIMIT=N[B|KiB|MiB|GiB|TiB]|off   soft limit on heap memory
 *                          (Go's GOMEMLIMIT syntax); .mem_limit; a value
 *                          that does not parse warns and sets no limit
 *   TRICOLOR_DEBUG=KEY=VALUE[,KEY=VALUE...]   comma-separated settings
 *                          (an unknown key warns; values are integers):
 *     gctrace=1            one line per cycle on stderr (Go's gctrace
 *                          format), and "GC forced" before a cycle the
 *                          force period started
 *     schedtrace=MS        Go's SCHED line on stderr every MS ms (tc_run)
 *     scheddetail=1        with schedtrace: a line per P, M and G as well
 *     barrier=MODE         hybrid, insertion, deletion or stw: the mode
 *                          of the cycles under tc_run until tc_set_barrier
 *                          changes it (.barrier); none: a test mode, the
 *                          barrier does nothing and gccheckmark must fail
 *     gccheckmark=1        every mark termination marks again from the
 *                          roots and aborts if the mark left a reachable
 *                          object white; measures floating garbage
 *                          (tc_stats.float_bytes)
 *     gcforceperiod=MS     a cycle runs if none ran for MS ms, < 0 never
 *                          (.force_period_ms; default 120000)
 *     checkstores=1        validates the value of every tc_store and
 *                          tc_barrier (always on in a library built with
 *                          CMake TRICOLOR_DEBUG >= 2)
 *     gcstress=1           a whole cycle at every allocation (under tc_run
 *                          the allocating coroutine waits for it)
 *     markthread=1         the collector thread does the background
 *                          marking, throttled to 25% (the design before
 *                          mark workers ran on the Ps; for comparisons)
 *     markorder=ORDER      object (default): each grey object waits on
 *                          a marker's grey stack; span: its span (page
 *                          run) waits in one FIFO and is scanned whole,
 *                          in address order (an experiment after Go's
 *                          Green Tea collector)
 *     memprofilerate=N     heap-profile sampling: one sample per N bytes
 *                          allocated on average (1: every object, 0: off;
 *                          default 524288), as tc_set_mem_profile_rate
 *     memprofile=PATH      writes the heap profile to PATH at tc_shutdown
 *                          (so at the end of tc_run) and whenever the
 *                          process gets SIGUSR2: Go's text format, or
 *                          folded in-use bytes if PATH ends in ".folded"
 *                          (a path without commas; docs/debugging.md)
 *     wbcheck=1            the missing-barrier finder: reports (and
 *                          aborts on; wbcheck=2: goes on) a reference
 *                          stored into a heap object without
 *                          tc_store/TC_STORE/tc_barrier,
 *                          with the object's type, the field's offset and
 *                          where it was allocated; slow (every object
 *                          snapshot, every store through the barrier, the
 *                          profile rate pinned at 1); docs/debugging.md
 *   and test hooks: six widen race windows, in microseconds, and two
 *   break the collector on purpose so the verifier must catch it:
 *     gcmarkdelay=US       the collector waits after the mark-start pause
 *                          before it marks anything
 *     shadedelay=US        a thread without a P buffer holds the door this
 *                          long after reading the phase, before it greys
 *     retakedelay=US       sysmon waits after taking a P from a system
 *                          call, before it hands the P on
 *     timerdelay=US        the thread firing a due timer waits after
 *                          taking it off the timer heap, before it wakes
 *                          the sleeper or sends on the timer's channel
 *     idledelay=US         an M going idle waits after its last look for
 *                          work, before it parks and checks for deadlock
 *     checkdelay=US        the deadlock check, finding the timer heap
 *                          empty, waits before it reads the count of
 *                          timers being fired
 *     noweakshade=1        tc_weak_get and the ephemeron readers do not
 *                          shade what they return while marking
 *     markorderbug=1       with markorder=span, a span whose objects were
 *                          greyed while it was being scanned is not
 *                          queued again: those objects stay unscanned
 */
#ifndef TRICOLOR_H
#define TRICOLOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h> /* FILE: tc_dump_coroutines, tc_heap_profile_write */

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from the shared library; everything else is hidden. */
#define TC_API __attribute__((visibility("default")))

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */

#define TC_OK       0
#define TC_EINVAL (-22) /* bad argument */
#define TC_ENOMEM (-12) /* out of memory (heap limit or the OS said no) */
#define TC_EBUSY  (-16) /* already initialised / in use */
#define TC_ENOENT  (-2) /* no such root */
#define TC_EEXIST (-17) /* root already registered */
#define TC_ESTATE (-77) /* runtime not initialised, or wrong thread */
#define TC_ECLOSED (-32) /* channel closed */

/* Returns a static, human-readable string for a TC_* code. Any thread. */
TC_API const char *tc_strerror(int err);

/* ---------------------------------------------------------------------- */
/* Types                                                                   */

typedef struct tc_visitor tc_visitor;

/* Trace callback: calls tc_visit / tc_visit_slot for every reference the
 * object holds.  Runs inside the collector: it must not allocate, store,
 * block or call back into tricolor other than tc_visit*. */
typedef void (*tc_trace_fn)(void *obj, tc_visitor *v);

/* Finalizer: runs once, after the cycle that found `obj` unreachable, on a
 * mutator and never inside a pause.  `obj` and everything it references are
 * still valid during the call.  Resurrection rule: if the finalizer stores
 * `obj` where a root reaches it, the object lives on, without its finalizer;
 * otherwise the next cycle reclaims it. */
typedef void (*tc_finalizer_fn)(void *obj);

/*
 * How the collector finds references inside an object of this type.
 *
 *   offsets/noffsets  byte offsets of pointer fields, traced without a call.
 *                     If `stride` is non-zero the pattern repeats every
 *                     `stride` bytes over the whole object (arrays of
 *                     structs; an array of pointers is stride 8, offset 0).
 *   trace             if set, called instead of reading offsets (variable
 *                     layouts, tagged values).
 *   neither           the object holds no references (like tc_alloc_noscan).
 *
 * Slots may hold NULL or pointers that are not into the tricolor heap; the
 * collector ignores those.  A tc_type must live as long as any object of
 * its type and must not be const: tricolor caches its type id in the last
 * two fields (initialise them to zero, or use designated initialisers).
 * At most 32767 distinct types per process.
 */
typedef struct tc_type {
  const char *name;          /* for messages and dumps */
  const uint32_t *offsets;   /* pointer-field offsets, ascending, < 2 GiB */
  uint32_t noffsets;         /* entries in offsets */
  uint32_t stride;           /* repeat period of offsets in bytes, 0 = once */
  tc_trace_fn trace;         /* used instead of offsets when set */
  tc_finalizer_fn finalize;  /* optional */
  /* owned by tricolor */
  uint32_t id;               /* registry index, 0 = not yet registered */
  uint32_t fast_id;          /* id when the inline path may allocate it, else 0 */
} tc_type;

/* Visits one reference from a trace callback. */
TC_API void tc_visit(tc_visitor *v, void *ref);
/* Visits the reference held in *slot (read atomically). */
TC_API void tc_visit_slot(tc_visitor *v, void **slot);

/* ---------------------------------------------------------------------- */
/* Runtime                                                                 */

#define TC_GC_OFF (-1) /* gc_percent value: never collect on heap growth */

typedef void (*tc_oom_fn)(size_t request);

/* Write-barrier modes (docs/barriers.md).  Under tc_run the collector marks
 * concurrently with the coroutines and the mode says how stores keep the
 * tri-color invariant; a bare mutator (tc_init without tc_run) always
 * collects in one pause (TC_BARRIER_STW).
 *   HYBRID     Go's: shade the overwritten reference, and the new one while
 *              the storing coroutine's root stack is not yet scanned; each
 *              root stack is scanned once, concurrently.  The default.
 *   INSERTION  Dijkstra: shade the new reference; root stacks are scanned
 *              concurrently and all rescanned in the mark-termination pause.
 *   DELETION   Yuasa: shade the overwritten reference; all root stacks and
 *              globals are snapshotted in the mark-start pause.
 *   STW        the whole mark in one pause (the baseline). */
typedef enum tc_barrier_mode {
  TC_BARRIER_DEFAULT = 0, /* config: hybrid; tc_set_barrier: hybrid */
  TC_BARRIER_HYBRID,
  TC_BARRIER_INSERTION,
  TC_BARRIER_DELETION,
  TC_BARRIER_STW,
} tc_barrier_mode;

/* Returns "hybrid", "insertion", "deletion" or "stw" ("default" for
 * TC_BARRIER_DEFAULT, "?" for anything else). */
TC_API const char *tc_barrier_name(tc_barrier_mode mode);

typedef struct tc_config {
  int gc_percent;          /* heap growth before a cycle, % of live; 0 = 100 */
  size_t min_heap;         /* heap goal floor in bytes; 0 = 4 MiB */
  size_t max_heap;         /* hard limit on heap bytes; 0 = none */
  tc_oom_fn on_oom;        /* called before an allocation returns NULL */
  int procs;               /* processors (P): threads that run coroutines
                              and mark; 0 = online CPUs (TRICOLOR_PROCS
                              overrides) */
  size_t stack_size;       /* coroutine stack in bytes; 0 = 64 KiB */
  int max_threads;         /* OS threads (M) at most; 0 = 10000 */
  tc_barrier_mode barrier; /* barrier mode, 0 = hybrid; TRICOLOR_DEBUG=
                              barrier=MODE overrides */
  int64_t force_period_ms; /* a cycle runs if none ran for this long;
                              0 = 120000 (2 minutes), < 0 = never */
  size_t mem_limit;        /* soft limit on heap memory in bytes: the goal
                              shrinks to stay under it; 0 = none
                              (TRICOLOR_MEMLIMIT=N[KiB|MiB|GiB] overrides) */
  bool foreign_threads;    /* threads of yours will tc_thread_attach: the
                              deadlock report stays off, since a coroutine
                              waiting for one of them is not stuck (Go's
                              check is off once cgo callbacks may come) */
} tc_config;

/* Initialises the runtime; the calling thread becomes the mutator.
 * cfg may be NULL for defaults.  Returns TC_EBUSY if already initialised.
 * Any thread; init and shutdown may be repeated in one process. */
TC_API int tc_init(const tc_config *cfg);

/* Runs pending finalizers, then releases every byte the runtime holds.
 * Objects still alive are dropped without their finalizers (as in Go).
 * Mutator thread.  Root frames still on the C stack may be popped after. */
TC_API void tc_shutdown(void);

/* Sets the heap growth percent (TC_GC_OFF disables), returns the old one.
 * Mutator. */
TC_API int tc_set_gc_percent(int percent);

/* Chooses the barrier mode of the next cycle (a running cycle keeps its
 * own); returns the previous setting, TC_EINVAL for a mode that does
 * not exist, TC_ESTATE before tc_init.  The setting applies under tc_run
 * only: a bare mutator (tc_init without tc_run) keeps it but every cycle
 * it runs is TC_BARRIER_STW.  Mutator. */
TC_API int tc_set_barrier(tc_barrier_mode mode);
/* Returns the mode the next cycle will run: under tc_run the setting
 * (tc_set_barrier, else tc_config.barrier / TRICOLOR_DEBUG=barrier=);
 * on a bare mutator TC_BARRIER_STW whatever the setting; without a
 * runtime (before tc_init, after tc_shutdown) TC_BARRIER_DEFAULT.  Any
 * thread. */
TC_API tc_barrier_mode tc_get_barrier(void);

/* ---------------------------------------------------------------------- */
/* Allocation                                                              */

/* Returns zeroed memory for an object of `type` of at least `size` bytes,
 * 8-byte aligned (16 when size is a multiple of 16), or NULL when the heap
 * limit is reached after an emergency collection and the OOM hook.  The
 * inline fast path is in tricolor/inline.h.  Mutator. */
static inline void *tc_alloc(tc_type *type, size_t size);

/* Like tc_alloc for memory holding no references (strings, numbers). */
static inline void *tc_alloc_noscan(size_t size);

/* Returns the usable size of a heap object (its size class). Mutator. */
TC_API size_t tc_object_size(const void *obj);
/* Returns the type an object was allocated with, NULL for noscan. */
TC_API tc_type *tc_object_type(const void *obj);
/* Tells whether p is the start of an allocated tricolor object. Mutator. */
TC_API bool tc_is_object(const void *p);

/* ---------------------------------------------------------------------- */
/* Stores                                                                  */

/* Stores a reference into a heap object, a global root or a handle slot.
 * Runs the write barrier of the current mode.  Mutator. */
static inline void tc_store(void **slot, void *value);

/* Reads a reference slot that the collector may read concurrently. */
static inline void *tc_load(void *const *slot);

/* Barrier for tagged or packed slots: call before overwriting a slot that
 * held `old_ref` with one holding `new_ref`; then store with any means. */
static inline void tc_barrier(void *old_ref, void *new_ref);

/* obj->field = value, through the barrier.  Built with TC_WBCHECK
 * defined (or TC_DEBUG >= 2) it also tells the barrier its file and line,
 * which TRICOLOR_DEBUG=wbcheck=1 reports as the last barriered store into
 * an object; the inline path is the same while the barrier is off. */
#if defined(TC_WBCHECK) || (defined(TC_DEBUG) && TC_DEBUG >= 2)
#define TC_STORE(obj, field, value)                                        \
  tc__store_at((void **)(void *)&(obj)->field, (void *)(value), __FILE__,   \
               __LINE__)
#else
#define TC_STORE(obj, field, value) \
  tc_store((void **)(void *)&(obj)->field, (void *)(value))
#endif

/* ---------------------------------------------------------------------- */
/* Roots                                                                   */

/*
 * TC_LOCALS(a, b, ...) registers up to 16 pointer-typed C locals on the
 * current mutator's root stack until the end of the enclosing scope
 * (__attribute__((cleanup))).  Initialise the locals first (NULL is fine).
 * Assign to them freely: only their owner writes a root stack, so no
 * barrier is needed.  Frames must be popped in order; one popped out of
 * order (longjmp over a scope, a frame copied) aborts with a message naming
 * both frames.  After a longjmp, restore with tc_roots_unwind().
 */
#define TC_LOCALS(...) TC__LOCALS(__COUNTER__, __VA_ARGS__)

/* An opaque mark of the root stack, for longjmp-based error handling:
 *     volatile tc_roots_mark mark = tc_roots_save();
 *     if (setjmp(env)) { tc_roots_unwind(mark); ... }
 * Declare the local volatile (setjmp rules; GCC's -Wclobbered says so). */
typedef const void *tc_roots_mark;
/* Returns the current top of the mutator's root stack. Mutator. */
static inline tc_roots_mark tc_roots_save(void);
/* Pops every frame above `mark` (after a longjmp to where it was saved). */
TC_API void tc_roots_unwind(tc_roots_mark mark);

/* Registers n consecutive pointer slots (a global, a static array) as
 * roots.  Store into them with tc_store.  Returns TC_EEXIST if slot is
 * already registered, TC_EINVAL for NULL/0, TC_ESTATE before tc_init.
 * Any thread after tc_init (a thread that is not a mutator too: see
 * "Calling context"); while a cycle marks, the range's references are
 * shaded as a store's would be. */
TC_API int tc_root_add(void **slot, size_t n);
/* Unregisters the range starting at slot; TC_ENOENT if unknown,
 * TC_ESTATE before tc_init.  Any thread after tc_init. */
TC_API int tc_root_remove(void **slot);

/* A handle keeps one object alive from memory the collector does not see
 * (malloc'd C structures).  Mutator.  Handles end with the runtime: any
 * handle call after tc_shutdown (tc_handle_free(NULL) included) aborts
 * with a message naming the call. */
typedef struct tc_handle tc_handle;
TC_API tc_handle *tc_handle_new(void *obj);   /* NULL on out of memory */
TC_API void *tc_handle_get(const tc_handle *h);
TC_API void tc_handle_set(tc_handle *h, void *obj);
TC_API void tc_handle_free(tc_handle *h);

/* ---------------------------------------------------------------------- */
/* Weak references and ephemerons                                          */

/*
 * A weak reference refers to an object without keeping it alive.  Once a
 * cycle finds the target unreachable (through strong references: roots,
 * heap fields, ephemeron values whose keys are alive), every weak
 * reference to it reads NULL from then on; all of them are cleared
 * together, in the same pause, before the target's finalizer (if any) is
 * queued.  A finalizer that resurrects its object does not restore the
 * weak references.  tc_weak is itself a heap object: keep it in a root, a
 * handle or a heap field (tc_store) like any other reference.
 *
 * An ephemeron is a key/value pair: the value is kept alive only while the
 * key is reachable by other means (not through the value, not through
 * another ephemeron whose key is dead).  When the key dies, key and value
 * read NULL.  It is what a weak-keyed table (JavaScript's WeakMap, Lua's
 * weak-keyed tables, Scheme's weak hash tables) is made of: a table entry
 * that does not keep its key alive, and whose value may refer to the key.
 *
 * Reading (tc_weak_get, tc_ephemeron_key/value) is a strong read: the
 * result is kept alive like any reference you then hold (keep it in a
 * TC_LOCALS local across safepoints).  Mutator, not between
 * tc_syscall_enter and tc_syscall_exit.  docs/embedding.md shows a weak
 * symbol table; collector/weak.c has the design and how it differs from
 * Go's weak.Pointer and Java's weak and phantom references.
 */
typedef struct tc_weak tc_weak;
typedef struct tc_ephemeron tc_ephemeron;
/* Returns a new weak reference to target (NULL allowed), or NULL when out
 * of memory.  Each call makes a new object.  Mutator. */
TC_API tc_weak *tc_weak_new(void *target);
/* Returns the target, or NULL once it was found unreachable.  Mutator. */
TC_API void *tc_weak_get(const tc_weak *w);
/* Returns a new ephemeron (key must not be NULL), or NULL when out of
 * memory.  Key and value are fixed: make a new one to change them.
 * Mutator. */
TC_API tc_ephemeron *tc_ephemeron_new(void *key, void *value);
/* Return the key and the value, both NULL once the key died.  Mutator. */
TC_API void *tc_ephemeron_key(const tc_ephemeron *e);
TC_API void *tc_ephemeron_value(const tc_ephemeron *e);

/* ---------------------------------------------------------------------- */
/* Coroutines (G/M/P scheduler)                                            */

/*
 * Mutators are coroutines (G) run by processors (P, `procs` of them) on OS
 * threads (M), as in Go.  tc_run starts the runtime, runs main(arg) as the
 * first coroutine and returns when main returns; other coroutines still
 * alive then are dropped.  Coroutines switch only at safepoints:
 * allocation, tc_yield, tc_safepoint, channel and sync operations,
 * tc_sleep and tc_syscall_enter.  A coroutine may resume on another thread
 * after any safepoint: never keep the address of a thread-local across one.
 */
typedef void (*tc_fn)(void *arg);

/* Runs main(arg) as the first coroutine on a fresh runtime (tc_init is
 * implied; cfg may be NULL).  Returns 0 after main returns and the runtime
 * is torn down, or a TC_E* code if it could not start.  May be called
 * again.  Calling thread: not a mutator.
 *
 * SIGQUIT (Ctrl-\ or kill -QUIT), as in Go: while tc_run runs, it prints
 * "SIGQUIT: quit" and the coroutine dump (tc_dump_coroutines) to stderr
 * and exits with status 2.  tc_run installs that handler only if SIGQUIT
 * has its default disposition when it starts: a handler of the
 * application's, or SIG_IGN, is left alone.  tc_run puts the previous
 * disposition back before it returns (unless the application replaced the
 * handler meanwhile). */
TC_API int tc_run(const tc_config *cfg, tc_fn main, void *arg);

/* Starts fn(arg) as a new coroutine; it runs next on this processor.  arg
 * may be a heap object: it stays reachable until fn starts (then keep it in
 * a TC_LOCALS local).  Returns 0 or TC_ENOMEM.  Coroutine. */
#define tc_go(fn, arg) tc__go((fn), (arg), __FILE__, __LINE__, __func__)
TC_API int tc__go(tc_fn fn, void *arg, const char *file, int line,
                  const char *func);

/*
 * Threads tricolor did not create (a host's worker pool, callbacks from C
 * libraries) become mutators by attaching to the running tc_run (or to a
 * tc_init runtime: bare mode, below):
 *   - tc_thread_attach gives the calling thread a root stack and a
 *     processor; from then on it may call everything a coroutine may
 *     (allocation, TC_LOCALS, roots, handles, stores, tc_gc, finalizers,
 *     weak references; channels, select, mutex, wait group, semaphore and
 *     tc_sleep block the OS thread while the coroutines keep running;
 *     tc_go starts coroutines).
 *   - The rule: while attached, a thread that blocks or runs long in its
 *     own code does so between tc_syscall_enter and tc_syscall_exit (or
 *     calls tc_safepoint in its loops); otherwise a stop-the-world waits
 *     for it, as for a coroutine that never reaches a safepoint.
 *   - Set tc_config.foreign_threads: coroutines may wait for threads that
 *     have not attached yet, which the deadlock report cannot tell from a
 *     deadlock.
 *   - tc_thread_detach (every TC_LOCALS frame popped) makes it a plain
 *     thread again; attach and detach may repeat.  Detach before main
 *     returns: tc_run aborts naming the count of threads still attached.
 * Bare mode (tc_init without tc_run): threads attach to the tc_init
 * runtime the same way and take turns with the tc_init thread on its one
 * processor; every cycle is stop-the-world and runs on the thread that
 * starts it while the others wait for their turn.  The turn passes at
 * attach and detach, around tc_syscall_enter/exit, and at safepoints
 * (tc_safepoint, tc_yield, allocation) when another thread waits for it;
 * the same rule for blocking holds, for the tc_init thread too (it joins
 * its threads between tc_syscall_enter and tc_syscall_exit).  There are
 * no coroutines: channels and sync are tc_run's.  tc_shutdown aborts
 * while a thread is attached.  sched/attach.c and sched/bare.c have the
 * design.
 */
/* Returns TC_OK; TC_ESTATE if no runtime runs (neither tc_init nor
 * tc_run, or it is ending) or the thread is already a mutator (the
 * tc_init thread is one); TC_ENOMEM.  A thread that is not a mutator;
 * in bare mode it waits for its turn. */
TC_API int tc_thread_attach(void);
/* Returns TC_OK, or TC_ESTATE if the thread is not attached.  Attached
 * thread, outside any TC_LOCALS scope and not inside a syscall bracket. */
TC_API int tc_thread_detach(void);

/* Lets other coroutines run; the caller goes to the back of its
 * processor's run queue.  Coroutine (or attached thread); in bare mode
 * any mutator: a thread waiting for the turn goes first. */
TC_API void tc_yield(void);
/* A cheap check (one load) that yields if the scheduler or the collector
 * asked this coroutine to stop (in bare mode: if another thread waits for
 * the turn).  Put it in long loops that do not allocate.  Mutator. */
static inline void tc_safepoint(void);
/* Parks the caller for at least ns nanoseconds.  Coroutine. */
TC_API void tc_sleep(int64_t ns);
/* Monotonic clock in nanoseconds.  Any thread. */
TC_API int64_t tc_now(void);
/* The running coroutine's id (1 for main).  Coroutine. */
TC_API uint64_t tc_self(void);

/* Writes every live coroutine to out, oldest first (Go's SIGQUIT dump):
 *     coroutine 7 [chan receive]: worker(), created by serve at srv/conn.c:42
 *         #0  0x00007f3c2a1b0c4f in tc__park+0x5f
 *         #1  0x00007f3c2a1b4a10 in tc_chan_recv+0x1c0
 *         #2  0x000055d0c0de1234 in worker+0x24
 * one entry each: id, status in brackets (runnable, running, syscall, or a
 * waiting coroutine's wait reason: "chan receive", "sleep", "select",
 * "semacquire", ...), entry function, creation site (the function, file
 * and line of its tc_go; the main coroutine says it was created by
 * tc_run), then a backtrace of where it is parked, unwound with libunwind
 * from the registers it saved when it switched out.  The calling
 * coroutine's backtrace is its current stack from the caller of
 * tc_dump_coroutines; coroutines running on other threads or inside a
 * system call are listed without one, as are threads attached with
 * tc_thread_attach ("an attached thread"), unless it is the caller.  Frame names need a symbol table
 * (an unstripped binary; static functions too); "?" otherwise.
 * Returns TC_OK; TC_ESTATE when tc_run is not running; TC_EINVAL for a
 * NULL out or a failed write; TC_ENOMEM.  Any thread while tc_run runs:
 * a coroutine, an attached thread or a thread of your own.  It races with the coroutines it lists: it holds the list
 * of coroutines while it walks (tc_go and coroutine exits wait for it,
 * never for `out`: the dump is formatted in memory first), but a parked
 * coroutine may resume while its stack is unwound; its backtrace may then
 * be wrong and ends with "(resumed while dumped: frames may be wrong)".
 * Costs milliseconds per coroutine (symbol lookups): for debugging. */
TC_API int tc_dump_coroutines(FILE *out);

/* Bracket a blocking system call: the processor is handed to another
 * thread while the call blocks, so other coroutines keep running (in bare
 * mode: the turn, so attached threads run).  No tricolor call and no heap
 * access between the two (the collector may run meanwhile; the caller's
 * roots are already published).  Coroutine, attached thread, or any
 * mutator in bare mode. */
TC_API void tc_syscall_enter(void);
TC_API void tc_syscall_exit(void);

/* ---- channels: GC objects, Go semantics ---- */
typedef struct tc_chan tc_chan;
#define TC_CHAN_RAW 1u /* values are plain words, never traced */

/* Returns a channel with a buffer of cap values (0: unbuffered), or NULL
 * when out of memory.  Values are references to heap objects (traced) or
 * NULL, unless TC_CHAN_RAW.  The channel is a heap object: keep it in a
 * root.  Coroutine. */
TC_API tc_chan *tc_chan_new(size_t cap, unsigned flags);
/* Sends v, blocking until received (unbuffered) or buffered.  Returns 0,
 * or TC_ECLOSED if the channel is closed (Go panics here). */
TC_API int tc_chan_send(tc_chan *c, void *v);
/* Receives a value, blocking until one is sent.  *ok (may be NULL) is
 * false, and the value NULL, when the channel is closed and drained. */
TC_API void *tc_chan_recv(tc_chan *c, bool *ok);
/* Closes c: receivers drain the buffer, then get NULL and ok = false;
 * blocked senders get TC_ECLOSED.  TC_ECLOSED if already closed. */
TC_API int tc_chan_close(tc_chan *c);
TC_API size_t tc_chan_len(tc_chan *c);
TC_API size_t tc_chan_cap(tc_chan *c);

/*
 * Timers, delivering on channels as Go's time package does.  A timer's
 * channel (TC_CHAN_RAW, a buffer of one) receives the tc_now() of each
 * firing as a raw word: (int64_t)(intptr_t)tc_chan_recv(c, NULL).  A tick
 * that finds the buffer full is dropped (a slow receiver of a ticker sees
 * fewer ticks, never a backlog).  Stop and reset empty the buffer, so no
 * stale tick is received after them (Go 1.23).  Timers are heap objects:
 * while pending, the runtime holds them; stopped or fired, a timer and its
 * channel are collected once the program drops them.  A timeout for
 * tc_select is a case on tc_after(ns).  Coroutine (or attached thread).
 */
typedef struct tc_timer tc_timer;
/* A one-shot timer firing once, ns from now (ns <= 0: at once); NULL
 * when out of memory. */
TC_API tc_timer *tc_timer_new(int64_t ns);
/* A ticker firing every period ns (> 0), the first tick one period from
 * now; NULL when out of memory. */
TC_API tc_timer *tc_ticker_new(int64_t period);
/* The channel the timer delivers on. */
TC_API tc_chan *tc_timer_chan(const tc_timer *t);
/* Stops the timer; true if it was pending (it will not fire now). */
TC_API bool tc_timer_stop(tc_timer *t);
/* Rearms it to fire ns from now (a ticker: then every period); true if it
 * was pending. */
TC_API bool tc_timer_reset(tc_timer *t, int64_t ns);
/* The channel of a new one-shot timer firing ns from now (Go's
 * time.After); NULL when out of memory. */
TC_API tc_chan *tc_after(int64_t ns);
/* As in Go, a NULL channel blocks send and receive forever (wait reasons
 * "chan send (nil chan)", "chan receive (nil chan)"); closing it returns
 * TC_EINVAL; its len and cap are 0. */

enum { TC_SELECT_SEND = 1, TC_SELECT_RECV = 2 };
typedef struct tc_select_case {
  tc_chan *chan;      /* NULL: the case never fires */
  int dir;            /* TC_SELECT_SEND or TC_SELECT_RECV */
  void *value;        /* send: the value; recv: the value received */
  bool ok;            /* recv: false if received because closed */
} tc_select_case;
/* Waits until one case can proceed, chosen at random among the ready
 * ones, and performs it.  Returns its index; with block == false returns
 * -1 at once if none is ready (Go's default case).  A send case on a
 * closed channel is chosen and returns its index with ok = false
 * (Go would panic).  Coroutine.
 * The case array must not be in the tricolor heap: keep it on the C stack
 * or in malloc'd memory (a debug build aborts naming tc_select).  The
 * received value is written into it with a plain store, which a heap slot
 * would need the write barrier for; like tc_chan_recv's result, put it in
 * a root before the next safepoint.  The channels and the values being
 * sent need no root of yours during the call: tc_select holds them. */
TC_API int tc_select(tc_select_case *cases, size_t n, bool block);

/* ---- sync: plain C structs, zero-initialised, never moved while used ---- */
typedef struct tc__waitq {
  void *first, *last;       /* waiting coroutines (private) */
} tc__waitq;
typedef struct tc_mutex {
  uint32_t state;           /* private */
  uint32_t lock;            /* private */
  tc__waitq waiters;
} tc_mutex;
TC_API void tc_mutex_lock(tc_mutex *mu);
TC_API bool tc_mutex_trylock(tc_mutex *mu);
TC_API void tc_mutex_unlock(tc_mutex *mu);

typedef struct tc_waitgroup {
  int64_t count;            /* private */
  uint32_t lock;
  tc__waitq waiters;
} tc_waitgroup;
TC_API void tc_waitgroup_add(tc_waitgroup *wg, int64_t delta);
TC_API void tc_waitgroup_done(tc_waitgroup *wg);
TC_API void tc_waitgroup_wait(tc_waitgroup *wg);

typedef struct tc_once {
  uint32_t done;            /* private */
  tc_mutex mu;
} tc_once;
/* Calls fn(arg) once per tc_once; concurrent callers wait for it.  arg is
 * not a root: keep a heap object it points to reachable yourself. */
TC_API void tc_once_do(tc_once *o, tc_fn fn, void *arg);

typedef struct tc_sema {
  int64_t count;            /* private */
  uint32_t lock;
  tc__waitq waiters;
} tc_sema;
TC_API void tc_sema_init(tc_sema *s, int64_t count);
TC_API void tc_sema_acquire(tc_sema *s);
TC_API bool tc_sema_tryacquire(tc_sema *s);
TC_API void tc_sema_release(tc_sema *s);

/* ---------------------------------------------------------------------- */
/* Collection and statistics                                               */

/* Runs a full cycle that starts after this call and returns after its
 * sweep; then runs the finalizers it queued.  Under tc_run the cycle runs
 * on the collector thread and the calling coroutine parks meanwhile (the
 * others keep running); a bare mutator collects in one pause.  Mutator. */
TC_API void tc_gc(void);

/* Runs finalizers queued by earlier cycles; returns how many ran. Mutator. */
TC_API size_t tc_run_finalizers(void);

#define TC_PAUSE_RING 256   /* pauses kept, most recent cycles */
#define TC_PAUSE_BUCKETS 40 /* histogram buckets, bucket b = [2^b, 2^(b+1)) ns */

typedef struct tc_stats {
  uint64_t heap_live;        /* bytes in objects not yet reclaimed (sweep lags) */
  uint64_t heap_marked;      /* bytes found live by the last mark */
  uint64_t heap_goal;        /* heap_live that triggers the next cycle */
  uint64_t heap_inuse;       /* bytes in spans holding objects */
  uint64_t heap_free;        /* bytes in free spans still backed by memory */
  uint64_t heap_released;    /* bytes in free spans returned to the OS */
  uint64_t heap_mapped;      /* bytes of address space mapped for the heap */
  uint64_t meta_mapped;      /* bytes mapped for side metadata */
  uint64_t total_alloc;      /* cumulative bytes allocated (size classes) */
  uint64_t total_freed;      /* cumulative bytes reclaimed */
  uint64_t cycles;           /* completed cycles */
  uint64_t forced_cycles;    /* of which asked for by tc_gc() */
  uint64_t pause_total_ns;   /* sum of all pauses */
  uint64_t pause_max_ns;     /* longest pause */
  uint64_t pauses;           /* number of pauses */
  uint64_t pause_ns[TC_PAUSE_RING]; /* pause k (0-based) at [k % TC_PAUSE_RING] */
  uint64_t pause_hist[TC_PAUSE_BUCKETS];
  uint64_t finalizers_run;   /* finalizers called so far */
  uint64_t finalizers_queued;/* waiting to run */
  uint64_t gc_cpu_ns;        /* CPU time spent collecting */
  double gc_cpu_fraction;    /* gc_cpu_ns / wall time since tc_init */
  /* concurrent collection */
  uint8_t pause_kind[TC_PAUSE_RING]; /* 0 = mark start (sweep termination),
                                 1 = mark termination, like pause_ns */
  uint64_t pause_start_max_ns; /* longest mark-start pause */
  uint64_t pause_term_max_ns;  /* longest mark-termination pause */
  uint64_t pause_slots;      /* root slots scanned inside pauses, all cycles */
  uint64_t pause_objects;    /* objects scanned inside pauses, all cycles */
  uint64_t last_pause_slots; /* root slots scanned in the last cycle's pauses */
  uint64_t barrier_slow;     /* stores that took the barrier's slow path while
                                marking */
  uint64_t barrier_shaded;   /* objects greyed by the barrier */
  uint64_t assist_ns;        /* mutator time spent assisting the marker */
  uint64_t bg_mark_ns;       /* background marker CPU time */
  uint64_t time_cycles;      /* cycles started by the force period */
  uint64_t heap_peak_over_goal_pct; /* max over cycles of 100 * heap live
                                at mark termination / that cycle's goal */
  uint64_t last_heap_over_goal_pct; /* the same for the last cycle */
  uint32_t last_mode;        /* tc_barrier_mode of the last cycle */
  /* lab figures (tricolor-lab, bench/) */
  uint64_t pause_end_ns[TC_PAUSE_RING]; /* when pause k ended (CLOCK_MONOTONIC
                                ns, like Go's PauseEnd), like pause_ns */
  uint64_t float_cycles;     /* cycles measured for floating garbage: those
                                verified by TRICOLOR_DEBUG=gccheckmark=1 */
  uint64_t float_bytes;      /* sum over them of the bytes the cycle kept
                                that the verifier's fresh stop-the-world
                                mark found unreachable (floating garbage) */
  uint64_t last_float_bytes; /* the same for the last measured cycle */
  uint64_t weak_cleared;     /* weak references cleared, all cycles */
  uint64_t ephemerons_cleared; /* ephemerons cleared (dead key), all cycles */
  uint64_t ephemerons_resolved;/* ephemerons deferred while marking and
                                traced once their key was marked, all
                                cycles */
  uint64_t last_weak;        /* the last cycle: live weak references */
  uint64_t last_weak_cleared;/*   of which cleared */
  uint64_t last_ephemerons;  /*   live ephemerons */
  uint64_t last_ephemerons_cleared; /* of which cleared */
  uint64_t last_ephemerons_resolved;
  uint64_t last_weak_ns;     /* the last cycle's clearing pass, inside its
                                termination pause (0 unless tracing or
                                gctrace=1 measured it) */
  uint64_t restart_lag_max_ns; /* under tc_run: longest time from the end
                                of a pause (just before the threads of the
                                stopped Ps are woken) to the moment the
                                last of them ran again: the OS's scheduling
                                delay, not pause time; since tc_run began */
  uint64_t restarts;         /* under tc_run: restarts whose lag was
                                measured (those that woke a stopped
                                thread), since tc_run began */
  uint64_t restart_lag_ns[TC_PAUSE_RING]; /* their lags, as pause_ns: the
                                k-th (0-based) at [k % TC_PAUSE_RING] */
} tc_stats;

/* ---------------------------------------------------------------------- */
/* Event trace                                                             */

/*
 * Starts writing an event trace to `path` (created or truncated) in Chrome
 * Trace Event JSON, which Perfetto (ui.perfetto.dev) and chrome://tracing
 * open: each GC cycle, the concurrent mark and its background slices and
 * background sweeps on a "GC" track; each pause on an "STW" track, with
 * the length the stats record (args.ns, exact); on a track per processor
 * ("P0", "P1", ...) each coroutine's run slices ("G12"), the assists inside
 * them and instants "create G12", "block G12" (args.reason: the wait
 * reason) and "unblock G12".  Timestamps are CLOCK_MONOTONIC microseconds
 * (as tc_now() / 1000) with exact nanoseconds in the decimals.
 * Returns TC_OK; TC_EBUSY if a trace is already running; TC_EINVAL for a
 * NULL or empty path or a file that cannot be opened (permissions, a
 * directory, ...); TC_ENOENT if a directory in the path does not exist;
 * TC_ENOMEM if the 1 MiB buffer cannot be allocated.  Costs one load and
 * a branch at each recorded point while no trace runs.  Any thread, with
 * or without a runtime; a trace may span several tc_run calls only if
 * restarted: tc_shutdown (so the end of tc_run) stops a running trace.
 */
TC_API int tc_trace_start(const char *path);
/* Stops the trace and completes the file (valid JSON from then on).
 * Returns TC_OK; TC_ESTATE if no trace is running; TC_EINVAL if writing
 * the file failed (a full disk: the file is then incomplete).  Any
 * thread. */
TC_API int tc_trace_stop(void);

/* Fills *s with a consistent snapshot. Any thread after tc_init. */
TC_API void tc_read_stats(tc_stats *s);

/* ---------------------------------------------------------------------- */
/* Heap profile                                                            */

/*
 * Allocations are sampled by site, as Go's runtime.MemProfileRate does:
 * on average one sample per `rate` bytes allocated (a Poisson process over
 * the allocated bytes, so an object of s bytes is sampled with probability
 * 1 - exp(-s/rate)), each with its call stack (at most 32 frames).  Each
 * stack has two views: in use (sampled objects not yet freed by a sweep;
 * call tc_gc() first for the exact live heap) and allocated in all.
 * Written counts are scaled to what the samples stand for, as pprof scales
 * Go's.  Sampling happens on the allocation slow path only; with the rate
 * at 0 nothing runs.  collector/profile.c has the design.
 */
#define TC_MEM_PROFILE_RATE_DEFAULT (512 * 1024)
/* Sets the sampling rate in bytes (1: every allocation; 0: off) and
 * returns the previous one.  The calling mutator's cache applies it at
 * once, other processors' at their next refill.  Process-wide: it stays
 * across tc_shutdown / tc_init, but TRICOLOR_DEBUG=memprofilerate= sets
 * it at tc_init, and wbcheck=1 pins it at 1 (the call is then ignored).
 * Any thread. */
TC_API size_t tc_set_mem_profile_rate(size_t rate);
/* Returns the sampling rate in bytes. Any thread. */
TC_API size_t tc_get_mem_profile_rate(void);

enum {
  /* Go's legacy text heap profile ("heap profile: ... @ heap/<2*rate>",
   * one line per stack "inuse_objects: inuse_bytes [alloc_objects:
   * alloc_bytes] @ 0xaddr ...", then the process's memory map): read by
   * `go tool pprof <program> <file>` (raw counts; pprof scales them) */
  TC_HEAP_PROFILE_PPROF = 0,
  /* folded stacks "root;...;leaf <value>" (flamegraph.pl, inferno,
   * speedscope), frames named by the symbol table, scaled values: */
  TC_HEAP_PROFILE_INUSE_BYTES,
  TC_HEAP_PROFILE_INUSE_OBJECTS,
  TC_HEAP_PROFILE_ALLOC_BYTES,
  TC_HEAP_PROFILE_ALLOC_OBJECTS,
};
/* Writes the heap profile to f in `format` and flushes f.  Returns TC_OK;
 * TC_EINVAL for a NULL f, an unknown format or a failed write; TC_ESTATE
 * outside tc_init .. tc_shutdown; TC_ENOMEM.  Any thread (not at the same
 * time as tc_shutdown). */
TC_API int tc_heap_profile_write(FILE *f, int format);

/* Returns the q-quantile (0..1) of recorded pauses in ns: exact from the
 * ring while every pause fits in it, else the histogram bucket's bound. */
TC_API uint64_t tc_stats_pause_quantile(const tc_stats *s, double q);

#ifdef __cplusplus
}
#endif

#include "tricolor/inline.h"

#endif /* TRICOLOR_H */
