/* firkin/version.h: the library's version, for front ends and the agent hello. */
#ifndef FIRKIN_VERSION_H
#define FIRKIN_VERSION_H

#define FIRKIN_VERSION_MAJOR 0
#define FIRKIN_VERSION_MINOR 1
#define FIRKIN_VERSION_PATCH 0
#define FIRKIN_VERSION "0.1.0"

#endif
