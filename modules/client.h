/* client: the "im client" program: options, usage, config, signals, and
 * the wiring of the client core (cli) to its presentation (ui). */
#ifndef IM_CLIENT_H
#define IM_CLIENT_H

/* Runs "im client"; argv[0] is the mode name. Returns the exit status. */
int client_main(int argc, char **argv);

#endif
