/*
 * image_jpeg.c: JPEG decoding through libjpeg-turbo.
 *
 * libjpeg reports errors by calling error_exit and expects it not to
 * return; ours longjmps back here with the message kept, and its warnings
 * are swallowed rather than printed, so the library stays silent. Grey,
 * YCbCr, RGB, CMYK and YCCK files, baseline or progressive, are handled;
 * DCT scaling gives cheap 1/2, 1/4 and 1/8 previews.
 */
#include "image_codec.h"

#include "anpr.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

/*
 * A progressive file may hold any number of scans, each a full pass over
 * the coefficients: a tiny hostile file could cost minutes. Real encoders
 * write about ten; libjpeg-turbo's own tools stop at 500.
 */
#define JPEG_MAX_SCANS 500

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;   /* first, so libjpeg's pointer is ours */
    jmp_buf jump;
    int code;                    /* anpr_code to return */
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void fail_to(j_common_ptr c, int code, const char *msg)
{
    jpeg_err *e = (jpeg_err *)c->err;
    e->code = code;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jump, 1);
}

static void on_error(j_common_ptr c)
{
    char text[JMSG_LENGTH_MAX], msg[JMSG_LENGTH_MAX + 32];
    c->err->format_message(c, text);
    switch (c->err->msg_code) {
    case JERR_IMAGE_TOO_BIG:
        snprintf(msg, sizeof msg, "JPEG too large: %s", text);
        fail_to(c, ANPR_ERR_TOO_LARGE, msg);
        break;
    case JERR_BAD_PRECISION:        /* 12- or 16-bit samples */
    case JERR_SOF_UNSUPPORTED:      /* lossless and other rare processes */
        snprintf(msg, sizeof msg, "JPEG kind not supported: %s", text);
        fail_to(c, ANPR_ERR_UNSUPPORTED, msg);
        break;
    }
    snprintf(msg, sizeof msg, "corrupt JPEG data: %s", text);
    fail_to(c, ANPR_ERR_IMAGE, msg);
}

/*
 * Level -1 is a warning about damaged data, which libjpeg decodes past
 * (grey blocks) and so do we: cameras write small defects. Running out of
 * data is the exception, since the rest of the picture would be invented.
 * Levels >= 0 are trace messages. Nothing is printed either way.
 */
static void on_message(j_common_ptr c, int level)
{
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF)
        fail_to(c, ANPR_ERR_IMAGE, "truncated JPEG data");
}

static void on_progress(j_common_ptr c)
{
    if (c->is_decompressor &&
        ((j_decompress_ptr)c)->input_scan_number > JPEG_MAX_SCANS)
        fail_to(c, ANPR_ERR_IMAGE, "corrupt JPEG data: over 500 scans");
}

/* The orientation from the first APP1 segment that is EXIF, else 1. */
static int exif_orientation(j_decompress_ptr d)
{
    for (jpeg_saved_marker_ptr m = d->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            memcmp(m->data, "Exif\0\0", 6) == 0)
            return image_exif_orientation(m->data + 6, m->data_length - 6);
    return 1;
}

/* The largest permitted reduction whose output, as shown, is big enough. */
static int pick_scale(j_decompress_ptr d, int denom_max, int min_w, int min_h,
                      int transposed)
{
    for (int denom = 8; denom > 1; denom /= 2) {
        if (denom > denom_max)
            continue;
        d->scale_num = 1;
        d->scale_denom = (unsigned)denom;
        jpeg_calc_output_dimensions(d);
        long w = (long)d->output_width, h = (long)d->output_height;
        if (transposed) {
            long t = w;
            w = h;
            h = t;
        }
        if (w >= min_w && h >= min_h)
            return denom;
    }
    d->scale_num = 1;
    d->scale_denom = 1;
    return 1;
}

/*
 * CMYK to RGB by the usual multiply (no colour profile). Adobe's encoders
 * store the channels inverted and flag that with their APP14 marker.
 */
