"""Named constants and structs in the text output, against strace 6.1 line by line: C programs
making the calls whose arguments are enums, flag words (lseek, fcntl, ioctl, socket, futex,
clocks, rlimits, umask…) and structs (stat, timespec, sockaddr, sigaction, rlimit, utsname,
pollfd, epoll_event…) are traced by both, and each of their lines must read the same once
addresses, random bytes, pids, ephemeral ports and timings are set aside."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renacer_tui.tracer import formats as F
from renacer_tui.tracer.constants import RENDERERS, futex_op, socket_type
from tests.test_strace_options import needs_strace

CONSTANTS = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <termios.h>
int main(void) {
    int fd = open("/etc/hostname", O_RDONLY);
    lseek(fd, 1, SEEK_CUR); lseek(fd, 0, SEEK_END);
    fcntl(fd, F_GETFL); fcntl(fd, F_GETFD); fcntl(fd, F_SETFD, FD_CLOEXEC); fcntl(fd, F_SETFL, O_NONBLOCK);
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 10); close(d);
    struct termios t; tcgetattr(fd, &t);
    struct winsize w; ioctl(fd, TIOCGWINSZ, &w);
    flock(fd, LOCK_EX | LOCK_NB); flock(fd, LOCK_UN);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    close(fd);
    int dir = open("/tmp", O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_DIRECTORY); close(dir);
    syscall(SYS_faccessat2, AT_FDCWD, "/etc/hostname", R_OK, AT_EACCESS);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
    int one = 1; setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    shutdown(s, SHUT_RDWR); close(s);
    s = socket(AF_UNIX, SOCK_DGRAM, 0); close(s);
    int sv[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, sv); close(sv[0]); close(sv[1]);
    int ep = epoll_create1(EPOLL_CLOEXEC); struct epoll_event ev = {0}; ev.events = EPOLLIN;
    int p[2]; pipe(p); epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev); epoll_ctl(ep, EPOLL_CTL_DEL, p[0], &ev);
    close(ep); close(p[0]); close(p[1]);
    struct timespec ts = {0, 1000}; clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, 0);
    clock_gettime(CLOCK_REALTIME, &ts); clock_gettime(CLOCK_BOOTTIME, &ts);
    char b[4]; getrandom(b, sizeof b, GRND_NONBLOCK);
    umask(022); umask(0);
    struct rlimit rl; getrlimit(RLIMIT_NOFILE, &rl); prlimit(0, RLIMIT_STACK, 0, &rl);
    sigset_t set; sigemptyset(&set); sigprocmask(SIG_BLOCK, &set, 0); sigprocmask(SIG_SETMASK, &set, 0);
    void *m = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    madvise(m, 4096, MADV_DONTNEED); munmap(m, 4096);
    int f = 0; syscall(SYS_futex, &f, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
    syscall(SYS_futex, &f, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 1, 0, 0, FUTEX_BITSET_MATCH_ANY);
    pid_t c = fork(); if (c == 0) _exit(0);
    waitpid(c, 0, 0); waitpid(c, 0, WNOHANG | __WALL);                   /* the second: ECHILD */
    return 0;
}
"""

