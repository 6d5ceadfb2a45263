/* SPDX-License-Identifier: MIT */
/* The `diag` subcommands, one per subsystem (firmware/cmd_diag_*.c). */
#ifndef SK_CMD_DIAG_H
#define SK_CMD_DIAG_H

/* Each takes the arguments after `diag` (argv[0] is the subcommand's name). */
int sk_cmd_diag_camera(int argc, char **argv);
int sk_cmd_diag_mqtt(int argc, char **argv);
int sk_cmd_diag_modbus(int argc, char **argv); /* cmd_diag_rfid.c */
int sk_cmd_diag_reader(int argc, char **argv); /* cmd_diag_rfid.c */

#endif
