/*
 * pool.c -- a host program whose own pthread pool hands work to tricolor
 * coroutines and collects their results (tc_thread_attach).
 *
 * The host: NPRODUCERS pthreads, created with pthread_create as any C
 * program would, each with jobs to get done (here: word counts of
 * generated sentences).  The runtime: tc_run's main coroutine starts
 * NWORKERS coroutines that serve a job channel.  Each producer thread
 *   1. attaches (it becomes a mutator with a root stack),
 *   2. builds each job on the tricolor heap (a sentence string and a
 *      reply channel), sends it to the workers and waits for the answer
 *      on its reply channel (blocking only itself),
 *   3. does its own bookkeeping between jobs outside tricolor, between
 *      tc_syscall_enter and tc_syscall_exit (the rule for blocking while
 *      attached: a stop-the-world never waits for it there),
 *   4. detaches before it exits.
 * The main coroutine waits for the producers (a tc_waitgroup: done by
 * each producer, from its thread, while attached), closes the job channel
 * and prints the totals, which the host checks against its own count.
 *
 *   ./threadpool [producers] [jobs-per-producer]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tricolor.h>
#include <unistd.h>

#define NWORKERS 4

typedef struct job {
  char *text;           /* noscan string */
  tc_chan *reply;       /* where the answer goes */
} job;
static const uint32_t job_offsets[] = {offsetof(job, text),
                                       offsetof(job, reply)};
static tc_type job_type = {.name = "job", .offsets = job_offsets,
                           .noffsets = 2};

static void *globals[1];        /* [0]: the job channel */
static tc_waitgroup producers;
static int nproducers = 4, njobs = 200;
static long expected_words;     /* the host's own count, under `count_mu` */
static long counted_words;      /* the coroutines' answers, summed */
static pthread_mutex_t count_mu = PTHREAD_MUTEX_INITIALIZER;

/* A coroutine: counts the words of each job's text, answers on its reply
 * channel (a raw word: no heap object needed for a number). */
static void worker(void *arg) {
  (void)arg;
  job *j = NULL;
  TC_LOCALS(j);
  for (;;) {
    bool ok;
    j = tc_chan_recv(globals[0], &ok);
    if (!ok)
      return; /* closed: no more jobs */
    long words = 0;
    for (const char *p = j->text; *p; p++)
      words += (p == j->text || p[-1] == ' ') && *p != ' ';
    tc_chan_send(j->reply, (void *)(intptr_t)words);
  }
}

static void *producer(void *arg) {
  int id = (int)(intptr_t)arg;
  if (tc_thread_attach() != TC_OK) {
    fprintf(stderr, "producer %d: cannot attach\n", id);
    exit(1);
  }
  {
    job *j = NULL;
    char *text = NULL;
    tc_chan *reply = NULL;
    TC_LOCALS(j, text, reply);
    reply = tc_chan_new(0, TC_CHAN_RAW);
    unsigned seed = 1234u + (unsigned)id;
    for (int k = 0; k < njobs; k++) {
      /* a sentence of 1..20 words */
      int n = 1 + (int)(rand_r(&seed) % 20);
      text = tc_alloc_noscan((size_t)n * 6 + 1);
      char *p = text;
      for (int w = 0; w < n; w++)
        p += sprintf(p, w ? " w%03d" : "w%03d", (int)(rand_r(&seed) % 1000));
      j = tc_alloc(&job_type, sizeof *j);
      TC_STORE(j, text, text);
      TC_STORE(j, reply, reply);
      tc_chan_send(globals[0], j);
      long words = (long)(intptr_t)tc_chan_recv(reply, NULL);
      /* the host's own bookkeeping: blocking, outside tricolor */
      tc_syscall_enter();
      pthread_mutex_lock(&count_mu);
      expected_words += n;
      counted_words += words;
      pthread_mutex_unlock(&count_mu);
      tc_syscall_exit();
    }
    tc_waitgroup_done(&producers);
  }
  tc_thread_detach();
  return NULL;
}

static void main_coroutine(void *arg) {
  (void)arg;
  tc_root_add(globals, 1);
  tc_store(&globals[0], tc_chan_new(16, 0));
  for (int i = 0; i < NWORKERS; i++)
    tc_go(worker, NULL);
  tc_waitgroup_add(&producers, nproducers);
  pthread_t *t = calloc((size_t)nproducers, sizeof *t);
  for (int i = 0; i < nproducers; i++)
    pthread_create(&t[i], NULL, producer, (void *)(intptr_t)i);
  tc_waitgroup_wait(&producers); /* parks this coroutine only */
  tc_chan_close(globals[0]);
  /* the producers detach right after their last done: wait for them
   * outside tricolor */
  tc_syscall_enter();
  for (int i = 0; i < nproducers; i++)
    pthread_join(t[i], NULL);
  tc_syscall_exit();
  free(t);
  tc_stats s;
  tc_read_stats(&s);
  printf("%d producers x %d jobs: %ld words counted by %d coroutines, "
         "%ld expected; %llu GC cycles\n",
         nproducers, njobs, counted_words, NWORKERS, expected_words,
         (unsigned long long)s.cycles);
  tc_root_remove(globals);
}

int main(int argc, char **argv) {
  if (argc > 1)
    nproducers = atoi(argv[1]);
  if (argc > 2)
    njobs = atoi(argv[2]);
  /* producers attach after main may already wait for them: no deadlock
   * report for that */
  tc_config cfg = {.procs = 2, .min_heap = 1 << 20, .foreign_threads = true};
  int rc = tc_run(&cfg, main_coroutine, NULL);
  if (rc != TC_OK) {
    fprintf(stderr, "tc_run: %s\n", tc_strerror(rc));
    return 1;
  }
  if (counted_words != expected_words || expected_words == 0) {
    fprintf(stderr, "wrong totals\n");
    return 1;
  }
  return 0;
}
