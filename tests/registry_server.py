#!/usr/bin/env python3
"""A stand-in Confluent Schema Registry for tests/it_schema_registry.c.

Serves the two REST paths the stage uses, from a directory of files:

  GET  /schemas/ids/{id}              {"schema": <text of DIR/<id>.avsc>} (plus
                                      "schemaType" from DIR/<id>.type if present);
                                      404 {"error_code": 40403} for an unknown id
  POST /subjects/{subject}/versions   body {"schema": "..."}: the id of that exact
                                      schema text if some DIR/<id>.avsc holds it,
                                      else the next free id from 1001 (written as
                                      DIR/<id>.avsc, so GET serves it and the same
                                      schema gets the same id after a restart);
                                      the subject and id are appended to
                                      DIR/subjects.log

Every request is appended to DIR/requests.log as "METHOD PATH STATUS". While
DIR/FAIL exists, every request is answered with the HTTP status written in it
(e.g. 503) and a registry error body: a registry that is up but failing.
Stopping the process is a registry that is down (connection refused).
"""
import argparse
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
FIRST_REGISTERED_ID = 1001


class Handler(BaseHTTPRequestHandler):
    # Keep-alive, as a real registry: the stage's client reuses its connection.
    protocol_version = "HTTP/1.1"
    directory = "."

    def log_message(self, fmt, *args):  # requests.log instead of stderr
        pass

    def path_of(self, name):
        return os.path.join(self.directory, name)

    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with LOCK, open(self.path_of("requests.log"), "a") as f:
            f.write("%s %s %d\n" % (self.command, self.path, status))

    def forced_failure(self):
        try:
            with open(self.path_of("FAIL")) as f:
                status = int(f.read().strip() or "503")
        except FileNotFoundError:
            return False
        self.answer(status, {"error_code": status * 100 + 1, "message": "failing on purpose"})
        return True

    def do_GET(self):
        if self.forced_failure():
            return
        m = re.fullmatch(r"/schemas/ids/(\d+)", self.path)
        if not m:
            self.answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
            return
        sid = int(m.group(1))
        try:
            with open(self.path_of("%d.avsc" % sid)) as f:
                res = {"schema": f.read()}
        except FileNotFoundError:
            self.answer(404, {"error_code": 40403, "message": "Schema %d not found" % sid})
            return
        if os.path.exists(self.path_of("%d.type" % sid)):
            with open(self.path_of("%d.type" % sid)) as f:
                res["schemaType"] = f.read().strip()
        self.answer(200, res)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.forced_failure():
            return
        m = re.fullmatch(r"/subjects/([^/]+)/versions", self.path)
        if not m:
            self.answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
            return
        try:
            schema = json.loads(raw)["schema"]
            json.loads(schema)
        except (ValueError, KeyError, TypeError):
            self.answer(422, {"error_code": 42201, "message": "Invalid schema"})
            return
        with LOCK:
            ids = {}
            for name in os.listdir(self.directory):
                if re.fullmatch(r"\d+\.avsc", name):
                    with open(self.path_of(name)) as f:
                        ids[f.read()] = int(name[:-5])
            sid = ids.get(schema)
            if sid is None:
                sid = max([FIRST_REGISTERED_ID - 1] + list(ids.values())) + 1
                with open(self.path_of("%d.avsc" % sid), "w") as f:
                    f.write(schema)
            with open(self.path_of("subjects.log"), "a") as f:
                f.write("%s %d\n" % (m.group(1), sid))
        self.answer(200, {"id": sid})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    Handler.directory = args.dir
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
