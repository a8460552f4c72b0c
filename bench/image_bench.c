/*
 * image_bench.c: speed of decoding and resampling, as the reader uses them.
 *
 *   image_bench [--repeat N] [DIR]
 *
 * Every JPEG in DIR (default ../shared/data/photos-dev) is decoded to grey
 * at full, 1/2, 1/4 and 1/8 scale; then each full-size grey plane is
 * resized to fit 512 x 512 (the detector's input) and a plate-sized quad
 * is warped to 512 x 128 (the recogniser's 4x supersampled crop). Prints
 * median milliseconds per photo for each, decode ratios against full
 * scale, and resampling against a plain sum over the same source bytes
 * (the least any area average must read). Run from the repository root,
 * in a Release build, on an otherwise idle core.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image.h"
#include "bench.h"

#define MAX_PHOTOS 1024

/* The fastest of `repeat` runs of one step, so noise from the shared
 * machine inflates no figure. */
#define BEST_OF(repeat, best, stmt)                 \
    do {                                            \
        best = INFINITY;                            \
        for (int r_ = 0; r_ < (repeat); r_++) {     \
            double t0_ = bench_now_ms();                  \
            stmt;                                   \
            best = fmin(best, bench_now_ms() - t0_);      \
        }                                           \
    } while (0)

static volatile unsigned sink;

int main(int argc, char **argv)
{
    const char *dir = "../shared/data/photos-dev";
    int repeat = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (argv[i][0] != '-')
            dir = argv[i];
        else {
            fprintf(stderr, "usage: image_bench [--repeat N] [DIR]\n");
            return 2;
        }
    }
    if (repeat < 1)
        repeat = 1;
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 1;
    }
    static double dec[4][MAX_PHOTOS], rsz[MAX_PHOTOS], wrp[MAX_PHOTOS], sum[MAX_PHOTOS];
    static float out[512 * 512];
    double megapixels = 0;
    int n = 0;
    char path[4096], err[256];
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_PHOTOS) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".jpg") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        uint8_t *data;
        size_t size;
        if (image_read_file(path, 64u << 20, &data, &size, err, sizeof err) != 0) {
            fprintf(stderr, "image_bench: %s\n", err);
            continue;
        }
        /* Smallest scale first, so the full-size plane is left for resampling. */
        image im = {0};
        int ok = 1;
        for (int k = 3; k >= 0 && ok; k--)
            BEST_OF(repeat, dec[k][n],
                    image_free(&im);
                    ok = image_decode(data, size, 1, 0, 1 << k, 1, 1, NULL, &im,
                                      err, sizeof err) == 0);
        free(data);
        if (!ok) {
            fprintf(stderr, "image_bench: %s: %s\n", path, err);
            continue;
        }
        megapixels += im.w * (double)im.h / 1e6;

        double s = fmin(512.0 / im.w, 512.0 / im.h);
        int dw = (int)floor(im.w * s + 0.5), dh = (int)floor(im.h * s + 0.5);
        BEST_OF(repeat, rsz[n], image_resize_gray(im.px, im.w, im.h, im.w, out, dw, dh));
        BEST_OF(repeat, sum[n], {
            unsigned acc = 0;
            for (size_t i = 0; i < (size_t)im.w * im.h; i++)
                acc += im.px[i];
            sink = acc;
        });
        /* A tilted plate about a quarter of the photo wide, mid-frame. */
        float cx = im.w / 2.0f, cy = im.h / 2.0f, pw = im.w / 8.0f, ph = pw / 4;
        const float q[4][2] = {{cx - pw, cy - ph}, {cx + pw, cy - ph + 6},
                               {cx + pw - 3, cy + ph + 6}, {cx - pw + 2, cy + ph}};
        BEST_OF(repeat, wrp[n], image_warp_quad(im.px, im.w, im.h, im.w, q, out, 512, 128));
        image_free(&im);
        n++;
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "image_bench: no JPEG decoded in %s\n", dir);
        return 1;
    }
    printf("image_bench: %d JPEGs from %s, %.2f MP on average, best of %d\n", n, dir,
           megapixels / n, repeat);
    double full = bench_median(dec[0], n);
    printf("decode to grey, full scale   median %7.2f ms\n", full);
    for (int k = 1; k < 4; k++) {
        double m = bench_median(dec[k], n);
        printf("decode to grey, 1/%d scale    median %7.2f ms  (%.2fx full)\n", 1 << k, m,
               m / full);
    }
    double base = bench_median(sum, n), r = bench_median(rsz, n), w = bench_median(wrp, n);
    printf("sum of all grey bytes        median %7.3f ms  (baseline)\n", base);
    printf("resize to fit 512x512        median %7.3f ms  (%.2fx baseline)\n", r, r / base);
    printf("warp quad to 512x128         median %7.3f ms  (%.1f ns per output pixel)\n", w,
           w * 1e6 / (512 * 128));
    return 0;
}
