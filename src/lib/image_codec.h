/*
 * image_codec.h: what the image decoders share, private to the image module.
 *
 * image.c tells formats apart and calls one decoder; the decoders use the
 * size checks, allocation and error formatting here so every format
 * refuses and reports in the same words.
 */
#ifndef ANPR_IMAGE_CODEC_H
#define ANPR_IMAGE_CODEC_H

#include "image.h"

#include <stdarg.h>

/* Writes a message into err (if any) and returns code, for one-line fails. */
int image_fail(char *err, size_t errlen, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/*
 * Checks a size read from a header against max_pixels (already resolved,
 * never 0). Called before a decoder commits to any large allocation.
 */
int image_check_size(uint64_t w, uint64_t h, uint64_t max_pixels,
                     char *err, size_t errlen);

/* Allocates im->px for w x h x channels, guarding the multiplication. */
int image_alloc(image *im, uint64_t w, uint64_t h, int channels,
                char *err, size_t errlen);

/* BT.601 luma with the integer weights libjpeg uses, so grey from either
 * codec matches. */
static inline uint8_t image_luma(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((19595u * r + 38470u * g + 7471u * b + 32768u) >> 16);
}

int image_jpeg_decode(const uint8_t *data, size_t len, int channels,
                      uint64_t max_pixels, int scale_denom_max, int min_w,
                      int min_h, int *scale_out, image *out,
                      char *err, size_t errlen);

int image_png_decode(const uint8_t *data, size_t len, int channels,
                     uint64_t max_pixels, image *out, char *err, size_t errlen);

/*
 * The EXIF orientation (1..8) in a TIFF structure of EXIF data (what
 * follows "Exif\0\0" in a JPEG's APP1 segment, or a PNG's eXIf chunk),
 * or 1 when it is absent, malformed or out of range.
 */
int image_exif_orientation(const uint8_t *tiff, size_t len);

/* True when an orientation swaps width and height (5..8). */
static inline int image_orientation_transposes(int orientation)
{
    return orientation >= 5 && orientation <= 8;
}

/* Turns and flips im in place so orientation o becomes 1 (upright). */
int image_orient(image *im, int orientation, char *err, size_t errlen);

#endif
