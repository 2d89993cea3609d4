#!/usr/bin/env python3
"""Outside-oracle fixtures for frugal's GGML block decoders and Q8_0 encoder.

The oracle is the upstream `gguf` Python package (gguf-py from llama.cpp), which reimplements ggml's
reference decoders in numpy: gguf.quants.dequantize for every type, gguf.quants.quantize for Q8_0
(documented there as bit-exact with ggml's quantize_row_q8_0_ref).
Made with gguf 0.19.0 and numpy 2.4.6 (/opt/frugal-ref/bin/python); the versions actually used are
also written to MANIFEST.txt next to the fixtures.

Output, in tests/fixtures/ggml_quants/ (all little-endian, no headers):
  <type>_<case>.bin   raw blocks as they sit in a GGUF file
  <type>_<case>.f32   gguf-py's dequantization of those blocks, raw float32
  q8_0_quantize.f32   random float32 input (with awkward blocks)
  q8_0_quantize.bin   gguf-py's Q8_0 quantization of it
Cases: "random" = random bytes with sane fp16 scales (uniform in +-0.1); "awkward" = zero, negative,
tiny (subnormal), huge (65504) and infinite scales, all-0x00 and all-0xFF quants.

Run: /opt/frugal-ref/bin/python tests/reference/make_ggml_quant_fixtures.py
"""
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "ggml_quants"
rng = np.random.default_rng(20240611)

# Where each type keeps its fp16 scales (byte offsets inside a block), from ggml-common.h.
SCALE_OFFSETS = {
    T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2],
    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
QUANT_TYPES = list(SCALE_OFFSETS)


def f16_bytes(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float16).view(np.uint8)


def put_scale(block: np.ndarray, offset: int, value) -> None:
    block[offset:offset + 2] = f16_bytes([value])


def random_blocks(qtype, n_blocks: int) -> np.ndarray:
    _, type_size = GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for b in blocks:
        for off in SCALE_OFFSETS[qtype]:
            put_scale(b, off, rng.uniform(-0.1, 0.1))
    return blocks


def awkward_blocks(qtype) -> np.ndarray:
    """One block per awkward case; every scale slot of a block gets the same special value."""
    _, type_size = GGML_QUANT_SIZES[qtype]
    cases = [  # (scale, quant byte pattern)
        (0.0, "random"), (-0.0, 0xFF), (0.1, 0xFF), (-0.1, 0xFF), (-0.1, 0x00), (65504.0, 0xFF),
        (-65504.0, 0x88), (2.0**-24, "random"), (-(2.0**-14), 0x7F), (np.inf, "random"), (-np.inf, 0x00),
        (1.0, 0x80),
    ]
    blocks = np.empty((len(cases), type_size), dtype=np.uint8)
    for b, (scale, pattern) in zip(blocks, cases):
        if pattern == "random":
            b[:] = rng.integers(0, 256, size=type_size, dtype=np.uint8)
        else:
            b[:] = pattern
        for off in SCALE_OFFSETS[qtype]:
            put_scale(b, off, scale)
    # A block whose min (second scale) has the opposite sign of d, for the types that have one.
    if len(SCALE_OFFSETS[qtype]) == 2:
        extra = rng.integers(0, 256, size=(1, type_size), dtype=np.uint8)
        put_scale(extra[0], 0, 0.05)
        put_scale(extra[0], 2, -0.07)
        blocks = np.concatenate([blocks, extra])
    return blocks


def write_case(name: str, raw: np.ndarray, qtype) -> None:
    values = gguf.quants.dequantize(raw, qtype).astype(np.float32, copy=False)
    (OUT / f"{name}.bin").write_bytes(raw.tobytes())
    (OUT / f"{name}.f32").write_bytes(values.tobytes())


def float_types() -> None:
    n = 512
    # F16: every bit pattern is a value, but gguf-py converts in software and keeps signalling NaNs
    # signalling, while ggml on x86 (F16C) and frugal return them quieted. We keep random NaN
    # payloads but quiet them, so the fixture pins what both agree on.
    h = rng.integers(0, 1 << 16, size=n, dtype=np.uint16)
    specials = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0xFE01]
    h[: len(specials)] = specials
    is_nan = ((h & 0x7C00) == 0x7C00) & ((h & 0x03FF) != 0)
    h[is_nan] |= 0x0200
    write_case("f16_random", h.view(np.uint8), T.F16)
    # BF16: any bits, NaNs included; decoding is a shift, so nothing can differ.
    b = rng.integers(0, 1 << 16, size=n, dtype=np.uint16)
    b[:6] = [0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC1, 0x0001]
    write_case("bf16_random", b.view(np.uint8), T.BF16)
    f = rng.standard_normal(n).astype(np.float32)
    write_case("f32_random", f.view(np.uint8), T.F32)


def q8_0_quantize_case() -> None:
    rows = [rng.standard_normal(32) * s for s in (1.0, 0.01, 100.0, 1e-6)]
    rows.append(np.zeros(32))  # d = 0, so id = 0 and every quant is 0
    one = np.zeros(32)
    one[7] = -3.0  # a single non-zero, negative: amax comes from |x|
    rows.append(one)
    ties = rng.integers(-126, 127, size=32) + 0.5
    ties[0] = 127.0  # d = 1 exactly, so x*id lands on .5: roundf rounds half away from zero
    rows.append(ties)
    rows.append(rng.standard_normal(32) * 1e7)   # d overflows fp16 -> inf (q still uses the fp32 d)
    rows.append(rng.standard_normal(32) * 1e-7)  # d is an fp16 subnormal
    x = np.concatenate(rows).astype(np.float32)
    q = gguf.quants.quantize(x, T.Q8_0)
    (OUT / "q8_0_quantize.f32").write_bytes(x.tobytes())
    (OUT / "q8_0_quantize.bin").write_bytes(q.tobytes())


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for f in OUT.iterdir():
        f.unlink()
    np.seterr(all="ignore")  # inf scales and fp16 overflow are deliberate
    float_types()
    for qtype in QUANT_TYPES:
        block_elems, _ = GGML_QUANT_SIZES[qtype]
        n_random = 16 if block_elems == 32 else 4
        write_case(f"{qtype.name.lower()}_random", random_blocks(qtype, n_random), qtype)
        write_case(f"{qtype.name.lower()}_awkward", awkward_blocks(qtype), qtype)
    q8_0_quantize_case()
    gguf_version = getattr(gguf, "__version__", None)
    if gguf_version is None:
        from importlib.metadata import version
        gguf_version = version("gguf")
    (OUT / "MANIFEST.txt").write_text(
        "Made by tests/reference/make_ggml_quant_fixtures.py\n"
        f"gguf {gguf_version}, numpy {np.__version__}\n"
        "<type>_<case>.bin = raw GGML blocks, <type>_<case>.f32 = gguf.quants.dequantize of them (float32 LE)\n"
        "q8_0_quantize.f32 -> q8_0_quantize.bin = gguf.quants.quantize(x, Q8_0)\n")


if __name__ == "__main__":
    main()
