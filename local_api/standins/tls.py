"""Certificates made on the spot: the APNs stand-in's server certificate, and client
certificates shaped like Apple's push certificates for certificate-based APNs credentials."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, both PEM."""

    certificate_pem: bytes
    private_key_pem: bytes


class CertificateAuthority:
    """A self-signed CA (EC P-256: quick to make) that issues server and client certificates."""

    def __init__(self, name: str = "notify-bindings stand-in CA") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY)
            .not_valid_after(now + 3650 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue_server(self, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Issued:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
        builder = (
            self._builder(
                subject, key.public_key(), datetime.datetime.now(datetime.UTC) + 365 * _DAY
            )
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        return _issued(builder.sign(self._key, hashes.SHA256()), key)

    def issue_client(
        self,
        *,
        topic: str | None,
        common_name: str | None = None,
        rsa_key: bool = True,
        not_valid_after: datetime.datetime | None = None,
    ) -> Issued:
        """A client certificate shaped like Apple's: subject UID = the topic (bundle ID), and a
        common name saying the environment ("Apple Push Services: <topic>" by default)."""
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if rsa_key
            else ec.generate_private_key(ec.SECP256R1())
        )
        attributes = [
            x509.NameAttribute(
                NameOID.COMMON_NAME, common_name or f"Apple Push Services: {topic or 'none'}"
            )
        ]
        if topic is not None:
            attributes.insert(0, x509.NameAttribute(NameOID.USER_ID, topic))
        expires = not_valid_after or datetime.datetime.now(datetime.UTC) + 365 * _DAY
        builder = self._builder(x509.Name(attributes), key.public_key(), expires).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        return _issued(builder.sign(self._key, hashes.SHA256()), key)

    def _builder(
        self, subject: x509.Name, public_key: object, expires: datetime.datetime
    ) -> x509.CertificateBuilder:
        starts = min(datetime.datetime.now(datetime.UTC), expires) - _DAY
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(starts)
            .not_valid_after(expires)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            # Python 3.13's default verification (VERIFY_X509_STRICT) requires it.
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )


def _issued(
    certificate: x509.Certificate, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
) -> Issued:
    return Issued(
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
