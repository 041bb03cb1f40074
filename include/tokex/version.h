/*
 * tokex/version.h - which tokex a program is: the project's version and the source tree's
 * `git describe` at build time ("0.1.0 (git v0.1.0-12-gb104b06-dirty)"; "unknown" for a
 * build outside a git checkout). Every program prints it for --version.
 *
 * Role: none on the data path; the definition is generated at each build
 * (cmake/TokexVersion.cmake) into the small library tokex_version.
 */
#ifndef TOKEX_VERSION_H
#define TOKEX_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

/* A static string: "<version> (git <describe>)". */
const char *tkx_version(void);

#ifdef __cplusplus
}
#endif

#endif /* TOKEX_VERSION_H */
