/* SPDX-License-Identifier: MIT */
/* The control socket: a small versioned request/reply protocol between `diag` and the daemon. */
#ifndef STOREKEEPER_CONTROL_H
#define STOREKEEPER_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/loop.h"

/*
 * The running daemon answers technician commands on a Unix stream socket (control.socket,
 * mode 0660, group control.group), as chronyd answers chronyc: the daemon owns the serial
 * ports and the ledger, so `storekeeper diag` asks it instead of opening them a second time.
 *
 * Every message is a 16-byte header followed by a JSON object and, in replies only, an
 * optional binary attachment (a snapshot PNG):
 *
 *   offset 0  4 bytes  magic "SKct"
 *          4  u16 BE   protocol version (SK_CTL_PROTOCOL)
 *          6  u16 BE   kind: 1 request, 2 reply
 *          8  u32 BE   JSON length
 *         12  u32 BE   attachment length (0 in requests)
 *
 * The header layout never changes between versions, so each side can always read the
 * other's version and say so. A request is {"cmd": NAME, ...arguments}; a reply is
 * {"ok": true, "result": {...}} or {"ok": false, "error": {"code": C, "message": M}} and
 * always carries "protocol" and "version" (the daemon's software version). A request of
 * another protocol version is answered with the error code "version" (in this version's
 * header) and the connection is closed; so is a request that is not a storekeeper header,
 * oversize, or not a JSON object. Requests are answered in order; a connection may carry
 * many (`diag reader --watch`).
 *
 * Limits: a request's JSON at most SK_CTL_REQUEST_MAX bytes; a reply's JSON at most
 * SK_CTL_REPLY_MAX and its attachment at most SK_CTL_DATA_MAX (the client refuses more).
 */

#define SK_CTL_PROTOCOL     1
#define SK_CTL_MAGIC        "SKct"
#define SK_CTL_HEADER_SIZE  16
#define SK_CTL_REQUEST_MAX  4096
#define SK_CTL_REPLY_MAX    (8u << 20)
#define SK_CTL_DATA_MAX     (16u << 20)
#define SK_CTL_KIND_REQUEST 1
#define SK_CTL_KIND_REPLY   2

struct cJSON;

struct sk_ctl_header {
    uint16_t version;
    uint16_t kind;
    uint32_t json_len;
    uint32_t data_len;
};

/* Writes the 16 header bytes. */
void sk_ctl_header_encode(const struct sk_ctl_header *h, uint8_t out[SK_CTL_HEADER_SIZE]);
/* Reads 16 header bytes. Returns 0, or -EPROTO when the magic is wrong. Version and lengths
 * are not judged here: the caller knows which limits apply. */
int sk_ctl_header_decode(const uint8_t in[SK_CTL_HEADER_SIZE], struct sk_ctl_header *ret);

/* ---- the daemon's side ---------------------------------------------------------------------- */

struct sk_ctl_server;
/* One request being answered. Borrowed by the handler; valid until it is answered. */
struct sk_ctl_call;

/*
 * Handles one request (req: the parsed JSON object, borrowed for the call) on the loop's
 * thread. It must answer with sk_ctl_reply() or sk_ctl_reply_error(), at once or later from
 * the same thread (e.g. when a camera thread delivered a frame); the client waits meanwhile.
 */
typedef void (*sk_ctl_handler)(void *ctx, struct sk_ctl_call *call, const struct cJSON *req);

struct sk_ctl_server_opts {
    const char *path;             /* socket path (copied) */
    const char *group;            /* group name owning the socket; NULL or "": the process's */
    int max_clients;              /* connections at once (0: 8); more are closed at once */
    int idle_timeout_ms;          /* a connection quiet this long is closed (0: 60000) */
    int request_timeout_ms;       /* a request must arrive whole this soon (0: 5000) */
    const char *software_version; /* put in every reply (copied) */
};

/*
 * Creates the socket (refusing a path that exists and is not a socket, or a socket another
 * process answers on; removing a stale one), sets mode 0660 and the group, and serves it on
 * loop. On failure returns -errno with one line for a person in err, *ret untouched.
 */
int sk_ctl_server_new(struct sk_loop *loop,
                      const struct sk_ctl_server_opts *opts,
                      char *err,
                      size_t err_size,
                      struct sk_ctl_server **ret);
/* Closes every connection (pending calls are dropped unanswered), removes the socket file,
 * frees. Accepts NULL. */
void sk_ctl_server_free(struct sk_ctl_server *s);

/* Registers a command (name copied). Returns 0, -EEXIST or -ENOMEM. */
int sk_ctl_server_add(struct sk_ctl_server *s, const char *cmd, sk_ctl_handler fn, void *ctx);

/*
 * Answers call with {"ok":true,"result":result}. Takes ownership of result (NULL: {}) and of
 * data (len bytes from malloc, freed by the server; NULL for none). When the client has gone
 * meanwhile, the reply is dropped. The call must not be used afterwards.
 */
void sk_ctl_reply(struct sk_ctl_call *call, struct cJSON *result, void *data, size_t len);
/* Answers with an error: code is one word ("invalid", "unavailable", "failed", ...). */
void sk_ctl_reply_error(struct sk_ctl_call *call, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* The uid and pid of the process that sent the request (SO_PEERCRED), -1 when unknown. */
int sk_ctl_call_peer(const struct sk_ctl_call *call, int *ret_pid);

struct sk_ctl_stats {
    uint64_t accepted, refused; /* connections */
    uint64_t requests, errors;  /* answered requests, those answered with an error */
    uint64_t malformed;         /* connections closed for a bad header, size or JSON */
    size_t clients;             /* connected now */
};

void sk_ctl_server_get_stats(const struct sk_ctl_server *s, struct sk_ctl_stats *ret);
/* The socket path being served. */
const char *sk_ctl_server_path(const struct sk_ctl_server *s);

/* ---- the command's side -----------------------------------------------------------------------
 */

struct sk_ctl_client;

struct sk_ctl_response {
    struct cJSON *json;   /* the whole reply; owned */
    struct cJSON *result; /* borrowed from json: the result object on success, else NULL */
    bool ok;
    char code[32];     /* error code when !ok */
    char message[512]; /* error message when !ok */
    char daemon_version[64];
    void *data; /* attachment; owned (free()), NULL when none */
    size_t data_len;
};

/*
 * Connects to the daemon's socket within timeout_ms. Returns 0, or -ENOENT (no socket: the
 * daemon is not running), -ECONNREFUSED (a stale socket), -EACCES (not in the socket's
 * group), -ETIMEDOUT, other -errno.
 */
int sk_ctl_client_open(const char *path, int timeout_ms, struct sk_ctl_client **ret);
void sk_ctl_client_close(struct sk_ctl_client *c);

/*
 * Sends one request (req borrowed) and waits at most timeout_ms for the reply. Returns 0 with
 * *ret filled (also when the daemon answered with an error: ret->ok false), or -ETIMEDOUT,
 * -ECONNRESET (the daemon closed the connection), -EPROTO (a reply that is not a storekeeper
 * control reply, or too large), SK_ECTL_VERSION (the daemon speaks another protocol version:
 * ret->message says which; ret is filled as far as it could be read). err gets one line for
 * a person on any failure.
 */
int sk_ctl_client_call(struct sk_ctl_client *c,
                       const struct cJSON *req,
                       int timeout_ms,
                       struct sk_ctl_response *ret,
                       char *err,
                       size_t err_size);
/* Frees what a response owns and zeroes it. Accepts NULL. */
void sk_ctl_response_clear(struct sk_ctl_response *r);

#endif
