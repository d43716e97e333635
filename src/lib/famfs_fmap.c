/* The user.famfs.fmap text (docs/design.md) as libfamfs reads it, and what a map means:
 * capacity and file offset -> device offset, under the one interleave rule the core shares
 * (proto/fmap_rule.h). No allocation, no system calls. */
#include "famfs_core.h"
#include "proto/fmap_rule.h"

#include <errno.h>
#include <string.h>

#define FC_PAGE 4096ull

/* ---------------------------------------------------------------- fmap text */

struct cursor {
  const char *p, *end;
};

static void skip_blanks(struct cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r')) c->p++;
}

static int expect_word(struct cursor *c, const char *w) {
  size_t n = strlen(w);
  skip_blanks(c);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return -1;
  c->p += n;
  /* must be followed by a blank or end of line */
  if (c->p < c->end && *c->p != ' ' && *c->p != '\t' && *c->p != '\n' && *c->p != '\r')
    return -1;
  return 0;
}

/* A number: 0x<hex> or decimal. Rejects overflow. */
static int number(struct cursor *c, uint64_t *out) {
  skip_blanks(c);
  uint64_t v = 0;
  int digits = 0;
  if (c->end - c->p >= 2 && c->p[0] == '0' && (c->p[1] == 'x' || c->p[1] == 'X')) {
    c->p += 2;
    while (c->p < c->end) {
      char ch = *c->p;
      unsigned d;
      if (ch >= '0' && ch <= '9') d = (unsigned)(ch - '0');
      else if (ch >= 'a' && ch <= 'f') d = (unsigned)(ch - 'a' + 10);
      else if (ch >= 'A' && ch <= 'F') d = (unsigned)(ch - 'A' + 10);
      else break;
      if (v >> 60) return -1;
      v = (v << 4) | d;
      c->p++;
      digits++;
    }
  } else {
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
      unsigned d = (unsigned)(*c->p - '0');
      if (v > (UINT64_MAX - d) / 10) return -1;
      v = v * 10 + d;
      c->p++;
      digits++;
    }
  }
  if (!digits) return -1;
  *out = v;
  return 0;
}

static int end_line(struct cursor *c) {
  skip_blanks(c);
  if (c->p == c->end) return 0;
  if (*c->p == '\0') { /* a NUL-terminated buffer: treat as end */
    c->end = c->p;
    return 0;
  }
  if (*c->p != '\n') return -1;
  c->p++;
  return 0;
}

int fc_parse_fmap(const char *text, size_t len, struct fc_map *m) {
  struct cursor c = {text, text + len};
  uint64_t v;
  memset(m, 0, sizeof *m);
  if (expect_word(&c, "famfs-fmap") || number(&c, &v) || v != 1 || end_line(&c)) return -EINVAL;
  if (expect_word(&c, "size") || number(&c, &m->size) || end_line(&c)) return -EINVAL;
  skip_blanks(&c);
  if (expect_word(&c, "simple") == 0) {
    m->kind = FC_SIMPLE;
    if (number(&c, &v) || end_line(&c)) return -EINVAL;
  } else if (expect_word(&c, "interleave") == 0) {
    m->kind = FC_INTERLEAVE;
    if (number(&c, &v) || number(&c, &m->chunk) || end_line(&c)) return -EINVAL;
    if (m->chunk == 0 || (m->chunk & (m->chunk - 1)) || m->chunk % FC_PAGE) return -EINVAL;
  } else {
    return -EINVAL;
  }
  if (v < 1 || v > FC_MAX_EXTENTS) return -EINVAL;
  m->n = (unsigned)v;
  for (unsigned i = 0; i < m->n; i++) {
    if (number(&c, &m->off[i]) || number(&c, &m->len[i]) || end_line(&c)) return -EINVAL;
    if (m->len[i] == 0 || m->off[i] % FC_PAGE || m->len[i] % FC_PAGE) return -EINVAL;
    if (m->off[i] + m->len[i] < m->off[i]) return -EINVAL;
  }
  if (m->kind == FC_INTERLEAVE) {
    /* equal strips; a length that is not a multiple of the chunk is fine (a partial last
     * stripe, src/proto/fmap_rule.h) */
    for (unsigned i = 0; i < m->n; i++)
      if (m->len[i] != m->len[0]) return -EINVAL;
  }
  /* trailing blank lines are fine, anything else is not */
  while (c.p < c.end) {
    if (end_line(&c)) return -EINVAL;
  }
  if (fc_capacity(m) < m->size) return -EINVAL;
  return 0;
}

static uint64_t min_strip_len(const struct fc_map *m) {
  uint64_t l = m->n ? m->len[0] : 0;
  for (unsigned i = 1; i < m->n; i++)
    if (m->len[i] < l) l = m->len[i];
  return l;
}

uint64_t fc_capacity(const struct fc_map *m) {
  if (m->kind == FC_INTERLEAVE) return famfs_interleave_capacity(min_strip_len(m), m->chunk, m->n);
  uint64_t t = 0;
  for (unsigned i = 0; i < m->n; i++) t = famfs_rule_sat_add(t, m->len[i]);
  return t;
}

int fc_resolve(const struct fc_map *m, uint64_t off, uint64_t *dev, uint64_t *run) {
  if (m->kind == FC_SIMPLE) {
    uint64_t r = off;
    for (unsigned k = 0; k < m->n; k++) {
      if (r < m->len[k]) {
        *dev = m->off[k] + r;
        *run = m->len[k] - r;
        return 0;
      }
      r -= m->len[k];
    }
    return -ENXIO;
  }
  if (m->kind == FC_INTERLEAVE) {
    uint64_t strip, strip_off;
    if (famfs_interleave_locate(off, min_strip_len(m), m->chunk, m->n, &strip, &strip_off, run))
      return -ENXIO;
    *dev = m->off[strip] + strip_off;
    return 0;
  }
  return -ENXIO;
}
