/*
 * main.c -- the install test's embedder: builds a list that survives a
 * forced collection while garbage around it is reclaimed, checks the list
 * and the statistics, shuts down and exits 0.  Uses only <tricolor.h>.
 */
#include <tricolor.h>

#include <stdio.h>

typedef struct node {
  struct node *next;
  long value;
} node;

static const uint32_t node_offsets[] = {offsetof(node, next)};
static tc_type node_type = {
    .name = "node", .offsets = node_offsets, .noffsets = 1};

#define N 1000

static int check(void) {
  node *list = NULL, *n = NULL;
  TC_LOCALS(list, n);

  for (long i = 0; i < N; i++) {
    n = tc_alloc(&node_type, sizeof(node));
    if (n == NULL) {
      fprintf(stderr, "consumer: tc_alloc returned NULL at %ld\n", i);
      return 1;
    }
    n->value = i;
    TC_STORE(n, next, list);
    list = n;
    if (tc_alloc_noscan(48) == NULL) { /* garbage */
      fprintf(stderr, "consumer: tc_alloc_noscan returned NULL\n");
      return 1;
    }
  }
  tc_gc();

  long count = 0, sum = 0;
  for (node *p = list; p != NULL; p = tc_load((void *const *)&p->next)) {
    count++;
    sum += p->value;
  }
  if (count != N || sum != (long)N * (N - 1) / 2) {
    fprintf(stderr, "consumer: list damaged: %ld nodes, sum %ld\n", count,
            sum);
    return 1;
  }
  tc_stats s;
  tc_read_stats(&s);
  if (s.cycles < 1) {
    fprintf(stderr, "consumer: tc_gc() ran but stats say %llu cycles\n",
            (unsigned long long)s.cycles);
    return 1;
  }
  printf("consumer: %ld nodes alive after %llu cycle(s), heap_live %llu B\n",
         count, (unsigned long long)s.cycles,
         (unsigned long long)s.heap_live);
  return 0;
}

int main(void) {
  int rc = tc_init(NULL);
  if (rc != TC_OK) {
    fprintf(stderr, "consumer: tc_init: %s\n", tc_strerror(rc));
    return 1;
  }
  int bad = check();
  tc_shutdown();
  if (!bad)
    printf("consumer: ok\n");
  return bad;
}
