/* SPDX-License-Identifier: MIT */
/* `storekeeper diag mqtt`: reach the broker as the store would, step by step, in plain words. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "cmd_diag.h"
#include "storekeeper/cli.h"
#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/error.h"
#include "storekeeper/mqtt.h"
#include "storekeeper/mqtt_payload.h"
#include "storekeeper/queue.h"

/*
 * DESIGN
 * The technician's question is "why does this store not reach the cloud". Each step below
 * runs only when the one before passed, and a failing step says what is wrong in words a
 * technician can act on: the name does not resolve, nothing listens on the port, a firewall
 * drops the packets, the certificate is for another name or signed by another CA or expired,
 * the broker refuses the user name or password. The TLS step is a handshake of our own with
 * OpenSSL, so the exact verification result can be named; the MQTT steps use the runtime's
 * own link (sk_mqtt_link) with a client id of its own, so a running daemon is not disturbed
 * and what passes here is what the daemon does.
 */

#define STEPS_MAX 8

struct step {
    const char *name;
    const char *result; /* PASS, FAIL, SKIP, INFO */
    char detail[400];
};

struct report {
    struct step steps[STEPS_MAX];
    size_t n;
    bool failed;
    double rtt_ms;
    int protocol;
};

static struct step *
add(struct report *rep, const char *name, const char *result, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static struct step *
add(struct report *rep, const char *name, const char *result, const char *fmt, ...)
{
    struct step *s = &rep->steps[rep->n < STEPS_MAX ? rep->n++ : STEPS_MAX - 1];
    s->name = name;
    s->result = result;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
    va_end(ap);
    if (strcmp(result, "FAIL") == 0) {
        rep->failed = true;
    }
    return s;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: storekeeper diag mqtt [-c STORE.cfg] [OPTIONS]\n\n"
                 "Connects to the broker with the store's settings (host, port, TLS files,\n"
                 "credentials file, MQTT version) and reports each step: name resolution, TCP,\n"
                 "TLS (version, cipher, the broker's certificate), MQTT connect (the version the\n"
                 "broker speaks), then a message published and received back (round-trip time).\n"
                 "A failing step says why in plain words: refused, unreachable, certificate\n"
                 "mismatch, untrusted or expired certificate, bad credentials, not authorized.\n"
                 "It uses its own client id (<client id>-diag-<pid>), so a running daemon keeps\n"
                 "its connection. The password is never printed.\n\n"
                 "options:\n"
                 "  -c, --config FILE   store configuration (default $STOREKEEPER_CONFIG or\n"
                 "                      /etc/storekeeper/store.cfg)\n"
                 "  -b, --board NAME    board profile, overriding the file's\n"
                 "      --timeout S     seconds per step (default: mqtt.connect_timeout_s)\n"
                 "      --json          machine-readable report\n"
                 "  -h, --help          this help\n\n"
                 "exit codes: 0 PASS (message went through the broker and back), 1 FAIL,\n"
                 "            2 usage or configuration error\n");
}

/* ---- TCP ------------------------------------------------------------------------------------ */

/* Connects with a timeout. Returns the socket, or -errno (-EHOSTUNREACH for DNS failures). */
static int tcp_connect(const char *host,
                       int port,
                       int timeout_ms,
                       char *addr_out,
                       size_t addr_size,
                       char *err,
                       size_t err_size)
{
    char ps[8];
    snprintf(ps, sizeof(ps), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, ps, &hints, &res);
    if (g != 0) {
        snprintf(err, err_size, "%s", gai_strerror(g));
        return -EADDRNOTAVAIL;
    }
    int e = ETIMEDOUT;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        char ip[INET6_ADDRSTRLEN] = "?";
        if (a->ai_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)a->ai_addr)->sin_addr, ip, sizeof(ip));
        } else if (a->ai_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, ip, sizeof(ip));
        }
        snprintf(addr_out, addr_size, "%s", ip);
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
            e = errno;
            close(fd);
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, timeout_ms);
        socklen_t el = sizeof(e);
        if (n == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0) {
            freeaddrinfo(res);
            int fl = fcntl(fd, F_GETFL);
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
            return fd;
        }
        if (n == 0) {
            e = ETIMEDOUT;
        }
        close(fd);
    }
    freeaddrinfo(res);
    snprintf(err, err_size, "%s", strerror(e));
    return -e;
}

