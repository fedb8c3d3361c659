/*
 * sched/attach.c -- threads tricolor did not create, as mutators:
 * tc_thread_attach and tc_thread_detach (Go's extra Ms for cgo callbacks,
 * needm/dropm, are the model).
 *
 * An attached thread gets an M record (foreign: it has no g0 and runs no
 * scheduling loop) and a G whose root stack holds its TC_LOCALS frames; the
 * G runs on the thread's own stack and only on this M (g->lockedm).
 *
 *   1. Attach: allocate (or reuse, from the detached list) the M, make the
 *      thread's context point at it and at the G's root stack, publish the
 *      G among all Gs (status SYSCALL: frozen, the collector may scan its
 *      empty root stack), then come back from that "syscall" as any
 *      coroutine does: take an idle P, else wait on the global run queue
 *      for an M to hand its P over (proc.c, foreign Ms).  From then on the
 *      thread is a mutator holding a P.
 *   2. While attached, the thread runs tricolor code holding its P, and
 *      lets go of it exactly where a coroutine would switch out: in
 *      tc_syscall_enter/exit around its own blocking code, in channel and
 *      sync operations (it blocks the OS thread; the P runs coroutines
 *      meanwhile), and at safepoints when the world stops or sysmon asks
 *      it to yield.  The rule for the embedder: a thread that blocks or
 *      runs long outside tricolor calls does so between tc_syscall_enter
 *      and tc_syscall_exit (or calls tc_safepoint in its loops), or a
 *      stop-the-world waits for it.
 *   3. Detach: the root stack must be empty (every TC_LOCALS frame
 *      popped); the P goes on to other work, the G leaves all Gs and is
 *      freed, the M goes on the detached list (an M is never freed while
 *      tc_run runs: sysmon and the world stopper walk allm without
 *      taking it apart), the context is the thread's own again.
 *   4. tc_run ends: a thread still attached then is a misuse; tc_run
 *      aborts naming it (the runtime it holds is being torn down).
 *
 * Bare mode (tc_init without tc_run) has no Ps and no Ms: there the
 * threads take turns on the runtime's one processor (sched/bare.c).
 */
#include "sched/proc.h"

#include <stdlib.h>
#include <string.h>

int tc_thread_attach(void) {
  tc__ctx *ctx = tc__ctx_current();
  if (!tc__load_acquire(&tc__sched.running))
    return tc__bare_attach(ctx, __builtin_return_address(0));
  if (tc__load_acquire(&tc__sched.exiting))
    return TC_ESTATE;
  if (ctx->owner != NULL)
    return TC_ESTATE; /* already a mutator (a coroutine's M, attached) */
  tc__g *g = calloc(1, sizeof *g);
  if (g == NULL)
    return TC_ENOMEM;
  tc__spin_lock(&tc__sched.lock);
  tc__m *m = tc__sched.mfree;
  if (m) {
    tc__sched.mfree = m->freelink;
    tc__sched.nmfree--;
  }
  tc__spin_unlock(&tc__sched.lock);
  bool fresh = m == NULL;
  if (fresh) {
    m = calloc(1, sizeof *m);
    if (m == NULL) {
      free(g);
      return TC_ENOMEM;
    }
    m->foreign = true;
    m->rand = 0x2545f491u;
  }
  g->id = __atomic_add_fetch(&tc__sched.goidgen, 1, __ATOMIC_RELAXED);
  g->go_file = "tc_thread_attach";
  g->go_func = "attached thread";
  g->lockedm = m;
  g->status = TC__G_SYSCALL; /* published below: frozen, scannable */
  tc__gscan_newg(g);
  tc__store_relaxed(&m->curg, g); /* the handshake reads it (gscan.c) */
  ctx->owner = m;
  ctx->rs = &g->rs;
  ctx->cache = tc__world_no_cache();
  tc__store_relaxed(&ctx->preempt, 0u); /* others OR bits into it */
  tc__store_release(&g->m, m);
  tc__store_release(&m->ctx, ctx);
  tc__spin_lock(&tc__sched.lock);
  if (fresh) {
    m->id = tc__sched.mcount;
    tc__proc_m_link(m);
  }
  tc__sched.nattached++;
  tc__spin_unlock(&tc__sched.lock);
  tc__proc_allg_add(g);
  /* come back from the "syscall": a P of our own */
  tc__store_relaxed(&m->entered, (const void *)__builtin_return_address(0));
  tc__g_cas(g, TC__G_SYSCALL, TC__G_RUNNABLE);
  tc__proc_foreign_run(m, g);
  return TC_OK;
}

void tc__detach_check(bool in_syscall, const tc__rootstack *rs) {
  if (in_syscall)
    tc__fatal("tc_thread_detach between tc_syscall_enter and "
              "tc_syscall_exit");
  if (rs->top != NULL)
    tc__fatal("tc_thread_detach with TC_LOCALS(%s) at %s:%d still on the "
              "root stack (detach outside every frame)",
              rs->top->site->names, rs->top->site->file, rs->top->site->line);
}

int tc_thread_detach(void) {
  tc__ctx *ctx = tc__ctx_current();
  if (!tc__load_acquire(&tc__sched.running))
    return tc__bare_detach(ctx);
  tc__m *m = ctx->owner;
  if (m == NULL || !m->foreign)
    return TC_ESTATE; /* not an attached thread */
  tc__g *g = m->curg;
  tc__detach_check(g->status != TC__G_RUNNING, &g->rs);
  tc__proc_foreign_release(m);
  /* Off the list of all Gs (the collector scans it under its lock), then
   * dead: nothing refers to the G any more. */
  tc__proc_allg_remove(g);
  tc__g_cas(g, TC__G_RUNNING, TC__G_DEAD);
  free(g);
  tc__store_relaxed(&m->curg, (tc__g *)NULL);
  tc__store_release(&m->ctx, (tc__ctx *)NULL);
  ctx->owner = NULL;
  ctx->rs = NULL;
  ctx->cache = tc__world_no_cache();
  tc__store_relaxed(&ctx->preempt, 0u); /* others OR bits into it */
  tc__spin_lock(&tc__sched.lock);
  m->freelink = tc__sched.mfree;
  tc__sched.mfree = m;
  tc__sched.nmfree++;
  tc__sched.nattached--;
  tc__spin_unlock(&tc__sched.lock);
  return TC_OK;
}
