/*
 * image.h: decoding photos into pixel planes, and resampling them.
 *
 * JPEG (libjpeg-turbo) and PNG (libpng) in memory become 8-bit planes:
 * grey-scale always, RGB when asked. EXIF orientation is applied so the
 * picture is the way a person sees it. Images over a pixel limit are
 * refused from their header, before any large allocation. Decoding is
 * meant for hostile input: any defect gives an error code and a one-line
 * message, never a crash and never output on stderr.
 */
#ifndef ANPR_IMAGE_H
#define ANPR_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* What a max_pixels of 0 stands for; the same default as anpr_options. */
#define IMAGE_DEFAULT_MAX_PIXELS 50000000u

typedef struct image {
    int w, h;
    int channels;      /* 1 (grey) or 3 (RGB, interleaved) */
    uint8_t *px;       /* w * h * channels bytes, rows packed */
} image;

/*
 * Decodes a JPEG or PNG (told apart by content, not name). channels is 1
 * or 3; grey is BT.601 luma. Alpha is dropped (the colour under it kept).
 * Images with more than max_pixels pixels (0: IMAGE_DEFAULT_MAX_PIXELS)
 * give ANPR_ERR_TOO_LARGE. If scale_denom_max > 1 a JPEG may be decoded
 * at 1/2, 1/4 or 1/8 scale (the largest reduction allowed) provided the
 * result, as oriented, is still at least min_w x min_h; *scale_out (may
 * be NULL) receives the denominator used, 1 if none. On success *out owns
 * the pixels (free with image_free). Returns 0 (ANPR_OK) or an anpr_code
 * with a message in err (err may be NULL); *out is then empty.
 */
int image_decode(const void *data, size_t len, int channels, uint64_t max_pixels,
                 int scale_denom_max, int min_w, int min_h, int *scale_out,
                 image *out, char *err, size_t errlen);

/* Frees the pixels and empties *im; safe on an empty or freed image. */
void image_free(image *im);

/*
 * Reads a whole file (or standard input for "-") into a malloc'd buffer,
 * refusing input larger than max_bytes (ANPR_ERR_TOO_LARGE). Failures to
 * open or read give ANPR_ERR_IO with the system's reason. An empty file
 * is read successfully with *len 0 (and a buffer to free).
 */
int image_read_file(const char *path, size_t max_bytes, uint8_t **data,
                    size_t *len, char *err, size_t errlen);

/*
 * Samples the quadrilateral q (TL, TR, BR, BL in src pixels) of a grey plane
 * into a dst_w x dst_h float plane with values in [0,1], bilinear, by the
 * homography that maps the destination rectangle onto q. Coordinates are
 * continuous: pixel (x, y) covers [x, x+1) x [y, y+1), so the quad
 * (0,0) (sw,0) (sw,sh) (0,sh) is the whole plane. Samples outside the
 * plane take the nearest edge pixel; a degenerate quad (or NaN corners)
 * gives edge values, never a fault. All sizes must be positive.
 * Allocates nothing.
 */
void image_warp_quad(const uint8_t *src, int sw, int sh, int sstride,
                     const float q[4][2], float *dst, int dst_w, int dst_h);

/* The point at (s, t) of quad q under that same homography: (0, 0) is its
 * TL corner, (1, 1) its BR, and s, t may lie outside [0, 1]. */
void image_quad_point(const float q[4][2], float s, float t, float out[2]);

/* The part of q's own bilinear map from u0 to u1 across and v0 to v1 down
 * ((0, 0) its TL corner, (1, 1) its BR; the bounds may lie outside
 * [0, 1], to extend it), written to out as a quad TL, TR, BR, BL. */
void image_quad_part(const float q[4][2], float u0, float u1, float v0, float v1,
                     float out[4][2]);

/*
 * Samples quad q of a grey plane into a dw x dh window of dst (rows
 * dst_stride floats apart), values in [0,1], as the networks were trained:
 * an upright rectangle on whole pixels is an exact area resize; any other
 * quad is sampled at up to IMAGE_MAX_SUPER times finer along each axis, as
 * far as scratch (scratch_len floats, at least dw * dh) holds, and
 * box-averaged down, since plain bilinear sampling of a large quad would
 * alias. Allocates nothing.
 */
#define IMAGE_MAX_SUPER 4
void image_warp_quad_area(const uint8_t *src, int sw, int sh, int sstride,
                          const float q[4][2], float *scratch, size_t scratch_len,
                          float *dst, int dst_stride, int dw, int dh);

/* Shifts and scales n values to zero mean and unit deviation (plus 0.02,
 * so a flat window stays finite): the networks' input normalisation,
 * rec_data.prepare() in training. */
void image_standardise(float *x, int n);

/*
 * Resizes a grey plane into a dw x dh float plane in [0,1], rows packed.
 * Along each axis that shrinks, each output pixel is the exact area
 * average of the source pixels it covers; along an axis that grows it is
 * bilinear (pixel centres aligned, as image_warp_quad). Exact area
 * averaging differs from PIL's Image.BOX where the ratio is not whole:
 * PIL counts whole pixels whose centres fall inside. All sizes must be
 * positive. Allocates nothing.
 */
void image_resize_gray(const uint8_t *src, int sw, int sh, int sstride,
                       float *dst, int dw, int dh);

#endif