STRUCTS = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <signal.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/resource.h>
#include <sys/syscall.h>
static void on_usr1(int s) { (void)s; }
int main(void) {
    struct stat st;
    stat("/etc/hostname", &st); lstat("/dev/null", &st);
    int fd = open("/etc/hostname", O_RDONLY); fstat(fd, &st); close(fd);
    fstatat(AT_FDCWD, "/nonexistent", &st, 0);
    struct timespec ts = {0, 1000}; nanosleep(&ts, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX}; strcpy(un.sun_path, "/nonexistent.sock");
    int s = socket(AF_UNIX, SOCK_STREAM, 0); connect(s, (struct sockaddr *)&un, sizeof un); close(s);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(1)}; in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s = socket(AF_INET, SOCK_STREAM, 0); connect(s, (struct sockaddr *)&in, sizeof in); close(s);
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6}; in6.sin6_addr = in6addr_loopback;
    s = socket(AF_INET6, SOCK_DGRAM, 0); bind(s, (struct sockaddr *)&in6, sizeof in6);
    socklen_t len = sizeof in6; getsockname(s, (struct sockaddr *)&in6, &len); close(s);
    struct utsname u; uname(&u);
    struct sigaction sa, old; memset(&sa, 0, sizeof sa); sa.sa_handler = on_usr1; sa.sa_flags = SA_RESTART;
    sigaddset(&sa.sa_mask, SIGTERM); sigaction(SIGUSR1, &sa, &old);
    struct rlimit rl = {1024, 4096}; setrlimit(RLIMIT_NOFILE, &rl); getrlimit(RLIMIT_CORE, &rl);
    int p[2]; pipe(p); write(p[1], "x", 1);
    struct pollfd pf[2] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}}; poll(pf, 2, 0);
    return 0;
}
"""

TERMINAL = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
int main(void) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    grantpt(m); unlockpt(m);
    int s = open(ptsname(m), O_RDWR | O_NOCTTY);
    struct termios t; tcgetattr(s, &t);
    t.c_lflag &= ~(ECHO | ICANON); t.c_iflag |= IUTF8; tcsetattr(s, TCSANOW, &t);
    struct winsize w = {24, 80, 0, 0}; ioctl(s, TIOCSWINSZ, &w); ioctl(s, TIOCGWINSZ, &w);
    int n; ioctl(s, FIONREAD, &n);
    pid_t pgrp; ioctl(s, TIOCGPGRP, &pgrp);
    return 0;
}
"""

VECTORS = r"""
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>
int main(void) {
    struct iovec v[3] = {{"ab", 2}, {"cdefgh", 6}, {"", 0}};
    int fd = open("vectors.out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    writev(fd, v, 3); pwritev(fd, v, 2, 0); close(fd);
    char a[3], b[10]; struct iovec r[2] = {{a, 3}, {b, 10}};
    fd = open("vectors.out", O_RDONLY); readv(fd, r, 2); preadv(fd, r, 2, 1); close(fd);
    writev(99, v, 1);
    return 0;
}
"""

CLONES = r"""
#define _GNU_SOURCE
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static void *worker(void *arg) { struct timespec ts = {0, 20000000}; nanosleep(&ts, 0); return arg; }
int main(void) {
    sigset_t chld; sigemptyset(&chld); sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, 0);  /* no delivery: when it lands would depend on the child's speed */
    struct clone_args plain = {0}; plain.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &plain, sizeof plain);
    if (pid == 0) _exit(0);
    waitpid(pid, 0, 0);
    int pidfd = -1; struct clone_args with_fd = {0};
    with_fd.flags = CLONE_PIDFD; with_fd.pidfd = (uint64_t)(uintptr_t)&pidfd; with_fd.exit_signal = SIGCHLD;
    pid = syscall(SYS_clone3, &with_fd, sizeof with_fd);
    if (pid == 0) _exit(0);
    waitpid(pid, 0, 0);
    pthread_t t; pthread_create(&t, 0, worker, 0); pthread_join(t, 0);
    if (fork() == 0) _exit(0);
    wait(0);
    return 0;
}
"""

