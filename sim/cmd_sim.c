/* SPDX-License-Identifier: MIT */
/* `storekeeper sim`: the simulated store (scenarios) and its virtual readers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "scenario.h"
#include "sim_crash.h"
#include "sim_internal.h"
#include "sim_run.h"
#include "storekeeper/args.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/log.h"
#include "storekeeper/sim.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: storekeeper sim SCENARIO [--score] [--json] [--live] [--keep DIR] [--record "
            "F]\n"
            "                            [--broker HOST:PORT] [--crash N [--crash-seed S]]\n"
            "       storekeeper sim --check SCENARIO...\n"
            "       storekeeper sim reader --listen ENDPOINT [OPTIONS]\n\n"
            "The simulated store. SCENARIO is a scenario file (docs/simulator.md; a suite is in\n"
            "examples/scenarios/): shoppers walking to shelves, taking and putting back items,\n"
            "restocks and reader faults. The simulator runs virtual Modbus readers on\n"
            "loopback, a synthetic overhead camera rendering the shoppers, and storekeeper's\n"
            "own runtime against them in this process, in real time; then it compares what\n"
            "the store reported with the scenario's truth.\n\n"
            "options:\n"
            "      --score       print precision and recall of cart lines, exact carts,\n"
            "                    phantom charges, missed items and count errors\n"
            "      --json        the score as JSON on stdout (implies --score), with what\n"
            "                    review would see of each checkout\n"
            "      --live        print checkouts (and unpaid exits) as the store reports them\n"
            "      --keep DIR    keep the store's files there: store.cfg, catalog, ledger.db,\n"
            "                    truth.json (the ground truth), events.jsonl (what it reported)\n"
            "      --record FILE the runtime records what its core handles, as `run --record`\n"
            "                    (then: storekeeper replay -c DIR/store.cfg FILE)\n"
            "      --broker HOST:PORT  use this broker instead of starting one\n"
            "      --crash N     the crash loop (docs/reliability.md): the runtime runs as\n"
            "                    `storekeeper run` in a child process and is SIGKILLed N times\n"
            "                    at random moments and started again; then every event must\n"
            "                    have been delivered, ids and seqs consistent, the ledger\n"
            "                    sound. Exit 1 when a check fails\n"
            "      --crash-seed S  seed of the kill schedule (default: from the clock; printed)\n"
            "      --check       only parse and plan the scenarios, report problems (with -v:\n"
            "                    print each plan: visits, and the readers' timeline)\n"
            "  -v, --verbose     the runtime logs at info (default: warnings only)\n"
            "  -h, --help        this help\n\n"
            "  reader            virtual RFID readers on their own (`storekeeper sim reader "
            "--help`)\n\n"
            "exit codes: 0 ok, 1 failure at run time, 2 usage or scenario error\n");
}

static void print_score(FILE *out,
                        const struct scenario *sc,
                        const struct sim_result *res,
                        const struct sim_score *s)
{
    fprintf(out,
            "scenario: %s\n"
            "  visits %d, exact carts %d/%d (%.1f %%; by tag %d, %d tags swapped)\n"
            "  cart lines: %d taken, %d charged, %d right: precision %.3f, recall %.3f\n"
            "  phantom charges %d (%d in checkouts not sent to review), missed items %d, count "
            "errors %d\n"
            "  checkouts matching no visit %d, account errors %d, carts abandoned %d, "
            "unpaid exits %d\n"
            "  stock errors at the end %d\n"
            "  review: %d of %d checkouts; %d wrong and unreviewed, %d misattributed (%d flagged "
            "at "
            "the taker), %d contested lines, %d phantom charges naming the taker\n"
            "  events: %zu received over MQTT, %zu in the ledger's outbox, %zu of those missing\n",
            sc->name, s->visits, s->exact, s->visits,
            s->visits ? 100.0 * s->exact / s->visits : 100.0, s->exact_tags, s->tag_swaps,
            s->truth_lines, s->charged, s->true_pos, s->precision, s->recall, s->phantom,
            s->phantom_unreviewed, s->missed, s->count_errors, s->unmatched, s->token_errors,
            s->abandoned, s->unpaid, s->stock_errors, s->reviewed, s->checkouts,
            s->wrong_unreviewed, s->misattributed, s->taker_flagged, s->contested_lines,
            s->taker_named, res->n_events, res->n_outbox, res->n_missing);
}

static void
print_json(const struct scenario *sc, const struct sim_result *res, const struct sim_score *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "scenario", sc->name);
    cJSON_AddStringToObject(o, "file", sc->path);
    cJSON_AddStringToObject(o, "events_from", res->source);
    cJSON_AddNumberToObject(o, "events", (double)res->n_events);
    cJSON_AddNumberToObject(o, "outbox_events", (double)res->n_outbox);
    cJSON_AddNumberToObject(o, "events_missing", (double)res->n_missing);
    cJSON_AddNumberToObject(o, "visits", s->visits);
    cJSON_AddNumberToObject(o, "exact_carts", s->exact);
    cJSON_AddNumberToObject(o, "exact_tags", s->exact_tags);
    cJSON_AddNumberToObject(o, "tag_swaps", s->tag_swaps);
    cJSON_AddNumberToObject(o, "truth_lines", s->truth_lines);
    cJSON_AddNumberToObject(o, "charged_lines", s->charged);
    cJSON_AddNumberToObject(o, "true_positives", s->true_pos);
    cJSON_AddNumberToObject(o, "precision", s->precision);
    cJSON_AddNumberToObject(o, "recall", s->recall);
    cJSON_AddNumberToObject(o, "phantom_charges", s->phantom);
    cJSON_AddNumberToObject(o, "phantom_charges_unreviewed", s->phantom_unreviewed);
    cJSON_AddNumberToObject(o, "missed_items", s->missed);
    cJSON_AddNumberToObject(o, "count_errors", s->count_errors);
    cJSON_AddNumberToObject(o, "unmatched_checkouts", s->unmatched);
    cJSON_AddNumberToObject(o, "account_errors", s->token_errors);
    cJSON_AddNumberToObject(o, "carts_abandoned", s->abandoned);
    cJSON_AddNumberToObject(o, "unpaid_exits", s->unpaid);
    cJSON_AddNumberToObject(o, "stock_errors", s->stock_errors);
    cJSON_AddNumberToObject(o, "checkouts", s->checkouts);
    cJSON_AddNumberToObject(o, "reviewed", s->reviewed);
    cJSON_AddNumberToObject(o, "wrong_unreviewed", s->wrong_unreviewed);
    cJSON_AddNumberToObject(o, "misattributed", s->misattributed);
    cJSON_AddNumberToObject(o, "taker_flagged", s->taker_flagged);
    cJSON_AddNumberToObject(o, "taker_named", s->taker_named);
    cJSON_AddNumberToObject(o, "contested_lines", s->contested_lines);
    cJSON_AddNumberToObject(o, "duration_s", sc->duration);
    cJSON_AddStringToObject(o, "work_dir", res->work_dir);
    if (s->detail) {
        cJSON_AddItemReferenceToObject(o, "checkout_review", s->detail);
    }
    char *text = cJSON_PrintUnformatted(o);
    if (text) {
        printf("%s\n", text);
    }
    free(text);
    cJSON_Delete(o);
}

static const char *const ev_names[] = {"",        "add",   "del",  "portal+",
                                       "portal-", "fault", "bind", "badge"};

/* The plan of a scenario, for its author: visits and the readers' timeline. */
static void print_plan(const struct scenario *sc)
{
    for (size_t v = 0; v < sc->n_visits; v++) {
        const struct sc_visit *vi = &sc->visits[v];
        printf("  visit %-8s in %6.1f s  out %6.1f s  cart:", sc->shoppers[vi->shopper].name,
               vi->enter_t, vi->exit_t);
        for (size_t k = 0; k < vi->n_cart; k++) {
            printf(" %s", sc_product(sc->items[vi->cart[k]].sku)->sku);
        }
        printf("%s\n", vi->token[0] ? "  (bound)" : "");
    }
    for (size_t i = 0; i < sc->n_events; i++) {
        const struct sc_event *e = &sc->events[i];
        printf("  %6.1f s  %-8s %s %s\n", e->t, ev_names[e->kind],
               e->shelf >= 0 ? sc_shelf_name(e->shelf) : "portal",
               e->kind <= SC_EV_PORTAL_DEL ? sc_product(sc->items[e->item].sku)->sku : "");
    }
}

