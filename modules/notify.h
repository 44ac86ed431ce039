/* notify: readiness for a service manager, systemd's sd_notify protocol
 * without libsystemd: one datagram to the unix socket in $NOTIFY_SOCKET. */
#ifndef IM_NOTIFY_H
#define IM_NOTIFY_H

/* Reads $NOTIFY_SOCKET (an absolute path, or "@name" for an abstract
 * socket) and opens a non-blocking datagram socket for it. Returns 1 when
 * notifications will be sent, 0 when the variable is unset or empty, -1
 * (logged as a warning) when it cannot be used; the server runs on in
 * every case. */
int notify_init(void);

/* Sends "READY=1" with MAINPID= and STATUS=status (status may be NULL):
 * the server accepts connections. Nothing without notify_init(). */
void notify_ready(const char *status);

/* Sends "RELOADING=1" with MONOTONIC_USEC= (what systemd >= 253 asks of
 * a reload); notify_ready() says when the reload is done. */
void notify_reloading(void);

/* Sends "STOPPING=1": the server is shutting down. */
void notify_stopping(void);

/* Closes the socket; safe to call twice. */
void notify_free(void);

#endif
