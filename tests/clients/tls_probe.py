"""A bare TLS handshake with Python's ssl module (no Kafka): which certificate does the server
present? Options --ca (verify against it; else no verification), --cert/--key (client
certificate). Prints {"ok": true, "serial": "...", "subject": "...", "version": "..."} or
{"ok": false, "failure": "..."} when the handshake fails (exit 0 either way)."""

import socket
import ssl

import common


def main():
    p = common.parser(__doc__)
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    args = p.parse_args()
    host, port = common.split_hostport(args.bootstrap)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if args.ca:
        ctx.load_verify_locations(args.ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    try:
        with socket.create_connection((host, port), timeout=args.timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
                info = tls.getpeercert() if args.ca else {}
                version = tls.version()
                # TLS 1.3 reports a rejected client certificate only on the first read.
                tls.settimeout(5.0)
                answered = False
                try:
                    tls.sendall(b"\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff")
                    answered = len(tls.recv(4)) > 0
                except (socket.timeout, ssl.SSLError, OSError):
                    pass
    except (ssl.SSLError, OSError) as e:
        return {"ok": False, "failure": f"{type(e).__name__}: {e}"}
    subject = "/".join("=".join(kv) for rdn in info.get("subject", ()) for kv in rdn)
    return {
        "ok": True,
        "serial": info.get("serialNumber", ""),
        "subject": subject,
        "version": version,
        "der_len": len(der or b""),
        # Whether the server answered an ApiVersions request after the handshake (a broker
        # behind the proxy; a refused client certificate closes the connection instead).
        "answered": answered,
    }


if __name__ == "__main__":
    common.run(main)
