"""Keys and certificates made in-process (cryptography), per test run, in the test's tmp
folder, never committed: a throw-away CA issuing server certificates for 127.0.0.1 /
localhost and client certificates, the two-CA set of the DICOM TLS tests (`make_pki`, the
shape of docs/gateway.md's openssl recipe), and SMART signing keys."""

from __future__ import annotations

import datetime
import enum
import ipaddress
import ssl
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@cache
def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """One RSA signing key per size for the whole run (generating them is the slow part)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP384R1())


class KeyType(enum.Enum):
    """The keys a TestCa makes for itself and each certificate it issues."""

    EC_P256 = "EC P-256"
    RSA_2048 = "RSA 2048"  # what DICOM peers (dcmtk's BCP 195 profile) surely accept

    def generate(self) -> PrivateKey:
        """A fresh key: certificates of one CA never share a key."""
        if self is KeyType.RSA_2048:
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return ec_key(ec.SECP256R1())


def write_key(path: Path, key: PrivateKey, password: bytes | None = None) -> Path:
    """PEM PKCS#8, encrypted with `password` if one is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return path


def encrypted_copy(key_file: Path, path: Path, password: bytes) -> Path:
    """The unencrypted PEM key in `key_file`, written to `path` encrypted with `password`."""
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey), key_file
    return write_key(path, key, password)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True, slots=True)
class TlsIdentity:
    """A certificate and its unencrypted private key (PEM files, made at test time)."""

    cert: Path
    key: Path


class TestCa:
    """A throw-away CA writing PEM files into `folder`."""

    __test__ = False  # not a pytest test class

    def __init__(
        self, folder: Path, name: str = "sr2fhir test CA", key_type: KeyType = KeyType.EC_P256
    ) -> None:
        self.folder = folder
        self.key_type = key_type
        self.key = key_type.generate()
        usage = x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
        self.cert = (
            self._builder(_name(name), self.key)
            .issuer_name(_name(name))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = folder / f"{name.replace(' ', '-')}.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    @staticmethod
    def _builder(subject: x509.Name, key: PrivateKey) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.timezone.utc)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    def issue(
        self, name: str, *, client: bool = False, common_name: str | None = None
    ) -> TlsIdentity:
        """`name`.crt and `name`.key: a certificate for 127.0.0.1 and localhost (server) or
        for a client, with its own new key; `common_name` defaults to `name`."""
        key = self.key_type.generate()
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            self._builder(_name(common_name or name), key)
            .issuer_name(self.cert.subject)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if not client:
            san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        cert_path = self.folder / f"{name}.crt"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return TlsIdentity(cert_path, write_key(self.folder / f"{name}.key", key))


def server_tls_context(ca: TestCa, *, require_client_cert: bool = True) -> ssl.SSLContext:
    """A TLS server's context with a certificate from `ca` ("ehr-server"); mutual TLS (client
    certificates from `ca` required) unless told otherwise."""
    server = ca.issue("ehr-server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server.cert, server.key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: no client certificate, no service
        context.load_verify_locations(ca.pem)
    return context


@dataclass(frozen=True, slots=True)
class Pki:
    """One CA issuing the gateway's and a sender's certificates, and a second, foreign CA
    with its own sender certificate (which the gateway must not accept)."""

    ca: Path
    server: TlsIdentity
    client: TlsIdentity
    foreign_ca: Path
    foreign_client: TlsIdentity


def make_pki(folder: Path) -> Pki:
    """The DICOM TLS certificates of one test run: RSA 2048 keys throughout, files
    server.crt/.key, client.crt/.key and foreign-client.crt/.key beside the two CAs."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = TestCa(folder, "sr2fhir test CA", KeyType.RSA_2048)
    foreign = TestCa(folder, "another CA", KeyType.RSA_2048)
    return Pki(
        ca=ca.pem,
        server=ca.issue("server", common_name="localhost"),
        client=ca.issue("client", client=True, common_name="TESTSCU modality"),
        foreign_ca=foreign.pem,
        foreign_client=foreign.issue(
            "foreign-client", client=True, common_name="TESTSCU elsewhere"
        ),
    )