STATX = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
int main(void) {
    struct statx s;
    statx(AT_FDCWD, "/etc/hostname", AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &s);
    statx(AT_FDCWD, "/etc", AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT, STATX_MODE | STATX_SIZE, &s);
    statx(AT_FDCWD, "/dev/null", AT_STATX_FORCE_SYNC, STATX_ALL | STATX_MNT_ID, &s);
    statx(AT_FDCWD, "/nonexistent", 0, STATX_ALL, &s);
    return 0;
}
"""

MESSAGES = r"""
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
int main(void) {
    int sv[2]; socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    struct iovec v[2] = {{"hello", 5}, {" world", 6}}; struct msghdr m = {0}; m.msg_iov = v; m.msg_iovlen = 2;
    sendmsg(sv[0], &m, 0);
    char a[4], b[16]; struct iovec r[2] = {{a, sizeof a}, {b, sizeof b}};
    struct msghdr n = {0}; n.msg_iov = r; n.msg_iovlen = 2;
    recvmsg(sv[1], &n, MSG_DONTWAIT);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)}; to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct msghdr o = {0}; o.msg_name = &to; o.msg_namelen = sizeof to; o.msg_iov = v; o.msg_iovlen = 1;
    sendmsg(u, &o, MSG_NOSIGNAL | MSG_DONTWAIT);
    sendto(sv[0], "x", 1, MSG_DONTWAIT, 0, 0);
    recvfrom(sv[1], b, sizeof b, MSG_PEEK, 0, 0);
    recvfrom(sv[1], b, sizeof b, 0, 0, 0);
    /* control messages: an fd passed (SCM_RIGHTS), the sender's credentials (SO_PASSCRED) */
    getpid();  /* the credentials carry it */
    int one = 1; setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    char control[CMSG_SPACE(sizeof(int))] = {0}; m.msg_control = control; m.msg_controllen = sizeof control;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m); c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int)); *(int *)CMSG_DATA(c) = 0;
    sendmsg(sv[0], &m, 0);
    char got[256]; n.msg_control = got; n.msg_controllen = sizeof got;
    recvmsg(sv[1], &n, 0);
    struct msghdr none = {0}; none.msg_iov = r; none.msg_iovlen = 1;
    recvmsg(sv[1], &none, MSG_DONTWAIT);  /* nothing left: EAGAIN, strace shows {msg_namelen=0} */
    return 0;
}
"""

SELECT = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <sys/select.h>
#include <unistd.h>
int main(void) {
    int p[2]; pipe(p); write(p[1], "x", 1);
    fd_set r, w; FD_ZERO(&r); FD_SET(p[0], &r); FD_ZERO(&w); FD_SET(p[1], &w);
    select(p[1] + 1, &r, &w, NULL, NULL);
    FD_ZERO(&r); FD_SET(p[1] + 0, &r); struct timeval tv = {0, 0};
    fd_set e; FD_ZERO(&e); FD_SET(p[0], &e);
    select(p[1] + 1, NULL, NULL, &e, &tv);
    FD_ZERO(&r); FD_SET(p[0], &r); sigset_t none; sigemptyset(&none);
    pselect(p[0] + 1, &r, NULL, NULL, NULL, &none);
    struct timespec ts = {0, 0}; FD_ZERO(&w);
    pselect(p[0] + 1, NULL, &w, NULL, &ts, NULL);
    select(0, NULL, NULL, NULL, &tv);
    return 0;
}
"""

