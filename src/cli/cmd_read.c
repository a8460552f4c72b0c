/*
 * cmd_read.c: `anpr read`, reading the plates in image files.
 *
 * Files are shared among --threads workers, one engine between them, and
 * printed in the order given whatever order they finish in. One unreadable
 * file does not stop the others; the exit status says whether any failed.
 */
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anpr.h"
#include "commands.h"

enum { OUT_HUMAN, OUT_JSON, OUT_OPENALPR };

/* Files are read a chunk at a time and printed before the next chunk. */
#define CHUNK 64

typedef struct job {
    anpr_engine *engine;
    char **files;
    anpr_result *results;
    anpr_code *codes;
    int n, next;
    pthread_mutex_t lock;
} job;

static void help(FILE *f)
{
    fprintf(f,
        "usage: anpr read [options] FILE...\n"
        "Reads the number plates in JPEG or PNG images ('-' reads standard input).\n\n"
        "  --whole-plate          each image is one plate crop: do not look for plates\n"
        "  --json                 one JSON object per file, one per line\n"
        "  --format F             human (default), json, or openalpr (as 'alpr -j')\n"
        "  --country C            auto (default), gb, br, us or eu: the plate syntax to use\n"
        "  --min-confidence X     drop plates read with confidence below X (0..1)\n"
        "  --min-chars N          drop plates found in a photo read with fewer than N\n"
        "                         characters (default 3; 0 keeps all)\n"
        "  --candidates N         alternative readings to give per plate (1..%d, default %d)\n"
        "  --model FILE           recogniser weights instead of the built-in ones\n"
        "  --detector FILE        detector weights instead of the built-in ones\n"
        "  --refiner FILE         corner refiner weights instead of the built-in ones\n"
        "  --max-pixels N         refuse images with more pixels (default 50000000)\n"
        "  --threads N            read N files at a time (default 1)\n"
        "  --float                float arithmetic throughout (default: the recogniser\n"
        "                         in int8 where the CPU has AVX-512 VNNI)\n"
        "  -h, --help             this help\n",
        ANPR_MAX_CANDIDATES, ANPR_MAX_CANDIDATES);
}

static void *worker(void *arg)
{
    job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        int i = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (i >= j->n)
            return NULL;
        j->codes[i] = anpr_read_file(j->engine, j->files[i], &j->results[i]);
    }
}

static json_t *corners(const anpr_plate *p, int openalpr)
{
    json_t *a = json_array();
    for (int k = 0; k < 4; k++)
        json_array_append_new(a, openalpr
            ? json_pack("{s:i,s:i}", "x", (int)(p->box[k][0] + 0.5f), "y", (int)(p->box[k][1] + 0.5f))
            : json_pack("[f,f]", (double)p->box[k][0], (double)p->box[k][1]));
    return a;
}

/* Rounds for printing so output stays short and stable. */
static double r3(double x)
{
    return (double)(long long)(x * 1000 + (x < 0 ? -0.5 : 0.5)) / 1000;
}

static json_t *json_result(const char *file, const anpr_result *r, anpr_code rc)
{
    if (rc != ANPR_OK)
        return json_pack("{s:s,s:s}", "file", file, "error", r->error);
    json_t *plates = json_array();
    for (int i = 0; i < r->n_plates; i++) {
        const anpr_plate *p = &r->plates[i];
        json_t *cands = json_array(), *cc = json_array();
        for (int k = 0; k < p->n_candidates; k++)
            json_array_append_new(cands, json_pack("{s:s,s:f}", "text", p->candidates[k].text,
                                                   "confidence", r3(p->candidates[k].confidence)));
        for (size_t k = 0; k < strlen(p->text); k++)
            json_array_append_new(cc, json_real(r3(p->char_confidence[k])));
        json_array_append_new(plates, json_pack("{s:s,s:f,s:s,s:s,s:o,s:f,s:o,s:o}",
            "text", p->text, "confidence", r3(p->confidence), "country", p->country,
            "format", p->format, "box", corners(p, 0), "detection_score", r3(p->detection_score),
            "char_confidence", cc, "candidates", cands));
    }
    return json_pack("{s:s,s:f,s:i,s:i,s:o}", "file", file, "ms", r3(r->ms), "width", r->width,
                     "height", r->height, "plates", plates);
}