/* ---- TLS ------------------------------------------------------------------------------------ */

static void names_of(X509 *cert, char *out, size_t size)
{
    out[0] = '\0';
    size_t used = 0;
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        char buf[80] = "";
        if (gn->type == GEN_DNS) {
            snprintf(buf, sizeof(buf), "DNS:%.*s", ASN1_STRING_length(gn->d.dNSName),
                     (const char *)ASN1_STRING_get0_data(gn->d.dNSName));
        } else if (gn->type == GEN_IPADD && ASN1_STRING_length(gn->d.iPAddress) == 4) {
            const unsigned char *b = ASN1_STRING_get0_data(gn->d.iPAddress);
            snprintf(buf, sizeof(buf), "IP:%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
        } else if (gn->type == GEN_IPADD) {
            snprintf(buf, sizeof(buf), "IP:(v6)");
        }
        if (buf[0] && used < size) {
            int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", buf);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    GENERAL_NAMES_free(sans);
    char cn[128];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                                  (int)sizeof(cn)) > 0 &&
        used < size) {
        snprintf(out + used, size - used, "%sCN=%s", used ? ", " : "", cn);
    }
}

static void asn1_time(const ASN1_TIME *t, char *out, size_t size)
{
    struct tm tm;
    if (t && ASN1_TIME_to_tm(t, &tm) == 1) {
        strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
    } else {
        snprintf(out, size, "?");
    }
}

/* The broker's own certificate as the verification saw it: after a failed verification
 * OpenSSL no longer hands out the peer certificate, and the report needs its names. */
static X509 *leaf;

static int keep_leaf(int ok, X509_STORE_CTX *x)
{
    if (X509_STORE_CTX_get_error_depth(x) == 0 && !leaf) {
        leaf = X509_STORE_CTX_get_current_cert(x);
        if (leaf) {
            X509_up_ref(leaf);
        }
    }
    return ok;
}

