"""C sources several test files compile with the `cbuild` fixture (one copy of each)."""

#: `wait_sleeping(path)`: block until the task whose /proc/.../stat is `path` sleeps, i.e. it is
#: inside its blocking call.  Prepend to a program that includes <fcntl.h>, <stdio.h>,
#: <string.h> and <unistd.h>.
WAIT_SLEEPING = r"""
/* Block until task `path` (/proc/.../stat) sleeps: it is then inside its blocking call. */
static void wait_sleeping(const char *path) {
    char buf[512];
    for (;;) {
        int fd = open(path, O_RDONLY);
        int n = fd >= 0 ? (int)read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0) close(fd);
        if (n <= 0) return;
        buf[n] = 0;
        char *end = strrchr(buf, ')');
        if (end && end[2] == 'S') return;
        usleep(1000);
    }
}
"""

# The child blocks in read() on a pipe nobody writes; the parent kills it there.
DIES_IN_READ = r"""
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
""" + WAIT_SLEEPING + r"""int main(void) {
    int p[2];
    pipe(p);
    pid_t child = fork();
    if (child == 0) { char c; read(p[0], &c, 1); _exit(0); }
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", child);
    wait_sleeping(path);
    kill(child, SIGKILL);
    int st;
    waitpid(child, &st, 0);
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : 1;
}
"""
