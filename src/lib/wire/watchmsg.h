/* wire/watchmsg.h: what the watch requests (FK_WIRE_WATCH, _WATCH_STOP) carry beyond frame.h's
   summary.

   WATCH       PATH (a directory, resolved in the root as the file requests are), FLAGS
               (FK_WIRE_FILE_RECURSIVE: every directory under it too, also those made later),
               USER (relative paths from that user's home; "" the agent's default user)
               -> R_WATCHING with SIZE (directories watched), then R_EVENTS as things happen,
               until R_OK with END (WATCH_STOP, or the watched directory itself is removed or
               moved away) or R_ERROR. ENOSPC: the agent holds FK_WIRE_WATCH_MAX watches
               already, or the tree has more than FK_WIRE_WATCH_DIRS_MAX directories.
   R_EVENTS    ENTRY... each a nested {FLAGS (FK_WIRE_EV_* bits, several at once possible),
               PATH (relative to the watched directory; "." for the directory itself)};
               DROPPED (> 0): events were lost before these (the connection was behind, over
               its send queue's high mark, or the kernel's queue overflowed, or a directory made
               later was over the cap and is not watched); at least that many, not exact.
   WATCH_STOP  TARGET -> the watch's R_OK with END; a watch that already ended: nothing. */
#ifndef FK_WIRE_WATCHMSG_H
#define FK_WIRE_WATCHMSG_H

#define FK_WIRE_EV_CREATE 0x01u /* made, or moved in */
#define FK_WIRE_EV_WRITE 0x02u  /* written to */
#define FK_WIRE_EV_REMOVE 0x04u /* removed */
#define FK_WIRE_EV_RENAME 0x08u /* moved away (or renamed: the new name comes as CREATE) */
#define FK_WIRE_EV_CHMOD 0x10u  /* its metadata changed (mode, owner, times) */
#define FK_WIRE_EV_ALL 0x1fu

/* Watches one agent serves at once (every connection together). */
#define FK_WIRE_WATCH_MAX 128
/* Directories one recursive watch covers. */
#define FK_WIRE_WATCH_DIRS_MAX 8192

#endif