RESOURCES = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <grp.h>
#include <sched.h>
#include <unistd.h>
int main(void) {
    struct rusage u; getrusage(RUSAGE_SELF, &u); getrusage(RUSAGE_CHILDREN, &u); getrusage(RUSAGE_THREAD, &u);
    getrusage(99, &u); getrusage(RUSAGE_SELF, (void *)8);
    struct sysinfo si; sysinfo(&si);
    pid_t child = fork(); if (!child) _exit(2);
    int status; wait4(child, &status, 0, &u);
    int ep = epoll_create1(EPOLL_CLOEXEC), p[2]; pipe(p); write(p[1], "x", 1);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]}, out[4];
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    epoll_wait(ep, out, 4, 0); epoll_pwait(ep, out, 4, 0, NULL);
    epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL); epoll_wait(ep, out, 4, 0);
    mkdir("entries", 0755); close(open("entries/a", O_CREAT | O_WRONLY, 0600));
    int dir = open("entries", O_RDONLY | O_DIRECTORY); char buf[4096];
    syscall(217, dir, buf, sizeof buf); syscall(217, dir, buf, sizeof buf);
    close(dir); unlink("entries/a"); rmdir("entries");  /* the other tracer's run starts afresh */
    char cwd[4096]; syscall(SYS_getcwd, cwd, sizeof cwd);
    cpu_set_t cpus; sched_getaffinity(0, sizeof cpus, &cpus);
    gid_t groups[64]; int n = getgroups(0, NULL); getgroups(64, groups); setgroups(n > 0 ? 1 : 0, groups);
    struct stat st; stat("/tmp", &st);  /* the sticky bit: S_ISVTX */
    struct sockaddr_in peer; socklen_t len = sizeof peer; int nul = open("/dev/null", O_RDONLY);
    getpeername(nul, (void *)&peer, &len);  /* ENOTSOCK, and the length it was given: [16] */
    return 0;
}
"""

#: calls whose every constant follows -X, in their arguments and in their structs' fields
XLAT = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/un.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
int main(void) {
    int fd = open("xlat.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    lseek(fd, 0, SEEK_CUR); fcntl(fd, F_GETFL); fcntl(fd, F_SETFD, FD_CLOEXEC); fcntl(fd, F_GETFD);
    fcntl(fd, F_DUPFD, 20); fcntl(fd, F_SETFL, O_NONBLOCK); dup3(fd, 9, O_CLOEXEC);
    openat(fd, "x", O_RDONLY | 0x40000000); flock(fd, LOCK_EX | LOCK_NB);
    struct rlimit r; getrlimit(RLIMIT_NOFILE, &r); struct rusage u; getrusage(RUSAGE_CHILDREN, &u);
    signal(SIGUSR1, SIG_IGN); kill(getpid(), SIGUSR1); kill(getpid(), 0);
    sigset_t m; sigemptyset(&m); sigaddset(&m, SIGINT); sigprocmask(SIG_BLOCK, &m, NULL);
    umask(022); chmod("xlat.txt", 0600); access("xlat.txt", R_OK | W_OK);
    struct timespec t = {0, 1000}; clock_nanosleep(CLOCK_MONOTONIC, 0, &t, NULL);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP); int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); shutdown(s, SHUT_RDWR);
    int word = 0; syscall(SYS_futex, &word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, FUTEX_BITSET_MATCH_ANY);
    mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | (4 << 26), -1, 0);
    mprotect(NULL, 0, PROT_NONE); madvise(NULL, 0, MADV_DONTNEED);
    unsigned long base; syscall(SYS_arch_prctl, 0x1003, &base);
    pid_t child = fork(); if (!child) _exit(3);
    wait4(child, NULL, __WALL, NULL); wait4(child, NULL, 0, NULL);
    getpriority(PRIO_PROCESS, 0);
    struct stat st; stat("/dev/null", &st); stat("/tmp", &st); fstat(fd, &st);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(1), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    connect(c, (void *)&to, sizeof to);
    int local = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un nowhere = {.sun_family = AF_UNIX, .sun_path = "/nonexistent-renacer"};
    connect(local, (void *)&nowhere, sizeof nowhere);
    struct pollfd ready = {.fd = fd, .events = POLLOUT}; poll(&ready, 1, 0);
    unlinkat(AT_FDCWD, "xlat.txt", 0);
    return 0;
}
"""

PROGRAMS = {"constants": CONSTANTS, "resources": RESOURCES, "xlat": XLAT, "clones": CLONES, "statx": STATX, "messages": MESSAGES, "select": SELECT, "structs": STRUCTS, "terminal": TERMINAL, "vectors": VECTORS}
#: The calls of main() (the loader's and libc's start-up calls are not the program's).
_FIRST = {"constants": 'openat(AT_FDCWD, "/etc/hostname", O_RDONLY)',
          "structs": 'newfstatat(AT_FDCWD, "/etc/hostname", ',
          "terminal": 'openat(AT_FDCWD, "/dev/ptmx", ',
          "vectors": 'openat(AT_FDCWD, "vectors.out", ',
          "clones": "rt_sigprocmask(SIG_BLOCK, [CHLD], NULL, 8)",
          "statx": 'statx(AT_FDCWD, "/etc/hostname", ',
          "messages": "socketpair(AF_UNIX, SOCK_DGRAM, 0, ",
          "select": "pipe2([",
          "resources": "getrusage(RUSAGE_SELF, ",
          "xlat": 'openat(AT_FDCWD, "xlat.txt", '}
_ADDRESS = re.compile(r"0x[0-9a-f]{9,}")  # above 4 GiB: the stack, mappings and the PIE program (ASLR)


