/* SPDX-License-Identifier: MIT */
/* RFID benchmark: poll throughput over TCP loopback against virtual readers, next to mbpoll
 * reading the same registers from the same server, CPU per 1,000 polls, filter cost. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/resource.h>
#include <sys/wait.h>

#include "rfid_test.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/mbconn.h"
#include "storekeeper/presence.h"
#include "storekeeper/reader.h"
#include "storekeeper/vreader.h"

/*
 * What is measured, in one process:
 *  1. the poll loop the bus threads run (sk_reader_poll + sk_presence_update) over one TCP
 *     connection to a virtual server answering UNITS units of TAGS tags (generic-epc):
 *       changing  every poll reads the whole table (as when the change counter moved):
 *                 status + 11 reads for 64 tags, read probability 90 %
 *       steady    nothing changes: the status read only
 *     requests/s, tags/s (tag reads delivered to the filter), and the polling thread's CPU
 *     time per 1,000 polls (the server's CPU is not counted: it is another thread);
 *  2. mbpoll (Debian's) against the same server in the same run, reading the same table
 *     (125 registers at 0x100 from every unit, the largest read of a changing poll), counted
 *     by the server: the ratio is our 125-register request rate over mbpoll's;
 *  3. the presence filter alone: nanoseconds per tag read, reported per 10,000 reads.
 */

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct result {
    double secs, cpu;
    uint64_t polls, requests, tags, errors;
};

static void noop(const struct sk_presence_event *ev, void *ctx)
{
    (void)ev;
    (*(uint64_t *)ctx)++;
}

static struct result run_polls(struct sk_mbconn *c,
                               struct sk_reader **readers,
                               struct sk_presence **filters,
                               int units,
                               double secs,
                               bool changing)
{
    struct result r = {0};
    uint64_t events = 0;
    double cpu0 = cpu_s();
    int64_t t0 = sk_now_mono_us(), end = t0 + (int64_t)(secs * 1e6);
    while (sk_now_mono_us() < end) {
        for (int u = 0; u < units; u++) {
            const struct sk_tag_read *tags;
            if (changing) {
                /* as if the change counter moved: the whole table is read */
                sk_reader_resync(readers[u]);
            }
            int n = sk_reader_poll(readers[u], c, &tags);
            r.polls++;
            r.requests += sk_reader_requests(readers[u]);
            if (n < 0) {
                r.errors++;
                if (!sk_mbconn_is_open(c)) {
                    sk_mbconn_connect(c);
                }
                continue;
            }
            r.tags += (uint64_t)n;
            sk_presence_update(filters[u], sk_now_mono_us(), tags, (size_t)n, noop, &events);
        }
    }
    r.secs = (double)(sk_now_mono_us() - t0) / 1e6;
    r.cpu = cpu_s() - cpu0;
    return r;
}

/* Runs mbpoll again and again for secs, each run reading 125 registers at 0x100 from every
 * unit once (-1: no poll period between slaves); returns the requests the server answered
 * per second (counted by the server, so mbpoll's printing and start-up are included, as they
 * are for anyone using it). */
static double run_mbpoll(struct sk_vreader *v, int port, int units, double secs, int *ret_runs)
{
    char portbuf[16], slaves[16];
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    snprintf(slaves, sizeof(slaves), "1:%d", units);
    struct sk_vreader_stats a, b;
    sk_vreader_get_stats(v, &a);
    int64_t t0 = sk_now_mono_us(), end = t0 + (int64_t)(secs * 1e6);
    *ret_runs = 0;
    while (sk_now_mono_us() < end) {
        pid_t pid = fork();
        if (pid == 0) {
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0) {
                dup2(devnull, 1);
                dup2(devnull, 2);
            }
            execlp("mbpoll", "mbpoll", "-m", "tcp", "-p", portbuf, "-a", slaves, "-0", "-r", "256",
                   "-c", "125", "-1", "-o", "1", "-t", "4", "127.0.0.1", (char *)NULL);
            _exit(127);
        }
        if (pid < 0) {
            return -1;
        }
        int status;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
            return -1;
        }
        (*ret_runs)++;
    }
    double el = (double)(sk_now_mono_us() - t0) / 1e6;
    sk_vreader_get_stats(v, &b);
    return (double)(b.replies - a.replies) / el;
}

