/*
 * test_api.c: the back office's API end to end: a real `anpr serve` on a
 * loopback port, real HTTP, a real database.
 *
 *   test_api PATH/TO/anpr
 *
 * The store is a fresh SQLite file in a temporary folder, or, when
 * ANPR_TEST_PG_URL is set (tests/serve/with_postgres.sh does), that
 * PostgreSQL database, so one suite covers both engines.
 *
 * Covers: authentication, cameras, read ingest (per-read rejections,
 * duplicates, hostile input, malformed JSON, wrong types, a body over the
 * limit), searches (exact, pattern, fuzzy, filters, paging), images,
 * hotlists (entries, CSV import all or nothing, look-back), alerts (list,
 * stream, acknowledgement), webhooks (to a listener here, with a retry;
 * kept in the store over kill -9, sent exactly once; given up for good),
 * investigations, the access wall and the audit chain, the command-line
 * clients (anpr search, hotlist, cameras, alerts), slow clients,
 * kill -9 during ingest (every acknowledged read must be there after a
 * restart), and the retention sweep with a failure injected between its
 * deletion and its audit record (nothing may be deleted unrecorded).
 */
#include "httpc.h"
#include "when.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"

static const char *anpr_bin;
static char dir[256], db[512], base[64], token[128];
static pid_t server_pid;
static int webhook_port;

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Starts `anpr serve` on the database and waits for its address. */
static int start_server(void)
{
    char out[600], err[600], hook[64], tokfile[600];
    snprintf(out, sizeof out, "%s/serve.out", dir);
    snprintf(err, sizeof err, "%s/serve.err", dir);
    snprintf(tokfile, sizeof tokfile, "%s/admin.token", dir);
    snprintf(hook, sizeof hook, "http://127.0.0.1:%d/hook", webhook_port);
    unlink(out);
    fflush(stdout); /* before fork() copies the buffer */
    server_pid = fork();
    if (server_pid == 0) {
        /* stderr is kept (shown at the end if a check failed): tests look
         * in it for what the server does on its own, like its sweeps. */
        if (!freopen(out, "w", stdout) || !freopen(err, "a", stderr))
            _exit(127);
        execl(anpr_bin, "anpr", "serve", "--db", db, "--listen", "127.0.0.1:0",
              "--token-file", tokfile, "--webhook", hook, "--max-body", "1048576",
              "--timeout", "2", "--webhook-attempts", "3", (char *)NULL);
        _exit(127);
    }
    for (int tries = 0; tries < 200; tries++) {
        sleep_ms(50);
        FILE *f = fopen(out, "r");
        char line[256];
        while (f && fgets(line, sizeof line, f)) {
            char *p = strstr(line, "listening on http://");
            if (p) {
                int port = 0;
                sscanf(strstr(p, "127.0.0.1:") + 10, "%d", &port);
                snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
                fclose(f);
                f = fopen(tokfile, "r");
                if (f && fgets(token, sizeof token, f))
                    token[strcspn(token, "\n")] = 0;
                if (f)
                    fclose(f);
                return port > 0 && token[0] ? 0 : -1;
            }
        }
        if (f)
            fclose(f);
        if (waitpid(server_pid, NULL, WNOHANG) == server_pid)
            break;
    }
    fprintf(stderr, "anpr serve did not start\n");
    return -1;
}

/* Waits up to ms for text in the server's stderr; 1 if it came. */
static int server_said(const char *text, int ms)
{
    char path[600], buf[65536];
    snprintf(path, sizeof path, "%s/serve.err", dir);
    for (int waited = 0; waited <= ms; waited += 100) {
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = 0;
        if (strstr(buf, text))
            return 1;
        sleep_ms(100);
    }
    return 0;
}

static void stop_server(int sig)
{
    kill(server_pid, sig);
    waitpid(server_pid, NULL, 0);
}

/*
 * One API call with the admin token (or tok); returns the parsed answer
 * (NULL if not JSON) and its status in *status (0 when no answer came).
 */
static json_t *call_as(const char *tok, const char *method, const char *path,
                       const char *ctype, const char *body, int *status)
{
    char err[256];
    httpc_resp r;
    *status = 0;
    if (httpc_request(base, path, method, tok, ctype ? ctype : "application/json", body,
                      body ? strlen(body) : 0, 10000, &r, err, sizeof err)) {
        fprintf(stderr, "%s %s: %s\n", method, path, err);
        return NULL;
    }
    *status = r.status;
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    free(r.body);
    return j;
}

static json_t *call(const char *method, const char *path, const char *body, int *status)
{
    return call_as(token, method, path, NULL, body, status);
}

