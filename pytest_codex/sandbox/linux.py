"""Thin ctypes wrappers for the Linux calls the sandbox needs (Python 3.11 has no os.unshare).

Standard library only: this module is imported by the fork server, a fresh interpreter
that must stay small.  Every function raises ``OSError`` with the errno on failure.
"""

from __future__ import annotations

import ctypes
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]

MACHINE = os.uname().machine

# namespaces (unshare / clone flags)
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACE_FLAGS = (
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
)

# prctl
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2

# mount
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2

# Landlock (include/uapi/linux/landlock.h)
_SYS_LANDLOCK = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK = 1 << 8, 1 << 9, 1 << 10, 1 << 11
FS_MAKE_SYM, FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 12, 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


def _check(ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)))


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    _check(_libc.prctl(option, arg2, arg3, 0, 0))


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)))


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)))


# --- Landlock -------------------------------------------------------------------------


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 where Landlock is unavailable."""
    nrs = _SYS_LANDLOCK.get(MACHINE)
    if nrs is None:
        return 0
    ret = _libc.syscall(nrs[0], None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(int(ret), 0)


def fs_access_for_abi(abi: int) -> int:
    """Every filesystem right the given ABI can handle."""
    rights = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def landlock_ruleset(handled_fs: int, handled_net: int = 0, scoped: int = 0) -> int:
    """Create a ruleset; returns its fd."""
    attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    size = 24 if scoped else (16 if handled_net else 8)
    buf = ctypes.create_string_buffer(attr, 24)
    return _check(_libc.syscall(_SYS_LANDLOCK[MACHINE][0], buf, ctypes.c_size_t(size), ctypes.c_uint32(0)))


def landlock_allow_path(ruleset_fd: int, path: str, access: int) -> None:
    """Allow ``access`` beneath ``path`` (a directory, or a file with file-only rights)."""
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        attr = ctypes.create_string_buffer(struct.pack("=Qi", access, fd), 12)
        _check(
            _libc.syscall(
                _SYS_LANDLOCK[MACHINE][1],
                ctypes.c_int(ruleset_fd),
                ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                attr,
                ctypes.c_uint32(0),
            )
        )
    finally:
        os.close(fd)


def landlock_restrict_self(ruleset_fd: int) -> None:
    _check(_libc.syscall(_SYS_LANDLOCK[MACHINE][2], ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)))


# --- seccomp --------------------------------------------------------------------------

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
RET_KILL_PROCESS, RET_ALLOW, RET_ERRNO = 0x80000000, 0x7FFF0000, 0x00050000
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06

# Deny by default: a syscall runs only if it is on an allowlist, which holds what CPython
# needs to run the standard library (files, memory, threads, fork, signals, clocks, pipes,
# select/poll/epoll).  Everything else fails: the well-known dangerous calls with EPERM (a
# readable PermissionError: socket, socketpair, memfd_create, io_uring, userfaultfd, bpf,
# perf_event_open, ptrace, process_vm_*, keyrings, mounts, namespaces, pidfd_*, SysV and
# POSIX IPC, execve...), extended attributes with ENOTSUP (shutil ignores it), clone3 and
# anything unlisted with ENOSYS (glibc then falls back, e.g. from clone3 to clone).  clone()
# with a namespace flag is EPERM; ioctl() only for a few terminal and fd-flag requests
# (isatty, FIOCLEX...), so no SIOCOUTQ/FIONREAD on the control socket (ENOTTY).  A foreign
# ABI (x32, i386) kills the process.  Two stages: the fork server installs SERVER on
# itself (it also passes fds over sockets), each sample's child then adds SAMPLE, which
# can only narrow it.
#
# Numbers: (x86_64, aarch64), from the kernel's unistd_64.h and asm-generic/unistd.h;
# None where the ABI has no such call.
_NR = {
    "read": (0, 63),
    "write": (1, 64),
    "readv": (19, 65),
    "writev": (20, 66),
    "pread64": (17, 67),
    "pwrite64": (18, 68),
    "preadv": (295, 69),
    "pwritev": (296, 70),
    "preadv2": (327, 286),
    "pwritev2": (328, 287),
    "lseek": (8, 62),
    "open": (2, None),
    "openat": (257, 56),
    "close": (3, 57),
    "close_range": (436, 436),
    "creat": (85, None),
    "stat": (4, None),
    "fstat": (5, 80),
    "lstat": (6, None),
    "newfstatat": (262, 79),
    "statx": (332, 291),
    "access": (21, None),
    "faccessat": (269, 48),
    "faccessat2": (439, 439),
    "readlink": (89, None),
    "readlinkat": (267, 78),
    "getdents": (78, None),
    "getdents64": (217, 61),
    "getcwd": (79, 17),
    "chdir": (80, 49),
    "fchdir": (81, 50),
    "mkdir": (83, None),
    "mkdirat": (258, 34),
    "rmdir": (84, None),
    "unlink": (87, None),
    "unlinkat": (263, 35),
    "rename": (82, None),
    "renameat": (264, 38),
    "renameat2": (316, 276),
    "link": (86, None),
    "linkat": (265, 37),
    "symlink": (88, None),
    "symlinkat": (266, 36),
    "chmod": (90, None),
    "fchmod": (91, 52),
    "fchmodat": (268, 53),
    "fchmodat2": (452, 452),
    "chown": (92, None),
    "fchown": (93, 55),
    "lchown": (94, None),
    "fchownat": (260, 54),
    "utime": (132, None),
    "utimes": (235, None),
    "utimensat": (280, 88),
    "futimesat": (261, None),
    "truncate": (76, 45),
    "ftruncate": (77, 46),
    "fsync": (74, 82),
    "fdatasync": (75, 83),
    "fallocate": (285, 47),
    "fadvise64": (221, 223),
    "flock": (73, 32),
    "fcntl": (72, 25),
    "dup": (32, 23),
    "dup2": (33, None),
    "dup3": (292, 24),
    "pipe": (22, None),
    "pipe2": (293, 59),
    "statfs": (137, 43),
    "fstatfs": (138, 44),
    "sendfile": (40, 71),
    "copy_file_range": (326, 285),
    "splice": (275, 76),
    "tee": (276, 77),
    "umask": (95, 166),
    "mknod": (133, None),
    "mknodat": (259, 33),
    "select": (23, None),
    "pselect6": (270, 72),
    "poll": (7, None),
    "ppoll": (271, 73),
    "epoll_create": (213, None),
    "epoll_create1": (291, 20),
    "epoll_ctl": (233, 21),
    "epoll_wait": (232, None),
    "epoll_pwait": (281, 22),
    "epoll_pwait2": (441, 441),
    "eventfd": (284, None),
    "eventfd2": (290, 19),
    "timerfd_create": (283, 85),
    "timerfd_settime": (286, 86),
    "timerfd_gettime": (287, 87),
    "signalfd": (282, None),
    "signalfd4": (289, 74),
    "brk": (12, 214),
    "mmap": (9, 222),
    "munmap": (11, 215),
    "mprotect": (10, 226),
    "mremap": (25, 216),
    "madvise": (28, 233),
    "msync": (26, 227),
    "mincore": (27, 232),
    "clone": (56, 220),
    "fork": (57, None),
    "vfork": (58, None),
    "exit": (60, 93),
    "exit_group": (231, 94),
    "wait4": (61, 260),
    "waitid": (247, 95),
    "kill": (62, 129),
    "tkill": (200, 130),
    "tgkill": (234, 131),
    "getpid": (39, 172),
    "getppid": (110, 173),
    "gettid": (186, 178),
    "getuid": (102, 174),
    "geteuid": (107, 175),
    "getgid": (104, 176),
    "getegid": (108, 177),
    "getresuid": (118, 148),
    "getresgid": (120, 150),
    "getgroups": (115, 158),
    "setsid": (112, 157),
    "setpgid": (109, 154),
    "getpgid": (121, 155),
    "getpgrp": (111, None),
    "getsid": (124, 156),
    "setresuid": (117, 147),
    "setresgid": (119, 149),
    "setgroups": (116, 159),
    "setuid": (105, 146),
    "setgid": (106, 144),
    "prctl": (157, 167),
    "arch_prctl": (158, None),
    "set_tid_address": (218, 96),
    "set_robust_list": (273, 99),
    "rseq": (334, 293),
    "futex": (202, 98),
    "sched_yield": (24, 124),
    "sched_getaffinity": (204, 123),
    "getrlimit": (97, 163),
    "setrlimit": (160, 164),
    "prlimit64": (302, 261),
    "getrusage": (98, 165),
    "times": (100, 153),
    "sysinfo": (99, 179),
    "uname": (63, 160),
    "getcpu": (309, 168),
    "restart_syscall": (219, 128),
    "rt_sigaction": (13, 134),
    "rt_sigprocmask": (14, 135),
    "rt_sigreturn": (15, 139),
    "rt_sigpending": (127, 136),
    "rt_sigtimedwait": (128, 137),
    "rt_sigsuspend": (130, 133),
    "sigaltstack": (131, 132),
    "pause": (34, None),
    "alarm": (37, None),
    "setitimer": (38, 103),
    "getitimer": (36, 102),
    "timer_create": (222, 107),
    "timer_settime": (223, 110),
    "timer_gettime": (224, 108),
    "timer_getoverrun": (225, 109),
    "timer_delete": (226, 111),
    "clock_gettime": (228, 113),
    "clock_getres": (229, 114),
    "clock_nanosleep": (230, 115),
    "nanosleep": (35, 101),
    "gettimeofday": (96, 169),
    "time": (201, None),
    "getrandom": (318, 278),
    "recvmsg": (47, 212),
    "recvfrom": (45, 207),
    "socketpair": (53, 199),
    "sendmsg": (46, 211),
    "sendto": (44, 206),
    "execve": (59, 221),
    "execveat": (322, 281),
    "clone3": (435, 435),
    "ioctl": (16, 29),
    "socket": (41, 198),
    "memfd_create": (319, 279),
    "memfd_secret": (447, 447),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "userfaultfd": (323, 282),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "process_madvise": (440, 440),
    "kcmp": (312, 272),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "mount": (165, 40),
    "umount2": (166, 39),
    "unshare": (272, 97),
    "setns": (308, 268),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "pidfd_open": (434, 434),
    "pidfd_send_signal": (424, 424),
    "pidfd_getfd": (438, 438),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "fanotify_init": (300, 262),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "reboot": (169, 142),
    "sethostname": (170, 161),
    "setdomainname": (171, 162),
    "init_module": (175, 105),
    "delete_module": (176, 106),
    "finit_module": (313, 273),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "shmget": (29, 194),
    "shmat": (30, 196),
    "shmdt": (67, 197),
    "shmctl": (31, 195),
    "semget": (64, 190),
    "semop": (65, 193),
    "semtimedop": (220, 192),
    "semctl": (66, 191),
    "msgget": (68, 186),
    "msgsnd": (69, 189),
    "msgrcv": (70, 188),
    "msgctl": (71, 187),
    "mq_open": (240, 180),
    "mq_unlink": (241, 181),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "settimeofday": (164, 170),
    "clock_settime": (227, 112),
    "clock_adjtime": (305, 266),
    "adjtimex": (159, 171),
    "setxattr": (188, 5),
    "lsetxattr": (189, 6),
    "fsetxattr": (190, 7),
    "getxattr": (191, 8),
    "lgetxattr": (192, 9),
    "fgetxattr": (193, 10),
    "listxattr": (194, 11),
    "llistxattr": (195, 12),
    "flistxattr": (196, 13),
    "removexattr": (197, 14),
    "lremovexattr": (198, 15),
    "fremovexattr": (199, 16),
    "connect": (42, 203),
    "bind": (49, 200),
    "listen": (50, 201),
    "accept": (43, 202),
    "accept4": (288, 242),
    "getsockopt": (55, 209),
    "setsockopt": (54, 208),
    "shutdown": (48, 210),
    "getsockname": (51, 204),
    "getpeername": (52, 205),
    "sendmmsg": (307, 269),
    "recvmmsg": (299, 243),
    "inotify_init": (253, None),
    "inotify_init1": (294, 26),
    "inotify_add_watch": (254, 27),
    "inotify_rm_watch": (255, 28),
    "seccomp": (317, 277),
    "landlock_create_ruleset": (444, 444),
    "landlock_add_rule": (445, 445),
    "landlock_restrict_self": (446, 446),
}

SAMPLE = frozenset(
    """
    read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 lseek open openat close close_range
    creat stat fstat lstat newfstatat statx access faccessat faccessat2 readlink readlinkat getdents getdents64
    getcwd chdir fchdir mkdir mkdirat rmdir unlink unlinkat rename renameat renameat2 link linkat symlink
    symlinkat chmod fchmod fchmodat fchmodat2 chown fchown lchown fchownat utime utimes utimensat futimesat
    truncate ftruncate fsync fdatasync fallocate fadvise64 flock fcntl dup dup2 dup3 pipe pipe2 statfs fstatfs
    sendfile copy_file_range splice tee umask mknod mknodat select pselect6 poll ppoll epoll_create
    epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 eventfd eventfd2 timerfd_create
    timerfd_settime timerfd_gettime signalfd signalfd4 brk mmap munmap mprotect mremap madvise msync mincore
    fork vfork exit exit_group wait4 waitid kill tkill tgkill getpid getppid gettid getuid geteuid getgid
    getegid getresuid getresgid getgroups setsid setpgid getpgid getpgrp getsid setresuid setresgid
    setgroups setuid setgid prctl arch_prctl set_tid_address set_robust_list rseq futex sched_yield
    sched_getaffinity getrlimit setrlimit prlimit64 getrusage times sysinfo uname getcpu restart_syscall
    rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait rt_sigsuspend sigaltstack pause
    alarm setitimer getitimer timer_create timer_settime timer_gettime timer_getoverrun timer_delete
    clock_gettime clock_getres clock_nanosleep nanosleep gettimeofday time getrandom recvmsg recvfrom
    """.split()
)
SERVER = SAMPLE | {"socketpair", "sendmsg", "sendto"}  # hand a sample its fds; answer the trusted side
DENIED_EPERM = frozenset(
    """
    socket socketpair sendmsg sendto sendmmsg recvmmsg connect bind listen accept accept4 getsockopt setsockopt
    shutdown getsockname getpeername memfd_create memfd_secret io_uring_setup io_uring_enter io_uring_register
    userfaultfd bpf perf_event_open ptrace process_vm_readv process_vm_writev process_madvise kcmp keyctl
    add_key request_key mount umount2 unshare setns pivot_root chroot pidfd_open pidfd_send_signal pidfd_getfd
    open_by_handle_at name_to_handle_at fanotify_init acct quotactl swapon swapoff reboot sethostname
    setdomainname init_module delete_module finit_module kexec_load kexec_file_load shmget shmat shmdt shmctl
    semget semop semtimedop semctl msgget msgsnd msgrcv msgctl mq_open mq_unlink open_tree move_mount fsopen
    fsconfig fsmount fspick mount_setattr settimeofday clock_settime clock_adjtime adjtimex execve execveat
    inotify_init inotify_init1 inotify_add_watch seccomp landlock_create_ruleset landlock_add_rule
    landlock_restrict_self
    """.split()
)
DENIED_ENOTSUP = frozenset(
    "setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr "
    "lremovexattr fremovexattr".split()
)
# ioctl requests allowed (the rest: ENOTTY): TCGETS (isatty), TIOCGWINSZ, FIONBIO, FIONCLEX, FIOCLEX
IOCTLS = (0x5401, 0x5413, 0x5421, 0x5450, 0x5451)
EPERM, ENOTTY, ENOSYS, ENOTSUP = 1, 25, 38, 95
_CLONE, _CLONE3, _IOCTL = "clone", "clone3", "ioctl"


def seccomp_program(role: str = "sample") -> bytes | None:
    """The BPF filter for ``role`` ('sample' or 'server') as bytes of ``struct sock_filter``,
    or None on an architecture without a table."""
    arch = AUDIT_ARCH.get(MACHINE)
    if arch is None:
        return None
    col = 0 if MACHINE == "x86_64" else 1
    allowed = SAMPLE if role == "sample" else SERVER
    actions: dict[int, int] = {}  # syscall number -> return value
    for names, action in (
        (DENIED_EPERM - allowed, RET_ERRNO | EPERM),
        (DENIED_ENOTSUP, RET_ERRNO | ENOTSUP),
        (allowed, RET_ALLOW),
    ):
        for name in names:
            nr = _NR[name][col]
            if nr is not None:
                actions[nr] = action
    prog: list[tuple[int, int, int, int]] = []

    def emit(code: int, k: int, jt: int = 0, jf: int = 0) -> None:
        prog.append((code, jt, jf, k))

    emit(_LD_W_ABS, 4)  # seccomp_data.arch
    emit(_JEQ_K, arch, 1, 0)
    emit(_RET_K, RET_KILL_PROCESS)
    emit(_LD_W_ABS, 0)  # seccomp_data.nr
    if MACHINE == "x86_64":
        emit(_JGE_K, 0x40000000, 0, 1)  # the x32 ABI
        emit(_RET_K, RET_KILL_PROCESS)
    # clone(flags, ...): no namespace flag.  The block ends in returns, so the accumulator
    # (loaded with an argument inside it) is the syscall number again wherever it is skipped to.
    clone, ioctl = _NR[_CLONE][col], _NR[_IOCTL][col]
    assert clone is not None and ioctl is not None  # both ABIs have them
    emit(_JEQ_K, clone, 0, 4)
    emit(_LD_W_ABS, 16)  # low half of args[0]
    emit(_JSET_K, NAMESPACE_FLAGS, 0, 1)
    emit(_RET_K, RET_ERRNO | EPERM)
    emit(_RET_K, RET_ALLOW)
    emit(_JEQ_K, ioctl, 0, len(IOCTLS) + 3)
    emit(_LD_W_ABS, 24)  # low half of args[1], the request
    for i, request in enumerate(IOCTLS):
        emit(_JEQ_K, request, len(IOCTLS) - i, 0)  # to the RET_ALLOW after the ENOTTY
    emit(_RET_K, RET_ERRNO | ENOTTY)
    emit(_RET_K, RET_ALLOW)
    for nr, action in sorted(actions.items()):
        emit(_JEQ_K, nr, 0, 1)
        emit(_RET_K, action)
    emit(_RET_K, RET_ERRNO | ENOSYS)  # clone3 and everything unlisted
    if len(prog) > 4096:
        raise AssertionError(f"seccomp program of {len(prog)} instructions")
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


def seccomp_action(program: bytes, nr: int, args: tuple[int, ...] = (), arch: int | None = None) -> int:
    """What ``program`` returns for one syscall: a small BPF interpreter for the
    instructions ``seccomp_program`` emits (for tests and the docs' table)."""
    data = struct.pack("=iI", nr, AUDIT_ARCH[MACHINE] if arch is None else arch) + struct.pack("=Q", 0)
    data += b"".join(struct.pack("=Q", a) for a in (tuple(args) + (0,) * 6)[:6])
    ins = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = ins[pc]
        if code == _LD_W_ABS:
            (acc,) = struct.unpack_from("=I", data, k)
        elif code == _RET_K:
            return k
        elif code in (_JEQ_K, _JGE_K, _JSET_K):
            hit = acc == k if code == _JEQ_K else acc >= k if code == _JGE_K else bool(acc & k)
            pc += jt if hit else jf
        else:
            raise AssertionError(f"unexpected BPF instruction {code:#x}")
        pc += 1


def syscall_number(name: str) -> int | None:
    """``name``'s number on this machine (None: unknown here)."""
    entry = _NR.get(name)
    return None if entry is None else entry[0 if MACHINE == "x86_64" else 1]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def seccomp_install(program: bytes) -> None:
    """Install ``program`` for this thread (needs no_new_privs or CAP_SYS_ADMIN)."""
    fprog = _SockFprog(len(program) // 8, program)
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0))