/* Our own handshake with the store's TLS settings; names the verification result. */
static bool tls_step(struct report *rep, const struct sk_config *cfg, int fd, int timeout_ms)
{
    const struct sk_mqtt_cfg *m = &cfg->mqtt;
    char ca[SK_PATH_MAX * 2] = "", cert[SK_PATH_MAX * 2] = "", key[SK_PATH_MAX * 2] = "";
    if (m->ca_file[0]) {
        sk_config_resolve_path(cfg, m->ca_file, ca, sizeof(ca));
    }
    if (m->cert_file[0]) {
        sk_config_resolve_path(cfg, m->cert_file, cert, sizeof(cert));
    }
    if (m->key_file[0]) {
        sk_config_resolve_path(cfg, m->key_file, key, sizeof(key));
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    bool ok = false;
    if (!ctx) {
        add(rep, "tls", "FAIL", "OpenSSL cannot create a context");
        return false;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if ((ca[0] ? SSL_CTX_load_verify_locations(ctx, ca, NULL)
               : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
        add(rep, "tls", "FAIL", "cannot load the CA certificate(s) from %s (not PEM?)",
            ca[0] ? ca : "the system store");
        goto out;
    }
    if (cert[0]) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
            add(rep, "tls", "FAIL", "cannot load the client certificate %s (not PEM?)", cert);
            goto out;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            add(rep, "tls", "FAIL", "cannot load the client key %s (not PEM, or encrypted?)", key);
            goto out;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            add(rep, "tls", "FAIL", "the client key %s does not belong to the certificate %s", key,
                cert);
            goto out;
        }
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, keep_leaf);
    ssl = SSL_new(ctx);
    if (!ssl) {
        add(rep, "tls", "FAIL", "OpenSSL cannot create a session");
        goto out;
    }
    struct in6_addr a6;
    bool is_ip = inet_pton(AF_INET, m->host, &a6) == 1 || inet_pton(AF_INET6, m->host, &a6) == 1;
    if (!is_ip) {
        SSL_set_tlsext_host_name(ssl, m->host);
    }
    if (!m->tls_insecure) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        if (is_ip) {
            X509_VERIFY_PARAM_set1_ip_asc(vp, m->host);
        } else {
            X509_VERIFY_PARAM_set1_host(vp, m->host, 0);
        }
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    SSL_set_fd(ssl, fd);
    ERR_clear_error();
    int r = SSL_connect(ssl);
    X509 *peer = SSL_get1_peer_certificate(ssl);
    if (!peer) {
        peer = leaf;
        leaf = NULL;
    }
    char names[256] = "", subject[256] = "", issuer[256] = "", until[40] = "", from[40] = "";
    if (peer) {
        names_of(peer, names, sizeof(names));
        X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof(subject));
        X509_NAME_oneline(X509_get_issuer_name(peer), issuer, sizeof(issuer));
        asn1_time(X509_get0_notAfter(peer), until, sizeof(until));
        asn1_time(X509_get0_notBefore(peer), from, sizeof(from));
    }
    if (r == 1) {
        /* With TLS 1.3 the server checks our certificate after the handshake and answers
         * with an alert: wait briefly for one (a broker sends nothing before CONNECT). */
        struct timeval shortwait = {0, 300000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &shortwait, sizeof(shortwait));
        char b;
        ERR_clear_error();
        int pr = SSL_peek(ssl, &b, 1);
        int pe = pr <= 0 ? SSL_get_error(ssl, pr) : SSL_ERROR_NONE;
        if (pe == SSL_ERROR_SSL || pe == SSL_ERROR_ZERO_RETURN ||
            (pe == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0 && errno != EAGAIN &&
             errno != EWOULDBLOCK)) {
            unsigned long pe2 = ERR_peek_last_error();
            char pbuf[160] = "closed";
            if (pe2) {
                ERR_error_string_n(pe2, pbuf, sizeof(pbuf));
            }
            add(rep, "tls", "FAIL", "the broker refused our client certificate%s (%s)",
                cert[0] ? " (not signed by a CA it trusts, or revoked)"
                        : " (none is configured: set mqtt.cert_file and key_file)",
                pbuf);
            goto out_peer;
        }
        const char *cipher = SSL_get_cipher_name(ssl);
        add(rep, "tls", "PASS",
            "%s, %s; broker certificate %s (names %s), issued by %s, valid until %s%s",
            SSL_get_version(ssl), cipher ? cipher : "?", subject, names, issuer, until,
            m->tls_insecure ? "; host name NOT checked (mqtt.tls_insecure)" : "");
        ok = true;
        SSL_shutdown(ssl);
        goto out_peer;
    }
    long v = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_last_error();
    char ebuf[160];
    ERR_error_string_n(e, ebuf, sizeof(ebuf));
    switch (v) {
    case X509_V_OK:
        if (ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER ||
            ERR_GET_REASON(e) == SSL_R_PACKET_LENGTH_TOO_LONG) {
            add(rep, "tls", "FAIL",
                "the broker does not speak TLS on port %d (a plain MQTT port?) (%s)", m->port,
                ebuf);
        } else if (ERR_GET_REASON(e) == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
                   ERR_GET_REASON(e) == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
                   ERR_GET_REASON(e) == SSL_R_TLSV1_ALERT_UNKNOWN_CA ||
                   ERR_GET_REASON(e) == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN) {
            add(rep, "tls", "FAIL", "the broker refused our client certificate%s (%s)",
                cert[0] ? "" : " (none is configured: set mqtt.cert_file and key_file)", ebuf);
        } else if (e == 0) {
            add(rep, "tls", "FAIL",
                "the broker closed the connection during the handshake: port %d may not speak "
                "TLS (a plain MQTT port?), or the broker wants a client certificate%s",
                m->port, cert[0] ? "" : " (none is configured)");
        } else {
            add(rep, "tls", "FAIL", "handshake failed: %s", ebuf);
        }
        break;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        add(rep, "tls", "FAIL",
            "certificate mismatch: the broker's certificate is for %s, not for \"%s\" (connect "
            "by one of those names, or get a certificate for this one)",
            names[0] ? names : subject, m->host);
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        add(rep, "tls", "FAIL", "the broker's certificate %s expired on %s", subject, until);
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        add(rep, "tls", "FAIL",
            "the broker's certificate is valid only from %s: check this board's clock", from);
        break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        add(rep, "tls", "FAIL",
            "the broker's certificate (%s, issued by %s) is not signed by a CA in %s", subject,
            issuer, ca[0] ? ca : "the system store");
        break;
    default:
        add(rep, "tls", "FAIL", "the broker's certificate %s is not accepted: %s", subject,
            X509_verify_cert_error_string(v));
        break;
    }
out_peer:
    X509_free(peer);
    X509_free(leaf);
    leaf = NULL;
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return ok;
}