/* call() with a printf-made path. */
static json_t *getf(int *status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static json_t *getf(int *status, const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return call("GET", path, NULL, status);
}

static long long jint(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* An ISO time the given seconds before the instant now_ms. */
static const char *before(int64_t now_ms, int seconds, char buf[32])
{
    when_format(now_ms - (int64_t)seconds * 1000, buf);
    return buf;
}

/* An ISO time the given seconds before now. */
static const char *ago(int seconds, char buf[32])
{
    return before(when_now_ms(), seconds, buf);
}

/* Posts reads given as a JSON array text; returns the answer. */
static json_t *post_reads(const char *array, int *status)
{
    size_t n = strlen(array) + 32;
    char *body = malloc(n);
    snprintf(body, n, "{\"reads\": %s}", array);
    json_t *j = call("POST", "/api/v1/reads", body, status);
    free(body);
    return j;
}

/* Posts one read (no images); returns the accepted count or -1. */
static int post_read(const char *id, const char *vrm, const char *camera, int secs_ago)
{
    char t[32], body[512];
    int st;
    snprintf(body, sizeof body,
             "[{\"id\":\"%s\",\"vrm\":\"%s\",\"camera\":\"%s\",\"time\":\"%s\","
             "\"confidence\":0.9}]", id, vrm, camera, ago(secs_ago, t));
    json_t *j = post_reads(body, &st);
    int accepted = st == 200 ? (int)jint(j, "accepted") : -1;
    json_decref(j);
    return accepted;
}

static int count_reads(const char *query)
{
    int st;
    json_t *j = getf(&st, "/api/v1/reads?%s", query);
    int n = st == 200 ? (int)json_array_size(json_object_get(j, "reads")) : -1;
    json_decref(j);
    return n;
}

/* --- a webhook receiver: answers 500 to its first request, 200 after;
 * it can be stopped (connections refused) and started on its port again --- */

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static char hook_bodies[65536];
static int hook_requests;
static int hook_fd;
static pthread_t hook_tid;

static void *hook_thread(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(hook_fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char buf[16384];
        size_t len = 0;
        long long want = -1;
        for (;;) {
            ssize_t r = recv(c, buf + len, sizeof buf - 1 - len, 0);
            if (r <= 0)
                break;
            len += (size_t)r;
            buf[len] = 0;
            char *end = strstr(buf, "\r\n\r\n");
            if (end && want < 0) {
                char *cl = strstr(buf, "Content-Length:"); /* as httpc writes it */
                want = (end - buf) + 4 + (cl ? atoll(cl + 15) : 0);
            }
            if (want >= 0 && (long long)len >= want)
                break;
        }
        pthread_mutex_lock(&hook_lock);
        int first = hook_requests++ == 0;
        char *body = strstr(buf, "\r\n\r\n");
        if (!first && body && strlen(hook_bodies) + strlen(body) + 2 < sizeof hook_bodies) {
            strcat(hook_bodies, body + 4);
            strcat(hook_bodies, "\n");
        }
        pthread_mutex_unlock(&hook_lock);
        const char *answer = first ? "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"
                                   : "HTTP/1.1 204 No Content\r\n\r\n";
        send(c, answer, strlen(answer), MSG_NOSIGNAL);
        close(c);
    }
}

/* Listens on webhook_port, or a free port the first time. */
static int start_hook(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(webhook_port) };
    socklen_t sl = sizeof sa;
    int one = 1;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    hook_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (hook_fd < 0 || setsockopt(hook_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)
        || bind(hook_fd, (struct sockaddr *)&sa, sizeof sa)
        || listen(hook_fd, 16) || getsockname(hook_fd, (struct sockaddr *)&sa, &sl))
        return -1;
    webhook_port = ntohs(sa.sin_port);
    return pthread_create(&hook_tid, NULL, hook_thread, NULL) ? -1 : 0;
}

/* Stops listening: deliveries are refused until start_hook(). */
static void stop_hook(void)
{
    shutdown(hook_fd, SHUT_RDWR);
    pthread_join(hook_tid, NULL);
    close(hook_fd);
}

/* How many deliveries of alert id the receiver took. */
static int hook_count(long long id)
{
    char needle[48];
    int n = 0;
    snprintf(needle, sizeof needle, "{\"id\":%lld,", id);
    pthread_mutex_lock(&hook_lock);
    for (const char *p = strstr(hook_bodies, needle); p; p = strstr(p + 1, needle))
        n++;
    pthread_mutex_unlock(&hook_lock);
    return n;
}

/* --- an event-stream reader --- */

static pthread_mutex_t sse_lock = PTHREAD_MUTEX_INITIALIZER;
static char sse_text[65536];
static size_t sse_len;

static int sse_bytes(void *ctx, const char *data, size_t n)
{
    (void)ctx;
    pthread_mutex_lock(&sse_lock);
    if (sse_len + n < sizeof sse_text) {
        memcpy(sse_text + sse_len, data, n);
        sse_len += n;
        sse_text[sse_len] = 0;
    }
    pthread_mutex_unlock(&sse_lock);
    return 0;
}

static void *sse_thread(void *arg)
{
    (void)arg;
    char err[256];
    int status;
    httpc_stream(base, "/api/v1/alerts/stream", token, 0, &status, sse_bytes, NULL, err,
                 sizeof err);
    return NULL;
}

/* Waits up to ms for text to appear in s (under lock); 1 if it did. */
static int wait_for(pthread_mutex_t *lock, const char *s, const char *text, int ms)
{
    for (int waited = 0; waited <= ms; waited += 50) {
        pthread_mutex_lock(lock);
        int found = strstr(s, text) != NULL;
        pthread_mutex_unlock(lock);
        if (found)
            return 1;
        sleep_ms(50);
    }
    return 0;
}

/* --- the tests --- */

static void test_auth(void)
{
    int st;
    json_t *j = call_as(NULL, "GET", "/api/v1/cameras", NULL, NULL, &st);
    CHECK(st == 401 && json_is_string(json_object_get(j, "error")));
    json_decref(j);
    j = call_as("anpr_0000000000000000000000000000000000000000000000000000000000000000",
                "GET", "/api/v1/cameras", NULL, NULL, &st);
    CHECK(st == 401);
    json_decref(j);
    j = call_as("x' OR '1'='1", "GET", "/api/v1/cameras", NULL, NULL, &st);
    CHECK(st == 401);
    json_decref(j);
    j = call("GET", "/api/v1/cameras", NULL, &st);
    CHECK(st == 200 && json_is_array(json_object_get(j, "cameras")));
    json_decref(j);
    j = call("GET", "/api/v1/nothing", NULL, &st);
    CHECK(st == 404);
    json_decref(j);
    j = call("DELETE", "/api/v1/cameras", NULL, &st);
    CHECK(st == 405);
    json_decref(j);
    /* A user token works for searches but not for admin calls. */
    j = call("POST", "/api/v1/tokens", "{\"name\":\"officer1\",\"role\":\"user\"}", &st);
    CHECK(st == 201);
    char user[128];
    snprintf(user, sizeof user, "%s", jstr(j, "token"));
    json_decref(j);
    j = call_as(user, "GET", "/api/v1/cameras", NULL, NULL, &st);
    CHECK(st == 200);
    json_decref(j);
    j = call_as(user, "GET", "/api/v1/audit", NULL, NULL, &st);
    CHECK(st == 403);
    json_decref(j);
}

static void test_cameras(void)
{
    int st;
    const char *cams[] = { "CAM-1", "CAM-2", "CAM-3" };
    for (int i = 0; i < 3; i++) {
        char path[64], body[256];
        snprintf(path, sizeof path, "/api/v1/cameras/%s", cams[i]);
        snprintf(body, sizeof body, "{\"name\":\"Site %d\",\"position\":{\"lat\":51.%d,"
                 "\"lon\":-0.%d},\"bearing\":%d,\"owner\":\"Test force\","
                 "\"purpose\":\"test\",\"installed\":\"2025-01-0%dT00:00:00Z\"}",
                 i, i + 1, i + 1, 90 * i, i + 1);
        json_t *j = call("PUT", path, body, &st);
        CHECK(st == 200 && !strcmp(jstr(j, "id"), cams[i]));
        json_decref(j);
    }
    json_t *j = call("GET", "/api/v1/cameras/CAM-2", NULL, &st);
    CHECK(st == 200 && !strcmp(jstr(j, "name"), "Site 1"));
    CHECK(json_real_value(json_object_get(json_object_get(j, "position"), "lat")) == 51.2);
    json_decref(j);
    j = call("GET", "/api/v1/cameras", NULL, &st);
    CHECK(st == 200 && json_array_size(json_object_get(j, "cameras")) == 3);
    json_decref(j);
    j = call("GET", "/api/v1/cameras/NOPE", NULL, &st);
    CHECK(st == 404);
    json_decref(j);
    j = call("PUT", "/api/v1/cameras/CAM-9", "{\"bearing\":\"east\"}", &st);
    CHECK(st == 400);
    json_decref(j);
    j = call("PUT", "/api/v1/cameras/CAM-9", "{\"position\":{\"lat\":200}}", &st);
    CHECK(st == 400);
    json_decref(j);
    j = call("PUT", "/api/v1/cameras/bad%20id", "{}", &st);
    CHECK(st == 400);
    json_decref(j);
    j = call("GET", "/api/v1/cameras/CAM-9", NULL, &st);
    CHECK(st == 404);
    json_decref(j);
}

static void test_ingest(void)
{
    int st;
    char t[32], future[32], body[8192];
    when_format(when_now_ms() + 600 * 1000, future);
    /* 0: good with images; 1 bad VRM; 2 unknown camera; 3 future; 4 wrong
     * type; 5 not a JPEG; 6 missing id; 7 hostile ID; 8 good, no images. */
    snprintf(body, sizeof body, "["
             "{\"id\":\"in-0\",\"vrm\":\"AB12CDE\",\"confidence\":0.97,\"camera\":\"CAM-1\","
             "\"time\":\"%s\",\"lane\":1,\"direction\":\"north\",\"patch_jpeg\":\"/9j/4AAQ\","
             "\"overview_jpeg\":\"/9j/2wBD\"},"
             "{\"id\":\"in-1\",\"vrm\":\"AB 12\",\"camera\":\"CAM-1\",\"time\":\"%s\"},"
             "{\"id\":\"in-2\",\"vrm\":\"AB12CDE\",\"camera\":\"CAM-404\",\"time\":\"%s\"},"
             "{\"id\":\"in-3\",\"vrm\":\"AB12CDE\",\"camera\":\"CAM-1\",\"time\":\"%s\"},"
             "{\"id\":\"in-4\",\"vrm\":\"AB12CDE\",\"camera\":\"CAM-1\",\"time\":\"%s\","
             "\"confidence\":\"high\"},"
             "{\"id\":\"in-5\",\"vrm\":\"AB12CDE\",\"camera\":\"CAM-1\",\"time\":\"%s\","
             "\"patch_jpeg\":\"iVBORw0KGgo=\"},"
             "{\"vrm\":\"AB12CDE\",\"camera\":\"CAM-1\",\"time\":\"%s\"},"
             "{\"id\":\"x'); DROP TABLE reads;--\",\"vrm\":\"AB12CDE\",\"camera\":\"CAM-1\","
             "\"time\":\"%s\"},"
             "{\"id\":\"in-8\",\"vrm\":\"XY99ZZZ\",\"camera\":\"CAM-2\",\"time\":\"%s\"}]",
             ago(100, t), t, t, future, t, t, t, t, t);
    json_t *j = post_reads(body, &st);
    CHECK(st == 200);
    CHECK(jint(j, "accepted") == 2 && jint(j, "duplicates") == 0);
    json_t *rej = json_object_get(j, "rejected");
    CHECK(json_array_size(rej) == 7);
    for (size_t i = 0; i < json_array_size(rej); i++) {
        json_t *r = json_array_get(rej, i);
        long long idx = jint(r, "index");
        CHECK(idx >= 1 && idx <= 7 && strlen(jstr(r, "error")) > 5);
    }
    CHECK(strstr(jstr(json_array_get(rej, 1), "error"), "camera") != NULL);
    json_decref(j);
    /* Sent again: duplicates, not errors, and nothing new. */
    j = post_reads(body, &st);
    CHECK(st == 200 && jint(j, "accepted") == 0 && jint(j, "duplicates") == 2);
    json_decref(j);
    CHECK(count_reads("vrm=AB12CDE") == 1);

    /* The images come back byte for byte. */
    httpc_resp r;
    char err[256];
    CHECK(httpc_request(base, "/api/v1/reads/in-0/patch.jpg", "GET", token, NULL, NULL, 0,
                        5000, &r, err, sizeof err) == 0);
    CHECK(r.status == 200 && r.len == 6 && !memcmp(r.body, "\xff\xd8\xff\xe0\x00\x10", 6));
    free(r.body);
    CHECK(httpc_request(base, "/api/v1/reads/in-0/overview.jpg", "GET", token, NULL, NULL, 0,
                        5000, &r, err, sizeof err) == 0);
    CHECK(r.status == 200 && r.len == 6 && !memcmp(r.body, "\xff\xd8\xff\xdb\x00\x43", 6));
    free(r.body);
    j = call("GET", "/api/v1/reads/in-8/patch.jpg", NULL, &st);
    CHECK(st == 404);
    json_decref(j);
    j = call("GET", "/api/v1/reads/none/patch.jpg", NULL, &st);
    CHECK(st == 404);
    json_decref(j);
    j = call("GET", "/api/v1/reads/in-0", NULL, &st);
    CHECK(st == 200 && !strcmp(jstr(j, "vrm"), "AB12CDE") && jint(j, "lane") == 1
          && !strcmp(jstr(j, "patch_url"), "/api/v1/reads/in-0/patch.jpg"));
    json_decref(j);
}

static void test_bad_input(void)
{
    int st;
    static const char *const bodies[] = {
        "{\"reads\": [", "not json", "[1,2,3]", "{\"reads\": {}}", "{\"reads\": \"x\"}",
        "{\"reads\": [1, \"two\", null]}", "{\"reads\":[], \"reads\":[]}", "",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        json_t *j = call("POST", "/api/v1/reads", bodies[i], &st);
        if (i == 5) /* an array of non-objects: each read rejected */
            CHECK(st == 200 && jint(j, "accepted") == 0
                  && json_array_size(json_object_get(j, "rejected")) == 3);
        else
            CHECK(st == 400 && json_is_string(json_object_get(j, "error")));
        json_decref(j);
    }
    /* Over the 1 MiB limit: 413, and the server is still there after. */
    size_t big = 2 << 20;
    char *huge = malloc(big + 1);
    memset(huge, 'A', big);
    huge[big] = 0;
    memcpy(huge, "{\"reads\":\"", 10);
    json_t *j = call("POST", "/api/v1/reads", huge, &st);
    CHECK(st == 413);
    json_decref(j);
    free(huge);
    /* Hostile strings in queries and paths. */
    j = getf(&st, "/api/v1/reads?vrm=%%27%%20OR%%201=1--");
    CHECK(st == 400);
    json_decref(j);
    j = getf(&st, "/api/v1/reads?vrm=AB12CDE&camera=%%00");
    CHECK(st == 400 || (st == 200 && json_array_size(json_object_get(j, "reads")) == 0));
    json_decref(j);
    j = getf(&st, "/api/v1/reads?limit=-5");
    CHECK(st == 400);
    json_decref(j);
    j = getf(&st, "/api/v1/reads?from=yesterday");
    CHECK(st == 400);
    json_decref(j);
    j = getf(&st, "/api/v1/reads?before=junk");
    CHECK(st == 400);
    json_decref(j);
    j = call("PUT", "/api/v1/hotlists/a%2F..%2Fb", "{}", &st);
    CHECK(st == 400 || st == 404);
    json_decref(j);
    j = call("POST", "/api/v1/alerts/1%20OR%201/ack", "{\"outcome\":\"x\"}", &st);
    CHECK(st == 400);
    json_decref(j);
    /* A control character in free text. */
    j = call("PUT", "/api/v1/cameras/CAM-X", "{\"name\":\"a\\u0001b\"}", &st);
    CHECK(st == 400);
    json_decref(j);
    /* Nothing of the above was stored. */
    j = call("GET", "/api/v1/cameras", NULL, &st);
    CHECK(json_array_size(json_object_get(j, "cameras")) == 3);
    json_decref(j);
}

static void test_search(void)
{
    /* 25 sightings of one VRM, one a minute apart, alternating cameras. */
    char body[65536] = "[", t[32];
    for (int i = 0; i < 25; i++) {
        size_t n = strlen(body);
        snprintf(body + n, sizeof body - n,
                 "%s{\"id\":\"s-%02d\",\"vrm\":\"PG15XYZ\",\"camera\":\"CAM-%d\",\"time\":\"%s\"}",
                 i ? "," : "", i, 1 + i % 2, ago(3000 - 60 * i, t));
    }
    strcat(body, "]");
    int st;
    json_t *j = post_reads(body, &st);
    CHECK(st == 200 && jint(j, "accepted") == 25);
    json_decref(j);
    CHECK(post_read("s-l1", "PG15XY2", "CAM-1", 50) == 1);   /* Z -> 2: one lookalike */
    CHECK(post_read("s-l2", "P615XY2", "CAM-1", 40) == 1);   /* and G -> 6: two */
    CHECK(post_read("s-l3", "P6I5XY2", "CAM-1", 30) == 1);   /* and 1 -> I: three */
    CHECK(post_read("s-o", "PG15XYA", "CAM-1", 20) == 1);    /* not a lookalike */

    CHECK(count_reads("vrm=PG15XYZ&limit=100") == 25);
    CHECK(count_reads("vrm=PG15XYZ&camera=CAM-2&limit=100") == 12);
    CHECK(count_reads("vrm=PG15*&limit=100") == 27);
    CHECK(count_reads("vrm=PG15XY%3F&limit=100") == 27);      /* PG15XY? */
    CHECK(count_reads("vrm=%3FG15XYZ&limit=100") == 25);      /* ?G15XYZ */
    CHECK(count_reads("vrm=PG15XYZ&fuzzy=1&limit=100") == 27);
    CHECK(count_reads("vrm=PG15XYZ&fuzzy=1&max_subst=3&limit=100") == 28);
    CHECK(count_reads("vrm=PG15XYZ&fuzzy=1&max_subst=0&limit=100") == 25);
    CHECK(count_reads("vrm=NOSUCH") == 0);

    /* A time window holding the newest five of the 25. It opens 30 s
     * before the fifth newest, so it holds that one however long (up to
     * 30 s) the posts and searches above took, and the sixth, a minute
     * older, stays out. */
    char q[256], from[32];
    snprintf(q, sizeof q, "vrm=PG15XYZ&from=%s", ago(3000 - 60 * 20 + 30, from));
    CHECK(count_reads(q) == 5);

    /* Paging: newest first, no overlap, 10 + 10 + 5. */
    char before[128] = "", seen[25][16];
    int got = 0, pages = 0, ordered = 1;
    long long last_ms = INT64_MAX;
    do {
        char path[512];
        snprintf(path, sizeof path, "/api/v1/reads?vrm=PG15XYZ&limit=10%s%s",
                 before[0] ? "&before=" : "", before);
        j = call("GET", path, NULL, &st);
        json_t *reads = json_object_get(j, "reads");
        for (size_t i = 0; i < json_array_size(reads) && got < 25; i++) {
            json_t *r = json_array_get(reads, i);
            int64_t ms;
            when_parse(jstr(r, "time"), &ms);
            ordered &= ms < last_ms;
            last_ms = ms;
            snprintf(seen[got++], sizeof seen[0], "%s", jstr(r, "id"));
        }
        const char *next = json_string_value(json_object_get(j, "next"));
        before[0] = 0;
        if (next) {
            char *e = before;
            for (const char *p = next; *p && e < before + sizeof before - 4; p++)
                e += *p == ':' ? sprintf(e, "%%3A") : sprintf(e, "%c", *p);
        }
        json_decref(j);
        pages++;
    } while (before[0] && pages < 10);
    CHECK(got == 25 && ordered && pages <= 4);
    CHECK(got > 0 && !strcmp(seen[0], "s-24"));
    for (int a = 0; a < got; a++)
        for (int b = a + 1; b < got; b++)
            CHECK(strcmp(seen[a], seen[b]));
}

static void test_hotlists_and_alerts(void)
{
    int st;
    pthread_t sse;
    pthread_create(&sse, NULL, sse_thread, NULL);
    CHECK(wait_for(&sse_lock, sse_text, ": anpr alerts", 5000));

    json_t *j = call("PUT", "/api/v1/hotlists/stolen", "{\"priority\":5,\"fuzzy\":1,"
                     "\"description\":\"stolen vehicles\"}", &st);
    CHECK(st == 200 && jint(j, "fuzzy") == 1);
    json_decref(j);
    j = call("PUT", "/api/v1/hotlists/watch", "{\"priority\":2}", &st);
    CHECK(st == 200);
    json_decref(j);
    j = call("PUT", "/api/v1/hotlists/bad", "{\"priority\":\"high\"}", &st);
    CHECK(st == 400);
    json_decref(j);

    /* Look-back: XY99ZZZ was read in test_ingest; listing it now alerts. */
    j = call("POST", "/api/v1/hotlists/watch/entries",
             "{\"vrm\":\"XY99ZZZ\",\"reason\":\"seen before listing\"}", &st);
    CHECK(st == 201 && jint(j, "past_alerts") == 1);
    json_decref(j);
    j = call("POST", "/api/v1/hotlists/stolen/entries",
             "{\"vrm\":\"KT70ABC\",\"reason\":\"stolen from owner\",\"priority\":9,"
             "\"source\":\"PNC\"}", &st);
    CHECK(st == 201 && jint(j, "id") > 0);
    long long kt_entry = jint(j, "id");
    json_decref(j);
    j = call("POST", "/api/v1/hotlists/watch/entries",
             "{\"pattern\":\"ZZ9*\",\"reason\":\"pattern\"}", &st);
    CHECK(st == 201);
    json_decref(j);
    static const char *const bad_entries[] = {
        "{\"vrm\":\"kt70abc\",\"reason\":\"x\"}", "{\"vrm\":\"KT70ABC\"}",
        "{\"vrm\":\"A\",\"pattern\":\"B*\",\"reason\":\"x\"}",
        "{\"vrm\":\"KT70ABC\",\"reason\":\"x\",\"expires\":\"2001-01-01T00:00:00Z\"}",
        "{\"vrm\":7,\"reason\":\"x\"}",
    };
    for (size_t i = 0; i < sizeof bad_entries / sizeof *bad_entries; i++) {
        j = call("POST", "/api/v1/hotlists/stolen/entries", bad_entries[i], &st);
        CHECK(st == 400);
        json_decref(j);
    }
    j = call("POST", "/api/v1/hotlists/nolist/entries", "{\"vrm\":\"A1\",\"reason\":\"x\"}", &st);
    CHECK(st == 404);
    json_decref(j);

    /* CSV: a bad third line rejects the file, nothing imported. */
    j = call_as(token, "POST", "/api/v1/hotlists/stolen/import", "text/csv",
                "vrm,reason,priority\nAA11AAA,one,3\nBB22BBB,two,x\nCC33CCC,three,1\n", &st);
    CHECK(st == 400 && jint(j, "line") == 3 && strstr(jstr(j, "error"), "line 3"));
    json_decref(j);
    j = call("GET", "/api/v1/hotlists/stolen/entries", NULL, &st);
    CHECK(st == 200 && json_array_size(json_object_get(j, "entries")) == 1);
    json_decref(j);
    j = call_as(token, "POST", "/api/v1/hotlists/stolen/import", "text/csv",
                "AA11AAA,one,3\r\n\"BB22BBB\",\"two, with comma\",\r\nCC3*,three,1,,DVLA\n", &st);
    CHECK(st == 201 && jint(j, "imported") == 3);
    json_decref(j);
    j = call_as(token, "POST", "/api/v1/hotlists/stolen/import", "text/csv",
                "DD44DDD,\"unterminated\n", &st);
    CHECK(st == 400 && jint(j, "line") == 1);
    json_decref(j);
    j = call("GET", "/api/v1/hotlists/stolen/entries", NULL, &st);
    CHECK(json_array_size(json_object_get(j, "entries")) == 4);
    json_decref(j);

    /* Reads that match: exact, fuzzy (one lookalike), pattern; and one not. */
    CHECK(post_read("al-1", "KT70ABC", "CAM-1", 5) == 1);
    CHECK(post_read("al-2", "KT7OABC", "CAM-2", 4) == 1);   /* 0 -> O */
    CHECK(post_read("al-3", "ZZ9123", "CAM-3", 3) == 1);
    CHECK(post_read("al-4", "KT7OA8C", "CAM-3", 2) == 1);   /* two: beyond fuzzy 1 */
    CHECK(post_read("al-5", "CC3999", "CAM-3", 1) == 1);    /* imported pattern */
    CHECK(wait_for(&sse_lock, sse_text, "\"read_id\":\"al-5\"", 5000));
    CHECK(wait_for(&sse_lock, sse_text, "\"read_id\":\"al-1\"", 100));
    CHECK(wait_for(&sse_lock, sse_text, "\"read_id\":\"al-2\"", 100));
    CHECK(wait_for(&sse_lock, sse_text, "\"read_id\":\"al-3\"", 100));
    CHECK(!wait_for(&sse_lock, sse_text, "\"read_id\":\"al-4\"", 100));
    CHECK(wait_for(&sse_lock, sse_text, "event: alert", 100));
    /* Each alert once, in id order. */
    pthread_mutex_lock(&sse_lock);
    long long prev = 0;
    int events = 0, ordered = 1;
    for (const char *p = strstr(sse_text, "\nid: "); p; p = strstr(p + 1, "\nid: ")) {
        long long id = atoll(p + 5);
        ordered &= id > prev;
        prev = id;
        events++;
    }
    pthread_mutex_unlock(&sse_lock);
    CHECK(ordered && events == 5);

    j = call("GET", "/api/v1/alerts?limit=100", NULL, &st);
    json_t *alerts = json_object_get(j, "alerts");
    CHECK(st == 200 && json_array_size(alerts) == 5);
    long long al1 = 0;
    for (size_t i = 0; i < json_array_size(alerts); i++) {
        json_t *a = json_array_get(alerts, i);
        const char *rid = jstr(a, "read_id");
        if (!strcmp(rid, "al-1")) {
            al1 = jint(a, "id");
            CHECK(!strcmp(jstr(a, "match"), "exact") && jint(a, "priority") == 9
                  && jint(a, "entry_id") == kt_entry);
        }
        if (!strcmp(rid, "al-2"))
            CHECK(!strcmp(jstr(a, "match"), "fuzzy") && jint(a, "substitutions") == 1);
        if (!strcmp(rid, "al-3"))
            CHECK(!strcmp(jstr(a, "match"), "pattern") && !strcmp(jstr(a, "hotlist"), "watch"));
        if (i > 0)
            CHECK(jint(a, "id") < jint(json_array_get(alerts, i - 1), "id"));
    }
    json_decref(j);
    CHECK(al1 > 0);

    /* Acknowledge once; twice is a conflict; unknown is 404. */
    char path[64];
    snprintf(path, sizeof path, "/api/v1/alerts/%lld/ack", al1);
    j = call("POST", path, "{\"outcome\":\"stopped, driver arrested\"}", &st);
    CHECK(st == 200 && !strcmp(jstr(j, "outcome"), "stopped, driver arrested")
          && !strcmp(jstr(j, "acknowledged_by"), "admin"));
    json_decref(j);
    j = call("POST", path, "{\"outcome\":\"again\"}", &st);
    CHECK(st == 409);
    json_decref(j);
    j = call("POST", "/api/v1/alerts/999999/ack", "{\"outcome\":\"x\"}", &st);
    CHECK(st == 404);
    json_decref(j);
    j = call("POST", path, "{\"outcome\":5}", &st);
    CHECK(st == 400);
    json_decref(j);
    j = call("GET", "/api/v1/alerts?unacked=1&limit=100", NULL, &st);
    CHECK(json_array_size(json_object_get(j, "alerts")) == 4);
    json_decref(j);

    /* Deleting the entry stops its alerts. */
    snprintf(path, sizeof path, "/api/v1/hotlists/stolen/entries/%lld", kt_entry);
    j = call("DELETE", path, NULL, &st);
    CHECK(st == 200);
    json_decref(j);
    j = call("DELETE", path, NULL, &st);
    CHECK(st == 404);
    json_decref(j);
    CHECK(post_read("al-6", "KT70ABC", "CAM-1", 1) == 1);
    j = call("GET", "/api/v1/alerts?limit=100", NULL, &st);
    CHECK(json_array_size(json_object_get(j, "alerts")) == 5);
    json_decref(j);

    /* The webhook got the alerts, each once, the first after a retry: the
     * receiver answered 500 to its first request. */
    CHECK(wait_for(&hook_lock, hook_bodies, "\"read_id\":\"al-3\"", 10000));
    CHECK(server_said("answered 500 (attempt 1 of 3)", 5000));
    j = call("GET", "/api/v1/alerts?limit=100", NULL, &st);
    alerts = json_object_get(j, "alerts");
    for (size_t i = 0; i < json_array_size(alerts); i++) {
        long long id = jint(json_array_get(alerts, i), "id");
        int got = 0;
        for (int waited = 0; waited < 5000 && !got; waited += 100) {
            sleep_ms(100);
            got = hook_count(id);
        }
        CHECK(got == 1);
    }
    json_decref(j);
    pthread_mutex_lock(&hook_lock);
    CHECK(hook_requests >= 6);
    pthread_mutex_unlock(&hook_lock);
    pthread_detach(sse);
}

/* The id of the alert for a read; 0 when there is none. */
static long long alert_of(const char *read_id)
{
    int st;
    long long id = 0;
    json_t *j = call("GET", "/api/v1/alerts?limit=100", NULL, &st);
    json_t *alerts = json_object_get(j, "alerts");
    for (size_t i = 0; i < json_array_size(alerts); i++)
        if (!strcmp(jstr(json_array_get(alerts, i), "read_id"), read_id))
            id = jint(json_array_get(alerts, i), "id");
    json_decref(j);
    return id;
}

/*
 * Webhook deliveries live in the store. With the receiver down, one
 * alert's attempts run out (the failure is final, even over a restart);
 * another's first attempt fails and the server is killed with SIGKILL.
 * Once receiver and server are back, that one arrives, exactly once.
 */
static void test_webhook_outbox(void)
{
    char said[64];
    stop_hook();
    CHECK(post_read("wh-1", "ZZ9001", "CAM-3", 2) == 1);     /* watch: ZZ9* */
    long long gone = alert_of("wh-1");
    snprintf(said, sizeof said, "alert %lld: ", gone);
    CHECK(gone > 0 && server_said(said, 5000));
    CHECK(server_said("(attempt 3 of 3, given up)", 10000));

    CHECK(post_read("wh-2", "ZZ9002", "CAM-3", 1) == 1);
    long long due = alert_of("wh-2");
    snprintf(said, sizeof said, "alert %lld: ", due);
    CHECK(due > 0 && server_said(said, 5000));
    stop_server(SIGKILL);

    if (start_hook() || start_server()) {
        failures++;
        return;
    }
    int got = 0;
    for (int waited = 0; waited < 10000 && !got; waited += 100) {
        sleep_ms(100);
        got = hook_count(due);
    }
    /* A second delivery would come within a poll or two. */
    sleep_ms(2500);
    CHECK(hook_count(due) == 1);
    CHECK(hook_count(gone) == 0);
}

static void test_investigations(void)
{
    /* TARGET1 and FRIEND1 pass three cameras 10 s apart; LONER1 once, 12 s
     * off. Other tests' reads pass these cameras 40 s or more away. All
     * from one instant: the journey time is checked to the millisecond,
     * and a slow build (ASan) let the clock move between reads. */
    char body[4096] = "[", t[32];
    int64_t now = when_now_ms();
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(body);
        snprintf(body + n, sizeof body - n,
                 "%s{\"id\":\"cv-t%d\",\"vrm\":\"TARGET1\",\"camera\":\"CAM-%d\",\"time\":\"%s\"},",
                 i ? "," : "", i, i + 1, before(now, 2000 - 300 * i, t));
        n = strlen(body);
        snprintf(body + n, sizeof body - n,
                 "{\"id\":\"cv-f%d\",\"vrm\":\"FRIEND1\",\"camera\":\"CAM-%d\",\"time\":\"%s\"}",
                 i, i + 1, before(now, 2000 - 300 * i - 10, t));
    }
    size_t n = strlen(body);
    snprintf(body + n, sizeof body - n,
             ",{\"id\":\"cv-l\",\"vrm\":\"LONER1\",\"camera\":\"CAM-1\",\"time\":\"%s\"}]",
             before(now, 2000 + 12, t));
    int st;
    json_t *j = post_reads(body, &st);
    CHECK(st == 200 && jint(j, "accepted") == 7);
    json_decref(j);

    j = getf(&st, "/api/v1/investigate/convoy?vrm=TARGET1&window=15&min=2&purpose=test");
    json_t *v = json_object_get(j, "vehicles");
    CHECK(st == 200 && json_array_size(v) == 1);
    CHECK(!strcmp(jstr(json_array_get(v, 0), "vrm"), "FRIEND1")
          && jint(json_array_get(v, 0), "count") == 3
          && jint(json_array_get(v, 0), "cameras") == 3);
    json_decref(j);
    j = getf(&st, "/api/v1/investigate/convoy?vrm=TARGET1&window=15&min=1");
    CHECK(st == 200 && json_array_size(json_object_get(j, "vehicles")) == 2);
    json_decref(j);

    j = getf(&st, "/api/v1/investigate/seen?vrm=TARGET1");
    CHECK(st == 200 && jint(j, "count") == 3);
    CHECK(!strcmp(jstr(json_object_get(j, "first"), "id"), "cv-t0")
          && !strcmp(jstr(json_object_get(j, "last"), "id"), "cv-t2"));
    json_decref(j);
    j = getf(&st, "/api/v1/investigate/seen?vrm=NEVER1");
    CHECK(st == 200 && jint(j, "count") == 0 && json_is_null(json_object_get(j, "first")));
    json_decref(j);

    j = getf(&st, "/api/v1/investigate/journeys?from_camera=CAM-1&to_camera=CAM-2&vrm=FRIEND1");
    json_t *js = json_object_get(j, "journeys");
    CHECK(st == 200 && json_array_size(js) == 1);
    CHECK(json_real_value(json_object_get(json_array_get(js, 0), "seconds")) == 300.0);
    json_decref(j);
    j = getf(&st, "/api/v1/investigate/journeys?from_camera=CAM-1&to_camera=CAM-2&max=30");
    CHECK(st == 200 && json_array_size(json_object_get(j, "journeys")) == 0);
    json_decref(j);
    j = getf(&st, "/api/v1/investigate/convoy?vrm=ab");
    CHECK(st == 400);
    json_decref(j);
}

