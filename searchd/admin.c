/* The admin socket (--admin-socket PATH): a Unix stream socket speaking the
 * same line protocol as TCP, on which admin commands (RELOAD) are allowed.
 * Access is by file permissions: mode 0600, owned by the user the daemon
 * runs as (after --user), so only that user and root can connect. Its
 * connections go to the workers like TCP ones, marked admin. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/listener.h>

#include "ksd.h"

static void admin_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    (void)l;
    (void)sa;
    (void)len;
    ksd_hand_off(arg, fd, 1, 0);
}

static void admin_error_cb(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    ksd_log("accept on the admin socket failed: %s", strerror(errno));
}

/* Something already at path: a socket nobody answers on is what a daemon
 * that was killed leaves behind, and is removed. Anything else is kept and
 * is an error: a live daemon's socket, or a file we must not delete. */
static int clear_stale(const struct sockaddr_un *sun, char *err, size_t cap)
{
    const char *path = sun->sun_path;
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, cap, "--admin-socket %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, cap, "--admin-socket %s exists and is not a socket; not removing it", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, cap, "--admin-socket %s: socket: %s", path, strerror(errno));
        return -1;
    }
    int live = connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0;
    int cerr = errno;
    close(fd);
    if (live) {
        snprintf(err, cap, "--admin-socket %s is in use by a running daemon", path);
        return -1;
    }
    if (cerr != ECONNREFUSED) {
        snprintf(err, cap, "--admin-socket %s exists and cannot be checked: %s", path, strerror(cerr));
        return -1;
    }
    if (unlink(path) != 0) {
        snprintf(err, cap, "cannot remove the stale --admin-socket %s: %s", path, strerror(errno));
        return -1;
    }
    ksd_log("removed a stale admin socket %s", path);
    return 0;
}

int ksd_admin_listen(ksd_server *srv, char *err, size_t cap)
{
    const ksd_config *cfg = &srv->cfg;
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    size_t n = strlen(cfg->admin_socket);
    if (n == 0 || n >= sizeof sun.sun_path) {
        snprintf(err, cap, "--admin-socket wants a path of 1 to %zu bytes", sizeof sun.sun_path - 1);
        return -1;
    }
    memcpy(sun.sun_path, cfg->admin_socket, n);
    if (clear_stale(&sun, err, cap))
        return -1;
    /* bind() creates the file with the umask applied: 0177 leaves 0600 from
     * the start, so no client can connect in a window before the chmod. */
    mode_t old = umask(0177);
    srv->admin_listener = evconnlistener_new_bind(srv->base, admin_accept_cb, srv, LEV_OPT_CLOSE_ON_FREE, 64,
                                                  (struct sockaddr *)&sun, (int)sizeof sun);
    int berr = errno;
    umask(old);
    if (!srv->admin_listener) {
        snprintf(err, cap, "cannot listen on --admin-socket %s: %s", cfg->admin_socket, strerror(berr));
        return -1;
    }
    evconnlistener_set_error_cb(srv->admin_listener, admin_error_cb);
    struct stat st;
    if (lstat(cfg->admin_socket, &st) == 0) {
        srv->admin_dev = st.st_dev;
        srv->admin_ino = st.st_ino;
    }
    if (chmod(cfg->admin_socket, 0600) != 0 ||
        (cfg->user && geteuid() == 0 && chown(cfg->admin_socket, cfg->uid, cfg->gid) != 0)) {
        snprintf(err, cap, "cannot set the owner or mode of --admin-socket %s: %s", cfg->admin_socket,
                 strerror(errno));
        return -1;
    }
    ksd_log("admin socket %s (mode 0600): admin commands allowed on it", cfg->admin_socket);
    return 0;
}

void ksd_admin_close(ksd_server *srv)
{
    if (srv->admin_listener) {
        evconnlistener_free(srv->admin_listener);
        srv->admin_listener = NULL;
    }
    /* Only the socket we made (same inode): the path may be another
     * daemon's when our start failed because it is in use. After --user, removing it needs
     * write access to its directory; if that fails the next start finds it
     * stale and removes it. */
    const char *path = srv->cfg.admin_socket;
    struct stat st;
    if (path && srv->admin_ino && lstat(path, &st) == 0 && st.st_dev == srv->admin_dev &&
        st.st_ino == srv->admin_ino && unlink(path) != 0)
        ksd_log("cannot remove the admin socket %s: %s (the next start removes it)", path, strerror(errno));
}
