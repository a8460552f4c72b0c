/*
 * image.h: decoding photos into pixel planes, and resampling them.
 *
 * JPEG (libjpeg-turbo) and PNG (libpng) in memory become 8-bit planes:
 * grey-scale always, RGB when asked. EXIF orientation is applied so the
 * picture is the way a person sees it. Images over a pixel limit are
 * refused from their header, before any large allocation.
 */
#ifndef ANPR_IMAGE_H
#define ANPR_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct image {
    int w, h;
    int channels;      /* 1 (grey) or 3 (RGB, interleaved) */
    uint8_t *px;       /* w * h * channels bytes, rows packed */
} image;

/*
 * Decodes a JPEG or PNG (told apart by content, not name). channels is 1
 * or 3. If scale_denom_max > 1 a JPEG may be decoded at 1/2, 1/4 or 1/8
 * scale provided the result is still at least min_w x min_h; *scale_out
 * receives the denominator used (1 if none). Returns 0 (ANPR_OK) or an
 * anpr_code with a message in err.
 */
int image_decode(const void *data, size_t len, int channels, uint64_t max_pixels,
                 int scale_denom_max, int min_w, int min_h, int *scale_out,
                 image *out, char *err, size_t errlen);

void image_free(image *im);

/* Reads a whole file (or standard input for "-") into a malloc'd buffer,
 * refusing files larger than max_bytes. Returns 0 or an anpr_code. */
int image_read_file(const char *path, size_t max_bytes, uint8_t **data,
                    size_t *len, char *err, size_t errlen);

/*
 * Samples the quadrilateral q (TL, TR, BR, BL in src pixels) of a grey plane
 * into a dst_w x dst_h float plane with values in [0,1], bilinear, by the
 * homography that maps the destination rectangle onto q.
 */
void image_warp_quad(const uint8_t *src, int sw, int sh, int sstride,
                     const float q[4][2], float *dst, int dst_w, int dst_h);

/* Area-averaging resize of a grey plane into a float plane in [0,1]. */
void image_resize_gray(const uint8_t *src, int sw, int sh, int sstride,
                       float *dst, int dw, int dh);

#endif
