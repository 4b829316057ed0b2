"""Authentication to the FHIR server: one `requests` auth object on FhirHttp's session.

Kinds (`fhir.auth_kind`): none; bearer (a token from the config, an environment variable, or
a file re-read whenever it changes); basic; smart-backend (SMART Backend Services:
client_credentials with a private_key_jwt assertion signed RS384 or ES384, the token cached
until shortly before it expires, one new token and one retry on a 401). Tokens, passwords and
assertions never reach a log line or an error message.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from requests.auth import AuthBase, HTTPBasicAuth

from sr2fhir.config.schema import Basic, Bearer, FhirConfig, SmartBackend
from sr2fhir.delivery.fhir.client import host_and_port, request_failure
from sr2fhir.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError

log = logging.getLogger(__name__)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300  # seconds; SMART: exp no more than five minutes in the future
DEFAULT_EXPIRES_IN = 300  # a token response without expires_in (SMART requires it)
EXPIRY_MARGIN = 60.0  # renew this long before expiry, or at 90% of a shorter lifetime
MIN_RSA_BITS = 2048
ES384_COORD = 48  # bytes per coordinate and per signature half on P-384
TOKEN_GRACE_STATUS = frozenset({408, 429})


# ---------------------------------------------------------------- signing (RFC 7515/7518)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_int(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return _b64url(value.to_bytes(length, "big"))


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key and the JWS algorithm it implies: RSA -> RS384, EC P-384 -> ES384."""

    alg: str
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA384())
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA384())))
        return r.to_bytes(ES384_COORD, "big") + s.to_bytes(ES384_COORD, "big")  # JWS: r || s

    def public_jwk(self, kid: str | None = None) -> dict[str, str]:
        """The public half as a JWK, for the JWK Set registered with the EHR."""
        jwk: dict[str, str] = {"alg": self.alg, "use": "sig"}
        if isinstance(self.key, rsa.RSAPrivateKey):
            numbers = self.key.public_key().public_numbers()
            jwk |= {"kty": "RSA", "n": _b64url_int(numbers.n), "e": _b64url_int(numbers.e)}
        else:
            point = self.key.public_key().public_numbers()
            x, y = _b64url_int(point.x, ES384_COORD), _b64url_int(point.y, ES384_COORD)
            jwk |= {"kty": "EC", "crv": "P-384", "x": x, "y": y}
        if kid:
            jwk["kid"] = kid
        return jwk


def load_signing_key(path: str) -> SigningKey:
    """An unencrypted PEM private key: RSA of 2048 bits or more, or EC on P-384.

    Raises ValueError with a one-line reason (the caller names the config key).
    """
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise ValueError(f"{path} is encrypted; give an unencrypted PEM key") from exc
    except ValueError as exc:
        raise ValueError(f"{path} is not a PEM private key") from exc
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"{path}: RSA key of {key.key_size} bits; RS384 needs >= 2048")
        return SigningKey("RS384", key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP384R1):
            raise ValueError(f"{path}: EC key on {key.curve.name}; ES384 needs P-384 (secp384r1)")
        return SigningKey("ES384", key)
    raise ValueError(f"{path}: {type(key).__name__}; need an RSA (RS384) or EC P-384 (ES384) key")


def client_assertion(
    key: SigningKey, client_id: str, audience: str, now: float, key_id: str | None = None
) -> str:
    """A signed JWT per SMART Backend Services: iss = sub = client_id, aud = token URL."""
    header = {"alg": key.alg, "typ": "JWT", **({"kid": key_id} if key_id else {})}
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "exp": int(now) + ASSERTION_LIFETIME,
        "jti": uuid.uuid4().hex,
    }
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    return f"{signing_input}.{_b64url(key.sign(signing_input.encode('ascii')))}"


# ---------------------------------------------------------------- bearer