static void test_access_and_audit(void)
{
    int st;
    char from[32];
    json_t *j = getf(&st, "/api/v1/reads?vrm=PG15XYZ&from=%s", ago(100 * 86400, from));
    CHECK(st == 403);
    json_decref(j);
    j = getf(&st, "/api/v1/reads?vrm=PG15XYZ&limit=10&from=%s&authorisation=Supt%%20Smith%%20op%%2042"
             "&purpose=serious%%20crime&justification=case%%201234", from);
    CHECK(st == 200 && json_array_size(json_object_get(j, "reads")) == 10);
    json_decref(j);
    j = call("GET", "/api/v1/audit?limit=1000", NULL, &st);
    json_t *log = json_object_get(j, "audit");
    CHECK(st == 200 && json_array_size(log) > 20);
    int found = 0;
    for (size_t i = 0; i < json_array_size(log); i++) {
        json_t *a = json_array_get(log, i);
        if (!strcmp(jstr(a, "authorisation"), "Supt Smith op 42")) {
            found = 1;
            CHECK(!strcmp(jstr(a, "who"), "admin") && !strcmp(jstr(a, "action"), "search")
                  && !strcmp(jstr(a, "purpose"), "serious crime")
                  && jint(a, "result_count") == 10 && strstr(jstr(a, "result"), "s-24"));
        }
    }
    CHECK(found);
    json_decref(j);
    j = call("GET", "/api/v1/audit/verify", NULL, &st);
    CHECK(st == 200 && json_is_true(json_object_get(j, "ok")) && jint(j, "records") > 20);
    json_decref(j);
}

