#!/usr/bin/env python3
"""Outside-oracle fixtures for frugal's NF4 / FP4 / int8 blockwise codecs and double quantization.

The oracle is the real bitsandbytes from PyPI, CPU backend: bitsandbytes 0.50.2 with torch 2.15.0
(/opt/frugal-ref, `/opt/frugal-ref/bin/pip install bitsandbytes`); the versions actually used are also
written to MANIFEST.txt next to the fixtures.
  quantize_4bit(x, blocksize=64, quant_type='nf4'|'fp4', compress_statistics=False|True) and dequantize_4bit
  quantize_blockwise(x, blocksize=256) (int8, signed dynamic map) and dequantize_blockwise
  create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)

Output, in tests/fixtures/nf4/ (little-endian raw arrays, no headers):
  dynamic_map.f32            create_dynamic_map() as the function returns it (256 fp32)
  dq_code.f32                the map stored in a double-quantized state (state2.code; bnb's CPU quantizer
                             overwrites code[0] with -1.0 before using it)
  <case>.in.bf16             the input, bf16-valued (stored as bf16 to keep files small; quantized as fp32)
  <case>.shape.txt           "rows cols"
  <qt>_<case>.packed         uint8, ceil(n/2) bytes, first element in the high nibble
  <qt>_<case>.absmax         fp32 per 64-block (compress_statistics=False)
  <qt>_<case>.deq            fp32 dequantize_4bit output (not for the large case)
  <qt>_dq_<case>.qabsmax     uint8 per 64-block (compress_statistics=True); its packed bytes equal <qt>_<case>.packed
  <qt>_dq_<case>.nested_absmax  fp32 per 256 codes
  <qt>_dq_<case>.offset      fp32, one value
  <qt>_dq_<case>.deq         fp32 dequantize_4bit output (not for the large case)
  int8_<case>.q / .absmax / .deq   quantize_blockwise(x, blocksize=256) and its dequantization
Cases: normal, zeros, const_blocks (constant and all-zero blocks among random ones), outlier (one value
1000x the rest), odd_tail (7x143: odd length, not a multiple of 64), midpoints (values exactly on the
NF4 and FP4 decision boundaries, and tiny positives), large (100x170 = 17000: two nested 256-blocks,
the second one partial).

Run: /opt/frugal-ref/bin/python tests/reference/make_nf4_fixtures.py
"""
from pathlib import Path

import numpy as np
import torch

import bitsandbytes
import bitsandbytes.functional as F

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "nf4"
OUT.mkdir(parents=True, exist_ok=True)
g = torch.Generator().manual_seed(20261123)


def bf16(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.bfloat16).to(torch.float32)


def randn(*shape, scale=1.0):
    return bf16(torch.randn(*shape, generator=g) * scale)


def midpoints_case() -> torch.Tensor:
    # Each 64-block has absmax exactly 1.0 (so x / absmax == x) and then boundary values.
    vals = []
    nf4 = F.get_4bit_type("nf4", device="cpu")
    fp4 = F.get_4bit_type("fp4", device="cpu")
    for code in (nf4, fp4):
        s = torch.sort(code).values
        mids = (s[:-1] + s[1:]) / 2
        vals += mids.tolist()
        vals += (-mids).tolist()
    vals += [1e-30, -1e-30, 1e-3, -1e-3, 0.0026041667442768812, 0.0026041669, 0.0, -0.0]
    vals = torch.tensor(vals, dtype=torch.float32)
    x = torch.zeros(16, 64)
    flat = x.view(-1)
    per = 63
    for b in range(16):
        chunk = vals[(b * per) % len(vals):][:per]
        flat[b * 64] = 1.0 if b % 2 == 0 else -1.0
        flat[b * 64 + 1: b * 64 + 1 + len(chunk)] = chunk
    return x  # not bf16-rounded: stored as f32 below


def cases():
    c = {}
    c["normal"] = randn(16, 64, scale=0.05)
    c["zeros"] = torch.zeros(16, 64)
    x = randn(16, 64, scale=0.02)
    x.view(-1)[3 * 64:4 * 64] = 0.5
    x.view(-1)[5 * 64:6 * 64] = -0.25
    x.view(-1)[9 * 64:10 * 64] = 0.0
    c["const_blocks"] = x
    x = randn(16, 64, scale=0.02)
    x.view(-1)[300] = 20.0
    c["outlier"] = x
    c["odd_tail"] = randn(7, 143, scale=0.1)
    c["midpoints"] = midpoints_case()
    c["large"] = randn(100, 170, scale=0.02)
    return c


def save(name: str, arr):
    if isinstance(arr, torch.Tensor):
        arr = arr.detach().cpu().contiguous().numpy()
    (OUT / name).write_bytes(np.ascontiguousarray(arr).tobytes())


def main():
    save("dynamic_map.f32", F.create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8))
    dq_code = None
    for name, x in cases().items():
        x = x.contiguous().float()
        (OUT / f"{name}.shape.txt").write_text(f"{x.shape[0]} {x.shape[1]}\n")
        if name == "midpoints":
            save(f"{name}.in.f32", x)
        else:
            assert torch.equal(bf16(x), x)
            save(f"{name}.in.bf16", x.to(torch.bfloat16).view(torch.int16))
        big = name == "large"
        for qt in ("nf4", "fp4"):
            packed, st = F.quantize_4bit(x, blocksize=64, quant_type=qt, compress_statistics=False)
            save(f"{qt}_{name}.packed", packed.view(torch.uint8))
            save(f"{qt}_{name}.absmax", st.absmax)
            if not big:
                save(f"{qt}_{name}.deq", F.dequantize_4bit(packed, st))
            packed2, st2 = F.quantize_4bit(x, blocksize=64, quant_type=qt, compress_statistics=True)
            assert torch.equal(packed, packed2)
            save(f"{qt}_dq_{name}.qabsmax", st2.absmax)
            save(f"{qt}_dq_{name}.nested_absmax", st2.state2.absmax)
            save(f"{qt}_dq_{name}.offset", st2.offset.reshape(1).float())
            assert st2.state2.blocksize == 256
            dq_code = st2.state2.code.clone()
            if not big:
                save(f"{qt}_dq_{name}.deq", F.dequantize_4bit(packed2, st2))
        if not big:
            q, st = F.quantize_blockwise(x, blocksize=256)
            save(f"int8_{name}.q", q)
            save(f"int8_{name}.absmax", st.absmax)
            save(f"int8_{name}.deq", F.dequantize_blockwise(q, st))
    save("dq_code.f32", dq_code)
    (OUT / "MANIFEST.txt").write_text(
        f"made by tests/reference/make_nf4_fixtures.py with bitsandbytes {bitsandbytes.__version__}, "
        f"torch {torch.__version__} (cpu capability {torch.backends.cpu.get_cpu_capability()}), numpy {np.__version__}\n")


if __name__ == "__main__":
    main()
