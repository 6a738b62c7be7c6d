"""The threaded WSGI server every HTTP sandbox runs on (127.0.0.1, not Django): one
thread per request, daemon threads so a test never waits on them, and no access log
(the sandboxes keep their own counters)."""

from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # load tests open many connections at once


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


def serve(app, *, host: str = "127.0.0.1", port: int = 0) -> WSGIServer:
    """A bound server for `app` (port 0: a free one); call serve_forever() in a thread."""
    return make_server(host, port, app, server_class=_ThreadingServer,
                       handler_class=_QuietHandler)
