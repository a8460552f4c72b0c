/*
 * exif.c: the EXIF orientation tag, read and applied.
 *
 * Phones store pictures the way the sensor was held and note the turn
 * needed in tag 0x0112 of the first TIFF directory (in a JPEG's APP1
 * segment, or a PNG's eXIf chunk). The structure is
 * attacker-controlled, so every offset is checked against its length and
 * anything odd means "upright".
 */
#include "image_codec.h"

#include "anpr.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define EXIF_TAG_ORIENTATION 0x0112
#define TIFF_TYPE_SHORT 3

static unsigned rd16(const uint8_t *p, int little)
{
    return little ? (unsigned)p[0] | (unsigned)p[1] << 8
                  : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static uint32_t rd32(const uint8_t *p, int little)
{
    return little ? (uint32_t)rd16(p, 1) | (uint32_t)rd16(p + 2, 1) << 16
                  : (uint32_t)rd16(p, 0) << 16 | (uint32_t)rd16(p + 2, 0);
}

int image_exif_orientation(const uint8_t *tiff, size_t n)
{
    if (n < 8)
        return 1;
    int little;
    if (tiff[0] == 'I' && tiff[1] == 'I')
        little = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M')
        little = 0;
    else
        return 1;
    if (rd16(tiff + 2, little) != 42)
        return 1;
    uint32_t ifd = rd32(tiff + 4, little);
    if (ifd < 8 || ifd > n - 2)
        return 1;
    /* A directory cut short by the data's end is read as far as it goes. */
    size_t count = rd16(tiff + ifd, little);
    size_t room = (n - ifd - 2) / 12;
    if (count > room)
        count = room;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *e = tiff + ifd + 2 + 12 * i;
        if (rd16(e, little) != EXIF_TAG_ORIENTATION)
            continue;
        if (rd16(e + 2, little) != TIFF_TYPE_SHORT || rd32(e + 4, little) < 1)
            return 1;
        unsigned v = rd16(e + 8, little);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

int image_orient(image *im, int orientation, char *err, size_t errlen)
{
    if (orientation < 2 || orientation > 8)
        return ANPR_OK;
    /*
     * Where output pixel (0, 0) comes from (first or last source column and
     * row) and how far a step along an output row and down an output
     * column moves in the source, straight from the EXIF definitions.
     */
    static const struct { int last_x, last_y, xdx, xdy, ydx, ydy; } map[9] = {
        [2] = {1, 0, -1, 0, 0, 1}, [3] = {1, 1, -1, 0, 0, -1},
        [4] = {0, 1, 1, 0, 0, -1}, [5] = {0, 0, 0, 1, 1, 0},
        [6] = {0, 1, 0, -1, 1, 0}, [7] = {1, 1, 0, -1, -1, 0},
        [8] = {1, 0, 0, 1, -1, 0},
    };
    ptrdiff_t w = im->w, h = im->h;
    ptrdiff_t base = map[orientation].last_x * (w - 1) +
                     map[orientation].last_y * (h - 1) * w;
    ptrdiff_t step_x = map[orientation].xdx + map[orientation].xdy * w;
    ptrdiff_t step_y = map[orientation].ydx + map[orientation].ydy * w;
    int transposed = image_orientation_transposes(orientation);
    int ow = transposed ? im->h : im->w, oh = transposed ? im->w : im->h;
    int c = im->channels;
    uint8_t *dst = malloc((size_t)ow * (size_t)oh * (size_t)c);
    if (!dst)
        return image_fail(err, errlen, ANPR_ERR_NOMEM,
                          "out of memory turning a %dx%d image", im->w, im->h);
    /*
     * When rows become columns, in 64 x 64 tiles, so the source lines a
     * tile reads stay in cache while it is written (three times faster
     * on a 12 MP photo); flips go a whole row at a time.
     */
    int tile = transposed ? 64 : (ow > oh ? ow : oh);
    const uint8_t *src = im->px;
    for (int y0 = 0; y0 < oh; y0 += tile)
        for (int x0 = 0; x0 < ow; x0 += tile) {
            int y1 = oh - y0 < tile ? oh : y0 + tile;
            int x1 = ow - x0 < tile ? ow : x0 + tile;
            for (int y = y0; y < y1; y++) {
                uint8_t *o = dst + ((size_t)y * (size_t)ow + (size_t)x0) * (size_t)c;
                ptrdiff_t i = base + y * step_y + x0 * step_x;
                if (c == 1) {
                    for (int x = x0; x < x1; x++, i += step_x)
                        *o++ = src[i];
                } else {
                    for (int x = x0; x < x1; x++, i += step_x) {
                        *o++ = src[3 * i];
                        *o++ = src[3 * i + 1];
                        *o++ = src[3 * i + 2];
                    }
                }
            }
        }
    free(im->px);
    im->px = dst;
    im->w = ow;
    im->h = oh;
    return ANPR_OK;
}
