/* client: the "im client" and "im send" programs: options, usage, config,
 * signals, and the wiring of the client core (cli) to its presentation. */
#ifndef IM_CLIENT_H
#define IM_CLIENT_H

/* Runs "im client"; argv[0] is the mode name. Returns the exit status. */
int client_main(int argc, char **argv);

/* Runs "im send NAME TEXT...": one message, 0 once acknowledged, 1 with
 * the reason on stderr, 2 for bad usage. */
int send_main(int argc, char **argv);

#endif
