/*
 * detect_bench.c: the plate detector alone, as the library runs it.
 *
 *   detect_bench [--model FILE] [--repeat N] [--verbose] [DIR]
 *
 * DIR (default ../shared/data/photos-dev) holds labels.csv with lines
 * `image,country,plate,x,y,w,h`. Each photo is decoded to grey (not
 * timed), then detect_run() finds plates in it (timed, N times, the median
 * kept). A labelled plate is found when a box's axis-aligned bounds reach
 * IoU >= 0.5 with the label; every other box is a false positive. Prints
 * recall per country and overall, false positives per image, and median
 * milliseconds per photo overall and for the 1280x720 ones. Run it from
 * the repository root, in a Release build, on an otherwise idle core.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect.h"
#include "image.h"
#include "nn.h"
#include "bench.h"

#define MAX_PHOTOS 4096

extern const unsigned char anpr_model_detector[], anpr_model_detector_end[];

static nn_net *load(const char *path, char *err, size_t errlen)
{
    if (!path)
        return nn_load(anpr_model_detector,
                       (size_t)(anpr_model_detector_end - anpr_model_detector), err, errlen);
    uint8_t *b;
    size_t len;
    if (image_read_file(path, 64u << 20, &b, &len, err, errlen) != 0)
        return NULL;
    nn_net *net = nn_load(b, len, err, errlen);
    free(b);
    return net;
}

int main(int argc, char **argv)
{
    const char *dir = "../shared/data/photos-dev", *model = NULL;
    int repeat = 3, verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--verbose"))
            verbose = 1;
        else if (argv[i][0] != '-')
            dir = argv[i];
        else {
            fprintf(stderr, "usage: detect_bench [--model FILE] [--repeat N] [--verbose] [DIR]\n");
            return 2;
        }
    }
    if (repeat < 1)
        repeat = 1;
    char err[256], path[4096], line[1024];
    nn_net *net = load(model, err, sizeof err);
    if (!net || detect_check(net, err, sizeof err) != 0) {
        fprintf(stderr, "detect_bench: detector: %s\n", net ? err : err[0] ? err : "none built in");
        return 1;
    }
    snprintf(path, sizeof path, "%s/labels.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    static double ms_all[MAX_PHOTOS], ms_720[MAX_PHOTOS];
    int n = 0, n720 = 0, found = 0, fp = 0, n_br = 0, f_br = 0, errors = 0;
    double t[64];
    detect_work *w = detect_work_new();
    detect_box b[32];
    while (fgets(line, sizeof line, f) && n < MAX_PHOTOS) {
        char name[512], country[16], plate[32];
        float x, y, bw, bh;
        if (sscanf(line, "%511[^,],%15[^,],%31[^,],%f,%f,%f,%f", name, country, plate, &x, &y, &bw, &bh) != 7)
            continue;   /* the header */
        if (x < 0)      /* one label starts left of the photo */
            bw += x, x = 0;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        uint8_t *data;
        size_t len;
        image im = {0};
        if (image_read_file(path, 64u << 20, &data, &len, err, sizeof err) != 0
            || image_decode(data, len, 1, 0, 1, 0, 0, NULL, &im, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", name, err);
            errors++;
            continue;
        }
        free(data);
        int nb = 0, reps = repeat < 64 ? repeat : 64;
        for (int r = 0; r < reps; r++) {
            double t0 = bench_now_ms();
            nb = detect_run(net, w, im.px, im.w, im.h, im.w, b, 32, err, sizeof err);
            t[r] = bench_now_ms() - t0;
        }
        if (nb < 0) {
            fprintf(stderr, "%s: %s\n", name, err);
            errors++;
            image_free(&im);
            continue;
        }
        double ms = bench_median(t, reps);
        ms_all[n++] = ms;
        if (im.w == 1280 && im.h == 720)
            ms_720[n720++] = ms;
        int hit = 0;
        float best = 0;
        for (int i = 0; i < nb; i++) {
            float v = bench_iou(b[i].q, x, y, bw, bh);
            best = fmaxf(best, v);
            if (v >= 0.5f && !hit)
                hit = 1;
            else
                fp++;
        }
        found += hit;
        if (!strcmp(country, "br"))
            n_br++, f_br += hit;
        if (verbose || !hit)
            printf("%-50s %dx%d %s boxes %d best IoU %.2f %.1f ms\n", name, im.w, im.h,
                   hit ? "found " : "MISSED", nb, best, ms);
        image_free(&im);
    }
    fclose(f);
    if (n == 0) {
        fprintf(stderr, "detect_bench: no photos read\n");
        return 1;
    }
    printf("photos %d (errors %d)\n", n, errors);
    printf("recall: br %d/%d, us %d/%d, all %d/%d = %.1f%%\n", f_br, n_br, found - f_br,
           n - n_br, found, n, 100.0 * found / n);
    printf("false positives per photo: %.2f (unlabelled plates on other cars count here)\n",
           (double)fp / n);
    printf("median ms per photo (detection only, one core): all %.2f, 1280x720 %.2f (%d photos)\n",
           bench_median(ms_all, n), bench_median(ms_720, n720), n720);
    detect_work_free(w);
    nn_free(net);
    return 0;
}
