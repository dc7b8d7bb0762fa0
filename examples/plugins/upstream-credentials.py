#!/usr/bin/env python3
"""A kafka-proxy credentials plugin: each client principal's upstream credentials from the
command line (a vault client would look them up instead).

    kafka-proxy server ... --sasl-enable --auth-local-enable ... \
        --sasl-credentials-plugin-command /path/to/upstream-credentials.py \
        --sasl-credentials-plugin-param alice=SCRAM-SHA-512:alice:FILE

Each parameter is PRINCIPAL=MECHANISM:USER:PASSWORD_FILE (the password is read from the file at
each request, so a rotated password is used at once). The proxy writes one JSON request per line
on stdin and reads one JSON reply per line on stdout (see PLUGINS in `man kafka-proxy`). Log to
stderr; never log a password.
"""

import json
import sys

MAPPING = {}
for arg in sys.argv[1:]:
    # The last "=": a certificate subject (/CN=app/O=Example) holds some itself.
    principal, spec = arg.rsplit("=", 1)
    mechanism, user, password_file = spec.split(":", 2)
    MAPPING[principal] = (mechanism, user, password_file)


def handle(request):
    if request.get("method") != "get-credentials":
        return {"ok": False, "error": "unsupported method"}
    principal = request.get("principal", "")
    if principal not in MAPPING:
        print(f"no upstream credentials for {principal!r}", file=sys.stderr, flush=True)
        # ok false without an error: the principal is not mapped.
        return {"ok": False}
    mechanism, user, password_file = MAPPING[principal]
    with open(password_file, encoding="utf-8") as f:
        password = f.read().rstrip("\r\n")
    return {"ok": True, "mechanism": mechanism, "identity": user, "token": password}


for line in sys.stdin:
    try:
        request = json.loads(line)
        reply = handle(request)
    except (ValueError, OSError) as e:
        request, reply = {}, {"ok": False, "error": type(e).__name__}
    reply["id"] = request.get("id", 0)
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
