"""Isolation layers: set up once in the fork server, entered by every sample child.

The server builds a ``Plan`` at start-up (namespaces, private tmpfs, Landlock ruleset,
seccomp filter, unprivileged uid), probes it in a throw-away child, and drops what does
not work (auto mode).  ``enter`` applies the plan in a freshly forked child; it fails
closed: any error there kills the child before a line of the sample runs.

Standard library only (runs in the fork server).
"""

from __future__ import annotations

import fcntl
import os
import resource
import signal
import stat
import sys

from pytest_codex.sandbox import linux

# Layer names, in the order they are shown.  Every one is required by --codex-sandbox=strict.
LAYERS = (
    "session",  # own session and process group (setsid)
    "pid_namespace",  # own PID namespace; the server is its init and kills all after each sample
    "unprivileged_uid",  # a per-worker uid, so RLIMIT_NPROC counts and root powers are gone
    "network_namespace",  # no interface but a downed loopback
    "seccomp",  # socket() of every family and dangerous syscalls refused
    "landlock",  # writes only in the sample's temp dir; reads only the standard library
    "rlimits",  # address space, CPU time, file size, open files, processes, no core
    "private_tmpfs",  # the temp dir is a size-capped tmpfs in a private mount namespace
    "ipc_namespace",  # no SysV IPC shared with anything else
    "parent_death",  # PR_SET_PDEATHSIG: the sample dies with the server
)

SAFE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}
CTL_FD = 3
BOX = "box"  # under the sandbox root: root-owned, holds only the working directory
WORK = os.path.join(BOX, "work")  # a sample's cwd: a fresh tmpfs (or directory) per sample
WORK_INODES = 4096


class Limits:
    """rlimits of a sample (plain class: no dataclasses import in the fork server).  The CPU
    time limit is per sample: the time limit rounded up, plus one second."""

    def __init__(
        self, address_space: int = 512 << 20, file_size: int = 16 << 20, open_files: int = 64, processes: int = 8
    ) -> None:
        # There is no memory cgroup: a sample's memory is bounded by processes x address_space.
        self.address_space, self.file_size = address_space, file_size
        self.open_files, self.processes = open_files, processes

    def to_json(self) -> dict:
        return dict(self.__dict__)


class Plan:
    """What the server applies to each child (built once, read-only afterwards)."""

    def __init__(self, layers: dict) -> None:
        self.layers: dict = dict(layers)  # name -> bool
        self.missing: dict = {}  # name -> why
        self.workdir = ""
        self.boxdir = ""  # the working directory's parent: what the Landlock rule names
        self.libdir: str | None = None  # the standard library as the child sees it
        self.uid: int | None = None
        self.ruleset_fd: int | None = None
        self.landlock_abi = 0
        self.seccomp: bytes | None = None  # the server's filter (every child inherits it)
        self.seccomp_sample: bytes | None = None  # added by each sample's child: narrower
        self.in_pid_namespace = False

    def on(self, name: str) -> bool:
        return bool(self.layers.get(name))

    def drop(self, name: str, why: str) -> None:
        self.layers[name] = False
        self.missing.setdefault(name, why)


def _try(plan: Plan, name: str, fn, *args) -> bool:
    try:
        fn(*args)
    except OSError as exc:
        plan.drop(name, f"{exc.strerror or exc} (errno {exc.errno})")
        return False
    plan.layers[name] = True
    return True


# --- server side --------------------------------------------------------------------


def unshare_namespaces(plan: Plan, wanted: set[str]) -> None:
    """In the supervisor, before it forks the server: the namespaces the server lives in."""
    for name, flag in (
        ("network_namespace", linux.CLONE_NEWNET),
        ("ipc_namespace", linux.CLONE_NEWIPC),
        ("private_tmpfs", linux.CLONE_NEWNS),
        ("pid_namespace", linux.CLONE_NEWPID),
    ):
        if name in wanted:
            _try(plan, name, linux.unshare, flag)
        else:
            plan.drop(name, "disabled")