static double bench_filter(uint64_t reads_total)
{
    struct sk_presence_params sp = {2, 3, 3000000};
    struct sk_presence *p;
    if (sk_presence_new(1024, &sp, &p) < 0) {
        return -1;
    }

    enum {
        TAGS = 64
    };
    struct sk_tag_read all[TAGS], reads[TAGS];
    for (int i = 0; i < TAGS; i++) {
        memset(&all[i], 0, sizeof(all[i]));
        rt_epc(i, all[i].epc);
        all[i].epc_len = 12;
        all[i].antenna = 1;
        all[i].reads = 1;
    }
    uint32_t rng = 12345;
    uint64_t done = 0, events = 0;
    int64_t now = 0;
    double cpu0 = cpu_s();
    while (done < reads_total) {
        size_t n = 0;
        for (int i = 0; i < TAGS; i++) {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            if (rng % 100 < 80) {
                reads[n++] = all[i];
            }
        }
        sk_presence_update(p, now += 200000, reads, n, noop, &events);
        done += n;
    }
    double cpu = cpu_s() - cpu0;
    sk_presence_free(p);
    return cpu / (double)done * 10000.0; /* seconds per 10,000 reads */
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int units = quick ? 4 : 32, tags = 64;
    double secs = quick ? 1.0 : 10.0;
    setenv("STOREKEEPER_DATADIR", SK_TEST_DATADIR, 1);
    struct sk_profile *prof = rt_profile("generic-epc");
    struct sk_vreader_opts vo = {.listen = "tcp:127.0.0.1:0", .round_ms = 5, .seed = 99};
    struct sk_vreader *v;
    if (sk_vreader_new(&vo, &v) < 0) {
        return 1;
    }
    for (int u = 1; u <= units; u++) {
        sk_vreader_add_unit(v, u, prof);
        for (int i = 0; i < tags; i++) {
            uint8_t epc[12];
            rt_epc(u * 1000 + i, epc);
            sk_vreader_tag_add(v, u, 1 + i % 4, epc, 12, -6000);
        }
    }
    if (sk_vreader_start(v) < 0) {
        fprintf(stderr, "bench: cannot start the virtual readers\n");
        return 1;
    }
    int port = sk_vreader_port(v);
    char url[64];
    snprintf(url, sizeof(url), "tcp:127.0.0.1:%d", port);
    struct sk_mbconn_opts mo = {.url = url, .response_timeout_ms = 1000, .byte_timeout_ms = 100};
    struct sk_mbconn *c;
    if (sk_mbconn_new(&mo, &c) < 0 || sk_mbconn_connect(c) < 0) {
        fprintf(stderr, "bench: cannot connect\n");
        return 1;
    }
    struct sk_reader *readers[32];
    struct sk_presence *filters[32];
    struct sk_presence_params sp = {2, 3, 3000000};
    for (int u = 0; u < units; u++) {
        sk_reader_new(prof, u + 1, 0, 1024, &readers[u]);
        sk_presence_new(4096, &sp, &filters[u]);
    }
    printf("bench_rfid: %d virtual generic-epc readers x %d tags on one Modbus/TCP server "
           "(127.0.0.1), one bus connection, %.0f s per run%s\n",
           units, tags, secs, quick ? " (quick)" : "");

    sk_vreader_fault(v, 0, SK_VFAULT_READ_PROB, 90);
    struct result ch = run_polls(c, readers, filters, units, secs, true);
    sk_vreader_fault(v, 0, SK_VFAULT_READ_PROB, 100);
    run_polls(c, readers, filters, units, 0.3, true); /* settle on full tables */
    struct result st = run_polls(c, readers, filters, units, secs, false);
    int mb_runs = 0;
    double mb = run_mbpoll(v, port, units, secs, &mb_runs);
    double filt = bench_filter(quick ? 200000 : 5000000);

    /* ours: 125-register requests per second in the changing run (10 of every 11 reads of
     * a 64-tag table are 125 registers; status reads are 8) */
    double ch_req = (double)ch.requests / ch.secs;
    double big_req = ch_req * (double)(ch.requests - ch.polls) / (double)ch.requests;
    printf("\n%-34s %12s %12s %14s %10s\n", "run", "requests/s", "tags/s", "polls/s", "errors");
    printf("%-34s %12.0f %12.0f %14.0f %10" PRIu64 "\n", "changed tables (full reads)", ch_req,
           (double)ch.tags / ch.secs, (double)ch.polls / ch.secs, ch.errors);
    printf("%-34s %12.0f %12.0f %14.0f %10" PRIu64 "\n", "unchanged tables (status only)",
           (double)st.requests / st.secs, (double)st.tags / st.secs, (double)st.polls / st.secs,
           st.errors);
    printf("\nCPU time of the polling thread per 1,000 polls: %.1f ms (changing), %.1f ms "
           "(unchanged)\n",
           ch.cpu / (double)ch.polls * 1e6, st.cpu / (double)st.polls * 1e6);
    printf("presence filter: %.2f ms per 10,000 tag reads (64 tags at 80 %%, k=2 of n=3)\n",
           filt * 1e3);
    if (mb > 0) {
        printf("mbpoll -1, 125 registers from each of %d units, %d runs: %.0f requests/s\n"
               "ours, the 125-register reads of the full-table run: %.0f requests/s\n"
               "ratio ours/mbpoll: %.1f\n",
               units, mb_runs, mb, big_req, big_req / mb);
    }
    int rc = ch.errors || st.errors || ch.polls == 0 ? 1 : 0;
    if (mb <= 0 && rc == 0) {
        /* No peer, no ratio: the benchmark is incomplete. 77 is reported as skipped by CTest
         * (SKIP_RETURN_CODE); under SK_TEST_NO_SKIP=1 (scripts/test.sh) it fails. */
        const char *strict = getenv("SK_TEST_NO_SKIP");
        printf("mbpoll: not installed (scripts/install-deps.sh --test installs it); no ratio\n");
        rc = strict && strcmp(strict, "1") == 0 ? 1 : 77;
    }
    for (int u = 0; u < units; u++) {
        sk_reader_free(readers[u]);
        sk_presence_free(filters[u]);
    }
    sk_mbconn_free(c);
    sk_vreader_free(v);
    sk_profile_free(prof);
    return rc;
}