/* --crash N: the crash loop, its report and score. Frees sc. */
static int run_crash(struct scenario *sc, struct sim_opts *o, int kills, uint64_t seed, bool json)
{
    if (!seed) {
        seed = (uint64_t)sk_now_wall_us();
    }
    fprintf(json ? stderr : stdout,
            "sim: crash loop: %d SIGKILL(s), seed %llu "
            "(again: --crash-seed %llu)\n",
            kills, (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);
    struct sim_crash_opts co = {.kills = kills, .seed = seed};
    struct sim_result res;
    struct sim_crash_report rep;
    int r = sim_run_crash(sc, o, &co, &res, &rep);
    if (r < 0) {
        fprintf(stderr, "sim: the crash loop failed: %s (files in %s)\n", sk_strerror(r),
                res.work_dir);
        sim_result_free(&res);
        sc_free(sc);
        return SK_EXIT_FAILURE;
    }
    struct sim_score s;
    sim_score(sc, &res, &s);
    bool ok = sim_crash_ok(&rep, &res);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "scenario", sc->name);
        cJSON_AddNumberToObject(j, "seed", (double)rep.seed);
        cJSON_AddNumberToObject(j, "kills", rep.kills);
        cJSON_AddNumberToObject(j, "restarts", rep.restarts);
        cJSON_AddNumberToObject(j, "unexpected_exits", rep.unexpected_exits);
        cJSON_AddBoolToObject(j, "clean_exit", rep.clean_exit);
        if (sc->boards) {
            cJSON_AddBoolToObject(j, "clean_exit_satellite", rep.clean_exit_satellite);
        }
        cJSON_AddNumberToObject(j, "drain_s", rep.drain_s);
        cJSON_AddNumberToObject(j, "ledger_events", (double)rep.ledger_events);
        cJSON_AddNumberToObject(j, "last_seq", (double)rep.last_seq);
        cJSON_AddNumberToObject(j, "received", (double)res.n_events);
        cJSON_AddNumberToObject(j, "unique_received", (double)rep.unique);
        cJSON_AddNumberToObject(j, "redelivered", (double)rep.redelivered);
        cJSON_AddNumberToObject(j, "events_missing", (double)res.n_missing);
        cJSON_AddNumberToObject(j, "id_conflicts", (double)rep.id_conflicts);
        cJSON_AddNumberToObject(j, "seq_gaps", (double)rep.seq_gaps);
        cJSON_AddNumberToObject(j, "unparsable", (double)rep.unparsable);
        cJSON_AddStringToObject(j, "integrity_check", rep.integrity);
        cJSON_AddStringToObject(j, "hash_chain", rep.chain);
        cJSON_AddNumberToObject(j, "movements", (double)rep.movements);
        cJSON_AddNumberToObject(j, "restart_max_s", rep.restart_max_s);
        cJSON_AddNumberToObject(j, "visits_seen_whole", rep.seen);
        cJSON_AddNumberToObject(j, "visits_seen_whole_exact", rep.seen_exact);
        cJSON_AddNumberToObject(j, "visits_blinded", rep.blinded);
        cJSON_AddNumberToObject(j, "visits_blinded_exact", rep.blinded_exact);
        cJSON_AddNumberToObject(j, "visits", s.visits);
        cJSON_AddNumberToObject(j, "exact_carts", s.exact);
        cJSON_AddNumberToObject(j, "truth_lines", s.truth_lines);
        cJSON_AddNumberToObject(j, "charged_lines", s.charged);
        cJSON_AddNumberToObject(j, "phantom_charges", s.phantom);
        cJSON_AddNumberToObject(j, "phantom_charges_unreviewed", s.phantom_unreviewed);
        cJSON_AddNumberToObject(j, "wrong_unreviewed", s.wrong_unreviewed);
        cJSON_AddNumberToObject(j, "reviewed", s.reviewed);
        cJSON_AddNumberToObject(j, "missed_items", s.missed);
        cJSON_AddNumberToObject(j, "unmatched_checkouts", s.unmatched);
        cJSON_AddNumberToObject(j, "stock_errors", s.stock_errors);
        cJSON_AddNumberToObject(j, "items_taken", rep.items_taken);
        cJSON_AddNumberToObject(j, "pickups", rep.pickups);
        cJSON_AddNumberToObject(j, "pickups_missing", rep.pickups_missing);
        cJSON_AddNumberToObject(j, "pickups_extra", rep.pickups_extra);
        cJSON_AddNumberToObject(j, "double_charged", rep.double_charged);
        cJSON_AddNumberToObject(j, "commands", rep.commands);
        cJSON_AddNumberToObject(j, "command_replies", rep.command_replies);
        cJSON_AddNumberToObject(j, "commands_applied_twice", rep.commands_applied_twice);
        cJSON_AddNumberToObject(j, "commands_unanswered", rep.commands_unanswered);
        cJSON_AddNumberToObject(j, "commands_inconsistent", rep.commands_inconsistent);
        cJSON_AddBoolToObject(j, "ok", ok);
        cJSON_AddStringToObject(j, "detail", rep.detail);
        cJSON_AddStringToObject(j, "work_dir", res.work_dir);
        char *text = cJSON_PrintUnformatted(j);
        if (text) {
            printf("%s\n", text);
        }
        free(text);
        cJSON_Delete(j);
    } else {
        printf("crash loop of \"%s\" (seed %llu)\n"
               "  kills %d, restarts %d, exits nobody caused %d, clean stop at the end: %s\n"
               "  events: %zu in the ledger (seq 1..%lld, %zu gap(s)), %zu received (%zu "
               "distinct, %zu redelivered), %zu missing, %zu id conflict(s)\n"
               "  ledger: integrity_check %s, hash chain %s (%lld movements)\n"
               "  drained %.1f s after the scenario; longest restart (kill to READY) %.2f s\n"
               "  carts: %d of %d visit(s) seen whole, %d of them exact; %d touched by a "
               "blind window, %d of them exact, %d item(s) not charged; %d phantom charge(s) "
               "(%d not sent to review), %d stock error(s)\n"
               "  items: %d taken, %d pickup(s) recorded, %d missing, %d extra; %d charged "
               "twice\n"
               "  commands: %d sent again after every restart, %d replies; %d applied twice, "
               "%d unanswered, %d answered two ways\n",
               sc->name, (unsigned long long)rep.seed, rep.kills, rep.restarts,
               rep.unexpected_exits, rep.clean_exit ? "yes" : "NO", rep.ledger_events,
               (long long)rep.last_seq, rep.seq_gaps, res.n_events, rep.unique, rep.redelivered,
               res.n_missing, rep.id_conflicts, rep.integrity, rep.chain, (long long)rep.movements,
               rep.drain_s, rep.restart_max_s, rep.seen, rep.visits, rep.seen_exact, rep.blinded,
               rep.blinded_exact, rep.blinded_missed, rep.phantom, rep.phantom_unreviewed,
               rep.stock_errors, rep.items_taken, rep.pickups, rep.pickups_missing,
               rep.pickups_extra, rep.double_charged, rep.commands, rep.command_replies,
               rep.commands_applied_twice, rep.commands_unanswered, rep.commands_inconsistent);
        print_score(stdout, sc, &res, &s);
        printf("%s%s%s; files in %s\n", ok ? "PASS" : "FAIL", rep.detail[0] ? ": " : "", rep.detail,
               res.work_dir);
    }
    sim_result_free(&res);
    sc_free(sc);
    return ok ? SK_EXIT_OK : SK_EXIT_FAILURE;
}

