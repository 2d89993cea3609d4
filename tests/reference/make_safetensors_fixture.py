#!/usr/bin/env python3
"""Outside-oracle fixtures for frugal's safetensors reader and writer.

Files are written by the upstream `safetensors` package (safetensors.torch.save_file); the expected
contents come from torch itself. Made with safetensors 0.8.0, torch 2.15.0 and numpy 2.4.6
(/opt/frugal-ref/bin/python); the versions actually used are recorded in each .expected.json.

Output, in tests/fixtures/safetensors/:
  basic.safetensors       f32 / f16 / bf16 / i64 tensors, a 0-rank scalar, an empty [0, 3] tensor,
                          metadata {"format": "pt"}. One metadata key on purpose: the library keeps
                          metadata in a Rust HashMap, so with several keys their order in the header
                          changes from run to run, and a byte-for-byte comparison with our writer
                          would be luck.
  dtypes.safetensors      one tensor of most other dtypes (BOOL, U8, I8, I16, U16, I32, U32, U64,
                          F64, F8_E4M3, F8_E5M2), non-ASCII and punctuation in names, three metadata keys.
  <name>.expected.json    per tensor: dtype, shape, the raw bytes (hex) and, for float dtypes, the
                          float32 bit patterns torch gets from .float(); plus the metadata.

Run: /opt/frugal-ref/bin/python tests/reference/make_safetensors_fixture.py
"""
import json
from pathlib import Path

import numpy as np
import safetensors
import torch
from safetensors.torch import load_file, save_file

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "safetensors"
gen = torch.Generator().manual_seed(7)

DTYPE_NAMES = {
    torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16", torch.uint16: "U16",
    torch.int32: "I32", torch.uint32: "U32", torch.int64: "I64", torch.uint64: "U64",
    torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
    torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2",
}
FLOATS = (torch.float16, torch.bfloat16, torch.float32)


def randn(*shape):
    return torch.randn(*shape, generator=gen)


def raw_bytes(t: torch.Tensor) -> bytes:
    t = t.contiguous()
    if t.numel() == 0:
        return b""
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def describe(tensors: dict, metadata: dict) -> dict:
    out = {"versions": {"safetensors": safetensors.__version__, "torch": torch.__version__, "numpy": np.__version__},
           "metadata": metadata, "tensors": {}}
    for name, t in tensors.items():
        entry = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "hex": raw_bytes(t).hex()}
        if t.dtype in FLOATS:
            entry["f32_bits"] = [int(b) for b in t.float().reshape(-1).numpy().view(np.uint32)]
        out["tensors"][name] = entry
    return out


def write(stem: str, tensors: dict, metadata: dict) -> None:
    path = OUT / f"{stem}.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    back = load_file(str(path))  # the library reads back what it wrote
    assert set(back) == set(tensors) and all(torch.equal(back[k], v) for k, v in tensors.items())
    (OUT / f"{stem}.expected.json").write_text(json.dumps(describe(tensors, metadata), indent=1) + "\n")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    f16 = (randn(2, 5) * 3).half()
    f16[0, 0] = float("inf")
    f16[0, 1] = -0.0
    f16[0, 2] = 6e-8  # fp16 subnormal
    bf16 = (randn(3, 2) * 1e20).bfloat16()
    basic = {
        "model.embed_tokens.weight": randn(4, 3),
        "model.layers.0.mlp.up_proj.weight": f16,
        "model.layers.0.self_attn.q_proj.weight": bf16,
        "token_ids": torch.tensor([0, -1, 2**40, -(2**62), 7], dtype=torch.int64),
        "scalar": torch.tensor(0.5, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    write("basic", basic, {"format": "pt"})

    dtypes = {
        "flags": torch.tensor([True, False, True]),
        "bytes": torch.randint(0, 256, (5,), generator=gen, dtype=torch.int64).to(torch.uint8),
        "int8": torch.tensor([-128, 127, 0, -1], dtype=torch.int8),
        "int16": torch.tensor([[-32768, 32767], [1, -2]], dtype=torch.int16),
        "uint16": torch.tensor([65535, 1, 2], dtype=torch.uint16),
        "int32": torch.tensor([-(2**31), 2**31 - 1], dtype=torch.int32),
        "uint32": torch.tensor([2**32 - 1, 3], dtype=torch.uint32),
        "uint64": torch.tensor([2**63 + 5], dtype=torch.uint64),
        "double": randn(2, 2).double(),
        "fp8.e4m3": randn(6).to(torch.float8_e4m3fn),
        "fp8.e5m2": randn(6).to(torch.float8_e5m2),
        "naïve/名前 \"quoted\"": torch.tensor([1.0, 2.0]),
    }
    write("dtypes", dtypes, {"format": "pt", "note": "héllo wörld", "step": "12"})


if __name__ == "__main__":
    main()
