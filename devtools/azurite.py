"""Run a command with a private Azurite on loopback, then stop it (also when the command fails).

    python -m devtools.azurite -- pytest -q

Azurite comes from the project's own node_modules (npm ci). The usual ports 10000-10002 are
used when free; otherwise free ports are picked and the connection string points at them, so
we never fail on a busy port and never talk to somebody else's emulator. The child gets
`AzureWebJobsStorage` and `INFERENCE_STORAGE` set to the emulator's connection string, and
`AZURITE_PID` (the emulator's process, for tests that check it stopped).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented; not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEFAULT_PORTS = (10000, 10001, 10002)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def choose_ports() -> tuple[int, int, int]:
    if all(_port_free(p) for p in DEFAULT_PORTS):
        return DEFAULT_PORTS
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(_free_port())
    blob, queue, table = sorted(ports)
    return blob, queue, table


def connection_string(blob: int, queue: int, table: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
        f"BlobEndpoint=http://127.0.0.1:{blob}/{ACCOUNT};"
        f"QueueEndpoint=http://127.0.0.1:{queue}/{ACCOUNT};"
        f"TableEndpoint=http://127.0.0.1:{table}/{ACCOUNT};"
    )


def _wait_listening(ports: tuple[int, ...], proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    pending = set(ports)
    while pending:
        if proc.poll() is not None:
            raise RuntimeError(f"Azurite exited early with code {proc.returncode}")
        for port in list(pending):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(0.2)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    pending.discard(port)
        if time.monotonic() > deadline:
            raise RuntimeError(f"Azurite did not listen on {sorted(pending)} within {timeout}s")
        time.sleep(0.1)


@contextlib.contextmanager
def running_azurite(location: Path | None = None) -> Iterator[str]:
    """Start Azurite, yield its connection string, stop it on exit."""
    with azurite_process(location) as (conn, _):
        yield conn


@contextlib.contextmanager
def azurite_process(location: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start Azurite, yield its connection string and its process, stop it on exit."""
    own_dir = location is None
    location = location or Path(tempfile.mkdtemp(prefix="azurite-"))
    for attempt in range(3):
        blob, queue, table = choose_ports()
        try:
            proc, log = start_azurite_on(location, (blob, queue, table))
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        yield connection_string(blob, queue, table), proc
    finally:
        _stop(proc)
        log.close()
        if own_dir:
            shutil.rmtree(location, ignore_errors=True)


def start_azurite_on(location: Path, ports: tuple[int, int, int]):
    """Start Azurite on these (blob, queue, table) ports, keeping its data in `location`;
    returns the process and its log file once it listens. Starting again on the same
    location and ports after `stop_azurite` brings the same data back (the load benchmark's
    storage outage)."""
    exe = ROOT / "node_modules" / ".bin" / "azurite"
    if not exe.exists():
        raise RuntimeError("Azurite is not installed in node_modules: run `npm ci` (./dev does).")
    blob, queue, table = ports
    log = open(location / "azurite.log", "ab")
    proc = subprocess.Popen(
        [
            str(exe), "--silent", "--location", str(location),
            "--blobHost", "127.0.0.1", "--blobPort", str(blob),
            "--queueHost", "127.0.0.1", "--queuePort", str(queue),
            "--tableHost", "127.0.0.1", "--tablePort", str(table),
            "--skipApiVersionCheck", "--disableTelemetry", "--loose",
        ],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        _wait_listening((blob, queue, table), proc)
    except RuntimeError:
        _stop(proc)
        log.close()
        raise
    return proc, log


def stop_azurite(proc: subprocess.Popen) -> None:
    """Stop an Azurite started by `start_azurite_on` (SIGTERM, then SIGKILL after 10 s)."""
    _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    if not argv:
        print("usage: python -m devtools.azurite -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    with azurite_process() as (conn, proc):
        env = dict(os.environ, AzureWebJobsStorage=conn, INFERENCE_STORAGE=conn,
                   AZURITE_PID=str(proc.pid))
        print(f"azurite: {conn.split('BlobEndpoint=')[1].split(';')[0]} (and queue, table)",
              file=sys.stderr)
        child = subprocess.Popen(argv, env=env)
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
