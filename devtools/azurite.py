"""Run a command with a private Azurite on loopback, then stop it (also when the command fails).

    python -m devtools.azurite -- pytest -q

Azurite comes from the project's own node_modules (npm ci). The usual ports 10000-10002 are
used when free; otherwise free ports are picked and the connection string points at them, so
we never fail on a busy port and never talk to somebody else's emulator. The child gets
`AzureWebJobsStorage` and `INFERENCE_STORAGE` set to the emulator's connection string, and
`AZURITE_PID` (the emulator's process, for tests that check it stopped).

HTTPS with OAuth (for the token path: clients signing in with an Entra ID credential, as on
Azure with identity-based connections): `azurite_process(https=(cert, key), oauth=True)` starts
it with `--cert --key --oauth basic`; the connection string then says https, and `endpoints()`
gives the service URIs for `NAME__blobServiceUri` and the like. Azurite's basic OAuth checks a
bearer token's `iss` (an Entra ID issuer prefix such as https://sts.windows.net/), `aud` (the
storage audience), `iat`, `nbf` and `exp`, not its signature, and only over HTTPS; it has no
role assignments. Shared-key requests still work beside it.
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


def connection_string(blob: int, queue: int, table: int, scheme: str = "http") -> str:
    return (
        f"DefaultEndpointsProtocol={scheme};AccountName={ACCOUNT};AccountKey={KEY};"
        f"BlobEndpoint={scheme}://127.0.0.1:{blob}/{ACCOUNT};"
        f"QueueEndpoint={scheme}://127.0.0.1:{queue}/{ACCOUNT};"
        f"TableEndpoint={scheme}://127.0.0.1:{table}/{ACCOUNT};"
    )


def endpoints(connection: str) -> dict[str, str]:
    """The blob, queue and table service URIs of an emulator connection string."""
    parts = dict(item.split("=", 1) for item in connection.split(";") if "=" in item)
    return {service: parts[f"{service.capitalize()}Endpoint"]
            for service in ("blob", "queue", "table")}


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
def running_azurite(location: Path | None = None, *, https: tuple[Path, Path] | None = None,
                    oauth: bool = False) -> Iterator[str]:
    """Start Azurite, yield its connection string, stop it on exit."""
    with azurite_process(location, https=https, oauth=oauth) as (conn, _):
        yield conn


@contextlib.contextmanager
def azurite_process(
    location: Path | None = None, *, https: tuple[Path, Path] | None = None,
    oauth: bool = False,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start Azurite, yield its connection string and its process, stop it on exit.
    `https`: (certificate, key) PEM files to serve TLS with; `oauth`: accept bearer tokens
    (Azurite allows OAuth only over HTTPS)."""
    if oauth and https is None:
        raise ValueError("Azurite accepts OAuth only over HTTPS: pass https=(cert, key)")
    extra: list[str] = []
    if https is not None:
        extra += ["--cert", str(https[0]), "--key", str(https[1])]
    if oauth:
        extra += ["--oauth", "basic"]
    own_dir = location is None
    location = location or Path(tempfile.mkdtemp(prefix="azurite-"))
    for attempt in range(3):
        blob, queue, table = choose_ports()
        try:
            proc, log = start_azurite_on(location, (blob, queue, table), extra)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        yield connection_string(blob, queue, table, "https" if https else "http"), proc
    finally:
        _stop(proc)
        log.close()
        if own_dir:
            shutil.rmtree(location, ignore_errors=True)


def start_azurite_on(location: Path, ports: tuple[int, int, int], extra: list[str] | None = None):
    """Start Azurite on these (blob, queue, table) ports, keeping its data in `location`;
    returns the process and its log file once it listens. Starting again on the same
    location and ports after `stop_azurite` brings the same data back (the load benchmark's
    storage outage). `extra`: more Azurite options (HTTPS, OAuth)."""
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
            "--skipApiVersionCheck", "--disableTelemetry", "--loose", *(extra or []),
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


def self_signed_certificate(folder: Path, days: int = 2) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, signed by its own key, that clients can be
    told to trust (REQUESTS_CA_BUNDLE, connection_verify): (cert.pem, key.pem) in `folder`."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "azurite-loopback")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        # Its own trust anchor: a CA that may sign only itself.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=False, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "azurite-cert.pem", folder / "azurite-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


def main(argv: list[str]) -> int:
    oauth = "--oauth" in argv[: argv.index("--") if "--" in argv else len(argv)]
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    if not argv:
        print("usage: python -m devtools.azurite [--oauth] -- COMMAND [ARGS...]\n"
              "  --oauth: HTTPS with a fresh self-signed certificate (the child trusts it\n"
              "           through REQUESTS_CA_BUNDLE) and OAuth bearer tokens accepted",
              file=sys.stderr)
        return 2
    tls_dir = Path(tempfile.mkdtemp(prefix="azurite-tls-")) if oauth else None
    try:
        https = self_signed_certificate(tls_dir) if tls_dir else None
        return _run_child(argv, https)
    finally:
        if tls_dir:
            shutil.rmtree(tls_dir, ignore_errors=True)


def _run_child(argv: list[str], https: tuple[Path, Path] | None) -> int:
    with azurite_process(https=https, oauth=https is not None) as (conn, proc):
        env = dict(os.environ, AzureWebJobsStorage=conn, INFERENCE_STORAGE=conn,
                   AZURITE_PID=str(proc.pid))
        if https is not None:
            env["REQUESTS_CA_BUNDLE"] = str(https[0])
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