/* ---- MQTT through the runtime's link ------------------------------------------------------- */

/* Waits for a link observation; returns 1 with it, 0 on timeout. */
static int wait_obs(struct sk_queue *q, int timeout_ms, struct sk_obs *out)
{
    int64_t deadline = sk_now_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        if (sk_queue_pop(q, out) == 1) {
            return 1;
        }
        int64_t left = (deadline - sk_now_mono_us()) / 1000;
        if (left <= 0) {
            return 0;
        }
        struct pollfd p = {.fd = sk_queue_fd(q), .events = POLLIN};
        poll(&p, 1, left > 200 ? 200 : (int)left);
    }
}

static void mqtt_steps(struct report *rep, const struct sk_config *cfg, int timeout_ms)
{
    struct sk_queue *q = NULL;
    if (sk_queue_new(256, 192, 64, &q) < 0) {
        add(rep, "mqtt", "FAIL", "out of memory");
        return;
    }
    char suffix[32];
    snprintf(suffix, sizeof(suffix), "diag-%d", (int)getpid());
    static const char *const subs[] = {"diag/echo/+", NULL};
    struct sk_mqtt_link_opts lo = {.cfg = cfg,
                                   .queue = q,
                                   .client_suffix = suffix,
                                   .once = true,
                                   .no_will = true,
                                   .subscriptions = subs};
    struct sk_mqtt_link *link = NULL;
    if (sk_mqtt_link_new(&lo, &link) < 0 || sk_mqtt_link_start(link) < 0) {
        add(rep, "mqtt", "FAIL", "cannot start the MQTT client");
        sk_mqtt_link_free(link);
        sk_queue_free(q);
        return;
    }
    struct sk_obs o;
    uint32_t gen = 0;
    bool connected = false, subscribed = false;
    int64_t t0 = sk_now_mono_us();
    while (!connected || !subscribed) {
        int w = wait_obs(q, timeout_ms, &o);
        if (!w) {
            add(rep, "mqtt", "FAIL", "no answer from the broker within %d ms", timeout_ms);
            goto out;
        }
        if (o.type != SK_OBS_MQTT_LINK) {
            sk_obs_release(&o);
            continue;
        }
        const struct sk_obs_mqtt *m = &o.u.mqtt;
        if (m->event == SK_MQTT_CONNECT_FAILED && m->retry_ms >= 0) {
            continue; /* the fallback from MQTT 5 to 3.1.1: the link tries again at once */
        }
        if (m->event == SK_MQTT_CONNECT_FAILED) {
            const char *why = m->flags & SK_MQTT_F_AUTH ? "bad credentials: " : "";
            add(rep, "mqtt", "FAIL", "%s%s", why, m->detail);
            goto out;
        }
        if (m->event == SK_MQTT_CONNECTED) {
            connected = true;
            gen = m->generation;
            rep->protocol = m->protocol;
            char cid[128];
            sk_mqtt_client_id(cfg, suffix, cid, sizeof(cid));
            add(rep, "mqtt", "PASS", "connected as %s in %.1f ms; the broker speaks MQTT %s%s", cid,
                (double)(o.mono_us - t0) / 1000.0, m->protocol == 5 ? "5" : "3.1.1",
                cfg->mqtt.protocol == 0 && m->protocol == 4 ? " (fell back from 5)" : "");
        } else if (m->event == SK_MQTT_SUBACK) {
            subscribed = true;
            if (m->reason_code >= 0x80) {
                add(rep, "subscribe", "FAIL",
                    "the broker refused the subscription (reason 0x%02x): the broker's ACL "
                    "does not let this user read its topics",
                    (unsigned)m->reason_code);
                goto out;
            }
        } else if (m->event == SK_MQTT_DISCONNECTED) {
            add(rep, "mqtt", "FAIL", "%s", m->detail);
            goto out;
        }
    }
    char token[37];
    sk_mqtt_uuid(token);
    char topic[SK_TOPIC_MAX], sfx[64];
    snprintf(sfx, sizeof(sfx), "diag/echo/%s", token);
    sk_mqtt_topic(cfg, sfx, topic, sizeof(topic));
    int64_t now = sk_now_wall_us();
    struct sk_mqtt_env env = {SK_SCHEMA_ECHO, cfg->store_id, cfg->device_id, NULL, 0, now, now};
    cJSON *p = sk_mqtt_env_new(&env);
    if (p) {
        cJSON_AddStringToObject(p, "token", token);
    }
    char *payload = sk_mqtt_print_free(p);
    struct sk_mqtt_pub pub = {.qos = 1};
    int64_t sent = sk_now_mono_us();
    int r = payload ? sk_mqtt_link_publish(link, gen, topic, payload, strlen(payload), &pub, NULL)
                    : -ENOMEM;
    free(payload);
    if (r < 0) {
        add(rep, "round trip", "FAIL", "cannot publish: %s", sk_strerror(r));
        goto out;
    }
    bool acked = false, echoed = false;
    double puback_ms = 0;
    while (!acked || !echoed) {
        if (!wait_obs(q, timeout_ms, &o)) {
            add(rep, "round trip", "FAIL",
                "%s within %d ms (the broker's ACL may not let this user %s)",
                acked ? "the message did not come back" : "no PUBACK", timeout_ms,
                acked ? "read diag/echo" : "write");
            goto out;
        }
        if (o.type != SK_OBS_MQTT_LINK) {
            sk_obs_release(&o);
            continue;
        }
        if (o.u.mqtt.event == SK_MQTT_PUBACK) {
            acked = true;
            puback_ms = (double)(o.mono_us - sent) / 1000.0;
            if (o.u.mqtt.reason_code >= 0x80) {
                add(rep, "round trip", "FAIL", "the broker refused the message: %s",
                    sk_mqtt_reason_text(5, o.u.mqtt.reason_code));
                goto out;
            }
        } else if (o.u.mqtt.event == SK_MQTT_ECHO && strcmp(o.u.mqtt.detail, token) == 0) {
            echoed = true;
            rep->rtt_ms = (double)(o.mono_us - sent) / 1000.0;
        } else if (o.u.mqtt.event == SK_MQTT_DISCONNECTED) {
            add(rep, "round trip", "FAIL", "%s", o.u.mqtt.detail);
            goto out;
        }
    }
    add(rep, "round trip", "PASS",
        "published at QoS 1 and received back in %.2f ms (PUBACK after %.2f ms)", rep->rtt_ms,
        puback_ms);
out:
    sk_mqtt_link_stop(link, 1000);
    sk_mqtt_link_free(link);
    while (sk_queue_pop(q, &o) == 1) {
        sk_obs_release(&o);
    }
    sk_queue_free(q);
}

