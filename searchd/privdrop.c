/* --user NAME: kosearchd needs no privileges once its sockets and files
 * are open, so when started as root it becomes NAME for good (supplementary
 * groups, then gid, then uid; real, effective and saved ids) before opening
 * the index and starting any thread. The index must be readable by NAME:
 * it is opened after the drop, and reopened by RELOAD and SIGHUP. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ksd.h"

int ksd_priv_resolve(ksd_config *cfg, char *err, size_t cap)
{
    if (!cfg->user)
        return 0;
    errno = 0;
    struct passwd *pw = getpwnam(cfg->user);
    if (!pw) {
        snprintf(err, cap, "--user %s: %s", cfg->user, errno ? strerror(errno) : "no such user");
        return -1;
    }
    cfg->uid = pw->pw_uid;
    cfg->gid = pw->pw_gid;
    if (geteuid() != 0 && (geteuid() != cfg->uid || getuid() != cfg->uid)) {
        snprintf(err, cap,
                 "--user %s needs kosearchd to be started as root (it runs as uid %d); "
                 "start it as root, or as %s without --user",
                 cfg->user, (int)geteuid(), cfg->user);
        return -1;
    }
    return 0;
}

int ksd_priv_drop(const ksd_config *cfg, char *err, size_t cap)
{
    if (!cfg->user || cfg->uid == 0) {
        if (geteuid() == 0)
            ksd_log("warning: running as root; kosearchd needs no privileges once it listens: "
                    "use --user NAME (see SECURITY.md)");
        return 0;
    }
    if (geteuid() != 0) { /* ksd_priv_resolve() checked that we already are that user */
        ksd_log("--user %s: already running as that user", cfg->user);
        return 0;
    }
    /* Groups before the uid: afterwards we would no longer be allowed. */
    if (initgroups(cfg->user, cfg->gid) != 0 || setresgid(cfg->gid, cfg->gid, cfg->gid) != 0 ||
        setresuid(cfg->uid, cfg->uid, cfg->uid) != 0) {
        snprintf(err, cap, "--user %s: cannot drop privileges: %s", cfg->user, strerror(errno));
        return -1;
    }
    /* Check, do not trust: every id is the user's and root is out of reach. */
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0 || r != cfg->uid || e != cfg->uid ||
        s != cfg->uid || rg != cfg->gid || eg != cfg->gid || sg != cfg->gid) {
        snprintf(err, cap, "--user %s: the user and group ids did not all change", cfg->user);
        return -1;
    }
    if (setuid(0) == 0 || seteuid(0) == 0) {
        snprintf(err, cap, "--user %s: root could be regained after dropping privileges", cfg->user);
        return -1;
    }
    ksd_log("dropped privileges: running as user %s (uid %d, gid %d)", cfg->user, (int)cfg->uid, (int)cfg->gid);
    return 0;
}
