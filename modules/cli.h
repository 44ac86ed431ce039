/* cli: the client. */
#ifndef IM_CLI_H
#define IM_CLI_H
/* Runs "im client"; argv[0] is the mode name. Returns the exit status. */
int cli_main(int argc, char **argv);
#endif
