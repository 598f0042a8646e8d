#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets from the repository's tests and examples.

Run from the repository root: python3 fuzz/seed.py. Text seeds only; component seeds (the
plugins built from plugins/) are added by fuzz/run.sh, since nothing binary is committed.
"""
import json, os, pathlib

root = pathlib.Path(__file__).resolve().parent.parent
corpus = root / "fuzz" / "corpus"

def put(target, name, data):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)

# scenario_file: selector byte (0 TOML, 1 YAML, 2 JSON) + text.
selector = {".toml": b"\x00", ".yaml": b"\x01", ".yml": b"\x01", ".json": b"\x02"}
for f in sorted(list((root / "examples" / "scenarios").iterdir()) + list((root / "host" / "tests" / "ui" / "spec").iterdir())):
    if f.suffix in selector:
        put("scenario_file", f.name, selector[f.suffix] + f.read_bytes())
doc = (root / "docs" / "scenario.md").read_text()
for i, block in enumerate(doc.split("```toml")[1:]):
    put("scenario_file", f"docs-{i}.toml", b"\x00" + block.split("```")[0].encode())

# toxiproxy_api: selector byte (endpoint, see fuzz/src/lib.rs) + body, from host/tests/proxy.rs.
api = [
    (0, '{"name":"a","listen":"127.0.0.1:0","upstream":"127.0.0.1:9","enabled":true}'),
    (0, '{"name":"","upstream":"x:1"}'),
    (1, '[{"name":"a","listen":"127.0.0.1:0","upstream":"127.0.0.1:9"},{"name":"b","upstream":"127.0.0.1:9","enabled":false}]'),
    (2, '{"enabled":false}'),
    (3, '{"upstream":"127.0.0.1:10","listen":"127.0.0.1:0"}'),
    (4, '{"Type":"latency","Stream":"UpStream","attributes":{"Latency":100}}'),
    (4, '{"type":"bandwidth","toxicity":0.5,"attributes":{"rate":1000}}'),
    (4, '{"type":"slow_close","stream":"upstream","attributes":{"delay":5}}'),
    (4, '{"type":"timeout","attributes":{"timeout":100}}'),
    (4, '{"type":"reset_peer","attributes":{"timeout":0}}'),
    (4, '{"type":"slicer","attributes":{"average_size":64,"size_variation":32,"delay":10}}'),
    (4, '{"type":"limit_data","attributes":{"bytes":1024}}'),
    (4, '{"type":"latency","toxicity":1.5}'),
    (4, '{"type":"latency","attributes":{"latency":"100"}}'),
    (5, '{"attributes":{"latency":7},"type":"slicer"}'),
    (6, '{"toxicity":0.25,"attributes":{"latency":100,"jitter":10}}'),
]
for i, (sel, body) in enumerate(api):
    put("toxiproxy_api", f"seed-{i:02}", bytes([sel]) + body.encode())

# plugin_results: programs for plugins/fixtures/fuzz-echo (see its crate docs).
programs = [
    b"0", b"4", b"1" + (10_000_000).to_bytes(8, "little"), b"1\xff\xff\xff\xff\xff\xff\xff\xff",
    b"2\x05e", b"3\x01p", b"5\x01c5\x02d", b"6\x01l6\x01m", b"R\x03r", b"7", b"5\xffn" * 10, b"",
]
for i, p in enumerate(programs):
    put("plugin_results", f"seed-{i:02}", p)

# component_bytes: headers only (the real components are added by fuzz/run.sh).
put("component_bytes", "component-header", b"\0asm\x0d\x00\x01\x00")
put("component_bytes", "core-module-header", b"\0asm\x01\x00\x00\x00")
put("component_bytes", "truncated", b"\0asm")

# report_json: `seed-run.json` is the journal of a small run (25 iterations, failures, two
# injectors, a validator, host resources), copied in by hand; plus an empty object.
put("report_json", "seed-empty.json", b"{}")