/* Runs `anpr ARGS --server BASE --token TOKEN`; returns its exit status
 * and its standard output in out. */
static int run_cli(const char *args, char *out, size_t n)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s --server %s --token %s 2>/dev/null", anpr_bin, args,
             base, token);
    FILE *p = popen(cmd, "r");
    size_t len = 0;
    out[0] = 0;
    if (!p)
        return -1;
    while (len + 1 < n && fgets(out + len, (int)(n - len), p))
        len += strlen(out + len);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The command-line clients talk to the same API. */
static void test_cli(void)
{
    static char out[65536];
    char csv[600], args[800];
    CHECK(run_cli("cameras add CAM-CLI --name 'Bridge St' --lat 52.1 --lon -1.5"
                  " --purpose 'bridge traffic'", out, sizeof out) == 0
          && strstr(out, "\"Bridge St\""));
    CHECK(run_cli("cameras list", out, sizeof out) == 0 && strstr(out, "CAM-CLI"));
    CHECK(run_cli("cameras show NOPE", out, sizeof out) == 1);
    CHECK(run_cli("hotlist create cli --priority 4 --fuzzy 1", out, sizeof out) == 0);
    CHECK(run_cli("hotlist add cli CL11AAA --reason 'from the command line'", out,
                  sizeof out) == 0 && strstr(out, "CL11AAA"));
    snprintf(csv, sizeof csv, "%s/bad.csv", dir);
    FILE *f = fopen(csv, "w");
    fputs("CL22BBB,ok\nnot a vrm,bad\n", f);
    fclose(f);
    snprintf(args, sizeof args, "hotlist import cli %s", csv);
    CHECK(run_cli(args, out, sizeof out) == 1);
    CHECK(run_cli("hotlist show cli", out, sizeof out) == 0 && strstr(out, "CL11AAA")
          && !strstr(out, "CL22BBB"));
    CHECK(post_read("cli-1", "CL11AAA", "CAM-CLI", 3) == 1);
    CHECK(run_cli("search CL11AAA --purpose test", out, sizeof out) == 0
          && strstr(out, "\"cli-1\""));
    CHECK(run_cli("search CLI1AAA --fuzzy", out, sizeof out) == 0 && strstr(out, "\"cli-1\""));
    CHECK(run_cli("search 'bad vrm'", out, sizeof out) == 1);
    CHECK(run_cli("alerts list --hotlist cli", out, sizeof out) == 0
          && strstr(out, "\"cli-1\""));
    CHECK(run_cli("alerts ack 999999 --outcome none", out, sizeof out) == 1);
    CHECK(run_cli("search --help", out, sizeof out) == 0 && strstr(out, "usage"));
    CHECK(run_cli("hotlist frobnicate", out, sizeof out) == 2);
}

