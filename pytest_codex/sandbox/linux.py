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

# Syscalls a sample never needs (x86_64 / aarch64 numbers).  socket() is refused for every
# family (TCP, UDP, UNIX, netlink, raw); clone() with a namespace flag and clone3() (glibc
# then falls back to clone) are refused so a sample cannot build namespaces of its own.
_DENIED = {
    "socket": (41, 198),
    "ptrace": (101, 117),
    "mount": (165, 40),
    "umount2": (166, 39),
    "unshare": (272, 97),
    "setns": (308, 268),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
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
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "fanotify_init": (300, 262),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "shmget": (29, 194),
    "shmat": (30, 196),
    "shmctl": (31, 195),
    "semget": (64, 190),
    "semop": (65, 193),
    "semctl": (66, 191),
    "msgget": (68, 186),
    "msgsnd": (69, 189),
    "msgrcv": (70, 188),
    "msgctl": (71, 187),
    "mq_open": (240, 180),
    "pidfd_getfd": (438, 438),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "settimeofday": (164, 170),
    "clock_settime": (227, 112),
    "adjtimex": (159, 171),
}
_CLONE = (56, 220)
_CLONE3 = (435, 435)


def seccomp_program(errno_: int = 1) -> bytes | None:
    """The BPF filter (as bytes of ``struct sock_filter``), or None on an unknown arch."""
    arch = AUDIT_ARCH.get(MACHINE)
    if arch is None:
        return None
    col = 0 if MACHINE == "x86_64" else 1
    denied = sorted({nrs[col] for nrs in _DENIED.values()})
    # Layout: arch check, one JEQ per denied syscall, the clone flag check, then the returns.
    prog: list[tuple[int, int, int, int]] = []
    label_jumps: list[tuple[int, str | None, str | None]] = []

    def emit(code, k, jt=0, jf=0):
        prog.append((code, jt, jf, k))
        return len(prog) - 1

    def jump(code, k, jt: str | None, jf: str | None):
        i = emit(code, k)
        label_jumps.append((i, jt, jf))

    emit(_LD_W_ABS, 4)  # seccomp_data.arch
    jump(_JEQ_K, arch, None, "KILL")
    emit(_LD_W_ABS, 0)  # seccomp_data.nr
    if MACHINE == "x86_64":
        jump(_JGE_K, 0x40000000, "KILL", None)  # the x32 ABI
    for nr in denied:
        jump(_JEQ_K, nr, "DENY", None)
    jump(_JEQ_K, _CLONE3[col], "NOSYS", None)
    jump(_JEQ_K, _CLONE[col], None, "ALLOW")
    emit(_LD_W_ABS, 16)  # clone: low half of args[0], the flags
    jump(_JSET_K, NAMESPACE_FLAGS, "DENY", "ALLOW")
    labels = {"ALLOW": emit(_RET_K, RET_ALLOW)}
    labels["DENY"] = emit(_RET_K, RET_ERRNO | errno_)
    labels["NOSYS"] = emit(_RET_K, RET_ERRNO | 38)  # ENOSYS
    labels["KILL"] = emit(_RET_K, RET_KILL_PROCESS)
    for i, jt, jf in label_jumps:
        code, _, _, k = prog[i]
        offs = []
        for target in (jt, jf):
            if target is None:
                offs.append(0)
                continue
            off = labels[target] - i - 1
            if not 0 <= off <= 255:  # BPF jumps go forward, at most 255 instructions
                raise AssertionError(f"seccomp program layout: jump {off} at {i}")
            offs.append(off)
        prog[i] = (code, offs[0], offs[1], k)
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def seccomp_install(program: bytes) -> None:
    """Install ``program`` for this thread (needs no_new_privs or CAP_SYS_ADMIN)."""
    fprog = _SockFprog(len(program) // 8, program)
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0))
