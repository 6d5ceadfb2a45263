/* SPDX-License-Identifier: MIT */
/* The foreground mask's clean-up: opening and closing, 64 pixels a word. */
#include "morph.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * DESIGN
 * The mask is one bit a pixel here: a row of 320 pixels is five 64-bit words, and an erosion
 * or a dilation is a few ANDs or ORs and shifts a word instead of a comparison a pixel. Each
 * kernel row is a span [-r, r] around the centre (a square: r the same on every row; OpenCV's
 * ellipse: r from its own formula), so a dilation is the OR, over the kernel's rows, of the
 * source row that far up or down, spread r pixels sideways (spreads by 1 repeated, kept for
 * every r), and an erosion the inverse of the dilation of the inverse. Outside the picture is
 * what OpenCV's default border makes it: foreground for an erosion (the border erodes
 * nothing), background for a dilation (it adds nothing). The result is OpenCV's, pixel for pixel
 * (test_geometry holds it against a direct implementation of the definition).
 */

#define MAX_R 32 /* the largest kernel half-size: 65 px */

struct vision_morph {
    int w, h, nw;           /* nw: words a row */
    int open_r;             /* square half-size */
    int close_r;            /* ellipse half-size */
    int ell[2 * MAX_R + 1]; /* the ellipse's half-width at each row */
    int sq[2 * MAX_R + 1];
    uint64_t pad;        /* the bits of the last word beyond the width */
    uint64_t *a, *b;     /* the mask, and the result of a step */
    uint64_t *spread;    /* (r_max + 1) rows of spreads for every row */
    uint64_t bytes[256]; /* eight bits to eight bytes of 0 or 255 */
};

int vision_morph_new(int width, int height, int open_k, int close_k, struct vision_morph **ret)
{
    if (width < 1 || height < 1 || open_k < 1 || close_k < 1 || !(open_k & 1) || !(close_k & 1) ||
        open_k / 2 > MAX_R || close_k / 2 > MAX_R) {
        return -EINVAL;
    }
    struct vision_morph *m = calloc(1, sizeof(*m));
    if (!m) {
        return -ENOMEM;
    }
    m->w = width;
    m->h = height;
    m->nw = (width + 63) / 64;
    m->open_r = open_k / 2;
    m->close_r = close_k / 2;
    int rmax = m->open_r > m->close_r ? m->open_r : m->close_r;
    int tail = width % 64;
    m->pad = tail ? ~((UINT64_C(1) << tail) - 1) : 0;
    /* OpenCV's getStructuringElement(MORPH_ELLIPSE): row dy spans c * sqrt(1 - dy^2 / r^2)
     * either side, rounded to nearest (even on a tie, as cvRound). */
    const int r = m->close_r;
    for (int dy = -r; dy <= r; dy++) {
        double inv = r ? 1.0 / ((double)r * r) : 0;
        m->ell[dy + r] = (int)lrint((double)r * sqrt((double)(r * r - dy * dy) * inv));
    }
    for (int v = 0; v < 256; v++) {
        uint8_t px[8];
        for (int i = 0; i < 8; i++) {
            px[i] = (uint8_t)(0 - ((v >> i) & 1));
        }
        memcpy(&m->bytes[v], px, sizeof(px));
    }
    for (int dy = -m->open_r; dy <= m->open_r; dy++) {
        m->sq[dy + m->open_r] = m->open_r;
    }
    size_t n = (size_t)m->nw * (size_t)height;
    m->a = malloc(n * sizeof(uint64_t));
    m->b = malloc(n * sizeof(uint64_t));
    m->spread = malloc(n * (size_t)(rmax + 1) * sizeof(uint64_t));
    if (!m->a || !m->b || !m->spread) {
        vision_morph_free(m);
        return -ENOMEM;
    }
    *ret = m;
    return 0;
}

void vision_morph_free(struct vision_morph *m)
{
    if (!m) {
        return;
    }
    free(m->a);
    free(m->b);
    free(m->spread);
    free(m);
}

/* Bytes above 200 to bits: bit i of a word is pixel 64 k + i. */
static void pack(const struct vision_morph *m, const uint8_t *mask, uint64_t *bits)
{
    const uint64_t low7 = UINT64_C(0x7f7f7f7f7f7f7f7f), high = UINT64_C(0x8080808080808080);
    const uint64_t add = UINT64_C(0x3737373737373737); /* 55: 73 + 55 = 128 */
    const uint64_t gather = UINT64_C(0x0102040810204080);
    for (int y = 0; y < m->h; y++) {
        const uint8_t *row = mask + (size_t)y * (size_t)m->w;
        uint64_t *out = bits + (size_t)y * (size_t)m->nw;
        memset(out, 0, (size_t)m->nw * sizeof(uint64_t));
        int x = 0;
        for (; x + 8 <= m->w; x += 8) {
            uint64_t v;
            memcpy(&v, row + x, sizeof(v));
            /* A byte is above 200 when its top bit is set and its low seven bits are 73 or
             * more (their sum with 55 carries into the top bit, never into the next byte). */
            uint64_t above = ((v & low7) + add) & v & high;
            uint64_t byte = ((above >> 7) * gather) >> 56;
            out[x / 64] |= byte << (x % 64);
        }
        for (; x < m->w; x++) {
            out[x / 64] |= (uint64_t)(row[x] > 200) << (x % 64);
        }
    }
}

