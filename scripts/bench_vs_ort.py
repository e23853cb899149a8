"""bench_vs_ort.py: the ONNX Runtime side of scripts/bench-vs-ort.sh.

Quantizes each model of a manifest with ONNX Runtime's own Python tool
(onnxruntime.quantization.quantize_static, ORT 1.21 from Debian 13) and
records, per variant, the wall time of the quantize_static call and the peak
RSS of the process that ran it. Run it with the chroot's python:

    scripts/chroot-python scripts/bench_vs_ort.py --manifest M.json --out DIR

The manifest is written by `benchvsort prepare` (scripts/internal/benchvsort):
    {"models": [{"name": ..., "float": MODEL.onnx, "input": NAME,
                 "calib": CALIB.npz}, ...]}
Each array of CALIB.npz is stacked along a new first axis ([N, 1, C, H, W]):
sample i is arr[i], exactly the tensors onnxq calibrates on.

Per model, once: the float model is upgraded to opset 13 when it is older
(onnx.version_converter; QDQ with a per-channel axis needs 13, and ORT's
quantizer only fuses well from 11 up), then ORT's recommended pre-processing
(onnxruntime.quantization.shape_inference.quant_pre_process: ORT graph
optimization, which also turns Constant-node weights into initializers, plus
ONNX shape inference; symbolic shape inference is skipped because it fails on
PP-OCR's dynamic dims). The time of both steps is recorded separately.

Variants: QDQ format, 3 calibrators (MinMax, Entropy, Percentile) x
per-tensor / per-channel weights x two type pairs: S8S8 (QInt8 activations
and weights, the tool's defaults) and U8S8 (QUInt8 activations, QInt8
weights: what ONNX Runtime's x86 kernels fuse best). Everything else is the
tool's defaults.

Each variant runs in a fresh child process (this script with --one), so a
peak does not carry over to the next: the child reports
resource.getrusage(RUSAGE_SELF).ru_maxrss at the end, and its RSS after the
imports and the data are loaded (the baseline). The parent watches each
child's RSS in /proc and kills it above --rss-limit-mb (ORT's entropy and
percentile calibrators keep every activation of every sample in memory), and
records that as the variant's error.

Output: DIR/NAME.VARIANT.onnx per variant and DIR/ort.json with the figures.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

METHODS = ["MinMax", "Entropy", "Percentile"]
TYPES = {  # variant tag -> (activation type, weight type)
    "s8s8": ("QInt8", "QInt8"),
    "u8s8": ("QUInt8", "QInt8"),
}


def variants():
    """Every (id, method, per_channel, types tag) to run, in table order."""
    out = []
    for tag in TYPES:
        for method in METHODS:
            for pc in (False, True):
                vid = "ort-%s-%s-%s" % (tag, method.lower(), "pc" if pc else "pt")
                out.append((vid, method, pc, tag))
    return out


def rss_kb(pid):
    """Current resident set size of pid in KiB (0 when it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_child(args, limit_kb, timeout_s):
    """Runs this script with args in a fresh process; returns its JSON
    result, adding an error when it failed, was killed or timed out."""
    cmd = [sys.executable, os.path.abspath(__file__), "--one"] + args
    # The child's output goes to files, not pipes: onnx and onnxruntime
    # print many "Schema error" lines, which would fill a pipe and block the
    # child while the parent polls.
    fout, ferr = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=fout, stderr=ferr, text=True)
    peak_seen, killed = 0, None
    while p.poll() is None:
        r = rss_kb(p.pid)
        peak_seen = max(peak_seen, r)
        if limit_kb and r > limit_kb:
            killed = "killed: RSS %.0f MB over the limit of %.0f MB" % (r / 1024, limit_kb / 1024)
        elif time.perf_counter() - start > timeout_s:
            killed = "killed: still running after %.0f s" % timeout_s
        if killed:
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    p.wait()
    wall = time.perf_counter() - start
    fout.seek(0)
    ferr.seek(0)
    out, err = fout.read(), ferr.read()
    fout.close()
    ferr.close()
    res = None
    for line in out.splitlines():
        if line.startswith("{"):
            try:
                res = json.loads(line)
            except ValueError:
                pass
    if res is None:
        res = {}
    res["process_wall_s"] = wall
    res["rss_seen_kb"] = peak_seen
    if killed:
        res["error"] = killed
    elif p.returncode != 0 or "wall_s" not in res:
        tail = [l for l in err.splitlines() if l.strip() and "Schema error" not in l][-3:]
        res["error"] = "exit status %s: %s" % (p.returncode, " | ".join(tail) or "no message")
    return res


