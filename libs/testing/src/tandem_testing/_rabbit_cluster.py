"""A private RabbitMQ cluster on 127.0.0.1 (three nodes; one for a test that restarts its
broker), for tests that kill or stop broker nodes.

Each node is a ``rabbitmq-server`` of its own (node name ``t<token>r<n>@localhost``, its own
AMQP and distribution ports, data and logs in a temporary folder owned by ``rabbitmq``), run as
the ``rabbitmq`` user so the nodes share that user's Erlang cookie; the system node (``rabbit@…``
on :5672) is never touched. Quorum queues get a member on every node, and the consistent-hash
exchange plugin is enabled. Only the processes started here are stopped: by ``rabbitmqctl -n``
with the node's own name, else by the pid the node wrote.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tandem_testing._servers import ServerUnavailable
from tandem_testing._waiting import free_port

__all__ = ["RabbitCluster", "RabbitNode", "running_rabbit_cluster"]

_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
_PLUGINS = ("rabbitmq_consistent_hash_exchange",)
_CTL_S = 60.0
# The default would place a quorum queue's members on at most three nodes anyway; saying so
# keeps every queue on every node of this cluster whatever the version's default.
_ADVANCED = "[{rabbit, [{quorum_cluster_size, 3}]}].\n"


@dataclass
class RabbitNode:
    """One node of the cluster: its name, ports, folder and process."""

    name: str
    port: int
    dist_port: int
    home: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The AMQP URL of this node (default vhost)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def pid_file(self) -> Path:
        """Where the node writes the pid of its Erlang VM."""
        return self.home / "rabbit.pid"

    def log_tail(self, chars: int = 3000) -> str:
        """The end of this node's logs, for a failure message."""
        texts = [path.read_text(errors="replace") for path in sorted(self.home.glob("log/*.log"))]
        console = self.home / "console.log"
        if console.exists():
            texts.append(console.read_text(errors="replace"))
        return "\n".join(texts)[-chars:]


@dataclass
class RabbitCluster:
    """Three RabbitMQ nodes clustered together; ``urls`` holds an AMQP URL per node."""

    nodes: list[RabbitNode]
    base: Path
    startup_s: float = 60.0

    @property
    def urls(self) -> list[str]:
        """An AMQP URL per node, in node order."""
        return [node.url for node in self.nodes]

    @property
    def names(self) -> list[str]:
        """The Erlang node names, in node order."""
        return [node.name for node in self.nodes]

    def node(self, name_or_index: str | int) -> RabbitNode:
        """The node named ``name_or_index`` (or at that index)."""
        if isinstance(name_or_index, int):
            return self.nodes[name_or_index]
        return next(node for node in self.nodes if node.name == name_or_index)

    def node_of_url(self, url: str) -> RabbitNode:
        """The node whose AMQP URL's port is that of ``url``."""
        port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        return next(node for node in self.nodes if node.port == port)

    def with_vhost(self, vhost: str) -> list[str]:
        """Create ``vhost`` (guest may do everything) and answer an AMQP URL per node to it."""
        self.ctl("add_vhost", vhost)
        self.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        return [node.url.rstrip("/") + "/" + vhost for node in self.nodes]

    def ctl(self, *args: str, node: str | None = None, tool: str = "rabbitmqctl") -> str:
        """Run ``rabbitmqctl`` (or ``tool``) against ``node`` (default: any running node)."""
        names = [node] if node is not None else self._running_first()
        failure = ""
        for name in names:
            result = _run(tool, "-n", name, *args)
            if result.returncode == 0:
                return result.stdout
            failure = f"{tool} -n {name} {' '.join(args)}: {result.stderr or result.stdout}"
        raise RuntimeError(failure)

    def leaders(self, vhost: str = "/") -> dict[str, str]:
        """The node name leading each quorum queue of ``vhost`` now, by queue name."""
        listed = json.loads(
            self.ctl("list_queues", "-p", vhost, "name", "leader", "--formatter", "json", "-q")
        )
        return {str(row["name"]): str(row["leader"]) for row in listed if row.get("leader")}

    def leader_of(self, queue: str, vhost: str = "/") -> str:
        """The node name leading quorum queue ``queue`` now."""
        try:
            return self.leaders(vhost)[queue]
        except KeyError:
            raise LookupError(f"no quorum queue {queue!r} in vhost {vhost!r}") from None

    def members_of(self, queue: str, vhost: str = "/") -> list[str]:
        """The node names holding a replica of quorum queue ``queue``."""
        listed = json.loads(
            self.ctl("list_queues", "-p", vhost, "name", "members", "--formatter", "json", "-q")
        )
        for row in listed:
            if row["name"] == queue:
                return sorted(str(member) for member in row["members"])
        raise LookupError(f"no queue {queue!r} in vhost {vhost!r}")

    def kill(self, name_or_index: str | int) -> None:
        """``kill -9`` the node's Erlang VM: no goodbye to clients or peers."""
        node = self.node(name_or_index)
        os.kill(int(node.pid_file.read_text().strip()), signal.SIGKILL)
        if node.process is not None:
            node.process.wait(timeout=30)
            node.process = None
        node.pid_file.unlink(missing_ok=True)

    def start(self, name_or_index: str | int) -> None:
        """Start a stopped node again and wait until it runs (it rejoins the cluster)."""
        node = self.node(name_or_index)
        _spawn(node)
        _await_startup(node, self.startup_s)

    def is_running(self, name_or_index: str | int) -> bool:
        """Whether the node's process is alive."""
        node = self.node(name_or_index)
        return node.process is not None and node.process.poll() is None

    def _running_first(self) -> list[str]:
        return sorted(self.names, key=lambda name: not self.is_running(name))

    def stop(self) -> None:
        """Stop every node started here (gracefully, else by its pid) and remove its files."""
        for node in self.nodes:
            _stop_node(node)
        shutil.rmtree(self.base, ignore_errors=True)