static void unpack(const struct vision_morph *m, const uint64_t *bits, uint8_t *mask)
{
    for (int y = 0; y < m->h; y++) {
        const uint64_t *in = bits + (size_t)y * (size_t)m->nw;
        uint8_t *row = mask + (size_t)y * (size_t)m->w;
        int x = 0;
        for (; x + 8 <= m->w; x += 8) {
            memcpy(row + x, &m->bytes[(in[x / 64] >> (x % 64)) & 0xff], 8);
        }
        for (; x < m->w; x++) {
            row[x] = (uint8_t)(0 - ((in[x / 64] >> (x % 64)) & 1));
        }
    }
}

/* Every row spread sideways by 0..rmax pixels: spread[r] = the row ORed with its neighbours
 * up to r pixels away, outside the row being background; the source taken as it is, or
 * inverted (flip: all ones). */
static void spreads(struct vision_morph *m, const uint64_t *src, int rmax, uint64_t flip)
{
    const int nw = m->nw;
    const size_t plane = (size_t)nw * (size_t)m->h;
    for (int y = 0; y < m->h; y++) {
        const uint64_t *in = src + (size_t)y * (size_t)nw;
        uint64_t *s0 = m->spread + (size_t)y * (size_t)nw;
        for (int k = 0; k < nw; k++) {
            s0[k] = in[k] ^ flip;
        }
        s0[nw - 1] &= ~m->pad;
        for (int r = 1; r <= rmax; r++) {
            const uint64_t *p = s0 + (size_t)(r - 1) * plane;
            uint64_t *q = s0 + (size_t)r * plane;
            uint64_t carry = 0; /* the bit left of this word */
            for (int k = 0; k < nw; k++) {
                uint64_t next = k + 1 < nw ? p[k + 1] : 0;
                q[k] = p[k] | (p[k] << 1) | carry | (p[k] >> 1) | (next << 63);
                carry = p[k] >> 63;
            }
            q[nw - 1] &= ~m->pad;
        }
    }
}

/*
 * dst = src eroded or dilated by the kernel whose row dy spans half[dy + r] either side. An
 * erosion is the inverse of the dilation of the inverse (outside: foreground for the one is
 * background for the other), so one loop of ORs does both.
 */
static void apply(struct vision_morph *m,
                  const uint64_t *src,
                  uint64_t *dst,
                  const int *half,
                  int r,
                  bool erode)
{
    int rmax = 0;
    for (int i = 0; i <= 2 * r; i++) {
        rmax = half[i] > rmax ? half[i] : rmax;
    }
    const uint64_t flip = erode ? UINT64_MAX : 0;
    spreads(m, src, rmax, flip);
    const int nw = m->nw;
    const size_t plane = (size_t)nw * (size_t)m->h;
    for (int y = 0; y < m->h; y++) {
        uint64_t *out = dst + (size_t)y * (size_t)nw;
        int y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= m->h ? m->h - 1 : y + r;
        const uint64_t *s = m->spread + (size_t)half[y0 - y + r] * plane + (size_t)y0 * (size_t)nw;
        for (int k = 0; k < nw; k++) {
            out[k] = s[k];
        }
        for (int yy = y0 + 1; yy <= y1; yy++) {
            s = m->spread + (size_t)half[yy - y + r] * plane + (size_t)yy * (size_t)nw;
            for (int k = 0; k < nw; k++) {
                out[k] |= s[k];
            }
        }
        for (int k = 0; k < nw; k++) {
            out[k] ^= flip;
        }
        out[nw - 1] &= ~m->pad;
    }
}

void vision_morph_clean(struct vision_morph *m, uint8_t *mask)
{
    pack(m, mask, m->a);
    if (m->open_r > 0) {
        apply(m, m->a, m->b, m->sq, m->open_r, true);
        apply(m, m->b, m->a, m->sq, m->open_r, false);
    }
    if (m->close_r > 0) {
        apply(m, m->a, m->b, m->ell, m->close_r, false);
        apply(m, m->b, m->a, m->ell, m->close_r, true);
    }
    unpack(m, m->a, mask);
}
