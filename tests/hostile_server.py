#!/usr/bin/env python3
"""A badly behaved HTTPS image API for venice-batch's end-to-end tests (tests/test_hostile_server.cpp).

Written apart from the client and its emulator, with the Python standard library only, so the
client is tested against HTTP framing and bytes it did not produce itself. Serves HTTP/1.1 with
keep-alive on 127.0.0.1; prints "listening PORT" once bound. Answers
  GET  /api/v1/api_keys/rate_limits  200 (the client's start-up check)
  POST /api/v1/image/generate        as --mode says:
    early_hints      a raw "100 Continue" and "103 Early Hints" before every 200 (rate_limits too)
    cf524            a Cloudflare HTML 524 page for the first request of each prompt, then 200
    bare429          the first --count answers are 429 without any rate-limit header, then 200s
    bad_utf8_header  200s whose cf-ray header holds bytes that are not UTF-8
    escape_error     400 whose error text holds ESC sequences, CR and NUL
    blurred_first    the first 200 for each prompt says X-Venice-Is-Blurred: true (the safety
                     filter blurred it; billed), later ones are clean
    endless_interim  the first request of each prompt gets "100 Continue" after "100 Continue",
                     as fast as the socket takes them, until the client gives up; then 200s
    unsolicited      the first 200 is followed, in the same write, by a second whole 200 that
                     nobody asked for (its image's prompt is "UNSOLICITED")
    huge_header      200s with a 20,000-byte x-venice-enhanced-prompt header (over Beast's default 8 KiB head)
    no_length        200s with neither Content-Length nor chunked: the body ends when the server
                     closes the connection (HTTP/1.1 allows it), though no Connection: close is sent
    unsolicited_late once per server: when a connection that has answered once reads its next
                     request, a whole 200 nobody asked for (prompt "UNSOLICITED") goes first,
                     then, 0.1 s later, that request's own answer (what a server that answered one
                     request twice looks like from the client); answers echo their request's
                     prompt ("request": {"success": true, "data": {"prompt": ...}})
    echo_altered     200s whose request echo holds the prompt in upper case (not the prompt sent)
    stray_same_prompt  as unsolicited_late, the stray echoing the same prompt with another seed (a
                     seed sweep's other job) and an image whose text is STRAY
    error_bad_gzip   the first answer for each prompt is a 429 with Retry-After: 1 whose body
                     says Content-Encoding: gzip and is not gzip; then 200s
    error_gzip_bomb  the first answer for each prompt is a 429 with Retry-After: 1 whose gzip body
                     (about 400 KB) decodes to 400 MiB of zeros; then 200s
    speaks_first     the 2nd and 3rd connections (the 1st is the start-up check's) speak TLS 1.2
                     and send a whole 200 nobody asked for (prompt "UNSOLICITED") in the same
                     write as the handshake's last message, before any request; then they close
Each 200 is JSON with one real PNG per variant, of the width and height asked; its tEXt chunk
and the answer's id carry the prompt (hex), so a test can tell each job got its own image.
Every generate request is logged to --log as one JSON line, written before the answer is sent.
Runs until killed (or for --max-seconds, or until its parent is gone).
"""

import argparse
import base64
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GENERATE = "/api/v1/image/generate"
RATE_LIMITS = "/api/v1/api_keys/rate_limits"
MAX_BODY = 1 << 20  # a generate request is a small JSON object
MAX_SIDE = 2048