def _run(*command: str, timeout: float = _CTL_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own command lines
        command, capture_output=True, text=True, check=False, timeout=timeout
    )


def _prepare(base: Path, index: int, token: str) -> RabbitNode:
    home = base / f"r{index}"
    (home / "mnesia").mkdir(parents=True)
    (home / "log").mkdir()
    (home / "enabled_plugins").write_text(f"[{','.join(_PLUGINS)}].\n")
    node = RabbitNode(f"t{token}r{index}@localhost", free_port(), free_port(), home)
    (home / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{node.port}\nloopback_users = none\n"
    )
    (home / "advanced.config").write_text(_ADVANCED)
    # The system's env file names the system node: give each node an env file of its own.
    (home / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
    return node


def _spawn(node: RabbitNode) -> None:
    home = node.home
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": "/var/lib/rabbitmq",
        "LANG": "C.UTF-8",
        "RABBITMQ_NODENAME": node.name,
        "RABBITMQ_NODE_PORT": str(node.port),
        "RABBITMQ_DIST_PORT": str(node.dist_port),
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_PID_FILE": str(node.pid_file),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(home / "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
        "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    command = [str(_SERVER)]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "rabbitmq", "--", *command]
    with (home / "console.log").open("ab") as log:
        node.process = subprocess.Popen(  # noqa: S603 - our own command line
            command, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT
        )


def _await_startup(node: RabbitNode, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        if node.process is None or node.process.poll() is not None:
            raise ServerUnavailable(f"RabbitMQ node {node.name} exited:\n{node.log_tail()}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ServerUnavailable(
                f"RabbitMQ node {node.name} not up within {within} s:\n{node.log_tail()}"
            )
        # It fails at once while the node is not registered yet: try again until the deadline.
        timeout = str(max(1, int(remaining)))
        with contextlib.suppress(subprocess.TimeoutExpired):
            if _run("rabbitmqctl", "-n", node.name, "await_startup", "-t", timeout).returncode == 0:
                return
        time.sleep(0.5)  # polling a starting process, bounded by the deadline


def _join(node: RabbitNode, seed: RabbitNode) -> None:
    for args in (("stop_app",), ("join_cluster", seed.name), ("start_app",)):
        result = _run("rabbitmqctl", "-n", node.name, *args)
        if result.returncode != 0:
            raise ServerUnavailable(
                f"rabbitmqctl -n {node.name} {' '.join(args)} failed: {result.stderr}"
            )


def _stop_node(node: RabbitNode) -> None:
    if node.process is None or node.process.poll() is not None:
        node.process = None
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        _run("rabbitmqctl", "-n", node.name, "stop", timeout=30)
    try:
        node.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(node.pid_file.read_text().strip()), signal.SIGKILL)
        node.process.kill()
        node.process.wait(timeout=15)
    node.process = None


def _check_installed() -> None:
    if not _SERVER.exists() or shutil.which("rabbitmqctl") is None:
        raise ServerUnavailable("rabbitmq-server is not installed (apt-get install it)")
    if os.geteuid() != 0:
        raise ServerUnavailable("a private RabbitMQ cluster needs root (to run as rabbitmq)")


@contextlib.contextmanager
def running_rabbit_cluster(size: int = 3, *, startup_s: float = 60.0) -> Iterator[RabbitCluster]:
    """Start ``size`` clustered nodes, yield the cluster, and stop and remove them afterwards."""
    _check_installed()
    base = Path(tempfile.mkdtemp(prefix="tandem-rabbit-"))
    token = secrets.token_hex(3)
    cluster = RabbitCluster([_prepare(base, i + 1, token) for i in range(size)], base, startup_s)
    try:
        _run("chown", "-R", "rabbitmq:rabbitmq", str(base)).check_returncode()
        for node in cluster.nodes:
            _spawn(node)
        for node in cluster.nodes:
            _await_startup(node, startup_s)
        for node in cluster.nodes[1:]:
            _join(node, cluster.nodes[0])
        _check_clustered(cluster.nodes)
        yield cluster
    finally:
        cluster.stop()


def _check_clustered(nodes: Sequence[RabbitNode]) -> None:
    status = json.loads(
        _run("rabbitmqctl", "-n", nodes[0].name, "cluster_status", "--formatter", "json").stdout
    )
    running = set(status.get("running_nodes", []))
    if running != {node.name for node in nodes}:
        raise ServerUnavailable(f"cluster formed with {sorted(running)} only")