/* The JSON that OpenALPR's `alpr -j` prints, so its integrations work. */
static json_t *openalpr_result(const anpr_result *r, anpr_code rc, int topn)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *results = json_array();
    for (int i = 0; rc == ANPR_OK && i < r->n_plates; i++) {
        const anpr_plate *p = &r->plates[i];
        int template = strcmp(p->format, "other") != 0 && p->country[0];
        json_t *cands = json_array();
        for (int k = 0; k < p->n_candidates; k++)
            json_array_append_new(cands, json_pack("{s:s,s:f,s:i}", "plate", p->candidates[k].text,
                "confidence", r3(100.0 * p->candidates[k].confidence), "matches_template", template));
        json_array_append_new(results, json_pack(
            "{s:s,s:f,s:i,s:i,s:s,s:i,s:f,s:i,s:o,s:o}",
            "plate", p->text, "confidence", r3(100.0 * p->confidence), "matches_template", template,
            "plate_index", i, "region", p->country, "region_confidence", template ? 100 : 0,
            "processing_time_ms", r3(r->ms), "requested_topn", topn,
            "coordinates", corners(p, 1), "candidates", cands));
    }
    json_t *o = json_pack("{s:i,s:s,s:I,s:i,s:i,s:f,s:[],s:o}", "version", 2, "data_type",
        "alpr_results", "epoch_time", (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
        "img_width", r->width, "img_height", r->height, "processing_time_ms", r3(r->ms),
        "regions_of_interest", "results", results);
    if (rc != ANPR_OK)
        json_object_set_new(o, "error", json_string(r->error));
    return o;
}

static void print_human(const char *file, const anpr_result *r, anpr_code rc)
{
    if (rc != ANPR_OK) {
        fprintf(stderr, "anpr: %s: %s\n", file, r->error);
        return;
    }
    if (!r->n_plates)
        printf("%s: no plate (%.1f ms)\n", file, r->ms);
    for (int i = 0; i < r->n_plates; i++) {
        const anpr_plate *p = &r->plates[i];
        printf("%s: %s  %.1f%%  %s%s%s  (%.1f ms)\n", file, p->text, 100.0 * p->confidence,
               p->country[0] ? p->country : "", p->country[0] ? " " : "", p->format, r->ms);
    }
}

static void print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (s)
        puts(s);
    free(s);
    json_decref(o);
}

