"""An HTTP/1.1 server for the local stack's WSGI application, with connections kept open between requests.

moto's own server (werkzeug's development server) closes every connection after one request, and after each
response waits for more bytes on the socket to throw away: a client pays for a new connection, and the server for a
new thread, on every request, about 2 ms of a 2.8 ms `GetItem` on this machine. AWS's endpoints keep connections
open, and so do the SDKs. This server reads each request's body in full (by its Content-Length, or to its last
chunk), so the stream is at the next request line when the application returns, and keeps the connection until the
client closes it or asks to.

One thread per connection (as werkzeug's threaded server); requests on one connection are answered in order.
"""
import io
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _chunked_body(stream):
    """A chunked request body, read up to and including its last chunk and trailer."""
    body = bytearray()
    while True:
        size_line = stream.readline(65537)
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailer fields
            return bytes(body)
        body += stream.read(size)
        stream.readline(3)  # the CRLF after the chunk


def _handler_for(app):
    class KeptAliveHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without this, a kept-alive client waits for a delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, format, *args):  # noqa: A002 (http.server's own name)
            # One line per request is what werkzeug wrote; the operation log says more, so only errors are kept.
            pass

        def _environ(self, body):
            path, _, query = self.path.partition("?")
            host, port = self.server.server_address[:2]
            environ = {
                "REQUEST_METHOD": self.command,
                "SCRIPT_NAME": "",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "RAW_URI": self.path,
                "REQUEST_URI": self.path,
                "SERVER_NAME": str(host),
                "SERVER_PORT": str(port),
                "SERVER_PROTOCOL": self.request_version,
                "REMOTE_ADDR": self.client_address[0],
                "REMOTE_PORT": str(self.client_address[1]),
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.version": (1, 0),
                "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(body),
                "wsgi.errors": sys.stderr,
                "wsgi.multithread": True,
                "wsgi.multiprocess": False,
                "wsgi.run_once": False,
            }
            for name, value in self.headers.items():
                key = "HTTP_" + name.upper().replace("-", "_")
                if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                    continue
                # Repeated headers are joined as WSGI servers join them.
                environ[key] = f"{environ[key]},{value}" if key in environ else value
            return environ

        def _answer(self):
            try:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    body = _chunked_body(self.rfile)
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            except (OSError, ValueError):
                # Where this request ends is unknown: answer it and serve no other on this connection.
                self.close_connection = True
                self.send_error(400, "unreadable request body")
                return
            started = []

            def start_response(status, headers, exc_info=None):
                started[:] = [status, headers]
                return lambda data: None  # the legacy write() callable; moto returns its body instead

            try:
                result = app(self._environ(body), start_response)
                try:
                    out = b"".join(result)
                finally:
                    if hasattr(result, "close"):
                        result.close()
            except Exception as error:  # the application failed: a 500, as werkzeug answers
                self.log_error("request failed: %r", error)
                self.close_connection = True
                self.send_error(500, "the local stack failed on this request")
                return
            status, headers = started
            code, _, reason = status.partition(" ")
            self.send_response(int(code), reason)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _answer

    return KeptAliveHandler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts of new connections from concurrent clients


def serve(host, port, app):
    """Serves `app` (a WSGI application) on host:port until the process ends."""
    server = _Server((host, port), _handler_for(app))
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    server.serve_forever()