/* A client that sends half a request and stalls is dropped; others are
 * served meanwhile. */
static void test_slow_client(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    sa.sin_port = htons((uint16_t)atoi(strrchr(base, ':') + 1));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    const char *half = "POST /api/v1/reads HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{";
    send(fd, half, strlen(half), MSG_NOSIGNAL);
    int st;
    json_t *j = call("GET", "/api/v1/cameras", NULL, &st);
    CHECK(st == 200);
    json_decref(j);
    struct timeval tv = { 6, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[256];
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    CHECK(r <= 0 || strstr(buf, "HTTP/1.1 4") == buf);
    close(fd);
}

/* Posters keep sending batches; each records what was acknowledged. */
#define KILL_THREADS 4
/* Atomic: the posters read it while the main thread clears it. */
static atomic_int posting;
static long long acked[KILL_THREADS];

static void *poster(void *arg)
{
    int me = (int)(intptr_t)arg;
    char *body = malloc(32768), t[32];
    for (int batch = 0; atomic_load(&posting); batch++) {
        size_t n = (size_t)sprintf(body, "{\"reads\":[");
        for (int i = 0; i < 50; i++)
            n += (size_t)sprintf(body + n, "%s{\"id\":\"k%d-%d-%d\",\"vrm\":\"KL%02dX%03d\","
                                 "\"camera\":\"CAM-1\",\"time\":\"%s\"}",
                                 i ? "," : "", me, batch, i, me, i, ago(10, t));
        strcpy(body + n, "]}");
        char err[256];
        httpc_resp r;
        if (httpc_request(base, "/api/v1/reads", "POST", token, "application/json", body,
                          strlen(body), 5000, &r, err, sizeof err))
            break;
        json_t *j = json_loadb(r.body, r.len, 0, NULL);
        if (r.status == 200 && jint(j, "accepted") == 50)
            acked[me] = batch + 1;
        json_decref(j);
        free(r.body);
        if (r.status != 200)
            break;
    }
    free(body);
    return NULL;
}

static void test_kill9(void)
{
    pthread_t t[KILL_THREADS];
    atomic_store(&posting, 1);
    for (int i = 0; i < KILL_THREADS; i++)
        pthread_create(&t[i], NULL, poster, (void *)(intptr_t)i);
    sleep_ms(1500);
    stop_server(SIGKILL);
    atomic_store(&posting, 0);
    for (int i = 0; i < KILL_THREADS; i++)
        pthread_join(t[i], NULL);
    if (start_server()) {
        failures++;
        return;
    }
    long long total = 0;
    for (int i = 0; i < KILL_THREADS; i++) {
        total += acked[i];
        /* The last acknowledged batch of each poster is all there. */
        if (!acked[i])
            continue;
        for (int r = 0; r < 50; r += 7) {
            int st;
            json_t *j = getf(&st, "/api/v1/reads/k%d-%lld-%d", i, acked[i] - 1, r);
            CHECK(st == 200);
            json_decref(j);
        }
        char q[64];
        snprintf(q, sizeof q, "vrm=KL%02dX*&limit=1000", i);
        int n = count_reads(q);
        CHECK(n >= 0 && n >= (acked[i] * 50 < 1000 ? acked[i] * 50 : 1000));
    }
    printf("kill -9 during ingest: %lld batches of 50 acknowledged, all present\n", total);
    CHECK(total > 0);
}

/*
 * A commit far larger than the SQLite engine's WAL write buffer (two
 * 300 KB images) is all there after kill -9, byte for byte: the buffer is
 * written out in pieces the default VFS accepts, and before the answer.
 */
static void test_big_commit(void)
{
    enum { RAW = 300000 };        /* "\xff\xd8\xff" repeated; base64 "/9j/" */
    size_t b64 = RAW / 3 * 4;
    char t[32], *body = malloc(2 * b64 + 512);
    size_t n = (size_t)sprintf(body, "[");
    for (int i = 0; i < 2; i++) {
        n += (size_t)sprintf(body + n, "%s{\"id\":\"big-%d\",\"vrm\":\"BG%02dAAA\","
                             "\"camera\":\"CAM-1\",\"time\":\"%s\",\"overview_jpeg\":\"",
                             i ? "," : "", i, i, ago(10, t));
        for (size_t k = 0; k < b64; k += 4)
            memcpy(body + n + k, "/9j/", 4);
        n += b64;
        n += (size_t)sprintf(body + n, "\"}");
    }
    strcpy(body + n, "]");
    int st;
    json_t *j = post_reads(body, &st);
    free(body);
    CHECK(st == 200 && jint(j, "accepted") == 2);
    json_decref(j);
    stop_server(SIGKILL);
    if (start_server()) {
        failures++;
        return;
    }
    for (int i = 0; i < 2; i++) {
        char path[64], err[256];
        httpc_resp r;
        snprintf(path, sizeof path, "/api/v1/reads/big-%d/overview.jpg", i);
        CHECK(httpc_request(base, path, "GET", token, NULL, NULL, 0, 5000, &r, err,
                            sizeof err) == 0);
        int same = r.status == 200 && r.len == RAW;
        for (size_t k = 0; same && k < RAW; k += 3)
            same = !memcmp(r.body + k, "\xff\xd8\xff", 3);
        CHECK(same);
        free(r.body);
    }
}

/* Runs SQL on the server's database from beside it: the SQLite file or
 * the PostgreSQL database. Returns 0 when it ran. */
static int db_exec(const char *sql)
{
    int ok;
    if (!strncmp(db, "postgres", 8)) {
        PGconn *pg = PQconnectdb(db);
        PGresult *r = PQexec(pg, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "%s: %s", sql, PQerrorMessage(pg));
        PQclear(r);
        PQfinish(pg);
    } else {
        sqlite3 *q = NULL;
        ok = sqlite3_open(db, &q) == SQLITE_OK
             && sqlite3_busy_timeout(q, 10000) == SQLITE_OK
             && sqlite3_exec(q, sql, NULL, NULL, NULL) == SQLITE_OK;
        if (!ok)
            fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(q));
        sqlite3_close(q);
    }
    return ok ? 0 : -1;
}

