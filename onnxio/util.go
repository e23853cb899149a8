package onnxio

import "strconv"

func itoaInt(i int) string { return strconv.Itoa(i) }

func quote(s string) string { return strconv.Quote(s) }