def prepare_filesystem(plan: Plan, root: str, stdlib: str, tmpfs_bytes: int) -> None:
    """``root/box`` (root-owned) for the working directory ``root/box/work``, and with a
    mount namespace a reachable stdlib at ``root/lib``.  With a mount namespace ``root`` is
    a small tmpfs of its own and each sample gets a fresh tmpfs on ``root/box/work``
    (``mount_workdir``, by the supervisor); without, a fresh directory (``remove_tree``)."""
    if plan.on("private_tmpfs"):
        try:
            linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
            linux.mount(
                "codex-sandbox",
                root,
                "tmpfs",
                linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC,
                "size=1m,nr_inodes=64,mode=0755",
            )
            mount_workdir(os.path.join(root, WORK), tmpfs_bytes, os.getuid(), create=True)  # tried here once
            lib = os.path.join(root, "lib")
            os.mkdir(lib)
            linux.mount(stdlib, lib, None, linux.MS_BIND | linux.MS_REC)
            linux.mount(
                None, lib, None, linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV
            )
            plan.libdir = lib
        except OSError as exc:
            plan.drop("private_tmpfs", f"mount: {exc.strerror} (errno {exc.errno})")
    plan.boxdir, plan.workdir = os.path.join(root, BOX), os.path.join(root, WORK)
    os.makedirs(plan.workdir, 0o755, exist_ok=True)
    os.chmod(plan.boxdir, 0o755)
    if plan.libdir is None:
        plan.libdir = stdlib


def mount_workdir(work: str, tmpfs_bytes: int, owner: int, create: bool = False) -> None:
    """A fresh tmpfs on ``work`` (the old one, if any, detached: nothing is traversed, so
    nothing a sample left there can make this fail), owned by ``owner``, mode 0700."""
    if create:
        os.makedirs(work, 0o755, exist_ok=True)
    try:
        linux.umount2(work, linux.MNT_DETACH)
    except OSError as exc:
        if exc.errno != 22:  # EINVAL: nothing mounted there yet
            raise
    linux.mount(
        "codex-sample",
        work,
        "tmpfs",
        linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC,
        f"size={tmpfs_bytes},nr_inodes={WORK_INODES},mode=0700,uid={owner},gid={owner}",
    )


def renew_directory(work: str, owner: int) -> None:
    """Without a mount namespace: remove ``work`` (``remove_tree``) and make it again, empty,
    owned by ``owner``, mode 0700."""
    remove_tree(work)
    os.mkdir(work, 0o700)
    if owner != os.getuid():
        os.chown(work, owner, owner)


def remove_tree(path: str) -> None:
    """Remove ``path`` and everything under it, by file descriptor and iteratively: at most
    two descriptors open and one path component per call, so no depth or name length makes
    it fail (EMFILE, ENAMETOOLONG, RecursionError), and no symbolic link is followed."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    parent, name = os.path.split(path.rstrip(os.sep))
    try:
        top = os.open(parent or os.sep, flags)
    except FileNotFoundError:
        return
    names: list[str] = []  # the path from ``parent`` down to ``fd``, as names
    fd: int | None = None
    try:
        _unlink_or_enter(top, name, names)
        if not names:
            return
        fd = _open_dir(top, name)
        while True:
            with os.scandir(fd) as entries:
                entry = next(iter(entries), None)
            if entry is not None:
                if _unlink_or_enter(fd, entry.name, names):
                    child = _open_dir(fd, entry.name)
                    os.close(fd)
                    fd = child
                continue
            done = names.pop()
            up = os.open("..", flags, dir_fd=fd) if names else top
            os.close(fd)
            fd = None
            os.rmdir(done, dir_fd=up)
            if not names:
                return
            fd = up
    finally:
        if fd is not None:
            os.close(fd)
        os.close(top)


def _open_dir(dir_fd: int, name: str) -> int:
    """Open a directory to empty it; one the sample made unreadable or unwritable (without
    the uid layer it is the server's own uid, without CAP_DAC_OVERRIDE) is made 0700 first."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=dir_fd)
        fd = os.open(name, flags, dir_fd=dir_fd)
    try:
        os.fchmod(fd, 0o700)
    except OSError:
        pass
    return fd


def _unlink_or_enter(dir_fd: int, name: str, names: list[str]) -> bool:
    """Unlink ``name`` if it is not a directory; else push it on ``names`` and say so."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        names.append(name)
        return True
    os.unlink(name, dir_fd=dir_fd)
    return False


def open_last_pid() -> int | None:
    """The PID namespace's ``ns_last_pid``, opened before Landlock (the server writes it
    before each fork so that pid numbers say nothing about the previous sample)."""
    try:
        return os.open("/proc/sys/kernel/ns_last_pid", os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return None


def remap_stdlib(stdlib: str, libdir: str) -> None:
    """Point imports at the stdlib's bind mount (the real path may sit under a 0700 /root)."""
    if libdir == stdlib:
        return
    swap = lambda p: libdir + p[len(stdlib) :] if p == stdlib or p.startswith(stdlib + os.sep) else p  # noqa: E731
    sys.path[:] = [swap(p) for p in sys.path]
    sys.path_importer_cache.clear()
    for mod in list(sys.modules.values()):
        path = getattr(mod, "__path__", None)
        if isinstance(path, list):
            path[:] = [swap(p) for p in path]