/* Makes appending a retention record fail (on) or work again (off): a
 * failure injected between the sweep's deletion and its audit record. */
static int fail_retention_audit(int on)
{
    int pg = !strncmp(db, "postgres", 8);
    if (on && pg)
        return db_exec("CREATE FUNCTION fail_retention() RETURNS trigger"
                       " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION"
                       " 'injected failure'; END $$;"
                       " CREATE TRIGGER fail_retention BEFORE INSERT ON audit"
                       " FOR EACH ROW WHEN (NEW.action = 'retention')"
                       " EXECUTE FUNCTION fail_retention()");
    if (on)
        return db_exec("CREATE TRIGGER fail_retention BEFORE INSERT ON audit"
                       " WHEN NEW.action = 'retention' BEGIN"
                       " SELECT RAISE(ABORT, 'injected failure'); END");
    return db_exec(pg ? "DROP TRIGGER fail_retention ON audit;"
                        " DROP FUNCTION fail_retention()"
                      : "DROP TRIGGER fail_retention");
}

/* 1 when the audit log holds a retention record of n reads. */
static int retention_recorded(int n)
{
    int st, found = 0;
    json_t *j = call("GET", "/api/v1/audit?limit=1000", NULL, &st);
    json_t *log = json_object_get(j, "audit");
    for (size_t i = 0; i < json_array_size(log); i++) {
        json_t *a = json_array_get(log, i);
        found |= !strcmp(jstr(a, "action"), "retention") && jint(a, "result_count") == n;
    }
    json_decref(j);
    return found;
}

