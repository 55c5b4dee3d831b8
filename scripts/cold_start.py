"""Cold-start measurement against a tiny fake Lambda Runtime API.

A function is "ready" when its runtime asks for its first event: GET /2018-06-01/runtime/invocation/next. This
script starts each bootstrap as Lambda would (AWS_LAMBDA_RUNTIME_API pointing at a local server), and records the
time from just before the process is spawned to the arrival of that first request. The request is never answered:
the process is killed once it is ready, so only initialisation is measured (spawn, TLS/SDK set-up, the page-token
secret read at start, runtime loop start). With --stub-aws this server also answers that secret read at once, so the
figure is the function's own work and not the latency of a local AWS emulator.

Used by scripts/measure-cold-start; standard library only.
"""

import argparse
import http.server
import json
import os
import socketserver
import statistics
import subprocess
import sys
import threading
import time

NEXT_PATH = "/2018-06-01/runtime/invocation/next"
STUB_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cold-start-page-token-key-AbCdEf"


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeRuntimeApi:
    """Records the monotonic time of the first `next` request; holds that request open until reset."""

    def __init__(self):
        self.first_next_ns = None
        self.ready = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith(NEXT_PATH):
                    now = time.perf_counter_ns()
                    if outer.first_next_ns is None:
                        outer.first_next_ns = now
                        outer.ready.set()
                    # Hold the long poll like the real API does while no event is queued.
                    outer.release.wait(timeout=30)
                self.send_response(404)
                self.end_headers()

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("x-amz-target") == "secretsmanager.GetSecretValue":
                    # --stub-aws: the one AWS call of initialisation (the page-token key), answered at once.
                    reply = json.dumps({"ARN": STUB_SECRET_ARN, "Name": "page-token-key", "VersionId": "v1",
                                        "SecretString": "ab" * 32, "CreatedDate": 1.7e9}).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/x-amz-json-1.1")
                    self.send_header("content-length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                    return
                # An init error report (/runtime/init/error) means the function failed to start.
                sys.stderr.write(f"runtime API POST {self.path}: {body[:300]!r}\n")
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self):
        self.release.set()
        self.first_next_ns = None
        self.ready = threading.Event()
        self.release = threading.Event()

    def close(self):
        self.release.set()
        self.server.shutdown()


def measure_once(api, binary, env, timeout_s):
    api.reset()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.port}")
    start = time.perf_counter_ns()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ready = api.ready.wait(timeout=timeout_s)
    first = api.first_next_ns
    proc.kill()
    _, err = proc.communicate()
    if not ready or first is None:
        tail = err.decode(errors="replace")[-800:]
        raise RuntimeError(f"{binary} never asked for an event within {timeout_s} s (exit {proc.returncode}): {tail}")
    return (first - start) / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", required=True, help="directory holding one executable per function name")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--json", help="write the figures here as JSON")
    ap.add_argument("--stub-aws", action="store_true",
                    help="answer the page-token GetSecretValue from this server instead of AWS_ENDPOINT_URL")
    ap.add_argument("functions", nargs="+")
    args = ap.parse_args()

    base_env = {k: v for k, v in os.environ.items()}
    api = FakeRuntimeApi()
    if args.stub_aws:
        base_env.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{api.port}", PAGE_TOKEN_SECRET_ARN=STUB_SECRET_ARN,
                        AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                        AWS_EC2_METADATA_DISABLED="true")
    results = {}
    try:
        for name in args.functions:
            binary = os.path.join(args.bin_dir, name)
            env = dict(
                base_env,
                AWS_LAMBDA_FUNCTION_NAME=name,
                AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
                AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{name}",
                AWS_LAMBDA_LOG_STREAM_NAME="local",
            )
            # One unmeasured start warms the page cache, as a Lambda sandbox has the image locally too.
            measure_once(api, binary, env, args.timeout)
            runs = [measure_once(api, binary, env, args.timeout) for _ in range(args.runs)]
            results[name] = {
                "median_ms": round(statistics.median(runs), 2),
                "min_ms": round(min(runs), 2),
                "max_ms": round(max(runs), 2),
                "runs": [round(r, 2) for r in runs],
                "bytes": os.path.getsize(binary),
            }
            r = results[name]
            print(f"{name:16} median {r['median_ms']:7.2f} ms  (min {r['min_ms']:.2f}, max {r['max_ms']:.2f}, "
                  f"n={len(runs)})  {r['bytes'] / 1e6:.2f} MB", flush=True)
    finally:
        api.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
