"""What the HTTP forwarders share: falcosidekick's TLS options and request headers.

Per forwarder: ``checkcert`` (default true; false skips certificate checks)
and ``mutualtls`` (default false; presents a client certificate and always
verifies the server, ignoring ``checkcert``, as sidekick does). Certificates
come from the forwarders block, with falcosidekick's names:
``forwarders.mutualtlsclient.{certfile,keyfile,cacertfile}``, defaulting to
``client.crt``, ``client.key`` and ``ca.crt`` in
``forwarders.mutualtlsfilespath`` (default ``/etc/certs``);
``forwarders.tlsclient.cacertfile`` adds a CA to the system ones.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pdigpy.outputs.config import ConfigError, Section

if TYPE_CHECKING:
    import ssl

SIDEKICK_CONTENT_TYPE = "application/json; charset=utf-8"
SIDEKICK_USER_AGENT = "Falcosidekick"
SIDEKICK_SUCCESS = (200, 201, 202, 204)

GLOBAL_KEYS = ("mutualtlsclient", "mutualtlsfilespath", "tlsclient")
HTTP_TLS_KEYS = ("checkcert", "mutualtls")


def sidekick_ssl_context(forwarders: Section, output: Section) -> ssl.SSLContext:
    import ssl  # only for https forwarders: ssl is slow to import

    ctx = ssl.create_default_context()
    tlsclient = forwarders.section("tlsclient")
    tlsclient.check_keys(("cacertfile",))
    extra_ca = tlsclient.str("cacertfile").strip()
    if extra_ca:
        try:
            ctx.load_verify_locations(cafile=extra_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(tlsclient.key("cacertfile"), f"cannot load {extra_ca!r} ({exc}); give a PEM CA file") from None
    if output.bool("mutualtls", False):
        mtls = forwarders.section("mutualtlsclient")
        mtls.check_keys(("certfile", "keyfile", "cacertfile"))
        base = forwarders.str("mutualtlsfilespath", "/etc/certs")
        cert = mtls.str("certfile") or os.path.join(base, "client.crt")
        key = mtls.str("keyfile") or os.path.join(base, "client.key")
        ca = mtls.str("cacertfile") or os.path.join(base, "ca.crt")
        try:
            ctx.load_cert_chain(cert, key)
            ctx.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(output.key("mutualtls"), f"cannot load the client certificate {cert!r}, key {key!r} "
                              f"or CA {ca!r} ({exc}); set forwarders.mutualtlsclient.* or mutualtls=false") from None
    elif not output.bool("checkcert", True):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
