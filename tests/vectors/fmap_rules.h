/* Reader of tests/vectors/fmap_rules.txt (format in that file), shared by the core's Catch2
 * test and the C library's unit test so both check the same vectors. Header only, C and C++. */
#ifndef FAMFS_TEST_FMAP_RULES_H
#define FAMFS_TEST_FMAP_RULES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RV_MAX_EXTENTS 16
#define RV_MAX_AT 32

struct rv_at {
  uint64_t off, dev, run;
  int none; /* beyond the map */
};

struct rule_vec {
  char name[64];
  int interleave;
  uint64_t size, chunk;
  unsigned n;
  uint64_t off[RV_MAX_EXTENTS], len[RV_MAX_EXTENTS];
  int valid; /* -1 not stated yet */
  uint64_t capacity;
  unsigned nat;
  struct rv_at at[RV_MAX_AT];
};

static inline int rv_num(char **p, uint64_t *out) {
  char *end;
  while (**p == ' ' || **p == '\t') (*p)++;
  if (**p < '0' || **p > '9') return -1;
  *out = strtoull(*p, &end, 0);
  if (end == *p) return -1;
  *p = end;
  return 0;
}

static inline int rv_word(char **p, char *out, size_t n) {
  size_t k = 0;
  while (**p == ' ' || **p == '\t') (*p)++;
  while (**p && **p != ' ' && **p != '\t' && **p != '\n' && **p != ':') {
    if (k + 1 >= n) return -1;
    out[k++] = *(*p)++;
  }
  out[k] = '\0';
  return k ? 0 : -1;
}

static inline int rv_parse_map(char *p, struct rule_vec *v) {
  char kind[32];
  memset(v, 0, sizeof *v);
  v->valid = -1;
  if (rv_word(&p, v->name, sizeof v->name) || rv_word(&p, kind, sizeof kind)) return -1;
  if (strcmp(kind, "interleave") == 0) v->interleave = 1;
  else if (strcmp(kind, "simple") != 0) return -1;
  if (rv_num(&p, &v->size) || rv_num(&p, &v->chunk)) return -1;
  for (;;) {
    uint64_t o, l;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '\n' || *p == '\0') break;
    if (v->n == RV_MAX_EXTENTS || rv_num(&p, &o) || *p++ != ':' || rv_num(&p, &l)) return -1;
    v->off[v->n] = o;
    v->len[v->n++] = l;
  }
  return v->n ? 0 : -1;
}

/* Load up to max vectors; returns their number, or -1 (message on stderr) for an unreadable
 * file or a malformed line. */
static inline int rule_vectors_load(const char *path, struct rule_vec *vs, int max) {
  FILE *f = fopen(path, "r");
  char line[1024];
  int n = 0, lineno = 0;
  if (!f) {
    perror(path);
    return -1;
  }
  while (fgets(line, sizeof line, f)) {
    char *p = line, word[16];
    struct rule_vec *v = n ? &vs[n - 1] : NULL;
    lineno++;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '#' || *p == '\n' || *p == '\0') continue;
    if (rv_word(&p, word, sizeof word)) goto bad;
    if (strcmp(word, "map") == 0) {
      if (n == max || rv_parse_map(p, &vs[n])) goto bad;
      n++;
    } else if (v && strcmp(word, "valid") == 0) {
      if (rv_num(&p, &v->capacity)) goto bad;
      v->valid = 1;
    } else if (v && strcmp(word, "invalid") == 0) {
      v->valid = 0;
    } else if (v && strcmp(word, "at") == 0) {
      struct rv_at *a = &v->at[v->nat];
      char none[8];
      char *q;
      if (v->nat == RV_MAX_AT || rv_num(&p, &a->off)) goto bad;
      q = p;
      if (rv_word(&q, none, sizeof none) == 0 && strcmp(none, "none") == 0) a->none = 1;
      else if (rv_num(&p, &a->dev) || rv_num(&p, &a->run)) goto bad;
      v->nat++;
    } else {
      goto bad;
    }
  }
  fclose(f);
  for (int i = 0; i < n; i++)
    if (vs[i].valid < 0) {
      fprintf(stderr, "%s: vector %s says neither valid nor invalid\n", path, vs[i].name);
      return -1;
    }
  return n;
bad:
  fprintf(stderr, "%s:%d: malformed line: %s", path, lineno, line);
  fclose(f);
  return -1;
}

/* The daemon's user.famfs.fmap text for a vector (docs/design.md). Returns its length. */
static inline size_t rule_vector_fmap_text(const struct rule_vec *v, char *buf, size_t n) {
  size_t k = (size_t)snprintf(buf, n, "famfs-fmap 1\nsize 0x%llx\n", (unsigned long long)v->size);
  if (v->interleave)
    k += (size_t)snprintf(buf + k, n - k, "interleave %u 0x%llx\n", v->n,
                          (unsigned long long)v->chunk);
  else
    k += (size_t)snprintf(buf + k, n - k, "simple %u\n", v->n);
  for (unsigned i = 0; i < v->n && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, "0x%llx 0x%llx\n", (unsigned long long)v->off[i],
                          (unsigned long long)v->len[i]);
  return k < n ? k : n - 1;
}

#endif
