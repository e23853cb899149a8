// Package tune holds the quantization decisions that need measurements:
// where a quantized model drifts from its float source (Compare), how
// sensitive each layer is to quantization (Analyze), and which precision
// each layer gets so that a model meets an accuracy budget at the smallest
// size (Search).
//
// It sits above rewrite, calibrate, ptq and engine: the passes never run a
// model, and this package runs many variants of one. A Session normalizes
// and calibrates a float model once, keeping per-tensor statistics; every
// variant (a Choice of precision per layer) is then annotated and
// materialized from a copy of the same normalized model, with ranges
// merged from the same statistics, and measured on evaluation data against
// the float model's outputs (SQNR) and, with labels, by top-1 accuracy.
package tune
