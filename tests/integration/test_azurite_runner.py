"""The runner behind ./dev: a private Azurite on loopback, on free ports when the usual ones
are taken, stopped afterwards also when the command fails."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys

from devtools.azurite import DEFAULT_PORTS, choose_ports, running_azurite


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


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

    with running_azurite() as conn:
        blob_port = int(conn.split("BlobEndpoint=http://127.0.0.1:")[1].split("/")[0])
        service = BlobServiceClient.from_connection_string(conn)
        service.create_container("probe")
        assert [c.name for c in service.list_containers()] == ["probe"]
    assert not _listening(blob_port)


def test_a_failing_command_still_stops_azurite_and_passes_its_exit_code():
    script = (
        "import os, sys; conn = os.environ['AzureWebJobsStorage'];"
        "print(conn.split('BlobEndpoint=http://127.0.0.1:')[1].split('/')[0]); sys.exit(3)"
    )
    result = subprocess.run(
        [sys.executable, "-m", "devtools.azurite", "--", sys.executable, "-c", script],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert result.returncode == 3
    assert not _listening(int(result.stdout.strip()))
