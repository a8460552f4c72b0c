/*
 * pg_two_nodes.c: two `anpr serve` nodes on one PostgreSQL database act as
 * one back office. A hotlist entry made through node A; a read posted to
 * A must raise an alert on node B's event stream, and a read posted to B
 * (once B has picked up the hotlist from the database) one on A's.
 *
 *   tests/serve/with_postgres.sh pg_two_nodes path/to/anpr
 *
 * Everything goes over real HTTP to real processes; the nodes share only
 * the database.
 */
#include "httpc.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct node {
    pid_t pid;
    int out;                       /* its stdout */
    char base[64];                 /* http://127.0.0.1:PORT */
} node;

static char token[256];

static void fail(const char *msg)
{
    fprintf(stderr, "pg_two_nodes: %s\n", msg);
    exit(1);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Starts `anpr serve` on a free port and waits for it to say where. */
static void start_node(node *n, const char *anpr, const char *url,
                       const char *token_file)
{
    int p[2];
    if (pipe(p))
        fail("pipe");
    n->pid = fork();
    if (n->pid < 0)
        fail("fork");
    if (!n->pid) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(anpr, anpr, "serve", "--db", url, "--listen", "127.0.0.1:0",
              "--token-file", token_file, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    n->out = p[0];
    char buf[4096];
    size_t len = 0;
    double end = now_s() + 30;
    while (now_s() < end && len + 1 < sizeof buf) {
        struct pollfd pf = {.fd = n->out, .events = POLLIN};
        if (poll(&pf, 1, 500) <= 0)
            continue;
        ssize_t k = read(n->out, buf + len, sizeof buf - 1 - len);
        if (k <= 0)
            break;
        len += (size_t)k;
        buf[len] = 0;
        const char *at = strstr(buf, "listening on http://");
        int port;
        if (at && strchr(at, '\n') &&
            sscanf(at, "listening on http://127.0.0.1:%d/", &port) == 1) {
            snprintf(n->base, sizeof n->base, "http://127.0.0.1:%d", port);
            return;
        }
    }
    fail("a node did not start (see its messages above)");
}

static void stop_node(node *n)
{
    int status = -1;
    kill(n->pid, SIGTERM);
    for (int i = 0; i < 100 && waitpid(n->pid, &status, WNOHANG) == 0; i++)
        usleep(100000);
    if (status == -1) {
        kill(n->pid, SIGKILL);
        waitpid(n->pid, &status, 0);
        fail("a node did not stop on SIGTERM within 10 s");
    }
    close(n->out);
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        fail("a node stopped with a failure status");
}

/* One API call; fails the test unless the status is `want`. */
static void call(const node *n, const char *method, const char *path,
                 const char *body, int want, char *reply, size_t size)
{
    httpc_resp r;
    char err[256];
    if (httpc_request(n->base, path, method, token, body ? "application/json" : NULL,
                      body, body ? strlen(body) : 0, 10000, &r, err, sizeof err))
        fail(err);
    if (r.status != want) {
        fprintf(stderr, "pg_two_nodes: %s %s%s: HTTP %d, wanted %d: %s\n", method,
                n->base, path, r.status, want, r.body ? r.body : "");
        exit(1);
    }
    if (reply)
        snprintf(reply, size, "%s", r.body ? r.body : "");
    free(r.body);
}

/* A node's alert stream, followed in a thread until `want` appears. */
typedef struct follower {
    pthread_t t;
    const node *n;
    pthread_mutex_t lock;
    char seen[16384];
    size_t len;
    int open;
    const char *want;              /* stop once the stream shows this */
    int found, done;
    char err[256];
} follower;

static int follow_each(void *ctx, const char *data, size_t n)
{
    follower *f = ctx;
    pthread_mutex_lock(&f->lock);
    f->open = 1;
    if (f->len + n < sizeof f->seen) {
        memcpy(f->seen + f->len, data, n);
        f->len += n;
        f->seen[f->len] = 0;
    }
    int stop = f->want && strstr(f->seen, f->want);
    f->found |= stop;
    pthread_mutex_unlock(&f->lock);
    return stop;
}

static void *follow_main(void *arg)
{
    follower *f = arg;
    int status = 0;
    if (httpc_stream(f->n->base, "/api/v1/alerts/stream", token, 20000, &status,
                     follow_each, f, f->err, sizeof f->err) == 0 && status != 200)
        snprintf(f->err, sizeof f->err, "stream answered HTTP %d", status);
    pthread_mutex_lock(&f->lock);
    f->done = 1;
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

static void follow_start(follower *f, const node *n, const char *want)
{
    memset(f, 0, sizeof *f);
    f->n = n;
    f->want = want;
    pthread_mutex_init(&f->lock, NULL);
    pthread_create(&f->t, NULL, follow_main, f);
    /* The stream opens with a comment: then it is live. */
    for (double end = now_s() + 10; now_s() < end;) {
        pthread_mutex_lock(&f->lock);
        int open = f->open, done = f->done;
        pthread_mutex_unlock(&f->lock);
        if (open)
            return;
        if (done)
            break;
        usleep(20000);
    }
    fail(f->err[0] ? f->err : "an alert stream did not open");
}

/* Waits up to `seconds` for the follower to see what it wants. */
static int follow_wait(follower *f, double seconds)
{
    for (double end = now_s() + seconds; now_s() < end;) {
        pthread_mutex_lock(&f->lock);
        int found = f->found, done = f->done;
        pthread_mutex_unlock(&f->lock);
        if (found)
            return 1;
        if (done)
            return 0;
        usleep(10000);
    }
    return 0;
}

static void post_read(const node *n, const char *id)
{
    char iso[32], body[512], reply[512];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    snprintf(body, sizeof body,
             "{\"reads\": [{\"id\": \"%s\", \"vrm\": \"TW02NDE\","
             " \"confidence\": 0.97, \"camera\": \"CAM-TWO\", \"time\": \"%s\","
             " \"lane\": 1, \"direction\": \"north\"}]}", id, iso);
    call(n, "POST", "/api/v1/reads", body, 200, reply, sizeof reply);
    if (!strstr(reply, "\"accepted\": 1") && !strstr(reply, "\"accepted\":1")) {
        fprintf(stderr, "pg_two_nodes: read not accepted: %s\n", reply);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const char *url = getenv("ANPR_TEST_PG_URL");
    if (argc != 2 || !url)
        fail("usage: with_postgres.sh pg_two_nodes path/to/anpr");
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/anpr-two-nodes.XXXXXX", token_a[64], token_b[64];
    if (!mkdtemp(dir))
        fail("mkdtemp");
    snprintf(token_a, sizeof token_a, "%s/token-a", dir);
    snprintf(token_b, sizeof token_b, "%s/token-b", dir);

    node a, b;
    start_node(&a, argv[1], url, token_a);
    start_node(&b, argv[1], url, token_b);   /* finds the token A made */
    FILE *f = fopen(token_a, "r");
    if (!f || !fgets(token, sizeof token, f))
        fail("node A wrote no admin token");
    fclose(f);
    token[strcspn(token, "\r\n")] = 0;
    if (access(token_b, F_OK) == 0)
        fail("node B made a second admin token on a shared database");

    call(&a, "PUT", "/api/v1/cameras/CAM-TWO", "{\"name\": \"Two-node gate\"}",
         200, NULL, 0);
    call(&a, "PUT", "/api/v1/hotlists/twonode", "{\"priority\": 5}", 200, NULL, 0);
    call(&a, "POST", "/api/v1/hotlists/twonode/entries",
         "{\"vrm\": \"TW02NDE\", \"reason\": \"two-node test\"}", 201, NULL, 0);

    /* A read posted to A alerts on B's stream. */
    follower fb;
    follow_start(&fb, &b, "two-node-a1");
    double t0 = now_s();
    post_read(&a, "two-node-a1");
    if (!follow_wait(&fb, 10))
        fail("node B's stream never showed the alert raised on node A");
    printf("read on A -> alert on B's stream in %.1f ms\n", (now_s() - t0) * 1000);
    pthread_join(fb.t, NULL);

    /* A read posted to B alerts on A's stream, once B's matcher has the
     * entry (nodes reload hotlists when the shared generation moves). */
    follower fa;
    char id[32] = "";
    follow_start(&fa, &a, "two-node-b");
    int found = 0;
    for (int k = 0; k < 20 && !found; k++) {
        snprintf(id, sizeof id, "two-node-b%d", k);
        post_read(&b, id);
        found = follow_wait(&fa, 0.5);
    }
    if (!found)
        fail("node A's stream never showed an alert raised on node B");
    pthread_join(fa.t, NULL);

    /* Both nodes list both alerts from the shared store. */
    char list[16384];
    call(&b, "GET", "/api/v1/alerts?hotlist=twonode", NULL, 200, list, sizeof list);
    if (!strstr(list, "two-node-a1") || !strstr(list, id))
        fail("node B's alert list lacks an alert");

    stop_node(&a);
    stop_node(&b);
    unlink(token_a);
    rmdir(dir);
    printf("two nodes on one PostgreSQL: ok\n");
    return 0;
}
