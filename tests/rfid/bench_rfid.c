/* SPDX-License-Identifier: MIT */
/* RFID benchmark: poll throughput over TCP loopback against virtual readers, next to a bare
 * libmodbus loop reading the same registers from the same server, CPU per 1,000 polls, filter
 * cost. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/resource.h>

#include <modbus.h>

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
 *  2. the reference: a bare libmodbus loop in this process (its own connection to the same
 *     server), reading the same table (125 registers at 0x100 from every unit, the largest
 *     read of a changing poll) as fast as the server answers: nothing but modbus_read_registers.
 *     Rounds of ours (changing) and of the loop take turns (ROUNDS, 5; 3 with --quick); the
 *     ratio is our 125-register request rate over the loop's, per round, min/median/max;
 *  3. the presence filter alone: nanoseconds per tag read, reported per 10,000 reads.
 * (mbpoll, the command-line client, pays a process start per run: it is no peer for a
 * long-running poller.)
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

/* The reference: modbus_read_registers of 125 registers at 0x100 from every unit in turn,
 * for secs; returns requests per second. */
static double run_bare(int port, int units, double secs)
{
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    if (!ctx || modbus_connect(ctx) < 0) {
        if (ctx) {
            modbus_free(ctx);
        }
        return -1;
    }
    modbus_set_response_timeout(ctx, 1, 0);
    uint16_t regs[125];
    uint64_t n = 0, errors = 0;
    int64_t t0 = sk_now_mono_us(), end = t0 + (int64_t)(secs * 1e6);
    while (sk_now_mono_us() < end) {
        for (int u = 1; u <= units; u++) {
            modbus_set_slave(ctx, u);
            if (modbus_read_registers(ctx, 0x100, 125, regs) == 125) {
                n++;
            } else {
                errors++;
            }
        }
    }
    double el = (double)(sk_now_mono_us() - t0) / 1e6;
    modbus_close(ctx);
    modbus_free(ctx);
    return errors ? -1 : (double)n / el;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats(double *v, int n, double out[3])
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    out[0] = v[0];
    out[1] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    out[2] = v[n - 1];
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
    double secs = quick ? 0.5 : 2.0;
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

    /* Rounds: ours on changing tables, then the bare loop, taking turns. */
    enum {
        MAX_ROUNDS = 9
    };

    int rounds = quick ? 3 : 5;
    double ours[MAX_ROUNDS], ref[MAX_ROUNDS], ratio[MAX_ROUNDS];
    struct result ch = {0};
    bool ref_ok = true;
    sk_vreader_fault(v, 0, SK_VFAULT_READ_PROB, 90);
    for (int i = 0; i < rounds; i++) {
        struct result r = run_polls(c, readers, filters, units, secs, true);
        ch.secs += r.secs;
        ch.cpu += r.cpu;
        ch.polls += r.polls;
        ch.requests += r.requests;
        ch.tags += r.tags;
        ch.errors += r.errors;
        /* 10 of every 11 reads of a 64-tag table are 125 registers; status reads are 8 */
        double req = (double)r.requests / r.secs;
        ours[i] = req * (double)(r.requests - r.polls) / (double)r.requests;
        ref[i] = run_bare(port, units, secs);
        ref_ok = ref_ok && ref[i] > 0;
        ratio[i] = ref[i] > 0 ? ours[i] / ref[i] : 0;
    }
    sk_vreader_fault(v, 0, SK_VFAULT_READ_PROB, 100);
    run_polls(c, readers, filters, units, 0.3, true); /* settle on full tables */
    struct result st = run_polls(c, readers, filters, units, secs, false);
    double filt = bench_filter(quick ? 200000 : 5000000);

    double ch_req = (double)ch.requests / ch.secs;
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
    int rc = ch.errors || st.errors || ch.polls == 0 || !ref_ok ? 1 : 0;
    if (ref_ok) {
        double os[3], rs[3], qs[3];
        stats(ours, rounds, os);
        stats(ref, rounds, rs);
        stats(ratio, rounds, qs);
        printf("125-register reads from %d units, %d rounds of %.0f s taking turns:\n"
               "  ours (the full-table polls)   %.0f [%.0f-%.0f] requests/s\n"
               "  bare libmodbus loop           %.0f [%.0f-%.0f] requests/s\n"
               "  ratio ours/bare               %.2f [%.2f-%.2f]\n",
               units, rounds, secs, os[1], os[0], os[2], rs[1], rs[0], rs[2], qs[1], qs[0], qs[2]);
        printf("BENCH {\"bench\":\"rfid\",\"case\":\"125-register reads, %d units over TCP\","
               "\"unit\":\"requests/s\",\"ours\":[%.0f,%.0f,%.0f],\"ref\":[%.0f,%.0f,%.0f],"
               "\"ratio\":[%.3f,%.3f,%.3f],\"ref_name\":\"bare libmodbus loop, same server\","
               "\"goal\":\"\",\"rounds\":%d}\n",
               units, os[0], os[1], os[2], rs[0], rs[1], rs[2], qs[0], qs[1], qs[2], rounds);
    } else {
        printf("bare libmodbus loop: failed against the virtual readers; no ratio\n");
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