def choose_uid(plan: Plan, uid: int, wanted: bool) -> None:
    assert plan.libdir is not None  # set by prepare_filesystem
    if not wanted:
        plan.drop("unprivileged_uid", "disabled")
    elif os.geteuid() != 0:
        plan.drop("unprivileged_uid", "the sandbox is not running as root, so it cannot switch uid")
    elif not _reachable_by_others(plan.libdir):
        plan.drop(
            "unprivileged_uid",
            f"another uid cannot reach the standard library at {plan.libdir} "
            "(and there is no mount namespace to bind-mount it elsewhere)",
        )
    else:
        plan.uid = uid
        plan.layers["unprivileged_uid"] = True


def _reachable_by_others(path: str) -> bool:
    """Whether a uid that is neither owner nor group member can list ``path`` and reach it."""
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for i in range(1, len(parts) + 1):
        mode = os.stat(os.sep + os.path.join(*parts[1:i]) if i > 1 else os.sep).st_mode
        if not mode & 0o001 or (i == len(parts) and not mode & 0o004):
            return False
    return True


def build_landlock(plan: Plan, read_dirs: list[str]) -> None:
    abi = linux.landlock_abi()
    if abi <= 0:
        plan.drop("landlock", "the kernel offers no Landlock ABI")
        return
    fs = linux.fs_access_for_abi(abi)
    net = (linux.NET_BIND_TCP | linux.NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (linux.SCOPE_ABSTRACT_UNIX_SOCKET | linux.SCOPE_SIGNAL) if abi >= 6 else 0
    try:
        fd = linux.landlock_ruleset(fs, net, scoped)
        os.set_inheritable(fd, False)
        build_landlock_rules(fd, plan, abi, read_dirs, fs)
    except OSError as exc:
        plan.drop("landlock", f"{exc.strerror} (errno {exc.errno})")
        return
    plan.ruleset_fd, plan.landlock_abi = fd, abi
    plan.layers["landlock"] = True


def stdlib_read_dirs(libdir: str) -> list[str]:
    """The standard library, minus site-packages (where a dataset or its tests may live)."""
    dirs = [os.path.join(libdir, e) for e in sorted(os.listdir(libdir)) if e != "site-packages"]
    return dirs + ["/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo"]


def build_landlock_rules(fd: int, plan: Plan, abi: int, read_dirs: list[str], fs: int) -> None:
    read = linux.FS_READ_FILE | linux.FS_READ_DIR
    for d in read_dirs:
        if os.path.exists(d):
            linux.landlock_allow_path(fd, d, read if os.path.isdir(d) else linux.FS_READ_FILE)
    # The import system lists the stdlib directory itself (names only: no file in
    # site-packages becomes readable).
    assert plan.libdir is not None  # set by prepare_filesystem
    linux.landlock_allow_path(fd, plan.libdir, linux.FS_READ_DIR)
    file_rw = linux.FS_READ_FILE | linux.FS_WRITE_FILE | (linux.FS_TRUNCATE if abi >= 3 else 0)
    linux.landlock_allow_path(fd, "/dev/null", file_rw)
    # On the working directory's parent: the rule must outlive the tmpfs mounted afresh on
    # the working directory for each sample (Landlock skips the hidden mount point).
    linux.landlock_allow_path(fd, plan.boxdir, fs & ~(linux.FS_EXECUTE | linux.FS_MAKE_CHAR | linux.FS_MAKE_BLOCK))
    if not plan.in_pid_namespace:  # the server (confined too) finds a sample's orphans there
        linux.landlock_allow_path(fd, f"/proc/{os.getpid()}/task", read)


# --- confinement: the server confines itself once, each child inherits it -----------
#
# rlimits, no_new_privs, the Landlock domain and the seccomp filter are inherited across
# fork() and cannot be undone, so the server applies them to itself after start-up (they
# fit what it still does: fork, wait, kill, pass fds, empty the temp dir) and every child
# is born with them.  Per child there remain only its session, its fds, its uid and the
# parent-death signal.


def _rlimits(plan: Plan, limits: Limits) -> None:
    """Every limit but CPU time, which depends on the sample (see ``attach``)."""
    values = [
        (resource.RLIMIT_AS, limits.address_space),
        (resource.RLIMIT_FSIZE, limits.file_size),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ]
    if plan.on("unprivileged_uid"):  # RLIMIT_NPROC counts every process of the (real) uid
        values.append((resource.RLIMIT_NPROC, limits.processes))
    for res, value in values:
        resource.setrlimit(res, (value, value))


def _landlock(plan: Plan) -> None:
    assert plan.ruleset_fd is not None  # the landlock layer is on only with a ruleset
    linux.landlock_restrict_self(plan.ruleset_fd)
    os.close(plan.ruleset_fd)


def _setuid(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def _parent_death() -> None:
    parent = os.getppid()
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
    if os.getppid() != parent:
        os._exit(1)


def _inherited_steps(plan: Plan, limits: Limits) -> list:
    return [
        ("rlimits", _rlimits, plan, limits),
        ("no_new_privs", linux.prctl, linux.PR_SET_NO_NEW_PRIVS, 1),
        ("landlock", _landlock, plan),
        ("seccomp", linux.seccomp_install, plan.seccomp),
    ]


def _late_steps(plan: Plan) -> list:
    """Applied when the sample arrives: until then a spare child keeps the server's uid, so
    that every process of the sandbox uid belongs to a sample.  In a PID namespace the
    kernel kills every process in it when the server (its init) dies: no signal needed."""
    steps: list[tuple] = [("unprivileged_uid", _setuid, plan.uid)]
    if not plan.in_pid_namespace:
        steps.append(("parent_death", _parent_death))
    return steps


def _apply(steps: list, plan: Plan, failed: dict | None = None) -> None:
    for name, fn, *args in steps:
        if name == "no_new_privs" or plan.on(name):
            try:
                fn(*args)
            except OSError as exc:
                if failed is None:
                    raise
                failed[name] = f"{exc.strerror or exc} (errno {exc.errno})"


def probe(plan: Plan, limits: Limits) -> dict:
    """In a throw-away child: try every layer; returns {layer: why} for those that failed."""
    os.setsid()
    failed: dict = {}
    _apply(_inherited_steps(plan, limits) + _sample_steps(plan) + _late_steps(plan), plan, failed)
    return failed


def confine_server(plan: Plan, limits: Limits) -> None:
    """Apply the inheritable layers to the server itself (after ``probe`` dropped failures)."""
    os.chdir(plan.boxdir)  # never inside the working directory, which is replaced per sample
    _apply(_inherited_steps(plan, limits), plan)


def _sample_steps(plan: Plan) -> list:
    """What a sample's child adds to what it inherits: the narrower seccomp filter."""
    return [("seccomp", linux.seccomp_install, plan.seccomp_sample)]


# --- child side ---------------------------------------------------------------------


def enter(plan: Plan, handoff_fd: int) -> None:
    """In a child forked ahead of its sample (a spare): own session; stdin, stdout and
    stderr /dev/null until ``attach``; fd 3 the hand-off socket; every other fd closed."""
    if plan.on("session"):
        os.setsid()
    handoff, null = fcntl.fcntl(handoff_fd, fcntl.F_DUPFD_CLOEXEC, 10), os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.dup2(handoff, CTL_FD)
    os.closerange(CTL_FD + 1, 1 << 20)
    _apply(_sample_steps(plan), plan)


def attach(plan: Plan) -> None:
    """Wait for the sample: its CPU limit and its fds (control socket, output pipe) on fd 3;
    then drop to the sandbox uid."""
    import _socket  # lazy: the sandbox child: imported after the fork, before the uid drop

    handoff = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, CTL_FD)  # no getsockopt() probing
    msg, ancdata, _, _ = handoff.recvmsg(64, _socket.CMSG_LEN(2 * 4))
    handoff.detach()
    fds = [
        int.from_bytes(data[i : i + 4], sys.byteorder, signed=True)
        for level, kind, data in ancdata
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS
        for i in range(0, len(data) - len(data) % 4, 4)
    ]
    if len(fds) != 2 or not msg:
        raise OSError("no sample was handed over")
    # the fresh one: the server hands a sample over only once the working directory is renewed
    # (a spare forked meanwhile would otherwise hold the last sample's tmpfs as its cwd)
    os.chdir(plan.workdir)
    ctl, out = fds
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.dup2(ctl, CTL_FD)  # closes the hand-off socket
    os.close(ctl)
    os.close(out)
    if plan.on("rlimits"):
        cpu = max(1, int(msg))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL
    _apply(_late_steps(plan), plan)
