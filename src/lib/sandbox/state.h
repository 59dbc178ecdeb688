/* sandbox/state.h: a sandbox's state file, sandboxes/<id>/state.json, and the checks that tell
   a live sandbox from a stale one (PID 1 dead, its pid reused, the host rebooted). */
#ifndef FK_SANDBOX_STATE_H
#define FK_SANDBOX_STATE_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "base/error.h"
#include "firkin/sandbox.h"

typedef struct fk_sandbox_state
{
  char *id;
  char *template_id;             /* may be NULL */
  char **layers;                 /* NULL-terminated */
  pid_t pid;                     /* PID 1, host view */
  unsigned long long start_time; /* field 22 of /proc/<pid>/stat */
  char *boot_id;                 /* /proc/sys/kernel/random/boot_id at create */
  char *socket;                  /* NULL for an init sandbox */
  char *cgroup;                  /* "firkin/<id>" */
  int cgroup_version;
  char *cgroup_root;
  fk_resources_t resources;
  int64_t created, expires;           /* unix seconds; expires 0: no timeout */
  fk_timeout_action_t timeout_action; /* what the watchdog and the sweep do at the deadline */
  char **metadata;                    /* "K=V", NULL-terminated */
  int stopped;                        /* stopped on purpose (kept until deleted) */
  /* The rest of the spec the sandbox was made with (env, workdir, user, hostname, data plane,
     seccomp), for snapshots and a resume from disk; NULL in a state from before. */
  fk_sandbox_spec_t *spec;
  char *disk_snapshot;    /* paused to disk: the template it sleeps in; else NULL */
  int64_t disk_remaining; /* paused to disk: seconds of timeout left (0: none) */
  uint32_t id_base;  /* host uid/gid of the sandbox's id 0 (its range, sandbox/idrange.h); 0: none
                        recorded (a state from before ranges were per sandbox) */
  unsigned net_slot; /* data plane egress: its slot (net/slots.h); 0: none */
} fk_sandbox_state_t;

void fk_state_free (fk_sandbox_state_t *st);

/* Writes state.json in the sandbox directory dirfd atomically, and the alive mark beside it. */
int fk_state_save (int dirfd, const fk_sandbox_state_t *st, fk_error_t *err);

#define FK_STATE_ALIVE "alive"
#define FK_STATE_ID_MAX 64

/* 1 when sandboxes/<id>'s alive mark says it runs in this boot (its PID 1 exists) and is not past
   a deadline that deletes it: what the sweep of every call skips without reading its state.
   0: not known that way (no mark, another boot, gone, expired): read the state. */
int fk_state_quick_alive (int sandboxes_fd, const char *id, const char *boot_id, time_t now);

/* Reads state.json from dirfd; a malformed file is an error naming the field. */
int fk_state_load (int dirfd, fk_sandbox_state_t **ret_st, fk_error_t *err);

/* Parses the state letter (field 3) and start time (field 22) out of /proc/<pid>/stat's text. */
int fk_state_parse_stat (const char *text, char *ret_state, unsigned long long *ret_start,
                         fk_error_t *err);

/* The start time of pid now; ESRCH when there is no such process, or (unless allow_zombie) when
   it has exited and waits to be collected. */
int fk_state_start_time (pid_t pid, int allow_zombie, unsigned long long *ret_start,
                         fk_error_t *err);

/* This boot's id (caller frees). */
char *fk_state_boot_id (void);

/* 1 when the state's PID 1 still runs (same boot, same pid, same start time), else 0. */
int fk_state_alive (const fk_sandbox_state_t *st);

#endif
