/* srv: the presence server. */
#ifndef IM_SRV_H
#define IM_SRV_H
/* Runs "im server"; argv[0] is the mode name. Returns the exit status. */
int srv_main(int argc, char **argv);
#endif