def _normalised(line: str) -> tuple[str, str]:
    """(call with its arguments, result) with addresses as ADDR and structs as STRUCT."""
    call, _, result = line.rpartition(" = ")
    call = re.sub(r"\s+", " ", _ADDRESS.sub("PTR", call)).strip()
    call = re.sub(r"^(getsockname\(.*sin6?_port=htons\()\d+", r"\1PORT", call)  # bound to port 0
    result = _ADDRESS.sub("PTR", re.sub(r" <\d+\.\d+>$", "", result)).strip()
    child = re.match(r"wait4\((\d+),", call)  # the child's pid differs from run to run
    if child:
        call = call.replace(child[0], "wait4(CHILD,")
        result = "CHILD" if result == child[1] else result
    # what the machine and the kernel's clock say differs from run to run: only the form is compared
    call = re.sub(r"(ru_[us]time)=\{tv_sec=\d+, tv_usec=\d+\}", r"\1=TIME", call)
    call = re.sub(r"\b(uptime|freeram|sharedram|bufferram|freeswap|procs)=\d+", r"\1=N", call)
    call = re.sub(r"loads=\[\d+, \d+, \d+\]", "loads=[N]", call)
    if call.startswith("getrandom("):  # random bytes: only their form (all hex, as strace) is compared
        call = re.sub(r'^getrandom\("(\\x[0-9a-f]{2})+"', 'getrandom("HEX"', call)
    return call, result


def _program_lines(text: str, ours: bool, first: str) -> list[tuple[str, str]]:
    lines = [re.sub(r"^\[pid +\d+\] ", "", line) if ours else line for line in text.splitlines()]
    # the ids of the tasks the program made differ from run to run: CHILD wherever they appear
    children = {m[1] for line in lines if (m := re.match(r"clone3?\(.* = (\d+)$", re.sub(r" <\d+\.\d+>$", "", line)))}
    if children:
        lines = [re.sub(r"\b(" + "|".join(children) + r")\b", "CHILD", line) for line in lines]
    selves = {m[1] for line in lines if (m := re.match(r"getpid\(\) += (\d+)", line))}  # and its own: SELF
    if selves:
        lines = [re.sub(r"\b(" + "|".join(selves) + r")\b", "SELF", line) for line in lines]
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    out = []
    for line in lines[start:]:
        if line.startswith(("---", "+++", "renacer-tui", "trace_id")) or " = " not in line:
            continue
        if line.startswith("exit_group("):  # the end: other tests
            continue
        out.append(_normalised(line))
    return out


def _compare_with_strace(tmp_path: Path, exe: str, first: str, ours_extra: list[str], theirs_extra: list[str]) -> None:
    ours_run = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--no-follow", "--no-rle",
                               *ours_extra, "-o", "ours.txt", "--", exe], capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert ours_run.returncode == 0, ours_run.stderr
    subprocess.run(["strace", *theirs_extra, "-o", "theirs.txt", exe], capture_output=True, timeout=120, check=True,
                   cwd=tmp_path)
    ours = _program_lines((tmp_path / "ours.txt").read_text(), True, first)
    theirs = _program_lines((tmp_path / "theirs.txt").read_text(), False, first)
    assert [call.split("(")[0] for call, _ in ours] == [call.split("(")[0] for call, _ in theirs]
    mismatched = [(o, t) for o, t in zip(ours, theirs) if o != t]
    assert not mismatched, "\n".join(f"ours:   {o}\ntheirs: {t}" for o, t in mismatched)


@needs_strace
@pytest.mark.parametrize("decode", ["apart", "inline"])
@pytest.mark.parametrize("program", list(PROGRAMS))
def test_lines_read_as_in_strace(tmp_path: Path, cbuild, decode: str, program: str) -> None:
    exe = str(cbuild(program, PROGRAMS[program]))
    _compare_with_strace(tmp_path, exe, _FIRST[program], ["--inline-decode"] if decode == "inline" else [], [])


#: the first line of a program's own calls in -X raw and verbose
_X_FIRST = {
    ("xlat", "raw"): 'openat(-100, "xlat.txt", ', ("xlat", "verbose"): 'openat(-100 /* AT_FDCWD */, "xlat.txt", ',
    ("terminal", "raw"): 'openat(-100, "/dev/ptmx", ', ("terminal", "verbose"): 'openat(-100 /* AT_FDCWD */, "/dev/ptmx", ',
    ("clones", "raw"): "rt_sigprocmask(0, [17], NULL, 8)",
    ("clones", "verbose"): "rt_sigprocmask(0 /* SIG_BLOCK */, [17 /* CHLD */], NULL, 8)",
}


