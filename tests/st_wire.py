"""Streamlit's wire protocol from a test, as an anonymous outsider: no browser, no
sign-in cookie, nothing but what a stranger on the network can send.

What the browser does, in miniature (Streamlit 1.67, Starlette/uvicorn server):

- A session to upload into comes from ``wire_client.WireClient`` (the websocket
  side): its ``session_id`` is what ``/_stcore/upload_file/<session_id>/<file_id>``
  wants, and the session lives while the client is connected.
- :func:`xsrf_cookie` gets the ``_streamlit_xsrf`` cookie any client is given by
  ``GET /_stcore/health``. Streamlit's XSRF check is a double submit (the
  ``X-Xsrftoken`` header must carry the cookie's token), so a non-browser client
  passes it by echoing the cookie it was just given.
- :func:`put_upload` PUTs one file to the upload endpoint as the frontend does
  (multipart/form-data, field ``files``); :func:`put_declared` sends only the
  headers of such a PUT, announcing ``Content-Length`` bytes, and reads the
  answer without ever sending the body (the server's size check on the header
  answers first), so a test can probe a limit of many megabytes cheaply.

Only the standard library is used. Every function takes the app's base
URL, e.g. ``http://127.0.0.1:8501`` (no trailing slash).
"""

from __future__ import annotations

import http.client
import uuid
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

XSRF_COOKIE = "_streamlit_xsrf"
UPLOAD_PATH = "/_stcore/upload_file"
DEFAULT_TIMEOUT = 30.0


@dataclass
class Reply:
    """An HTTP answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def _host_port(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError(f"an http:// base URL is expected, not {base_url!r}")
    return parts.hostname, parts.port or 80


def request(
    base_url: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Reply:
    """One plain HTTP request with exactly ``headers`` (no cookie jar, no redirects)."""
    host, port = _host_port(base_url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        return Reply(reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read())
    finally:
        conn.close()


def xsrf_cookie(base_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """The ``_streamlit_xsrf`` cookie value the server hands any anonymous client
    (on ``GET /_stcore/health``); "" when XSRF protection is off (no cookie is set)."""
    reply = request(base_url, "GET", "/_stcore/health", timeout=timeout)
    jar: SimpleCookie = SimpleCookie()
    jar.load(reply.headers.get("set-cookie", ""))
    morsel = jar.get(XSRF_COOKIE)
    return morsel.value if morsel is not None else ""


def multipart_file(
    data: bytes, *, filename: str = "ids.csv", content_type: str = "text/csv"
) -> tuple[bytes, str]:
    """A multipart/form-data body holding one file in field ``files`` (as the
    frontend's upload does), and its Content-Type header value."""
    boundary = "----st-wire-" + uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="files"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + data + tail, f"multipart/form-data; boundary={boundary}"


def _upload_headers(content_type: str, xsrf: str | None) -> dict[str, str]:
    headers = {"Content-Type": content_type}
    if xsrf:
        # The frontend sends the cookie back as both header and cookie.
        headers["X-Xsrftoken"] = xsrf
        headers["Cookie"] = f"{XSRF_COOKIE}={xsrf}"
    return headers


def put_upload(
    base_url: str,
    session_id: str,
    data: bytes,
    *,
    file_id: str | None = None,
    xsrf: str | None = None,
    filename: str = "ids.csv",
    timeout: float = DEFAULT_TIMEOUT,
) -> Reply:
    """PUT ``data`` as one file to ``/_stcore/upload_file/<session_id>/<file_id>``
    (a fresh file ID when none is given). ``xsrf``: a cookie value from
    :func:`xsrf_cookie`, sent as cookie and ``X-Xsrftoken`` header; None sends neither.
    Streamlit answers 204 when it stored the file."""
    body, content_type = multipart_file(data, filename=filename)
    path = f"{UPLOAD_PATH}/{session_id}/{file_id or uuid.uuid4()}"
    return request(
        base_url,
        "PUT",
        path,
        body=body,
        headers=_upload_headers(content_type, xsrf),
        timeout=timeout,
    )


def put_declared(
    base_url: str,
    session_id: str,
    content_length: int,
    *,
    file_id: str | None = None,
    xsrf: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Reply:
    """Send only the headers of an upload PUT announcing ``content_length`` body
    bytes, then read the answer without sending any of the body.

    Streamlit checks XSRF, the session and ``Content-Length`` against
    ``server.maxUploadSize`` before it reads the body, so an oversized announcement
    is refused (413) at once. A size within the limit makes the server wait for
    the body instead: ``TimeoutError`` after ``timeout`` seconds (use a short one).
    """
    host, port = _host_port(base_url)
    path = f"{UPLOAD_PATH}/{session_id}/{file_id or uuid.uuid4()}"
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest("PUT", path, skip_accept_encoding=True)
        headers = _upload_headers("multipart/form-data; boundary=----st-wire-declared", xsrf)
        headers["Content-Length"] = str(content_length)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        reply = conn.getresponse()
        return Reply(reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read())
    finally:
        conn.close()