CF_524_PAGE = (
    "<!DOCTYPE html>\n<html lang=\"en-US\"><head><title>api.venice.ai | 524: A timeout occurred</title></head>"
    "<body><div id=\"cf-error-details\"><h1>A timeout occurred</h1><span>Error code 524</span>"
    "<p>The origin web server timed out responding to this request.</p>"
    "<p>Cloudflare Ray ID: <strong>8f00hostile524</strong></p></div></body></html>\n"
)
# JSON escapes: once decoded, the error holds ESC [31m, ESC [0m, a CR and a NUL.
ESCAPE_ERROR_BODY = r'{"error": "bad \u001b[31mred\u001b[0m \r\u0000 text"}'


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def make_png(width, height, shade, text):
    """A grey PNG of width x height (8-bit greyscale) with `text` in a tEXt chunk."""
    row = b"\x00" + bytes([shade % 256]) * width  # filter type 0, then the pixels
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"tEXt", b"prompt\x00" + text)
            + png_chunk(b"IDAT", zlib.compress(row * height)) + png_chunk(b"IEND", b""))


GZIP_BOMB = []


def gzip_bomb():
    """A gzip stream of 400 MiB of zeros (made once, 1 MiB at a time: about 400 KB, so under the
    client's 1 MiB for an error answer on the wire; only decoding it passes that)."""
    if not GZIP_BOMB:
        packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: the gzip wrapper; level 6: under 1 MiB
        zeros = bytes(1 << 20)
        GZIP_BOMB.append(b"".join([packer.compress(zeros) for _ in range(400)] + [packer.flush()]))
    return GZIP_BOMB[0]


def side(value, default=64):
    return value if isinstance(value, int) and 0 < value <= MAX_SIDE else default


