"""gunicorn settings read by default from the working directory (`gunicorn wsgi:app`).

The access log leaves out what could carry a credential: the query string (``%(U)s`` is the
path alone), the Basic user name (``%(u)s``) and the Referer; and the path of a password-reset
link, whose last segment is a secret token, is redacted. Workers, bind address and log
destinations stay on the command line or in ``GUNICORN_CMD_ARGS``.
"""

import re
from typing import Any

from gunicorn.glogging import Logger

access_log_format = '%(h)s - - %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)ss "%(a)s"'

# Paths whose last segment is a secret (SPEC §3: no token in any log line).
SECRET_PATH = re.compile(r"^(/password/reset/)[^/?#]+")


def _redact(value: Any) -> Any:
    return SECRET_PATH.sub(r"\1[redacted]", value) if isinstance(value, str) else value


class RedactingLogger(Logger):  # type: ignore[misc]
    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        # At --log-level debug the sync worker logs each request's method and path.
        super().debug(msg, *(_redact(a) for a in args), **kwargs)

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        path = _redact(str(atoms.get("U", "")))
        atoms["U"] = path
        atoms["r"] = f"{atoms.get('m', '-')} {path} {atoms.get('H', '-')}"
        return atoms


logger_class = RedactingLogger