static int check(int argc, char **argv, bool verbose)
{
    int bad = 0;
    for (int i = 0; i < argc; i++) {
        char err[512];
        struct scenario *sc = NULL;
        if (sc_load(argv[i], err, sizeof(err), &sc) < 0) {
            fprintf(stderr, "%s\n", err);
            bad++;
            continue;
        }
        size_t lines = 0;
        for (size_t v = 0; v < sc->n_visits; v++) {
            lines += sc->visits[v].n_cart;
        }
        printf("%s: ok: \"%s\", %zu shopper(s), %zu visit(s), %zu item(s) bought, %zu tag(s), "
               "%.0f s\n",
               argv[i], sc->name, sc->n_shoppers, sc->n_visits, lines, sc->n_items, sc->duration);
        if (verbose) {
            print_plan(sc);
        }
        sc_free(sc);
    }
    return bad ? SK_EXIT_USAGE : SK_EXIT_OK;
}

int sk_cmd_sim(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "reader") == 0) {
        return sim_cmd_reader(argc - 1, argv + 1);
    }

    bool score = false, json = false, only_check = false;
    struct sim_opts o = {.out = stdout};
    int crash = -1;
    uint64_t crash_seed = 0;
    const struct sk_opt table[] = {
            SK_OPT_FLAG("score", 0, &score),
            SK_OPT_FLAG("json", 0, &json),
            SK_OPT_FLAG("live", 0, &o.live),
            SK_OPT_STRING("keep", 0, &o.work_dir),
            SK_OPT_FLAG("check", 0, &only_check),
            SK_OPT_FLAG("verbose", 'v', &o.verbose),
            SK_OPT_STRING("record", 0, &o.record),
            SK_OPT_STRING("broker", 0, &o.broker),
            SK_OPT_INT("crash", 0, &crash, 0, 10000),
            SK_OPT_UINT64("crash-seed", 0, &crash_seed),
            SK_OPT_TABLE_END,
    };
    const struct sk_args args = {
            .cmd = "sim", .opts = table, .usage = usage, .max_operands = SK_ARGS_OPERANDS_ANY};
    int first = sk_args_parse(&args, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    score |= json;
    if (only_check) {
        if (first >= argc) {
            return sk_cli_usage_error("sim", "--check needs one or more scenario files");
        }
        return check(argc - first, argv + first, o.verbose);
    }
    if (first != argc - 1) {
        return sk_cli_usage_error("sim", "one scenario file is needed: sim SCENARIO");
    }
    char err[512];
    struct scenario *sc = NULL;
    if (sc_load(argv[first], err, sizeof(err), &sc) < 0) {
        fprintf(stderr, "%s\n", err);
        return SK_EXIT_USAGE;
    }
    if (json) {
        o.out = stderr; /* stdout carries the JSON only */
    }
    if (!json) {
        fprintf(stdout, "sim: \"%s\": %zu shopper(s), %.0f s of store time\n", sc->name,
                sc->n_shoppers, sc->duration);
        fflush(stdout);
    }
    if (crash >= 0) {
        return run_crash(sc, &o, crash, crash_seed, json);
    }
    struct sim_result res;
    int r = sim_run(sc, &o, &res);
    if (r < 0) {
        sim_result_free(&res);
        sc_free(sc);
        return SK_EXIT_FAILURE;
    }
    if (score) {
        struct sim_score s;
        if (json) {
            sim_score_detailed(sc, &res, &s);
            print_json(sc, &res, &s);
        } else {
            sim_score(sc, &res, &s);
            print_score(stdout, sc, &res, &s);
        }
        sim_score_free(&s);
    }
    if (!json) {
        printf("sim: %zu event(s); files in %s\n", res.n_events, res.work_dir);
    }
    sim_result_free(&res);
    sc_free(sc);
    return SK_EXIT_OK;
}
