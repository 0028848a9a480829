#!/usr/bin/env python3
"""Checks Dockerfile and compose.yml against the package without a Docker engine.

  check-containers.py BIN_DIR   (BIN_DIR holds stream-server, audio-worker, load-client)

- compose.yml parses as YAML and has the stream-server and load-client services;
- every binary they name is a product of Package.swift and is in BIN_DIR;
- every CALLSTREAM_* variable is in `stream-server --help`, every load-client flag in
  `load-client --help`; ports, the data path and the health check agree everywhere;
- stop_grace_period is longer than the drain timeout plus the workers' stop;
- the runtime stage installs the Debian package of every library the binaries name (their
  NEEDED entries, found with `ldd`), except glibc's and Swift's runtime (linked statically in
  the image); apt installs what those libraries need in turn.
Prints one line per finding and exits 1 if there is any.
"""
import os
import re
import subprocess
import sys

import yaml

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bin_dir = sys.argv[1]
problems = []


def check(ok, message):
    if not ok:
        problems.append(message)


def read(name):
    with open(os.path.join(root, name)) as f:
        return f.read()


compose = yaml.safe_load(read("compose.yml"))
dockerfile = read("Dockerfile")
package = read("Package.swift")
openapi = yaml.safe_load(read("openapi.yaml"))
products = set(re.findall(r'\.executable\(name: "([^"]+)"', package))

services = compose.get("services", {})
check("stream-server" in services and "load-client" in services, "compose.yml needs stream-server and load-client services")
server = services.get("stream-server", {})
load = services.get("load-client", {})

# Binaries.
runtime = dockerfile.split("AS runtime", 1)[-1]
named = set(re.findall(r"ENTRYPOINT \[\"([^\"]+)\"", dockerfile)) | set(load.get("entrypoint", [])[:1])
named |= set(re.findall(r"\.build/release/([a-z-]+)", dockerfile))
for binary in sorted(named):
    check(binary in products, f"{binary} is not a product of Package.swift")
    check(os.access(os.path.join(bin_dir, binary), os.X_OK), f"{binary} is not built in {bin_dir}")

help_server = subprocess.run([os.path.join(bin_dir, "stream-server"), "--help"], capture_output=True, text=True).stdout
help_load = subprocess.run([os.path.join(bin_dir, "load-client"), "--help"], capture_output=True, text=True).stdout

# Environment variables.
variables = set(server.get("environment", {}).keys()) | set(re.findall(r"(CALLSTREAM_[A-Z_]+)=", dockerfile))
for variable in sorted(variables):
    check(variable in help_server.replace("\n", " ").replace("  ", " ") or variable in help_server, f"{variable} is not in stream-server --help")
for flag in [a for a in load.get("command", []) if str(a).startswith("--")]:
    check(f"{flag} " in help_load, f"load-client has no {flag}")

# Ports, data path, health check.
env = server.get("environment", {})
check("EXPOSE 8000" in dockerfile, "the Dockerfile must EXPOSE 8000")
check(str(env.get("CALLSTREAM_PORT")) == "8000" and "CALLSTREAM_PORT=8000" in dockerfile, "CALLSTREAM_PORT must be 8000 in both files")
check("8000:8000" in [str(p) for p in server.get("ports", [])], "compose must publish 8000")
check(any(str(u).endswith("ws://stream-server:8000/api/audio/ws") for u in load.get("command", [])), "load-client must target stream-server:8000")
volume_targets = [str(v).split(":", 1)[1] for v in server.get("volumes", [])]
check("/data" in volume_targets and env.get("CALLSTREAM_DATA_DIR") == "/data", "the data volume and CALLSTREAM_DATA_DIR must be /data")
check("VOLUME /data" in dockerfile and "CALLSTREAM_DATA_DIR=/data" in dockerfile, "the Dockerfile must use /data")
health = " ".join(server.get("healthcheck", {}).get("test", []))
for text in (health, dockerfile.split("HEALTHCHECK", 1)[-1].split("\n", 2)[1]):
    paths = re.findall(r"http://127\.0\.0\.1:8000(/[a-z/]+)", text)
    check(paths and all(p in openapi["paths"] for p in paths), f"health check path not an API route: {text.strip()}")
check(load.get("depends_on", {}).get("stream-server", {}).get("condition") == "service_healthy", "load-client must wait for a healthy server")
check("--scale" not in str(load) and "replicas" in str(load.get("deploy", {})), "load-client instances come from deploy.replicas (and --scale)")


def seconds(text):
    match = re.fullmatch(r"(\d+)s", str(text))
    return int(match.group(1)) if match else 0


drain = float(env.get("CALLSTREAM_DRAIN_TIMEOUT", 10))
check(seconds(server.get("stop_grace_period")) > drain + 5, "stop_grace_period must exceed the drain timeout plus 5 s")
check(re.search(r"^USER (?!root)\w+", runtime, re.M), "the runtime stage must run as a non-root USER")

# Shared libraries.
install = re.search(r"apt-get install[^\n]*\\\n(?:[^\n]*\\\n)*[^\n]*", runtime)
installed = set(install.group(0).replace("\\", " ").split()) if install else set()
# The toolchain's own libraries ship in the image's Swift runtime; libclang_rt is a sanitizer
# runtime (`make test-sanitize` builds, which also link libc6's libresolv), never in a release image.
skip = re.compile(r"^(linux-vdso|ld-linux|libc\.so|libm\.so|libpthread|libdl|librt|libswift|libFoundation|lib_FoundationICU|libdispatch|libBlocksRuntime|libclang_rt|libresolv)")
for binary in ("stream-server", "audio-worker", "load-client"):
    # The libraries the binary itself names (NEEDED): apt brings what those need in turn.
    dynamic = subprocess.run(["readelf", "-d", os.path.join(bin_dir, binary)], capture_output=True, text=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic))
    out = subprocess.run(["ldd", os.path.join(bin_dir, binary)], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if not parts or skip.match(os.path.basename(parts[0])) or os.path.basename(parts[0]) not in needed:
            continue
        path = parts[2] if len(parts) > 2 and parts[1] == "=>" else parts[0]
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True).stdout
        if not owner:
            owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True).stdout
        names = {o.split(":")[0].strip() for o in owner.split(",") if o.strip()}
        check(names and names & installed, f"{binary} links {parts[0]} ({', '.join(sorted(names)) or 'no package'}), not installed in the runtime stage")

for problem in problems:
    print(problem)
sys.exit(1 if problems else 0)
