"""examples/deploy/nginx.conf and Caddyfile made runnable here: 127.0.0.1 and free ports, this test's
upstream, a throw-away certificate (Caddy: its internal CA, never installed in the system's trust
store), and the tools' state in a temporary directory."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NGINX_EXAMPLE = ROOT / "examples" / "deploy" / "nginx.conf"
CADDY_EXAMPLE = ROOT / "examples" / "deploy" / "Caddyfile"
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
CADDY = shutil.which("caddy")
CERT = "/etc/letsencrypt/live/pay.example.com/fullchain.pem"
KEY = "/etc/letsencrypt/live/pay.example.com/privkey.pem"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for pay.example.com and its key, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pay.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _replaced(example: Path, replacements: list[tuple[str, str]]) -> str:
    text = example.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, f"{example.name} no longer has exactly one {old!r}"
        text = text.replace(old, new)
    return text


def nginx_local_copy(directory: Path, *, https_port: int, http_port: int, upstream_port: int) -> Path:
    """The nginx example, listening on 127.0.0.1 only, proxying to 127.0.0.1:`upstream_port`."""
    cert, key = self_signed(directory)
    text = _replaced(NGINX_EXAMPLE, [("worker_processes auto;", "worker_processes 1;"),
                     ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
                     ("listen [::]:443 ssl http2;", ""), ("listen 80;", f"listen 127.0.0.1:{http_port};"),
                     ("listen [::]:80;", ""), ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};"),
                     (CERT, str(cert)), (KEY, str(key))])
    path = directory / "nginx.conf"
    path.write_text(text)
    return path


def nginx_command(conf: Path, *, serve: bool) -> list[str]:
    """`nginx -t` of `conf`, or nginx serving it in the foreground; its files beside `conf`."""
    directory = conf.parent
    globals_ = f"pid {directory / 'nginx.pid'};" + (" daemon off;" if serve else "")
    return [str(NGINX), *([] if serve else ["-t"]), "-e", str(directory / "error.log"), "-p", str(directory),
            "-c", str(conf), "-g", globals_]


def caddy_local_copy(directory: Path, *, https_port: int, http_port: int, upstream_port: int) -> Path:
    """The Caddyfile, serving https://127.0.0.1:`https_port` from Caddy's internal CA, proxying to
    127.0.0.1:`upstream_port`, with no admin endpoint and its storage in `directory`."""
    text = _replaced(CADDY_EXAMPLE, [
        ("{\n\tservers {", f"{{\n\tadmin off\n\tskip_install_trust\n\thttp_port {http_port}\n"
                           f"\thttps_port {https_port}\n\tstorage file_system {directory / 'data'}\n\tservers {{"),
        ("pay.example.com {", f"https://127.0.0.1:{https_port} {{\n\ttls internal"),
        ("reverse_proxy 127.0.0.1:8000 {", f"reverse_proxy 127.0.0.1:{upstream_port} {{")])
    path = directory / "Caddyfile"
    path.write_text(text)
    return path


def caddy_command(conf: Path, *, serve: bool) -> list[str]:
    """`caddy validate` of `conf`, or Caddy serving it in the foreground."""
    return [str(CADDY), "run" if serve else "validate", "--config", str(conf), "--adapter", "caddyfile"]


def caddy_env(directory: Path) -> dict[str, str]:
    """Caddy's home and data directories inside `directory`, nothing else of the caller's environment."""
    return {"HOME": str(directory), "XDG_DATA_HOME": str(directory), "XDG_CONFIG_HOME": str(directory),
            "PATH": "/usr/local/bin:/usr/bin:/bin"}
