"""A throw-away HTTP server on 127.0.0.1 for the samples that fetch
(io_threads.py, bytesio.py). It runs in a child process, so that its own
GIL does not mix with the fetching threads' in the report."""
import http.server
import multiprocessing
import socketserver
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    """Base of the samples' handlers: names each connection's server thread
    ("server-conn-N", so the report's lanes say what they are) and keeps
    the request log off the sample's output."""
    connections = 0

    def setup(self):
        Handler.connections += 1
        threading.current_thread().name = "server-conn-%d" % Handler.connections
        http.server.BaseHTTPRequestHandler.setup(self)

    def log_message(self, *args):
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def _serve(handler, conn):
    threading.current_thread().name = "http-server"
    srv = _Server(("127.0.0.1", 0), handler)
    conn.send(srv.server_address[1])
    conn.close()
    srv.serve_forever()


def start_server(handler):
    # type: (type) -> tuple
    """Serves `handler` (a BaseHTTPRequestHandler class) on an ephemeral
    port in a daemon child process; returns (process, port)."""
    parent_end, child_end = multiprocessing.Pipe(duplex=False)
    proc = multiprocessing.Process(target=_serve, args=(handler, child_end), name="http-server")
    proc.daemon = True
    proc.start()
    port = parent_end.recv()
    return proc, port
