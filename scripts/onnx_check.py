#!/usr/bin/env python3
"""Check ONNX models with the official ONNX tools (run by scripts/onnx-check).

    onnx_check.py [--ort] MODEL.onnx [MODEL2.onnx ...]

For each model: parse it, load its external data from the model's folder
(locations must stay inside that folder), then
onnx.checker.check_model(m, full_check=True) and
onnx.shape_inference.infer_shapes(m, strict_mode=True).
With --ort it also builds an onnxruntime.InferenceSession (CPU), which catches
errors the checker lets through (e.g. a per-channel scale of the wrong length).

Prints "OK path" or "FAIL path: reason" (one line) per model; exits 1 if any
model failed, 2 on bad usage.

Meant to run inside the Debian trixie chroot of scripts/checker-env.sh
(python3-onnx 1.17, python3-onnxruntime 1.21), where onnx.reference must be
imported before onnxruntime: Debian's two packages share one schema registry
and the other order fails.
"""

import os
import sys

import onnx
import onnx.reference  # noqa: F401  (before onnxruntime, see above)
from onnx import TensorProto
from onnx.external_data_helper import _get_all_tensors, uses_external_data

# Above this much external data, check through the path-based C++ API instead
# of materialising one in-memory protobuf (which cannot exceed 2 GB).
IN_MEMORY_LIMIT = 1_500_000_000


class CheckError(Exception):
    pass


def one_line(msg):
    return " ".join(str(msg).split())


def external_tensors(model):
    return [t for t in _get_all_tensors(model) if uses_external_data(t)]


def validate_external(tensors, base_dir):
    """Every external location is a file inside base_dir and holds the bytes
    the tensor needs. Returns the total number of external bytes."""
    base = os.path.realpath(base_dir)
    total = 0
    for t in tensors:
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        if not loc:
            raise CheckError(f"tensor {t.name!r}: external data without a location")
        if os.path.isabs(loc):
            raise CheckError(f"tensor {t.name!r}: absolute external data location {loc!r}")
        path = os.path.realpath(os.path.join(base, loc))
        if os.path.commonpath([base, path]) != base:
            raise CheckError(f"tensor {t.name!r}: external data location {loc!r} leaves the model's folder")
        if not os.path.isfile(path):
            raise CheckError(f"tensor {t.name!r}: external data file {loc!r} not found")
        size = os.path.getsize(path)
        offset = int(info.get("offset", 0) or 0)
        length = int(info["length"]) if info.get("length") else size - offset
        if offset < 0 or length < 0 or offset + length > size:
            raise CheckError(
                f"tensor {t.name!r}: external data {loc!r} offset {offset} length {length} "
                f"exceeds the file ({size} bytes)"
            )
        total += length
    return total


def check(path, use_ort):
    if not os.path.isfile(path):
        raise CheckError("no such file")
    base_dir = os.path.dirname(os.path.abspath(path))
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:  # DecodeError and friends
        raise CheckError(f"cannot parse as onnx.ModelProto: {type(e).__name__}: {e}") from e

    ext = external_tensors(model)
    total = validate_external(ext, base_dir) if ext else 0
    try:
        if total <= IN_MEMORY_LIMIT:
            if ext:
                onnx.load_external_data_for_model(model, base_dir)
            onnx.checker.check_model(model, full_check=True)
        else:
            onnx.checker.check_model(path, full_check=True)
    except Exception as e:
        raise CheckError(f"checker: {e}") from e
    try:
        # Shape inference does not read weights: with huge external data the
        # model without its data is enough.
        onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as e:
        raise CheckError(f"strict shape inference: {e}") from e

    if use_ort:
        import onnxruntime  # only after onnx.reference

        try:
            so = onnxruntime.SessionOptions()
            so.log_severity_level = 3
            onnxruntime.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise CheckError(f"onnxruntime {onnxruntime.__version__}: {e}") from e


def main(argv):
    use_ort = False
    models = []
    labels = []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--ort":
            use_ort = True
        elif a == "--label":  # --label SHOWN PATH: print SHOWN for PATH
            if len(args) < 2:
                print("onnx_check.py: --label needs SHOWN and PATH", file=sys.stderr)
                return 2
            labels.append(args.pop(0))
            models.append(args.pop(0))
        elif a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        elif a == "--":
            models += args
            labels += args
            args = []
        else:
            models.append(a)
            labels.append(a)
    if not models:
        print("usage: onnx_check.py [--ort] MODEL.onnx [MODEL2.onnx ...]", file=sys.stderr)
        return 2

    failed = 0
    for path, shown in zip(models, labels):
        try:
            check(path, use_ort)
        except CheckError as e:
            failed += 1
            print(f"FAIL {shown}: {one_line(e)}", flush=True)
        except Exception as e:  # a bug in this script must not hide the others
            failed += 1
            print(f"FAIL {shown}: {type(e).__name__}: {one_line(e)}", flush=True)
        else:
            print(f"OK {shown}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