int cmd_read(int argc, char **argv)
{
    static const struct option longs[] = {
        {"whole-plate", no_argument, 0, 'w'}, {"json", no_argument, 0, 'j'},
        {"format", required_argument, 0, 'f'}, {"country", required_argument, 0, 'c'},
        {"min-confidence", required_argument, 0, 'm'}, {"candidates", required_argument, 0, 'n'},
        {"min-chars", required_argument, 0, 'C'},
        {"model", required_argument, 0, 'M'}, {"detector", required_argument, 0, 'D'},
        {"refiner", required_argument, 0, 'R'}, {"max-pixels", required_argument, 0, 'P'}, {"threads", required_argument, 0, 't'},
        {"float", no_argument, 0, 'F'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    anpr_options opt;
    anpr_options_default(&opt);
    int out = OUT_HUMAN, threads = 1, c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'w': opt.whole_plate = 1; break;
        case 'j': out = OUT_JSON; break;
        case 'f':
            if (!strcmp(optarg, "json")) out = OUT_JSON;
            else if (!strcmp(optarg, "openalpr")) out = OUT_OPENALPR;
            else if (!strcmp(optarg, "human")) out = OUT_HUMAN;
            else { fprintf(stderr, "anpr read: unknown format '%s'\n", optarg); return 2; }
            break;
        case 'c':
            if ((c = anpr_country_parse(optarg)) < 0) {
                fprintf(stderr, "anpr read: unknown country '%s' (auto, gb, br, us, eu)\n", optarg);
                return 2;
            }
            opt.country = (anpr_country)c;
            break;
        case 'm':
            opt.min_confidence = strtof(optarg, &end);
            if (*end || opt.min_confidence < 0 || opt.min_confidence > 1) {
                fprintf(stderr, "anpr read: --min-confidence wants a number from 0 to 1\n");
                return 2;
            }
            break;
        case 'C':
            opt.min_chars = (int)strtol(optarg, &end, 10);
            if (*end || !*optarg || opt.min_chars < 0 || opt.min_chars >= ANPR_MAX_TEXT) {
                fprintf(stderr, "anpr read: --min-chars wants 0 to %d\n", ANPR_MAX_TEXT - 1);
                return 2;
            }
            break;
        case 'n':
            opt.max_candidates = (int)strtol(optarg, &end, 10);
            if (*end || opt.max_candidates < 1 || opt.max_candidates > ANPR_MAX_CANDIDATES) {
                fprintf(stderr, "anpr read: --candidates wants 1 to %d\n", ANPR_MAX_CANDIDATES);
                return 2;
            }
            break;
        case 'F': opt.precision = ANPR_PRECISION_FLOAT; break;
        case 'M': opt.recogniser_path = optarg; break;
        case 'D': opt.detector_path = optarg; break;
        case 'R': opt.refiner_path = optarg; break;
        case 'P':
            opt.max_pixels = strtoull(optarg, &end, 10);
            if (*end || !opt.max_pixels) {
                fprintf(stderr, "anpr read: --max-pixels wants a positive number\n");
                return 2;
            }
            break;
        case 't':
            threads = (int)strtol(optarg, &end, 10);
            if (*end || threads < 1 || threads > 256) {
                fprintf(stderr, "anpr read: --threads wants 1 to 256\n");
                return 2;
            }
            break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (optind >= argc) {
        help(stderr);
        return 2;
    }
    char err[256];
    anpr_engine *e;
    if (anpr_engine_new(&opt, &e, err, sizeof err) != ANPR_OK) {
        fprintf(stderr, "anpr read: %s\n", err);
        return 1;
    }
    job j = {.engine = e};
    pthread_mutex_init(&j.lock, NULL);
    j.results = malloc(CHUNK * sizeof *j.results);
    j.codes = malloc(CHUNK * sizeof *j.codes);
    pthread_t *tids = malloc((size_t)threads * sizeof *tids);
    int failed = 0;
    if (!j.results || !j.codes || !tids) {
        fprintf(stderr, "anpr read: out of memory\n");
        failed = 1;
    }
    for (int first = optind; !failed && first < argc; first += CHUNK) {
        j.files = argv + first;
        j.n = argc - first < CHUNK ? argc - first : CHUNK;
        j.next = 0;
        int started = 0;
        for (int t = 1; t < threads && t < j.n; t++)
            started += pthread_create(&tids[started], NULL, worker, &j) == 0;
        worker(&j);
        for (int t = 0; t < started; t++)
            pthread_join(tids[t], NULL);
        for (int i = 0; i < j.n; i++) {
            failed |= j.codes[i] != ANPR_OK;
            if (out == OUT_HUMAN)
                print_human(j.files[i], &j.results[i], j.codes[i]);
            else if (out == OUT_JSON)
                print_json(json_result(j.files[i], &j.results[i], j.codes[i]));
            else
                print_json(openalpr_result(&j.results[i], j.codes[i], opt.max_candidates));
        }
        fflush(stdout);
    }
    free(tids);
    free(j.results);
    free(j.codes);
    pthread_mutex_destroy(&j.lock);
    anpr_engine_free(e);
    return failed;
}
