"""ptrace capture: every system call of a process tree as spans of one W3C trace."""
