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

#: The spec's §6.3 example (diff and payload tests): `prog OUT SIZE [FLIP]` writes SIZE bytes of
#: a fixed pattern to OUT in ONE write; with FLIP the byte at that offset is flipped.
#: `PY_ONE_BYTE_WRITES` writes the same bytes one unbuffered write at a time.
PATTERN_BYTES = 3001
ONE_WRITE = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int size = atoi(argv[2]);
    char *buf = malloc(size);
    for (int i = 0; i < size; i++) buf[i] = 'a' + i % 26;
    if (argc > 3) buf[atoi(argv[3])] ^= 1;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, buf, size) != size) return 1;
    return close(fd) != 0;
}
"""
PY_ONE_BYTE_WRITES = (
    "import os, sys\n"
    "data = bytearray(97 + i % 26 for i in range(int(sys.argv[2])))\n"
    "if len(sys.argv) > 3: data[int(sys.argv[3])] ^= 1\n"
    "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)\n"
    "for i in range(len(data)): os.write(fd, data[i:i + 1])\n"
    "os.close(fd)\n"
)


def pattern(size: int = PATTERN_BYTES, flip: int | None = None) -> bytes:
    """The bytes ONE_WRITE and PY_ONE_BYTE_WRITES write."""
    data = bytearray(97 + i % 26 for i in range(size))
    if flip is not None:
        data[flip] ^= 1
    return bytes(data)
