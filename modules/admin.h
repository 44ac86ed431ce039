/* admin: the admin modes over the users file and the run directory. */
#ifndef IM_ADMIN_H
#define IM_ADMIN_H
/* Each runs its mode; argv[0] is the mode name. Exit 0 ok, 1 error, 2 usage. */
int admin_adduser(int argc, char **argv);
int admin_deluser(int argc, char **argv);
int admin_passwd(int argc, char **argv);
int admin_users(int argc, char **argv);
int admin_who(int argc, char **argv);
#endif