/* The sweep deletes and records in one transaction: when the record cannot
 * be written nothing is deleted, and once a read is gone its record is
 * there already. A server's first sweep runs a second after it starts. */
static void test_retention(void)
{
    const char *old = "/api/v1/reads/old-1?authorisation=retention%20test";
    int st;
    CHECK(post_read("old-1", "OLD1", "CAM-3", 400 * 86400) == 1);
    stop_server(SIGTERM);
    CHECK(fail_retention_audit(1) == 0);
    if (start_server()) {
        failures++;
        return;
    }
    CHECK(server_said("injected failure", 10000));
    json_t *j = call("GET", old, NULL, &st);
    CHECK(st == 200);
    json_decref(j);
    CHECK(!retention_recorded(1));

    stop_server(SIGTERM);
    CHECK(fail_retention_audit(0) == 0);
    if (start_server()) {
        failures++;
        return;
    }
    int swept = 0;
    for (int i = 0; i < 100 && !swept; i++) {
        sleep_ms(100);
        j = call("GET", old, NULL, &st);
        swept = st == 404;
        json_decref(j);
    }
    CHECK(swept);
    CHECK(retention_recorded(1));
    j = call("GET", "/api/v1/audit/verify", NULL, &st);
    CHECK(st == 200 && json_is_true(json_object_get(j, "ok")));
    json_decref(j);
}

