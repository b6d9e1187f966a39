"""A real S3-compatible server on 127.0.0.1 (moto in server mode, its own process), and an HTTP proxy
in front of it that injects faults: 503 answers, dropped connections, failed multipart parts, and
latency (a delay before every request is forwarded, as a distant bucket's round trip)."""
from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    def __init__(self, port: int | None = None):  # a port: a fresh server where an earlier one was
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        moto = Path(sys.executable).with_name("moto_server")
        self.process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class FaultProxy:
    """Forwards every request to ``target``; ``faults`` is a list of (predicate, action) consumed once each.

    predicate(method, path) -> bool; action: "503" (answer Service Unavailable), "500", "cut" (close the
    connection without an answer). A rule with ``forever=True`` semantics: use action suffix "!" to keep it.
    ``latency``: seconds every request waits before it is answered or forwarded (settable while running).
    """

    def __init__(self, target: str, latency: float = 0.0):
        self.target = target.split("://", 1)[1]
        self.latency = latency
        self.active = self.peak = 0  # requests being handled now, and the most at once (concurrency)
        self.faults: list[list] = []
        self.injected: list[str] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                with proxy.lock:
                    proxy.active += 1
                    proxy.peak = max(proxy.peak, proxy.active)
                try:
                    self._forward()
                finally:
                    with proxy.lock:
                        proxy.active -= 1

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                if proxy.latency:
                    time.sleep(proxy.latency)
                action = proxy._take(self.command, self.path)
                if action == "cut":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if action in ("503", "500"):
                    payload = b"<Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>" if action == "503" else b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
                    self.send_response(int(action))
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Content-Type", "application/xml")
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                connection = http.client.HTTPConnection(proxy.target, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                # a HEAD answer has no body but states the object's length
                length = response.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data))
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                connection.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _take(self, method: str, path: str) -> str | None:
        with self.lock:
            for rule in self.faults:
                predicate, action = rule
                if predicate(method, path):
                    if action.endswith("!"):
                        self.injected.append(f"{action} {method} {path}")
                        return action[:-1]
                    self.faults.remove(rule)
                    self.injected.append(f"{action} {method} {path}")
                    return action
        return None

    def stop(self) -> None:
        self.server.shutdown()


def s3_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AUDIOPREP_S3_PART_MB": "5",
    }


def client(endpoint: str):
    """A boto3 S3 client of the test server at ``endpoint`` (its test credentials)."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                        region_name="us-east-1")


def upload_tree(s3_client, root, bucket: str, prefix: str) -> str:
    """Every file under ``root`` to ``s3://bucket/prefix/`` (its relative path kept); returns that URI."""
    from pathlib import Path

    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            s3_client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root).as_posix()}")
    return f"s3://{bucket}/{prefix}/"


def is_upload_part(method: str, path: str) -> bool:
    return method == "PUT" and "partNumber=" in path and "uploadId=" in path
