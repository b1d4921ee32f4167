"""The runner behind ./dev: a private Azurite on loopback, on free ports when the usual ones
are taken, stopped afterwards also when the command fails."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys

from devtools.azurite import DEFAULT_PORTS, azurite_process, choose_ports


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_busy_default_ports_are_replaced_by_free_ones():
    with socket.socket() as squatter:
        # Already taken (by the suite's own Azurite, say): the condition under test holds.
        with contextlib.suppress(OSError):
            squatter.bind(("127.0.0.1", DEFAULT_PORTS[0]))
        squatter.listen()
        ports = choose_ports()
        assert DEFAULT_PORTS[0] not in ports
        assert len(set(ports)) == 3


def test_azurite_serves_storage_and_stops_afterwards():
    from azure.storage.blob import BlobServiceClient

    # Its own process is checked, not the port: another Azurite on this machine may take the
    # port the moment ours frees it.
    with azurite_process() as (conn, proc):
        service = BlobServiceClient.from_connection_string(conn)
        service.create_container("probe")
        assert [c.name for c in service.list_containers()] == ["probe"]
        assert proc.poll() is None
    assert proc.poll() is not None and not _alive(proc.pid)


def test_a_failing_command_still_stops_azurite_and_passes_its_exit_code():
    script = (
        "import os, sys; print(os.environ['AZURITE_PID']); sys.exit(3)"
    )
    result = subprocess.run(
        [sys.executable, "-m", "devtools.azurite", "--", sys.executable, "-c", script],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert result.returncode == 3
    pid = int(result.stdout.strip())
    assert not _alive(pid)


def test_the_oauth_mode_serves_https_that_the_child_trusts():
    """`python -m devtools.azurite --oauth -- CMD`: HTTPS with a fresh self-signed certificate
    (the child trusts it through REQUESTS_CA_BUNDLE), bearer tokens accepted; the certificate
    is removed afterwards."""
    script = (
        "import os\n"
        "from azure.storage.blob import BlobServiceClient\n"
        "from devtools.azurite import endpoints\n"
        "from tests.identity import StaticTokenCredential\n"
        "conn = os.environ['AzureWebJobsStorage']\n"
        "blob = endpoints(conn)['blob']\n"
        "assert blob.startswith('https://127.0.0.1:'), blob\n"
        "BlobServiceClient(blob, credential=StaticTokenCredential()).create_container('oauth')\n"
        "print(os.environ['REQUESTS_CA_BUNDLE'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "devtools.azurite", "--oauth", "--", sys.executable, "-c",
         script], capture_output=True, text=True, check=False, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert not os.path.exists(result.stdout.strip())