static void print_report(const struct report *rep, const struct sk_config *cfg, bool json)
{
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "host", cfg->mqtt.host);
        cJSON_AddNumberToObject(o, "port", cfg->mqtt.port);
        cJSON_AddBoolToObject(o, "tls", cfg->mqtt.tls);
        cJSON_AddStringToObject(o, "result", rep->failed ? "FAIL" : "PASS");
        if (rep->protocol) {
            cJSON_AddStringToObject(o, "protocol", rep->protocol == 5 ? "5" : "3.1.1");
        }
        if (rep->rtt_ms > 0) {
            cJSON_AddNumberToObject(o, "rtt_ms", rep->rtt_ms);
        }
        cJSON *steps = cJSON_AddArrayToObject(o, "steps");
        for (size_t i = 0; i < rep->n; i++) {
            cJSON *s = cJSON_CreateObject();
            cJSON_AddStringToObject(s, "step", rep->steps[i].name);
            cJSON_AddStringToObject(s, "result", rep->steps[i].result);
            cJSON_AddStringToObject(s, "detail", rep->steps[i].detail);
            cJSON_AddItemToArray(steps, s);
        }
        char *text = cJSON_PrintUnformatted(o);
        printf("%s\n", text ? text : "{}");
        free(text);
        cJSON_Delete(o);
        return;
    }
    printf("broker %s:%d%s\n", cfg->mqtt.host, cfg->mqtt.port, cfg->mqtt.tls ? " (TLS)" : "");
    for (size_t i = 0; i < rep->n; i++) {
        printf("  %-11s %-4s  %s\n", rep->steps[i].name, rep->steps[i].result,
               rep->steps[i].detail);
    }
    printf("%s\n", rep->failed ? "FAIL" : "PASS");
}

