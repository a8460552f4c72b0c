/*
 * read_bench.c: accuracy and speed of reading, over labelled image lists.
 *
 *   read_bench [-v] [--whole-plate] [--float] [--repeat N] [--threads N]
 *              [--model FILE] [--detector FILE] [--refiner FILE] LIST.csv...
 *
 * Each list line is `path,text,set[,x,y,w,h]`. With --whole-plate and a box,
 * the plate is cut out of the photo by its box first (the decode and cut
 * are not timed); without a box the whole image is the plate. Without
 * --whole-plate the whole photo is read (decode included in the time) and a
 * plate counts as found when a reading's box overlaps the labelled box at
 * IoU >= 0.5, and every other plate it reports is an "other" read: a false
 * plate, or an unlabelled one (the lists label one plate a photo; some
 * photos show more). Prints exact-match top-1, top-5 and top-N (N being
 * all the candidates the engine gives, ANPR_MAX_CANDIDATES) per set and
 * overall, the other reads (all, and those at confidence >= OTHER_SURE),
 * the misses by cause, the median and 90th percentile milliseconds, and the
 * peak memory. With --threads N it then reads every listed file again with
 * N threads sharing one engine and prints the throughput, as wall
 * milliseconds per file. -v also prints each miss, and each other read
 * at OTHER_SURE or more.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "anpr.h"
#include "image.h"
#include "bench.h"

#define MAX_SETS 16
/* Other reads at least this sure are the ones a user would act on. */
#define OTHER_SURE 0.5f

/* Counts per set; the misses by cause: no plate at the label's box
 * (nowhere, or a plate elsewhere reading the right text: a box placed
 * wrong), or a plate there misread (the right text among its candidates,
 * or not). */
typedef struct set_stats {
    char name[32];
    int n, top1, top5, topn, found, errors, other, other_sure;
    int not_found, box_off, misread_topn, misread;
} set_stats;

static set_stats *stats_for(set_stats *s, int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(s[i].name, name))
            return &s[i];
    if (*n == MAX_SETS)
        return &s[MAX_SETS - 1];
    memset(&s[*n], 0, sizeof s[*n]);
    snprintf(s[*n].name, sizeof s[*n].name, "%s", name);
    return &s[(*n)++];
}

typedef struct pool {
    anpr_engine *e;
    char **paths;
    int n, next;
    pthread_mutex_t lock;
} pool;

static void *pool_worker(void *arg)
{
    pool *p = arg;
    anpr_result *r = malloc(sizeof *r);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        int i = p->next++;
        pthread_mutex_unlock(&p->lock);
        if (i >= p->n || !r)
            break;
        anpr_read_file(p->e, p->paths[i], r);
    }
    free(r);
    return NULL;
}

/* Wall milliseconds per file when `threads` threads share the engine. */
static double throughput(anpr_engine *e, char **paths, int n, int threads)
{
    pool p = {.e = e, .paths = paths, .n = n};
    pthread_mutex_init(&p.lock, NULL);
    pthread_t t[64];
    double t0 = bench_now_ms();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, pool_worker, &p);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&p.lock);
    return (bench_now_ms() - t0) / n;
}