@needs_strace
@pytest.mark.parametrize("style", ["raw", "verbose"])
@pytest.mark.parametrize("program", ["xlat", "terminal", "clones"])
def test_constants_read_as_strace_x_writes_them(tmp_path: Path, cbuild, program: str, style: str) -> None:
    """-X raw: every constant a number (`0x80000`, `-100`, `[2]`, a termios word's fields); -X
    verbose: the number and its name (`0x3 /* PROT_READ|PROT_WRITE */`), as strace -X writes each."""
    exe = str(cbuild(program, PROGRAMS[program]))
    _compare_with_strace(tmp_path, exe, _X_FIRST[program, style], ["-X", style], ["-X", style])


@given(value=st.integers(0, 2**32 - 1), kind=st.sampled_from(["oflags", "prot", "mapflags", "access", "atflags"]))
def test_x_raw_is_the_number_and_verbose_adds_the_abbreviated_name(value: int, kind: str) -> None:
    from renacer_tui.tracer.decode import render_input, use_xlat_style

    def shown(style: str) -> str:
        use_xlat_style(style)
        return render_input(kind, "flags", "openat", value, (0, 0, value, 0, 0, 0), 0, None, 64)  # type: ignore[arg-type]

    try:
        abbrev, raw, verbose = shown("abbrev"), shown("raw"), shown("verbose")
    finally:
        use_xlat_style("abbrev")  # strace's default, for the rest of this process's tests
    assert raw == F.hex_word(value)
    assert verbose == raw if abbrev == raw else verbose == f"{raw} /* {abbrev} */"


@given(st.integers(0, 2**32 - 1))
def test_socket_type_names_the_base_type_and_both_flags(value: int) -> None:
    text = socket_type(value)
    assert text.split("|")[0] in {"SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_RDM", "SOCK_SEQPACKET",
                                  "SOCK_DCCP", "SOCK_PACKET"} or text.split("|")[0].isdigit()
    assert ("SOCK_CLOEXEC" in text) == bool(value & 0o2000000)
    assert ("SOCK_NONBLOCK" in text) == bool(value & 0o4000)


@given(st.integers(-(2**31), 2**31 - 1))
def test_futex_op_is_one_name_with_its_modifiers_or_the_number(value: int) -> None:
    text = futex_op(value)
    assert text == str(value) or (text.startswith("FUTEX_") and text.count("|") <= 1)


@pytest.mark.parametrize("kind", sorted(RENDERERS))
def test_every_renderer_takes_any_word(kind: str) -> None:
    for value in (0, 1, 7, 0x80, 0xFFFFFFFF, 2**64 - 1):
        text = RENDERERS[kind](value, (value, value, value, 0, 0, 0))
        assert text and "\n" not in text


def test_o_directory_is_not_o_tmpfile() -> None:
    import os

    assert F.open_flags(os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_DIRECTORY) == (
        "O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY")
    assert F.open_flags(os.O_RDWR | os.O_TMPFILE) == "O_RDWR|O_TMPFILE"


def test_socket_addresses_are_queryable_attributes(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("structs", STRUCTS))
    run = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--db", str(tmp_path / "db"),
                          "--format", "jsonl", "-o", "out.jsonl", "--", exe], capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    spans = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    by_call = {}
    for span in spans:
        by_call.setdefault(span["span_name"], []).append(span["attributes"])
    unix, inet = by_call["syscall:connect"]
    assert unix["network.peer.address"] == "/nonexistent.sock" and unix["network.transport"] == "unix"
    assert inet["network.peer.address"] == "127.0.0.1" and inet["network.peer.port"] == 1
    (bound,) = by_call["syscall:bind"]
    assert bound["network.local.address"] == "::1" and bound["network.local.port"] == 0
    (named,) = by_call["syscall:getsockname"]
    assert named["network.local.address"] == "::1" and named["network.local.port"] > 0
    # and in the store, for SQL
    from renacer_tui.store import Store

    store = Store.open(tmp_path / "db")
    try:
        rows = store.query("SELECT json_extract_string(attributes, '$.\"network.peer.address\"') AS peer "
                           "FROM spans WHERE span_name = 'syscall:connect' ORDER BY start_time_nanos").to_pylist()
    finally:
        store.close()
    assert [r["peer"] for r in rows] == ["/nonexistent.sock", "127.0.0.1"]