class State:
    """What the server remembers across requests (all under one lock)."""

    def __init__(self, mode, count, log_path):
        self.mode, self.count = mode, count
        self.lock = threading.Lock()
        self.requests = 0
        self.per_prompt = {}
        self.stray_sent = False  # unsolicited_late: the one stray answer went
        self.connections = 0  # speaks_first: connections accepted so far
        self.log = open(log_path, "a", encoding="utf-8") if log_path else None

    def take_speaker(self):
        """speaks_first: whether this new connection is one that speaks first (the 2nd and 3rd)."""
        with self.lock:
            self.connections += 1
            return 2 <= self.connections <= 3

    def next_request(self, prompt):
        with self.lock:
            self.requests += 1
            self.per_prompt[prompt] = self.per_prompt.get(prompt, 0) + 1
            return self.requests, self.per_prompt[prompt]

    def record(self, entry):
        if not self.log:
            return
        with self.lock:
            self.log.write(json.dumps(entry) + "\n")
            self.log.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: several requests per connection
    timeout = 30  # an idle or stalled connection ends; no handler runs for ever

    def setup(self):
        self.request.settimeout(self.timeout)
        self.spoke_first = self.server.state.mode == "speaks_first" and self.server.state.take_speaker()
        if self.spoke_first:
            self.speak_first()
            return
        try:
            self.request.do_handshake()  # in this connection's thread, not the accept loop
        except (ssl.SSLError, OSError):
            self.close_connection = True
        super().setup()

    def speak_first(self):
        """The handshake through memory buffers on a copy of the socket, so the unasked answer can
        be held back and written with the handshake's last flight: the client finds it there the
        moment its handshake ends, before it could write a request."""
        raw = socket.socket(fileno=os.dup(self.request.fileno()))
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.server.tls12.wrap_bio(incoming, outgoing, server_side=True)
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    raw.sendall(outgoing.read())
                    chunk = raw.recv(65536)
                    if not chunk:
                        return
                    incoming.write(chunk)
            tls.write(self.image_answer({}, "UNSOLICITED", 0, echo=True))
            raw.sendall(outgoing.read())
            raw.settimeout(5)
            while raw.recv(65536):  # until the client closes it
                pass
        except (ssl.SSLError, OSError):
            pass
        finally:
            raw.close()

    def handle(self):
        if not self.spoke_first:
            super().handle()

    def finish(self):
        if not self.spoke_first:
            super().finish()

    def log_message(self, fmt, *args):  # quiet: the tests read the JSON log instead
        pass

    def send_body(self, status, body, content_type, headers=()):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response_only(status)  # no Server header unless asked (a CDN names itself)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def send_interim(self):
        """Interim answers (RFC 9110 15.2) that a client must skip, written as raw bytes."""
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n")
        self.wfile.flush()

    def do_GET(self):
        if self.server.state.mode == "early_hints":
            self.send_interim()
        if self.path.split("?")[0] == RATE_LIMITS:
            self.send_body(200, '{"data":{"rateLimits":[],"balances":{}}}', "application/json")
        else:
            self.send_body(404, '{"error":"Not found"}', "application/json")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self.send_body(413, '{"error":"too large"}', "application/json")
            return
        raw = self.rfile.read(length)
        if self.path != GENERATE:
            self.send_body(404, '{"error":"Not found"}', "application/json")
            return
        try:
            req = json.loads(raw)
        except ValueError:
            req = {}
        if not isinstance(req, dict):
            req = {}
        prompt = str(req.get("prompt", ""))
        n, nth = self.server.state.next_request(prompt)
        self.answer(req, prompt, n, nth)

    def answer(self, req, prompt, n, nth):
        state = self.server.state
        mode = state.mode
        entry = {"n": n, "prompt": prompt, "nth": nth, "seed": req.get("seed")}
        if mode == "cf524" and nth == 1:
            entry["status"] = 524
            state.record(entry)
            self.send_body(524, CF_524_PAGE, "text/html; charset=UTF-8",
                           [("Server", "cloudflare"), ("CF-RAY", "8f00hostile%d-AMS" % n)])
            return
        if mode == "bare429" and n <= state.count:
            entry["status"] = 429
            state.record(entry)
            self.send_body(429, '{"error":"Rate limit exceeded"}', "application/json")
            return
        if mode == "escape_error":
            entry["status"] = 400
            state.record(entry)
            self.send_body(400, ESCAPE_ERROR_BODY, "application/json")
            return
        if mode == "endless_interim" and nth == 1:
            entry["status"] = 100
            state.record(entry)
            self.close_connection = True
            try:
                while True:
                    self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n" * 64)
                    self.wfile.flush()
            except OSError:
                return  # the client closed the connection
        if mode == "error_gzip_bomb" and nth == 1:
            entry["status"] = 429
            state.record(entry)
            self.send_body(429, gzip_bomb(), "application/json", [("Content-Encoding", "gzip"), ("Retry-After", "1")])
            return
        if mode == "error_bad_gzip" and nth == 1:
            entry["status"] = 429
            state.record(entry)
            self.send_body(429, b"\x1f\x8b\x08\x00 this is not gzip at all", "application/json",
                           [("Content-Encoding", "gzip"), ("Retry-After", "1")])
            return
        entry["status"] = 200
        state.record(entry)
        if mode in ("unsolicited_late", "stray_same_prompt"):
            # Deterministic: the stray is written once the client's next request has arrived on
            # this connection, so it is read as that request's answer whatever the timing.
            answered_before = getattr(self, "answered", 0) > 0
            with state.lock:
                stray = answered_before and not state.stray_sent
                state.stray_sent = state.stray_sent or stray
            if stray and mode == "stray_same_prompt":
                # Another job's answer in a seed sweep: the same prompt, another seed.
                other = dict(req, seed=(req.get("seed") or 0) + 1000)
                self.wfile.write(self.image_answer(other, prompt, 0, echo=True, text="STRAY"))
                self.wfile.flush()
                time.sleep(0.1)
            elif stray:
                self.wfile.write(self.image_answer(req, "UNSOLICITED", 0, echo=True))
                self.wfile.flush()
                time.sleep(0.1)
            self.answered = getattr(self, "answered", 0) + 1
            self.wfile.write(self.image_answer(req, prompt, n, echo=True))
            self.wfile.flush()
            return
        if mode == "unsolicited" and n == 1:
            # Both answers in one write: the second is already there when the first is read.
            first = self.image_answer(req, prompt, n)
            second = self.image_answer(req, "UNSOLICITED", 0)
            self.wfile.write(first + second)
            self.wfile.flush()
            return
        if mode == "early_hints":
            self.send_interim()
        if mode == "no_length":
            body = self.image_answer(req, prompt, n).split(b"\r\n\r\n", 1)[1]
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + body)
            self.wfile.flush()
            self.close_connection = True
            try:
                self.request.unwrap()  # TLS close_notify: the body ended here, it was not cut
            except (ssl.SSLError, OSError):
                pass
            return
        self.send_image(req, prompt, n, mode, blurred=mode == "blurred_first" and nth == 1)

    def image_answer(self, req, prompt, n, echo=False, text=None):
        """A whole 200 with the image of `prompt` (its text: `text`, else the prompt), as raw bytes."""
        text = prompt if text is None else text
        png = make_png(side(req.get("width")), side(req.get("height")), n, text.encode("latin-1", "replace"))
        data = {"model": req.get("model"), "prompt": prompt}
        if req.get("seed") is not None:
            data["seed"] = req.get("seed")
        request = {"success": True, "data": data} if echo else None
        body = json.dumps({"id": "generate-image-%d-%s" % (n, prompt.encode("utf-8").hex()),
                           "images": [base64.b64encode(png).decode("ascii")], "request": request}).encode("ascii")
        head = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        return head.encode("ascii") + body

    def send_image(self, req, prompt, n, mode, blurred=False):
        tag = prompt.encode("utf-8").hex()
        variants = req.get("variants", 1)
        variants = variants if isinstance(variants, int) and 1 <= variants <= 4 else 1
        png = make_png(side(req.get("width")), side(req.get("height")), n, prompt.encode("latin-1", "replace"))
        body = json.dumps({
            "id": "generate-image-%d-%s" % (n, tag),
            "images": [base64.b64encode(png).decode("ascii")] * variants,
            "timing": {"inferenceDuration": 5, "inferencePreprocessingTime": 0, "inferenceQueueTime": 0, "total": 5},
            "request": {"success": True, "data": {"prompt": prompt.upper()}} if mode == "echo_altered" else None,
        })
        # Header values are bytes: latin-1 maps "\xff\xfe" to exactly those two bytes.
        ray = "8f\xff\xfe%d-AMS" % n if mode == "bad_utf8_header" else "8f00hostile%d-AMS" % n
        headers = [("CF-RAY", ray), ("x-hostile-prompt", tag)]
        if blurred:
            headers.append(("X-Venice-Is-Blurred", "true"))
        if mode == "huge_header":
            headers.append(("x-venice-enhanced-prompt", "a%20" * 5000))
        self.send_body(200, body, "application/json", headers)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, context, state):
        super().__init__(("127.0.0.1", 0), Handler)
        self.context, self.state = context, state

    def get_request(self):
        sock, addr = self.socket.accept()
        # The handshake runs in the connection's own thread (Handler.setup).
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):  # a client hanging up is normal here
        pass


def watchdog(parent, max_seconds):
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--mode", required=True,
                   choices=["early_hints", "echo_altered", "stray_same_prompt", "huge_header", "no_length", "unsolicited_late", "cf524", "bare429", "bad_utf8_header", "escape_error", "blurred_first",
                            "unsolicited", "error_bad_gzip", "error_gzip_bomb", "speaks_first",
                            "endless_interim"])
    p.add_argument("--count", type=int, default=3, help="bare429: how many 429s first")
    p.add_argument("--log", help="append one JSON line per generate request here")
    p.add_argument("--max-seconds", type=float, default=600, help="exit after this long whatever happens")
    args = p.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server = Server(context, State(args.mode, args.count, args.log))
    server.tls12 = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # speaks_first: its last flight is the server's
    server.tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    server.tls12.load_cert_chain(args.cert, args.key)
    threading.Thread(target=watchdog, args=(os.getppid(), args.max_seconds), daemon=True).start()
    print("listening %d" % server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