def prepare(model, out_dir):
    """Opset upgrade + quant_pre_process of one float model; returns the
    pre-processed path and the step times."""
    import onnx
    import onnx.reference  # noqa: F401  (before onnxruntime: shared schema registry)
    import onnx.version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = model["name"]
    info = {}
    t0 = time.perf_counter()
    m = onnx.load(model["float"])
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 0)
    src = model["float"]
    if opset < 13:
        m = onnx.version_converter.convert_version(m, 13)
        src = os.path.join(out_dir, name + ".opset13.onnx")
        onnx.save(m, src)
    info["opset_from"] = opset
    info["source"] = src
    info["upgrade_s"] = time.perf_counter() - t0
    pre = os.path.join(out_dir, name + ".pre.onnx")
    t0 = time.perf_counter()
    quant_pre_process(src, pre, skip_symbolic_shape=True)
    info["pre_process_s"] = time.perf_counter() - t0
    return pre, info


def driver(a):
    with open(a.manifest) as f:
        manifest = json.load(f)
    os.makedirs(a.out, exist_ok=True)
    only = set(a.models.split(",")) if a.models else None
    only_v = set(a.variants.split(",")) if a.variants else None
    results = {"onnxruntime_version": None, "onnx_version": None, "models": {}}
    import onnx
    import onnx.reference  # noqa: F401
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)  # pre-processing warns about every unused initializer
    results["onnxruntime_version"] = onnxruntime.__version__
    results["onnx_version"] = onnx.__version__
    limit_kb = int(a.rss_limit_mb * 1024)
    for model in manifest["models"]:
        name = model["name"]
        if only and name not in only:
            continue
        pre, info = prepare(model, a.out)
        print("%s: opset %d, pre-processed in %.2f s -> %s" % (name, info["opset_from"], info["upgrade_s"] + info["pre_process_s"], pre),
              file=sys.stderr, flush=True)
        entry = {"prepared": pre, "prepare": info, "variants": {}}
        for vid, method, pc, tag in variants():
            if only_v and vid not in only_v:
                continue
            out = os.path.join(a.out, "%s.%s.onnx" % (name, vid))
            act, wt = TYPES[tag]
            args = ["--calib", model["calib"], "--input", model["input"], "--output", out,
                    "--method", method, "--act", act, "--weight", wt] + (["--per-channel"] if pc else [])
            res = run_child(["--model", pre] + args, limit_kb, a.timeout_s)
            res["input_model"] = pre
            if "error" in res and not res["error"].startswith("killed"):
                # The tool can fail on what its own pre-processing made
                # (1.21 on mnist-7 per-channel: the fused Conv bias is not
                # 1-D); give it the model without pre-processing.
                first = res["error"]
                res = run_child(["--model", info["source"]] + args, limit_kb, a.timeout_s)
                res["input_model"] = info["source"]
                res["pre_processed_error"] = first
            res.update({"method": method, "per_channel": pc, "activation_type": act, "weight_type": wt,
                        "output": out if "error" not in res else None})
            entry["variants"][vid] = res
            if "error" in res:
                msg = res["error"]
            else:
                msg = "%.2f s, peak RSS %.0f MB" % (res["wall_s"], res["maxrss_kb"] / 1024)
            print("%s %s: %s" % (name, vid, msg), file=sys.stderr, flush=True)
        results["models"][name] = entry
    path = os.path.join(a.out, "ort.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def one(a):
    """Child: one quantize_static call; prints a JSON line."""
    import resource

    import numpy as np
    import onnx  # noqa: F401
    import onnx.reference  # noqa: F401
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    data = np.load(a.calib)
    arr = data[a.input]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.i = 0

        def get_next(self):
            if self.i >= arr.shape[0]:
                return None
            self.i += 1
            return {a.input: arr[self.i - 1]}

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    quantize_static(a.model, a.output, Reader(), quant_format=QuantFormat.QDQ, per_channel=a.per_channel,
                    activation_type=getattr(QuantType, a.act), weight_type=getattr(QuantType, a.weight),
                    calibrate_method=getattr(CalibrationMethod, a.method))
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "maxrss_kb": r1.ru_maxrss, "baseline_rss_kb": r0.ru_maxrss,
                      "samples": int(arr.shape[0])}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest")
    ap.add_argument("--out")
    ap.add_argument("--models", default="", help="comma-separated model names (default: all)")
    ap.add_argument("--variants", default="", help="comma-separated variant ids (default: all)")
    ap.add_argument("--rss-limit-mb", type=float, default=12000, help="kill a quantization above this RSS")
    ap.add_argument("--timeout-s", type=float, default=1800, help="kill a quantization running longer")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model")
    ap.add_argument("--calib")
    ap.add_argument("--input")
    ap.add_argument("--output")
    ap.add_argument("--method", choices=METHODS)
    ap.add_argument("--act", choices=["QInt8", "QUInt8"])
    ap.add_argument("--weight", choices=["QInt8", "QUInt8"])
    ap.add_argument("--per-channel", action="store_true")
    a = ap.parse_args()
    if a.one:
        one(a)
    else:
        if not a.manifest or not a.out:
            ap.error("--manifest and --out are required")
        driver(a)


if __name__ == "__main__":
    main()
