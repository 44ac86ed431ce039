/* version: the one place the release number lives. */
#ifndef IM_VERSION_H
#define IM_VERSION_H
#define IM_VERSION "0.1.0"
#endif
