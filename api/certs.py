"""A small certificate authority for serving the API over TLS.

kubectl sends bearer tokens only over TLS, so `minik8s up` (and tests) make a self-signed CA and
a server certificate for the masters' addresses; the kubeconfig carries the CA so clients verify
the masters. Uses `cryptography`, already needed by pysyncobj's encrypted peer traffic.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .secretfiles import ensure_private_dir, write_private


@dataclass(frozen=True)
class ServingCerts:
    """Paths of the CA certificate and of the server certificate and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


def _covers(cert_file: Path, hosts: list[str]) -> bool:
    """Whether the certificate names every one of `hosts` (IPs or DNS names)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    have = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} | set(names.get_values_for_type(x509.DNSName))
    wanted = set()
    for host in hosts:
        try:
            wanted.add(str(ipaddress.ip_address(host)))
        except ValueError:
            wanted.add(host)
    return wanted <= have


def ensure_serving_certs(directory: Path, hosts: list[str], *, days: int = 3650) -> ServingCerts:
    """Create (once, and again when `hosts` changed) a CA and a server certificate valid for `hosts`
    (IPs or DNS names) in `directory`."""
    ensure_private_dir(directory)
    certs = ServingCerts(directory / "ca.crt", directory / "apiserver.crt", directory / "apiserver.key")
    if certs.ca_file.exists() and certs.cert_file.exists() and certs.key_file.exists() \
            and _covers(certs.cert_file, hosts):
        if certs.key_file.stat().st_mode & 0o077:  # a key written before keys were created private
            certs.key_file.chmod(0o600)
        return certs
    # new, or the addresses changed (a cluster's hosts network moved to another subnet): a new CA
    # and certificate (the CA key is not kept; `up` writes the new CA into the kubeconfig)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder().subject_name(_name("minik8s-ca")).issuer_name(_name("minik8s-ca"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder().subject_name(_name("minik8s-apiserver")).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    certs.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    certs.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(certs.key_file, key)
    return certs
