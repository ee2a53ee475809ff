#!/usr/bin/env python3
# Security tests of kosearchd (TAP; python3 standard library only): admin
# commands are refused on TCP by default; allowed on --admin-socket (a Unix
# socket, mode 0600, removed at exit, stale ones replaced, anything else left
# alone) and after AUTH <token> (--admin-token-file: wrong tokens refused and
# counted, the connection closed after 3; token files with loose permissions
# or short tokens refused at start-up); the kosearch client over both; and
# --user: when run as root, the daemon drops to nobody (all four uids and
# gids, per /proc/PID/status) after binding, still serves and reloads, and
# owns its admin socket; an unknown user exits 2. Uses the helpers of
# test_daemon.py (same folder).
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the (maybe read-only) source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_daemon as td  # noqa: E402

T = td.T
KOSEARCH = os.path.join(td.BUILD, "kosearch")
TOKEN = "tok-0123456789-abcdefghij-XYZ"  # 29 printable bytes


def write(path, text, mode):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def run_ksd(*args, timeout=20):
    """Runs kosearchd expecting it to exit: (rc, stderr); rc is a string if it kept running."""
    p = subprocess.Popen([td.KSD] + list(args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.terminate()
        _, err = p.communicate()
        rc = "still running after %d s" % timeout
    err = err.decode("utf-8", "replace")
    rep = td.sanitizer_report(err)
    T.ok(not rep, "kosearchd %s: no sanitizer report" % " ".join(args)[-60:], "\n".join(rep[:10]))
    return rc, err


def run_client(*args, stdin=""):
    p = subprocess.run([KOSEARCH] + list(args), input=stdin.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def stop(d, desc):
    rc = d.stop()
    T.eq(rc, 0, "%s stops on SIGTERM with exit 0" % desc)
    rep = td.sanitizer_report(d.stderr())
    T.ok(not rep, "%s: no sanitizer report" % desc, "\n".join(rep[:10]))


@td.section
def t_start_refusals():
    index, tmp = td.INDEX, td.TMP
    listen = lambda: ["-i", index, "-l", "127.0.0.1:%d" % td.free_port(), "-t", "1"]  # noqa: E731
    loose = os.path.join(tmp, "loose.token")
    write(loose, TOKEN + "\n", 0o644)
    rc, err = run_ksd(*listen(), "--admin-token-file", loose)
    T.ok(rc == 2 and "mode 0644" in err and loose in err and TOKEN not in err,
         "token file readable by others: exit 2, says its mode, never prints the token", "rc=%s %s" % (rc, err))
    write(loose, TOKEN + "\n", 0o660)
    rc, err = run_ksd(*listen(), "--admin-token-file", loose)
    T.ok(rc == 2 and "group or others" in err, "token file writable by the group: exit 2", "rc=%s %s" % (rc, err))
    short = os.path.join(tmp, "short.token")
    write(short, "fifteen-bytes-x\n", 0o600)
    rc, err = run_ksd(*listen(), "--admin-token-file", short)
    T.ok(rc == 2 and "15 bytes long; at least 16" in err, "15-byte token: exit 2, says at least 16",
         "rc=%s %s" % (rc, err))
    rc, err = run_ksd(*listen(), "--admin-token-file", os.path.join(tmp, "no-such.token"))
    T.ok(rc == 2 and "no-such.token" in err, "missing token file: exit 2, names it", "rc=%s %s" % (rc, err))
    rc, err = run_ksd(*listen(), "--user", "no-such-user-ks")
    T.ok(rc == 2 and "--user no-such-user-ks" in err and "no such user" in err,
         "--user with an unknown name: exit 2 and says so", "rc=%s %s" % (rc, err))
    # --admin-socket on something that is not a socket: refused, left alone
    plain = os.path.join(tmp, "plain-file")
    write(plain, "keep me\n", 0o600)
    rc, err = run_ksd(*listen(), "--admin-socket", plain)
    T.ok(rc == 1 and "not a socket" in err and open(plain).read() == "keep me\n",
         "--admin-socket on a regular file: exit 1, the file is kept", "rc=%s %s" % (rc, err))
    rc, err = run_ksd(*listen(), "--admin-socket", os.path.join(tmp, "x" * 120))
    T.ok(rc == 1 and "--admin-socket wants a path" in err, "--admin-socket path over 107 bytes: refused",
         "rc=%s %s" % (rc, err))
    # a missing index after binding: the admin socket and pid file are cleaned up
    sock, pid = os.path.join(tmp, "fail.sock"), os.path.join(tmp, "fail.pid")
    rc, err = run_ksd("-i", os.path.join(tmp, "no-index"), "-l", "127.0.0.1:%d" % td.free_port(),
                      "--admin-socket", sock, "--pid-file", pid)
    T.ok(rc == 1 and "cannot open index" in err and not os.path.exists(sock) and not os.path.exists(pid),
         "missing index: exit 1, admin socket and pid file removed", "rc=%s %s" % (rc, err))


@td.section
def t_admin_socket():
    tmp = td.TMP
    path = os.path.join(tmp, "adm.sock")
    # a stale socket (its daemon died without removing it) is replaced
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    d = td.Daemon("S", td.INDEX, "--admin-socket", path, "--max-connections", "2", threads=2)
    T.ok("removed a stale admin socket" in d.stderr(), "a stale socket at --admin-socket is removed at start",
         d.stderr())
    st = os.lstat(path)
    T.ok(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid(),
         "admin socket: a socket, mode 0600, owned by the daemon's user", oct(st.st_mode))
    # a second daemon on the same path: refused, the first one's socket survives
    rc, err = run_ksd("-i", td.INDEX, "-l", "127.0.0.1:%d" % td.free_port(), "--admin-socket", path)
    T.ok(rc == 1 and "in use by a running daemon" in err, "--admin-socket of a running daemon: exit 1",
         "rc=%s %s" % (rc, err))
    a = d.admin()
    T.eq(a.cmd("PING"), ["OK PONG"], "the running daemon's admin socket still answers")
    # connections counted so far (start-up PING, the second daemon's probe) have gone
    T.ok(td.wait_until(lambda: td.stats(a)["connections"] == 1, 10), "only the admin connection is open")
    tcp = d.client()
    r = tcp.cmd("RELOAD")
    T.ok(r[0].startswith("ERR FORBIDDEN") and "admin socket" in r[0], "RELOAD on TCP: ERR FORBIDDEN", r)
    T.eq(tcp.cmd("PING"), ["OK PONG"], "the TCP connection stays open after FORBIDDEN")
    r = tcp.cmd("AUTH " + TOKEN)
    T.ok(r[0].startswith("ERR FORBIDDEN") and "--admin-token-file" in r[0],
         "AUTH without --admin-token-file: ERR FORBIDDEN saying it is disabled", r)
    s0 = td.stats(a)
    r = a.cmd("RELOAD")
    T.ok(r[0].startswith("OK RELOADED "), "RELOAD on the admin socket: OK RELOADED", r)
    T.eq(td.stats(a)["reloads"] - s0["reloads"], 1, "STATS counts that RELOAD")
    total, _, hits = td.parse_search(a.cmd("SEARCH limit=3 데비안"))
    T.ok(total > 0 and len(hits) == 3, "other commands work on the admin socket too (SEARCH)", total)
    # --max-connections 2 is used up by a and tcp: TCP is refused, the admin socket is not
    extra = td.Client(d.port)
    T.ok(extra.line().startswith("ERR TOO_MANY_CONNECTIONS"), "at the connection limit a TCP client is refused")
    extra.close()
    a2 = d.admin()
    T.eq(a2.cmd("PING"), ["OK PONG"], "at the connection limit the admin socket still lets the operator in")
    a2.close()
    # the kosearch client over the Unix socket
    rc, out, err = run_client("-s", path, stdin="/RELOAD\n")
    T.ok(rc == 0 and out.startswith("OK RELOADED"), "kosearch -s PATH sends /RELOAD on the admin socket",
         "rc=%s %s %s" % (rc, out, err))
    for x in (a, tcp):
        x.close()
    stop(d, "daemon with --admin-socket")
    T.ok(not os.path.exists(path), "the admin socket is removed at exit")


@td.section
def t_auth():
    tmp = td.TMP
    tok = os.path.join(tmp, "good.token")
    write(tok, TOKEN + "\nignored second line\n", 0o600)
    d = td.Daemon("K", td.INDEX, "--admin-token-file", tok, threads=2)
    c = d.client()
    r = c.cmd("RELOAD")
    T.ok(r[0].startswith("ERR FORBIDDEN") and "AUTH" in r[0], "RELOAD before AUTH: ERR FORBIDDEN naming AUTH", r)
    s0 = td.stats(c)
    for i, wrong in enumerate((TOKEN[:-1], TOKEN + "x")):
        r = c.cmd("AUTH " + wrong)
        T.eq(r, ["ERR FORBIDDEN wrong token"], "wrong token %d (%s): ERR FORBIDDEN" %
             (i + 1, "a prefix" if i == 0 else "one byte longer"))
    T.ok(c.cmd("RELOAD")[0].startswith("ERR FORBIDDEN"), "RELOAD still refused after wrong tokens")
    c.send("AUTH nope-nope-nope-nope\nPING\n")
    r = c.reply()
    T.ok(r[0].startswith("ERR FORBIDDEN wrong token") and "closing" in r[0], "third wrong token: says it closes", r)
    T.ok(c.closed(10), "after 3 wrong tokens the connection is closed (the PING after it is not answered)")
    c.close()
    c = d.client()
    T.eq(td.stats(c)["auth_failures"] - s0["auth_failures"], 3, "STATS auth_failures counts the 3 wrong tokens")
    r = c.cmd("auth " + TOKEN)
    T.eq(r, ["OK AUTHENTICATED"], "AUTH with the token (first line of the file): OK AUTHENTICATED")
    r = c.cmd("RELOAD")
    T.ok(r[0].startswith("OK RELOADED "), "RELOAD after AUTH: OK RELOADED", r)
    other = d.client()
    T.ok(other.cmd("RELOAD")[0].startswith("ERR FORBIDDEN"), "AUTH allows only its own connection")
    other.close()
    c.cmd("FORMAT json")
    T.eq(c.cmd("AUTH " + TOKEN), ['{"ok":true,"authenticated":true}'], "JSON AUTH reply")
    c.close()
    rc, out, err = run_client("-p", str(d.port), "--token-file", tok, stdin="/RELOAD\n")
    T.ok(rc == 0 and out.startswith("OK RELOADED"), "kosearch --token-file: AUTH then /RELOAD",
         "rc=%s %s %s" % (rc, out, err))
    stop(d, "daemon with --admin-token-file")
    T.ok(TOKEN not in d.stderr(), "the token never appears in the daemon's log")


def listening_tcp(pid):
    """Local addresses ("0100007F:1E14" form, as in /proc/net/tcp) of pid's listening TCP sockets."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                col = line.split()
                if col[3] == "0A" and col[9] in inodes:  # 0A: LISTEN
                    out.append(col[1])
    return out


@td.section
def t_default_listen():
    """Without --listen the daemon listens on 127.0.0.1:7700 and nowhere else."""
    errpath = os.path.join(td.TMP, "default.err")
    with open(errpath, "wb") as errf:
        p = subprocess.Popen([td.KSD, "-i", td.INDEX, "-t", "1"], stdout=subprocess.DEVNULL, stderr=errf)
    try:
        started = td.wait_until(lambda: p.poll() is not None or "started:" in open(errpath).read(), 60)
        err = open(errpath).read()
        if p.poll() is not None and "in use" in err:
            T.skip("default listen address is 127.0.0.1:7700 only", "port 7700 is in use on this machine")
            return
        T.ok(started and p.poll() is None and listening_tcp(p.pid) == ["0100007F:1E14"],
             "default listen address is 127.0.0.1:7700 only", err)
    finally:
        if p.poll() is None:
            p.send_signal(15)
        p.wait(30)


def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


@td.section
def t_privdrop():
    pw = nobody()
    if os.geteuid() != 0 or pw is None:
        why = "not running as root" if os.geteuid() != 0 else "no user nobody"
        for desc in ("--user nobody: all uids and gids are nobody's", "--user nobody: queries and RELOAD work",
                     "--user nobody: the admin socket is nobody's, mode 0600"):
            T.skip(desc, why)
        if os.geteuid() != 0:
            rc, err = run_ksd("-i", td.INDEX, "--user", "root")
            T.ok(rc == 2 and "needs kosearchd to be started as root" in err,
                 "--user another user when not root: exit 2 and says why", "rc=%s %s" % (rc, err))
        return
    # nobody must reach the index (mkdtemp made TMP 0700) and own the socket's folder
    os.chmod(td.TMP, 0o755)
    sockdir = os.path.join(td.TMP, "run")
    os.mkdir(sockdir, 0o755)
    os.chown(sockdir, pw.pw_uid, pw.pw_gid)
    path = os.path.join(sockdir, "adm.sock")
    d = td.Daemon("P", td.INDEX, "--user", "nobody", "--admin-socket", path, threads=2)
    ids = {}
    with open("/proc/%d/status" % d.pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                ids[k] = v.split()
    T.ok(ids.get("Uid") == [str(pw.pw_uid)] * 4 and ids.get("Gid") == [str(pw.pw_gid)] * 4 and
         "0" not in ids.get("Groups", []),
         "--user nobody: real, effective, saved and fs uids and gids are nobody's, no root group", ids)
    c = d.client()
    total, _, hits = td.parse_search(c.cmd("SEARCH limit=2 데비안"))
    a = d.admin()
    r = a.cmd("RELOAD")
    T.ok(total > 0 and len(hits) == 2 and r[0].startswith("OK RELOADED"),
         "--user nobody: queries and RELOAD work (the index is reopened as nobody)", (total, r))
    st = os.lstat(path)
    T.ok(st.st_uid == pw.pw_uid and st.st_gid == pw.pw_gid and stat.S_IMODE(st.st_mode) == 0o600,
         "--user nobody: the admin socket is nobody's, mode 0600", (st.st_uid, st.st_gid, oct(st.st_mode)))
    T.ok("dropped privileges: running as user nobody" in d.stderr(), "the drop is logged", d.stderr())
    c.close()
    a.close()
    stop(d, "daemon with --user nobody")
    T.ok(not os.path.exists(path), "--user nobody: the admin socket is removed at exit (its folder is nobody's)")
    # the index is opened after the drop: one nobody cannot read is refused at start
    locked = os.path.join(td.TMP, "locked")
    shutil.copytree(td.INDEX, locked, symlinks=True)
    os.chmod(locked, 0o700)
    rc, err = run_ksd("-i", locked, "-l", "127.0.0.1:%d" % td.free_port(), "--user", "nobody")
    T.ok(rc == 1 and "cannot open index" in err, "--user nobody with an index only root can read: exit 1",
         "rc=%s %s" % (rc, err))
    # root without --user: a warning
    d = td.Daemon("R", td.INDEX, threads=1)
    T.ok("warning: running as root" in d.stderr(), "as root without --user: a warning in the log", d.stderr())
    stop(d, "daemon run as root")


def main():
    if not os.path.isfile(td.CORPUS):
        print("1..0 # SKIP shared corpus not found at %s" % td.CORPUS)
        return 0
    for p in (td.KSD, td.INDEXER, KOSEARCH):
        if not os.access(p, os.X_OK):
            print("1..0 # SKIP %s not built" % p)
            return 0
    td.TMP = tempfile.mkdtemp(prefix="ks-admin-test.")
    try:
        td.INDEX = os.path.join(td.TMP, "index")
        if td.build_index(td.INDEX):
            t_start_refusals()
            t_default_listen()
            t_admin_socket()
            t_auth()
            t_privdrop()
    except Exception as e:  # noqa: BLE001
        T.ok(False, "test driver: %s: %s" % (type(e).__name__, e), traceback.format_exc())
    finally:
        td.kill_leftovers()
        shutil.rmtree(td.TMP, ignore_errors=True)
    print("1..%d" % T.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
