"""Build a ChaosKit plugin written in Python into a WebAssembly component.

    python build.py <injector|validator> <app.py> <out.wasm> [--wit DIR] [--schema FILE]

Runs componentize-py (installed beside this interpreter, or on PATH) with ``--stub-wasi``:
every WASI import is replaced by a trapping stub, so the component imports nothing but
``chaoskit:plugin/host`` and ``chaoskit:plugin/types`` and loads in the host with no grant.
The helper module ``chaoskit.py`` beside this script is on the module path. With
``--schema FILE`` (default ``config.schema.json`` beside the app, when present) the JSON schema
of the configuration is embedded as the custom section ``chaoskit:config-schema``, which
``chaoskit-host plugin inspect`` shows.
"""

import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def option(args, name):
    if name not in args:
        return None
    i = args.index(name)
    value = args[i + 1]
    del args[i : i + 2]
    return value


def leb128(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def custom_section(name, payload):
    name = name.encode()
    body = leb128(len(name)) + name + payload
    return b"\0" + leb128(len(body)) + body


def main():
    args = sys.argv[1:]
    wit = option(args, "--wit")
    schema = option(args, "--schema")
    if len(args) != 3 or args[0] not in ("injector", "validator"):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    world, app, out = args
    app_dir = os.path.dirname(os.path.abspath(app))
    module = os.path.splitext(os.path.basename(app))[0]
    if wit is None:
        wit = next(
            (d for d in (os.path.join(HERE, "wit"), os.path.join(HERE, "..", "wit"), "wit") if os.path.isdir(d)),
            "wit",
        )
    tool = os.path.join(os.path.dirname(sys.executable), "componentize-py")
    if not os.path.exists(tool):
        tool = shutil.which("componentize-py") or "componentize-py"
    command = [tool, "-q", "-d", wit, "-w", world, "componentize", "--stub-wasi", "-p", app_dir, "-p", HERE, module, "-o", out]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    status = subprocess.run(command, env=env).returncode
    if status != 0:
        print(f"componentize-py failed ({status}): {' '.join(command)}", file=sys.stderr)
        return 1
    schema = schema or os.path.join(app_dir, "config.schema.json")
    if os.path.exists(schema):
        with open(schema, "rb") as f:
            payload = f.read()
        json.loads(payload)  # refuse a schema that is not JSON
        with open(out, "ab") as f:
            f.write(custom_section("chaoskit:config-schema", payload))
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