int main(int argc, char **argv)
{
    anpr_options opt;
    anpr_options_default(&opt);
    int repeat = 1, first = 1, verbose = 0, threads = 0;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (!strcmp(argv[first], "--whole-plate"))
            opt.whole_plate = 1;
        else if (!strcmp(argv[first], "--repeat") && first + 1 < argc)
            repeat = atoi(argv[++first]);
        else if (!strcmp(argv[first], "--model") && first + 1 < argc)
            opt.recogniser_path = argv[++first];
        else if (!strcmp(argv[first], "--detector") && first + 1 < argc)
            opt.detector_path = argv[++first];
        else if (!strcmp(argv[first], "--refiner") && first + 1 < argc)
            opt.refiner_path = argv[++first];
        else if (!strcmp(argv[first], "--country") && first + 1 < argc)
            opt.country = (anpr_country)anpr_country_parse(argv[++first]);
        else if (!strcmp(argv[first], "--float"))
            opt.precision = ANPR_PRECISION_FLOAT;
        else if (!strcmp(argv[first], "--threads") && first + 1 < argc)
            threads = atoi(argv[++first]);
        else if (!strcmp(argv[first], "-v"))
            verbose = 1;
        else {
            fprintf(stderr, "unknown option %s\n", argv[first]);
            return 2;
        }
    }
    char err[256];
    anpr_engine *e;
    if (anpr_engine_new(&opt, &e, err, sizeof err) != ANPR_OK) {
        fprintf(stderr, "read_bench: %s\n", err);
        return 1;
    }
    set_stats sets[MAX_SETS];
    int nsets = 0, cap = 1024, nt = 0, npaths = 0, nlines = 0;
    double *times = malloc((size_t)cap * sizeof *times);
    char **paths = malloc((size_t)cap * sizeof *paths);
    static anpr_result r;
    for (int f = first; f < argc; f++) {
        FILE *in = fopen(argv[f], "r");
        if (!in) {
            perror(argv[f]);
            return 1;
        }
        char line[4096];
        while (fgets(line, sizeof line, in)) {
            char path[2048], text[64], set[32];
            float bx = 0, by = 0, bw = 0, bh = 0;
            int k = sscanf(line, "%2047[^,],%63[^,],%31[^,\n],%f,%f,%f,%f", path, text, set, &bx, &by, &bw, &bh);
            if (k < 3)
                continue;
            /* Each line adds at most one time and one path. */
            if (nlines++ == cap) {
                cap *= 2;
                times = realloc(times, (size_t)cap * sizeof *times);
                paths = realloc(paths, (size_t)cap * sizeof *paths);
                if (!times || !paths) {
                    fprintf(stderr, "read_bench: out of memory\n");
                    return 1;
                }
            }
            set_stats *s = stats_for(sets, &nsets, set);
            s->n++;
            if (!opt.whole_plate)
                paths[npaths++] = strdup(path);
            anpr_code rc = ANPR_ERR_ARG;
            double ms = 0;
            if (opt.whole_plate && k == 7) {
                uint8_t *data;
                size_t len;
                image im;
                int scale;
                if (image_read_file(path, 1u << 28, &data, &len, err, sizeof err) ||
                    image_decode(data, len, 1, 1ull << 28, 1, 0, 0, &scale, &im, err, sizeof err)) {
                    s->errors++;
                    continue;
                }
                free(data);
                int x0 = bx < 0 ? 0 : (int)bx, y0 = by < 0 ? 0 : (int)by;
                int x1 = (int)(bx + bw) > im.w ? im.w : (int)(bx + bw);
                int y1 = (int)(by + bh) > im.h ? im.h : (int)(by + bh);
                for (int i = 0; i < repeat; i++) {
                    double t0 = bench_now_ms();
                    rc = anpr_read_gray(e, im.px + (size_t)y0 * im.w + x0, x1 - x0, y1 - y0, im.w, &r);
                    ms = bench_now_ms() - t0;
                }
                image_free(&im);
            } else {
                for (int i = 0; i < repeat; i++) {
                    double t0 = bench_now_ms();
                    rc = anpr_read_file(e, path, &r);
                    ms = bench_now_ms() - t0;
                }
            }
            if (rc != ANPR_OK) {
                s->errors++;
                if (verbose)
                    printf("ERROR %s: %s\n", path, r.error);
                continue;
            }
            times[nt++] = ms;
            /* The plate that counts: the labelled one, found by its box in
             * whole photos, else the best reading. */
            const anpr_plate *p = NULL;
            for (int i = 0; i < r.n_plates; i++) {
                if (!p && (opt.whole_plate || k < 7 ||
                           bench_iou((const float(*)[2])r.plates[i].box, bx, by, bw, bh) >= 0.5f)) {
                    p = &r.plates[i];
                } else {
                    s->other++;
                    s->other_sure += r.plates[i].confidence >= OTHER_SURE;
                    if (verbose && r.plates[i].confidence >= OTHER_SURE)
                        printf("OTHER %s %s (%.2f)\n", path, r.plates[i].text,
                               r.plates[i].confidence);
                }
            }
            if (p)
                s->found++;
            int hit1 = p && !strcmp(p->text, text), hit5 = hit1, hitn = hit1;
            for (int i = 0; p && i < p->n_candidates; i++) {
                hitn |= !strcmp(p->candidates[i].text, text);
                hit5 |= i < 5 && hitn;
            }
            s->top1 += hit1;
            s->top5 += hit5;
            s->topn += hitn;
            if (!p) {
                int elsewhere = 0;
                for (int i = 0; i < r.n_plates; i++)
                    elsewhere |= !strcmp(r.plates[i].text, text);
                s->box_off += elsewhere;
                s->not_found += !elsewhere;
            } else if (!hit1) {
                s->misread_topn += hitn;
                s->misread += !hitn;
            }
            if (verbose && !hit1)
                printf("MISS %s want %s got %s (%.2f)%s\n", path, text, p ? p->text : "-",
                       p ? p->confidence : 0.0, hitn ? " [in top-N]" : "");
        }
        fclose(in);
    }
    set_stats all = {.name = "overall"};
    printf("%-14s %6s %8s %8s %8s %8s %6s %6s %6s\n", "set", "n", "top1", "top5", "topN", "found",
           "errors", "other", "sure");
    for (int i = 0; i <= nsets; i++) {
        set_stats *s = i < nsets ? &sets[i] : &all;
        if (i < nsets) {
            all.n += s->n, all.top1 += s->top1, all.top5 += s->top5, all.topn += s->topn;
            all.found += s->found, all.errors += s->errors;
            all.other += s->other, all.other_sure += s->other_sure;
            all.not_found += s->not_found, all.box_off += s->box_off;
            all.misread_topn += s->misread_topn, all.misread += s->misread;
        }
        double n = s->n ? s->n : 1;
        printf("%-14s %6d %7.2f%% %7.2f%% %7.2f%% %7.2f%% %6d %6d %6d\n", s->name, s->n,
               100.0 * s->top1 / n, 100.0 * s->top5 / n, 100.0 * s->topn / n,
               100.0 * s->found / n, s->errors, s->other, s->other_sure);
    }
    printf("misses by cause:\n%-14s %9s %9s %12s %9s\n", "set", "not found", "box off",
           "misread,topN", "misread");
    for (int i = 0; i <= nsets; i++) {
        const set_stats *s = i < nsets ? &sets[i] : &all;
        printf("%-14s %9d %9d %12d %9d\n", s->name, s->not_found, s->box_off, s->misread_topn,
               s->misread);
    }
    qsort(times, (size_t)nt, sizeof *times, bench_cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (nt)
        printf("ms per %s: median %.3f  p90 %.3f  (n=%d, one thread)\npeak memory: %.1f MiB\n",
               opt.whole_plate ? "plate" : "photo", times[nt / 2], times[nt * 9 / 10], nt, ru.ru_maxrss / 1024.0);
    if (threads > 0 && threads <= 64 && npaths) {
        double one = throughput(e, paths, npaths, 1), many = throughput(e, paths, npaths, threads);
        printf("throughput: %.3f ms per photo with 1 thread, %.3f with %d (%.2fx)\n", one, many,
               threads, one / many);
    }
    for (int i = 0; i < npaths; i++)
        free(paths[i]);
    free(paths);
    free(times);
    anpr_engine_free(e);
    return 0;
}