class TokenFile:
    """A token kept in a file by another process (a rotating sidecar): read on every request.

    Reading a few bytes per request costs nothing next to the HTTP exchange, and unlike a
    stat-based cache it never misses a rewrite within one file-system timestamp tick.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def read(self) -> str:
        """The token now: OSError when the file cannot be read, ValueError when it is empty."""
        with open(self.path, encoding="utf-8") as file:
            token = file.read().strip()
        if not token:
            raise ValueError(f"{self.path} is empty")
        return token

    def __call__(self) -> str:
        try:
            return self.read()
        except OSError as exc:
            raise TransientDeliveryError(
                f"fhir.auth_token_file {self.path}: cannot read: {exc.strerror}"
            ) from exc
        except ValueError:
            raise TransientDeliveryError(f"fhir.auth_token_file {self.path} is empty") from None


class BearerAuth(AuthBase):
    """`Authorization: Bearer <token>`, the token fetched per request from its source."""

    def __init__(self, token: Callable[[], str]) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token()}"
        return r


# ---------------------------------------------------------------- SMART Backend Services


@dataclass(frozen=True, slots=True)
class SmartClient:
    """What the EHR registered for this gateway."""

    client_id: str
    key: SigningKey
    scopes: str
    key_id: str | None = None
    token_url: str | None = None  # None: from <base>/.well-known/smart-configuration


class SmartBackendAuth(AuthBase):
    """client_credentials + private_key_jwt; the token cached, renewed before it expires.

    A 401 on a FHIR request gets one new token and one retry of the same request.
    """

    def __init__(
        self,
        client: SmartClient,
        fhir_base: str,
        session: requests.Session,
        timeout: tuple[float, float] = (5.0, 60.0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.fhir_base = fhir_base.rstrip("/")
        self.session = session  # no auth on it; the same TLS settings as the FHIR session
        self.timeout = timeout
        self.clock = clock
        self.token_requests = 0
        self._token_url = client.token_url
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token()}"
        r.register_hook("response", self._retry_on_401)
        return r

    def token(self, rejected: str | None = None) -> str:
        """The cached token, or a new one if it is due for renewal or is the `rejected` one."""
        with self._lock:
            stale = self._token is None or self._token == rejected
            if stale or self.clock() >= self._renew_at:
                self._token, self._renew_at = self._fetch()
            assert self._token is not None
            return self._token

    def _retry_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """Response hook: on 401, one new token and one resend (adapter-level: no recursion)."""
        if response.status_code != 401:
            return response
        sent = response.request
        used = str(sent.headers.get("Authorization", "")).removeprefix("Bearer ")
        log.warning("FHIR server answered 401: getting a new access token and retrying once")
        response.content  # noqa: B018 - read the body so the connection can be reused
        response.close()
        token = self.token(rejected=used)
        retry = sent.copy()
        retry.headers["Authorization"] = f"Bearer {token}"
        adapter: requests.adapters.BaseAdapter = response.connection
        again = adapter.send(retry, **kwargs)
        again.history.append(response)
        again.request = retry
        return again

    def _fetch(self) -> tuple[str, float]:
        url = self._token_url or self._discover()
        self._token_url = url
        now = self.clock()
        form = {
            "grant_type": "client_credentials",
            "scope": self.client.scopes,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(
                self.client.key, self.client.client_id, url, now, self.client.key_id
            ),
        }
        self.token_requests += 1
        answer = self._call("POST", url, "token endpoint", data=form)
        token = answer.get("access_token")
        kind = str(answer.get("token_type", "bearer")).lower()
        if not isinstance(token, str) or not token or kind != "bearer":
            raise TransientDeliveryError(f"token endpoint {url}: no bearer access_token in answer")
        expires_in = _seconds(answer.get("expires_in"))
        margin = min(EXPIRY_MARGIN, expires_in / 10)
        log.info("access token from %s, valid %ds", url, int(expires_in))
        return token, now + expires_in - margin

    def _discover(self) -> str:
        url = f"{self.fhir_base}/.well-known/smart-configuration"
        endpoint = self._call("GET", url, "SMART configuration").get("token_endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            raise TransientDeliveryError(
                f"SMART configuration {url} names no token_endpoint; set fhir.smart_token_url"
            )
        return endpoint

    def _call(self, method: str, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        """One JSON exchange with the authorization side; errors carry no secret."""
        try:
            response = self.session.request(
                method, url, headers={"Accept": "application/json"}, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            why = request_failure(exc, host_and_port(url))
            raise TransientDeliveryError(f"{what} {url}: {why}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        status = response.status_code
        if 200 <= status < 300 and isinstance(body, dict):
            return body
        detail = f"HTTP {status}"
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            detail += f" {body['error'][:60]}"  # an OAuth error code, e.g. invalid_client
        if status < 400 or status >= 500 or status in TOKEN_GRACE_STATUS:
            raise TransientDeliveryError(f"{what} {url}: {detail}")
        raise PermanentDeliveryError(f"{what} {url}: {detail}", status=status)


def _seconds(value: Any) -> float:
    """expires_in as sent (a number, sometimes a numeric string); the default when unusable."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_EXPIRES_IN
    return seconds if seconds > 0 else DEFAULT_EXPIRES_IN


# ---------------------------------------------------------------- from the configuration


def build_auth(
    config: FhirConfig,
    new_session: Callable[[], requests.Session],
    timeout: tuple[float, float],
) -> AuthBase | None:
    """The auth object for `config.auth` (the loader checked the keys, preflight the files).

    `new_session` makes a session with the FHIR endpoint's TLS settings, for the token
    endpoint and the SMART configuration (smart-backend only).
    """
    auth = config.auth
    if isinstance(auth, Bearer):
        return BearerAuth(bearer_source(auth))
    if isinstance(auth, Basic):
        return HTTPBasicAuth(auth.username, auth.password)
    if isinstance(auth, SmartBackend):
        try:
            key = load_signing_key(auth.key_file)
        except ValueError as exc:
            raise ConfigError(f"fhir.smart_key_file: {exc}", key="fhir.smart_key_file") from exc
        client = SmartClient(auth.client_id, key, auth.scopes, auth.key_id, auth.token_url)
        return SmartBackendAuth(client, str(config.base_url), new_session(), timeout)
    return None


def bearer_source(auth: Bearer) -> Callable[[], str]:
    """Where each request's token comes from; ConfigError naming the key when the
    environment variable holding it is not set."""
    if auth.token_file:
        return TokenFile(auth.token_file)
    if auth.token_env:
        token = os.environ.get(auth.token_env, "").strip()
        if not token:
            text = f"fhir.auth_token_env: environment variable {auth.token_env} is not set"
            raise ConfigError(text, key="fhir.auth_token_env")
    else:
        token = str(auth.token)
    return lambda: token