static void cmyk_row(const JSAMPLE *in, uint8_t *out, int w, int channels,
                     int inverted)
{
    for (int x = 0; x < w; x++, in += 4) {
        unsigned c = in[0], m = in[1], y = in[2], k = in[3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        unsigned r = (c * k + 127) / 255, g = (m * k + 127) / 255,
                 b = (y * k + 127) / 255;
        if (channels == 1) {
            *out++ = image_luma(r, g, b);
        } else {
            *out++ = (uint8_t)r;
            *out++ = (uint8_t)g;
            *out++ = (uint8_t)b;
        }
    }
}

int image_jpeg_decode(const uint8_t *data, size_t len, int channels,
                      uint64_t max_pixels, int scale_denom_max, int min_w,
                      int min_h, int *scale_out, image *out,
                      char *err, size_t errlen)
{
    struct jpeg_decompress_struct d;
    jpeg_err je;
    struct jpeg_progress_mgr progress = {.progress_monitor = on_progress};
    /* Changed after setjmp and needed after longjmp, hence volatile. */
    uint8_t *volatile px = NULL;
    JSAMPLE *volatile cmyk = NULL;

    d.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = on_error;
    je.pub.emit_message = on_message;
    if (setjmp(je.jump)) {
        jpeg_destroy_decompress(&d);
        free(px);
        free(cmyk);
        return image_fail(err, errlen, je.code, "%s", je.msg);
    }
    jpeg_create_decompress(&d);
    d.progress = &progress;
    jpeg_save_markers(&d, JPEG_APP0 + 1, 0xffff);
    jpeg_mem_src(&d, data, (unsigned long)len);
    jpeg_read_header(&d, TRUE);

    int rc = image_check_size(d.image_width, d.image_height, max_pixels,
                              err, errlen);
    if (rc != ANPR_OK) {
        jpeg_destroy_decompress(&d);
        return rc;
    }
    int orientation = exif_orientation(&d);
    int is_cmyk = d.jpeg_color_space == JCS_CMYK ||
                  d.jpeg_color_space == JCS_YCCK;
    if (is_cmyk)
        d.out_color_space = JCS_CMYK;
    else if (d.jpeg_color_space == JCS_GRAYSCALE ||
             d.jpeg_color_space == JCS_YCbCr || d.jpeg_color_space == JCS_RGB)
        d.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    else
        fail_to((j_common_ptr)&d, ANPR_ERR_UNSUPPORTED,
                "JPEG colour space not supported (not grey, RGB or CMYK)");
    int scale = pick_scale(&d, scale_denom_max, min_w, min_h,
                           image_orientation_transposes(orientation));
    jpeg_start_decompress(&d);

    image im = {0};
    rc = image_alloc(&im, d.output_width, d.output_height, channels,
                     err, errlen);
    if (rc != ANPR_OK) {
        jpeg_destroy_decompress(&d);
        return rc;
    }
    px = im.px;
    if (is_cmyk && !(cmyk = malloc((size_t)d.output_width * 4)))
        fail_to((j_common_ptr)&d, ANPR_ERR_NOMEM, "out of memory");
    size_t row_bytes = (size_t)im.w * (size_t)channels;
    while (d.output_scanline < d.output_height) {
        uint8_t *row = px + (size_t)d.output_scanline * row_bytes;
        JSAMPROW target = is_cmyk ? cmyk : row;
        /* A memory source never suspends: each call delivers its row or
         * longjmps. */
        jpeg_read_scanlines(&d, &target, 1);
        if (is_cmyk)
            cmyk_row(cmyk, row, im.w, channels, d.saw_Adobe_marker);
    }
    /*
     * No jpeg_finish_decompress: every pixel has been read, and it would
     * only look for the end marker, which some writers leave off.
     */
    jpeg_destroy_decompress(&d);
    free(cmyk);
    rc = image_orient(&im, orientation, err, errlen);
    if (rc != ANPR_OK) {
        image_free(&im);
        return rc;
    }
    if (scale_out)
        *scale_out = scale;
    *out = im;
    return ANPR_OK;
}
