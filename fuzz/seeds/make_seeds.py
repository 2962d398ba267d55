#!/usr/bin/env python3
"""Writes the small committed fuzz seeds derived from tests/data/fixtures (reproducibility only:
the seeds are committed, CI does not run this). Image seeds were written with stb_image_write.

safetensors/: each fixture checkpoint reduced to its few smallest tensors (every dtype kept), so
that mutations reach tensor conversion instead of tripping over a 270 KB data buffer.
"""
import json
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(ROOT, "..", "..", "tests", "data", "fixtures")


def shrink(src, dst, keep=4):
    with open(src, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    tensors = [(k, v) for k, v in header.items() if k != "__metadata__"]
    tensors.sort(key=lambda kv: kv[1]["data_offsets"][1] - kv[1]["data_offsets"][0])
    out_header, out_data = {}, b""
    if "__metadata__" in header:
        out_header["__metadata__"] = header["__metadata__"]
    for name, v in tensors[:keep]:
        b, e = v["data_offsets"]
        out_header[name] = {
            "dtype": v["dtype"],
            "shape": v["shape"],
            "data_offsets": [len(out_data), len(out_data) + e - b],
        }
        out_data += data[b:e]
    text = json.dumps(out_header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + out_data)


def main():
    out = os.path.join(ROOT, "safetensors")
    os.makedirs(out, exist_ok=True)
    for group in ("models", "variants/models"):
        for model in sorted(os.listdir(os.path.join(FIXTURES, group))):
            src = os.path.join(FIXTURES, group, model, "model.safetensors")
            if os.path.exists(src):
                shrink(src, os.path.join(out, model + ".safetensors"))
    shrink(
        os.path.join(FIXTURES, "models", "vit-gpt2", "expected.safetensors"),
        os.path.join(out, "expected-i64.safetensors"),
        keep=6,
    )


if __name__ == "__main__":
    main()