@given(st.binary(max_size=140))
def test_any_socket_address_bytes_render(raw: bytes) -> None:
    from renacer_tui.tracer.structs import sockaddr

    text, address, port, _transport = sockaddr(raw)
    assert text.startswith("{") and text.endswith("}") and "\n" not in text
    assert port is None or 0 <= port <= 65535


@given(st.binary(min_size=16, max_size=16), st.sampled_from([0x5401, 0x5402, 0x5413, 0x541B]))
def test_any_terminal_struct_renders(raw: bytes, request: int) -> None:
    """termios (its four flag words), winsize and an int, whatever the bytes."""
    from renacer_tui.tracer.structs import STRUCTS

    size = 16 if request < 0x5413 else 8 if request == 0x5413 else 4
    text, _attrs = STRUCTS["ioctl", "arg"].render((raw[:size],), (4, request, 0), 0)
    assert text.startswith(("{", "[")) and text.endswith(("}", "]")) and "\n" not in text
    if request == 0x5401:
        assert re.fullmatch(r"\{c_iflag=[^,]+, c_oflag=[^,]+, c_cflag=[^,]+, c_lflag=[^,]+, \.\.\.\}", text)


@given(st.binary(min_size=48, max_size=48))
def test_any_statx_renders(raw: bytes) -> None:
    from renacer_tui.tracer.structs import STRUCTS

    text, _attrs = STRUCTS["statx", "statxbuf"].render((raw,), (0, 0, 0, 0, 0), 0)
    assert re.fullmatch(r"\{stx_mask=[^,]+, stx_attributes=[^,]+, stx_mode=[^,]+, stx_size=\d+, \.\.\.\}", text)


BYTES = r"""
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    unsigned char all[256];
    for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
    int fd = open("/dev/null", O_WRONLY);
    write(fd, all, sizeof all);                      /* every byte value: controls, octal, not UTF-8 */
    write(fd, "\0" "7" "\0" "8" "\x1b[1m\"q\"\\", 12);   /* three digits before an octal digit only */
    return 0;
}
"""


@needs_strace
def test_every_byte_is_escaped_as_strace_escapes_it(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("bytes", BYTES))
    subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--no-follow", "-s", "300",
                    "-e", "trace=write", "-o", "ours.txt", "--", exe], capture_output=True, timeout=60, check=True,
                   stdin=subprocess.DEVNULL, cwd=tmp_path)
    subprocess.run(["strace", "-s", "300", "-e", "trace=write", "-o", "theirs.txt", exe], capture_output=True,
                   timeout=60, check=True, cwd=tmp_path)
    ours = _program_lines((tmp_path / "ours.txt").read_text(), True, "write(3, ")
    theirs = _program_lines((tmp_path / "theirs.txt").read_text(), False, "write(3, ")
    assert len(ours) == 2 and ours == theirs


def _unescaped(text: str) -> bytes:
    """The bytes an escaped string (no quotes) stands for: strace's escapes, UTF-8 for the rest."""
    named = {"n": b"\n", "t": b"\t", "r": b"\r", "v": b"\v", "f": b"\f", '"': b'"', "\\": b"\\"}
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] != "\\":
            out += text[i].encode("utf-8")
            i += 1
        elif text[i + 1] in named:
            out += named[text[i + 1]]
            i += 2
        else:
            digits = re.match(r"[0-7]{1,3}", text[i + 1:])[0]
            out.append(int(digits, 8))
            i += 1 + len(digits)
    return bytes(out)


@given(st.binary(max_size=64) | st.text(max_size=32).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_escaped_bytes_read_back_and_print_safely(data: bytes) -> None:
    text = F.escape_bytes(data)
    assert _unescaped(text) == data
    assert text.isprintable() and '"' not in text.replace('\\"', "")