int cli_diag_mqtt_direct(int argc, char **argv)
{
    const char *config = NULL, *board = NULL;
    bool json = false;
    double timeout_s = 0;
    const struct sk_opt table[] = {
            SK_OPT_STRING("config", 'c', &config),
            SK_OPT_STRING("board", 'b', &board),
            SK_OPT_POSITIVE("timeout", 0, &timeout_s, 600),
            SK_OPT_FLAG("json", 0, &json),
            SK_OPT_TABLE_END,
    };
    const struct sk_args args = {.cmd = "diag mqtt", .opts = table, .usage = usage};
    int first = sk_args_parse(&args, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    if (!config) {
        return sk_cli_usage_error("diag mqtt", "a store configuration is needed: -c STORE.cfg");
    }
    struct sk_config *cfg = NULL;
    if (sk_config_load_print(config, board, &cfg) < 0) {
        return SK_EXIT_USAGE;
    }
    int timeout_ms = (int)((timeout_s > 0 ? timeout_s : cfg->mqtt.connect_timeout_s) * 1000);
    struct report rep;
    memset(&rep, 0, sizeof(rep));
    const struct sk_mqtt_cfg *m = &cfg->mqtt;

    const char *proto = m->protocol == 5     ? "5"
                        : m->protocol == 311 ? "3.1.1"
                                             : "auto (5, then 3.1.1)";
    char user[160] = "none";
    if (m->credentials_file[0]) {
        char path[SK_PATH_MAX * 2];
        sk_config_resolve_path(cfg, m->credentials_file, path, sizeof(path));
        struct sk_credentials cr;
        char err[SK_PATH_MAX * 3];
        if (sk_credentials_load(path, &cr, err, sizeof(err)) < 0) {
            add(&rep, "settings", "FAIL", "%s", err);
        } else {
            snprintf(user, sizeof(user), "user \"%s\"%s", cr.username,
                     cr.password[0] ? " with a password" : " without a password");
            sk_credentials_wipe(&cr);
        }
    }
    if (!rep.failed) {
        add(&rep, "settings", "INFO", "MQTT %s, keepalive %d s, %s, credentials: %s%s", proto,
            m->keepalive_s, m->tls ? "TLS" : "no TLS", user,
            m->enabled ? "" : "; note: mqtt.enabled is false, the daemon does not connect");
    }
    if (!rep.failed) {
        char addr[64] = "", err[128] = "";
        int64_t t0 = sk_now_mono_us();
        int fd = tcp_connect(m->host, m->port, timeout_ms, addr, sizeof(addr), err, sizeof(err));
        double ms = (double)(sk_now_mono_us() - t0) / 1000.0;
        if (fd == -EADDRNOTAVAIL) {
            add(&rep, "resolve", "FAIL", "the host name \"%s\" does not resolve: %s", m->host, err);
        } else if (fd == -ECONNREFUSED) {
            add(&rep, "tcp", "FAIL",
                "refused: %s answers, but nothing listens on port %d (broker not running, or "
                "another port)",
                addr, m->port);
        } else if (fd == -ETIMEDOUT) {
            add(&rep, "tcp", "FAIL",
                "unreachable: no answer from %s port %d within %d ms (host down, wrong address, "
                "or a firewall drops the packets)",
                addr, m->port, timeout_ms);
        } else if (fd < 0) {
            add(&rep, "tcp", "FAIL", "unreachable: %s port %d: %s", addr, m->port, err);
        } else {
            add(&rep, "tcp", "PASS", "connected to %s port %d in %.1f ms", addr, m->port, ms);
            if (m->tls) {
                tls_step(&rep, cfg, fd, timeout_ms);
            }
            close(fd);
        }
    }
    if (!rep.failed) {
        mqtt_steps(&rep, cfg, timeout_ms);
    }
    print_report(&rep, cfg, json);
    sk_config_free(cfg);
    return rep.failed ? SK_EXIT_FAILURE : SK_EXIT_OK;
}
