#!/usr/bin/env python3
"""Writes the .npy/.npz fixtures of dataset's tests with numpy itself.

Run from this folder: python3 gen_fixtures.py (numpy 1.24, Debian's
python3-numpy, wrote the committed files). The Go tests assert the values
given by the same formulas, so keep the two in step.
"""
import numpy as np

# One array per supported dtype; values cover negatives, extremes and zero.
arrays = {
    "f4": (np.arange(6, dtype="<f4").reshape(2, 3) * 0.5 - 1),
    "f8": np.array([np.pi, -np.e, 1e300, -0.0], dtype="<f8"),
    "f2": np.array([[1.5, -2.0], [65504.0, 0.000061035156]], dtype="<f2"),
    "i8": np.array([-(2**63), 2**63 - 1, 0, -1], dtype="<i8"),
    "i4": np.arange(-3, 3, dtype="<i4").reshape(3, 2),
    "i2": np.array([-32768, 32767, 7], dtype="<i2"),
    "i1": np.array([[-128, 127], [0, -1]], dtype="|i1"),
    "u1": np.arange(250, 256, dtype="|u1").reshape(1, 2, 3),
    "u2": np.array([0, 65535, 1234], dtype="<u2"),
    "b1": np.array([True, False, True, True], dtype="|b1"),
    "scalar": np.float32(2.5),
    "empty": np.zeros((2, 0, 3), dtype="<f4"),
}
for name, a in arrays.items():
    np.save(name + ".npy", a)

# Explicit header versions.
a = np.arange(4, dtype="<i4")
with open("v2.npy", "wb") as f:
    np.lib.format.write_array(f, a, version=(2, 0))
with open("v3.npy", "wb") as f:
    np.lib.format.write_array(f, a, version=(3, 0))

# What onnxq refuses, with a clear error.
np.save("fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
np.save("bigendian.npy", np.arange(3, dtype=">f4"))

# Run data as `onnxq run` reads it: first axis = runs.
x = (np.arange(3 * 1 * 1 * 4 * 4, dtype="<f4").reshape(3, 1, 1, 4, 4)) / 8
labels = np.array([7, 2, 1], dtype="<i8")
np.savez("stored.npz", Input3=x, labels=labels)
np.savez_compressed("deflated.npz", Input3=x, labels=labels)