/* Copies the server's stderr to ours, to explain a failure. */
static void show_server_err(void)
{
    char path[600], buf[4096];
    snprintf(path, sizeof path, "%s/serve.err", dir);
    FILE *f = fopen(path, "r");
    size_t n;
    while (f && (n = fread(buf, 1, sizeof buf, f)))
        fwrite(buf, 1, n, stderr);
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_api PATH/TO/anpr\n");
        return 2;
    }
    anpr_bin = argv[1];
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "%s/anpr-api.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *pg = getenv("ANPR_TEST_PG_URL");
    if (pg)
        snprintf(db, sizeof db, "%s", pg);
    else
        snprintf(db, sizeof db, "%s/anpr.db", dir);
    printf("test_api: store %s\n", db);
    if (start_hook() || start_server())
        return 1;

    char tokfile[600];
    struct stat sb;
    snprintf(tokfile, sizeof tokfile, "%s/admin.token", dir);
    CHECK(stat(tokfile, &sb) == 0 && (sb.st_mode & 0777) == 0600);

    test_auth();
    test_cameras();
    test_ingest();
    test_bad_input();
    test_search();
    test_hotlists_and_alerts();
    test_webhook_outbox();
    test_investigations();
    test_access_and_audit();
    test_cli();
    test_slow_client();
    test_kill9();
    test_big_commit();
    test_retention();
    stop_server(SIGTERM);
    if (failures)
        show_server_err();

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd))
        fprintf(stderr, "could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "test_api: %d checks failed\n", failures);
        return 1;
    }
    printf("test_api: all checks passed\n");
    return 0;
}
