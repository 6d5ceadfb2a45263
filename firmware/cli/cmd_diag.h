/* SPDX-License-Identifier: MIT */
/* The `diag` subcommands, one per subsystem (firmware/cli/cmd_diag_*.c). */
#ifndef SK_CMD_DIAG_H
#define SK_CMD_DIAG_H

#include <stdbool.h>

/* Each takes the arguments after `diag` (argv[0] is the subcommand's name). */
/* The store file of every diag command without -c: $STOREKEEPER_CONFIG, else this. */
#define SK_DIAG_DEFAULT_CONFIG "/etc/storekeeper/store.cfg"
const char *cli_diag_default_config(void);

int cli_diag_camera(int argc, char **argv);        /* cmd_diag_status.c: the daemon first */
int cli_diag_camera_direct(int argc, char **argv); /* cmd_diag_camera.c: opens the camera */
/* cmd_diag_camera.c: --calibrate without a frame (the daemon owns the device): the report from
 * the store file, with the daemon's snapshot when one was written. Returns an exit code. */
struct sk_config;
int cli_diag_camera_calibration(const struct sk_config *cfg,
                                const char *name,
                                const char *snapshot,
                                bool json);
/* cmd_diag_mqtt.c: its own test connection; cli_diag_mqtt adds the daemon's link first. */
int cli_diag_mqtt_direct(int argc, char **argv);
int cli_diag_mqtt(int argc, char **argv);
/* cmd_diag_rfid.c: the bus scan; cli_diag_modbus checks first that no daemon owns the bus. */
int cli_diag_modbus_direct(int argc, char **argv);
int cli_diag_modbus(int argc, char **argv);
/* cmd_diag_rfid.c: polls the reader NAME of the store file itself, for duration_s seconds or
 * (watch) until interrupted; cli_diag_reader runs it without a daemon. Returns an exit code. */
int cli_diag_reader_direct(int argc, char **argv);
int cli_diag_reader_poll(
        const char *config, const char *name, double duration_s, bool watch, bool json);
/* cmd_diag_status.c: through the daemon's control socket, or directly without a daemon. */
int cli_diag_status(int argc, char **argv);
int cli_diag_all(int argc, char **argv);
int cli_diag_ledger(int argc, char **argv);
int cli_diag_reader(int argc, char **argv);
int cli_diag_bundle(int argc, char **argv);

#endif
